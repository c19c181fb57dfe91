//! `smimed serve` as deployed: the first start prints an admin token once,
//! SIGTERM ends it cleanly, and two instances on one PostgreSQL database
//! act as one service.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use testpki::files;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A minimal HTTP/1.1 client: enough for JSON requests in tests.
fn http(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if !content_type.is_empty() {
        head.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let split = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&resp[..split]).to_string();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let mut body = resp[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    (status, body)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16)
                .unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[line_end + 2..line_end + 2 + size]);
        data = &data[line_end + 4 + size..];
    }
}

struct Server {
    child: Child,
    port: u16,
    token: Option<String>,
}

impl Server {
    fn start(data_dir: &Path, extra: &[&str]) -> Server {
        let port = free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_smimed"))
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env_remove("SMIMED_DATA_DIR")
            .env_remove("SMIMED_DATABASE_URL")
            .env_remove("SMIMED_LISTEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut token = None;
        let stdout = child.stdout.take().unwrap();
        // Readiness: /healthz answers. The token, if any, comes first.
        let reader = std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let mut found = None;
            while let Some(Ok(line)) = lines.next() {
                if let Some(t) = line.trim().strip_prefix("smimed_") {
                    found = Some(format!("smimed_{t}"));
                }
                if line.starts_with("Create more") {
                    break;
                }
            }
            found
        });
        for _ in 0..600 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok()
                && http(port, "GET", "/healthz", None, "", b"").0 == 200
            {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        // The token lines precede the listener; give the reader a moment.
        for _ in 0..50 {
            if reader.is_finished() {
                token = reader.join().unwrap();
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Server { child, port, token }
    }

    fn call(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: &[u8],
        content_type: &str,
    ) -> (u16, Value) {
        let (status, body) = http(self.port, method, path, Some(token), content_type, body);
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// SIGTERM, then the exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(testpki::Pki::committed().path(name)).unwrap()
}

#[test]
fn first_start_prints_a_token_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let token = server
        .token
        .clone()
        .expect("the first start prints an admin token");
    let (s, v) = server.call(&token, "GET", "/api/v1/settings", b"", "");
    assert_eq!(s, 200);
    assert_eq!(v["enabled"], false, "S/MIME is off by default");
    assert_eq!(
        http(server.port, "GET", "/api/v1/settings", None, "", b"").0,
        401
    );
    assert!(server.stop().success());
    // A second start prints no new token.
    let again = Server::start(&dir.path().join("data"), &[]);
    assert!(again.token.is_none());
    assert!(again.stop().success());
}

#[test]
fn two_instances_on_one_postgresql_database() {
    let Ok(admin_url) = std::env::var("SMIMED_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must set SMIMED_TEST_POSTGRES_URL"
        );
        eprintln!(
            "note: the two-instance PostgreSQL test was skipped: SMIMED_TEST_POSTGRES_URL is not set"
        );
        return;
    };
    let name = format!("smimed_serve_{}", std::process::id());
    let base = admin_url.rsplit_once('/').unwrap().0.to_string();
    let psql = Command::new("psql")
        .args([&admin_url, "-qc", &format!("CREATE DATABASE {name}")])
        .status();
    assert!(psql.is_ok_and(|s| s.success()), "create the test database");
    let url = format!("{base}/{name}");
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("master.key");
    std::fs::write(&key, [11u8; 32]).unwrap();
    let opts = [
        "--database-url",
        &url,
        "--master-key-file",
        key.to_str().unwrap(),
    ];
    let a = Server::start(&dir.path().join("a"), &opts);
    let token = a
        .token
        .clone()
        .expect("admin token from the first instance");
    let b = Server::start(&dir.path().join("b"), &opts);
    assert!(
        b.token.is_none(),
        "the second instance shares the first one's tokens"
    );

    // A setting changed on one applies on the other.
    let (s, _) = a.call(
        &token,
        "PUT",
        "/api/v1/settings",
        br#"{"enabled": true}"#,
        "application/json",
    );
    assert_eq!(s, 200);
    assert_eq!(
        b.call(&token, "GET", "/api/v1/settings", b"", "").1["enabled"],
        true
    );

    // A certificate imported through one is used by the other at once.
    a.call(
        &token,
        "POST",
        "/api/v1/certificates",
        &fixture(files::CHAIN),
        "",
    );
    let (s, _) = a.call(
        &token,
        "POST",
        "/api/v1/certificates",
        &fixture(files::BOB),
        "",
    );
    assert_eq!(s, 200);
    let (s, v) = b.call(
        &token,
        "POST",
        "/api/v1/security-options",
        br#"{"from": "x@example.org", "to": ["bob@example.org"]}"#,
        "application/json",
    );
    assert_eq!(s, 200);
    assert_eq!(v["encryption"]["possible"], true, "{v}");

    // The same bundle through both at once: stored once.
    let bundle = fixture(files::ALL_VALID);
    let (pa, pb, t1, t2) = (a.port, b.port, token.clone(), token.clone());
    let (b1, b2) = (bundle.clone(), bundle);
    let h1 =
        std::thread::spawn(move || http(pa, "POST", "/api/v1/certificates", Some(&t1), "", &b1).0);
    let h2 =
        std::thread::spawn(move || http(pb, "POST", "/api/v1/certificates", Some(&t2), "", &b2).0);
    assert_eq!((h1.join().unwrap(), h2.join().unwrap()), (200, 200));
    let (_, v) = b.call(&token, "GET", "/api/v1/certificates", b"", "");
    assert_eq!(
        v["total"], 6,
        "root, intermediate, alice, bob, carol, dave: once each"
    );

    assert!(a.stop().success());
    assert!(b.stop().success());
    let _ = Command::new("psql")
        .args([&admin_url, "-qc", &format!("DROP DATABASE {name}")])
        .status();
}

#[test]
fn sigterm_lets_a_request_in_flight_finish() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let token = server.token.clone().unwrap();
    // Half a request on the wire when SIGTERM arrives.
    let body = br#"{"enabled": true}"#;
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let head = format!(
        "PUT /api/v1/settings HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&body[..5]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    Command::new("kill")
        .arg("-TERM")
        .arg(server.child.id().to_string())
        .status()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    s.write_all(&body[5..]).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("\"enabled\":true"), "{resp}");
    let mut server = server;
    assert!(server.child.wait().unwrap().success());
}
