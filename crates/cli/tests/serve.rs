//! `smimed serve` as deployed: the first start prints an admin token once,
//! SIGTERM ends it cleanly, and two instances on one PostgreSQL database
//! act as one service.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

use serde_json::Value;
use testpki::files;

mod common;
use common::{Server, http};

impl Server {
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
    let (s, _) = a.call(
        &token,
        "PUT",
        "/api/v1/groups/desk",
        br#"{"email": "x@example.org"}"#,
        "application/json",
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

#[test]
fn every_operation_answered_before_sigterm_is_in_the_log() {
    // The service hands operation log entries to a writer task (no request
    // waits for a log write). SIGTERM arrives while requests are in
    // flight: every one that was answered must have its entry written
    // before the process exits.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let token = server.token.clone().unwrap();
    for (path, file) in [
        ("/api/v1/certificates", files::CHAIN),
        ("/api/v1/certificates", files::ALICE),
        ("/api/v1/private-keys", files::ALICE_KEY),
    ] {
        let (s, v) = server.call(&token, "POST", path, &fixture(file), "");
        assert_eq!(s, 200, "{file}: {v}");
    }
    for (path, body) in [
        ("/api/v1/settings", r#"{"enabled": true}"#),
        (
            "/api/v1/groups/support",
            r#"{"email": "alice@example.org"}"#,
        ),
    ] {
        let (s, v) = server.call(&token, "PUT", path, body.as_bytes(), "application/json");
        assert_eq!(s, 200, "{path}: {v}");
    }
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let port = server.port;
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let (answered, token) = (answered.clone(), token.clone());
            std::thread::spawn(move || {
                let message =
                    b"From: alice@example.org\r\nTo: x@example.net\r\nSubject: t\r\n\r\nhi\r\n";
                for _ in 0..400 {
                    let mut s = match TcpStream::connect(("127.0.0.1", port)) {
                        Ok(s) => s,
                        Err(_) => return,
                    };
                    let head = format!(
                        "POST /api/v1/outgoing?group=support&sign=true&encrypt=false HTTP/1.1\r\n\
                         Host: x\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\
                         Content-Type: message/rfc822\r\nContent-Length: {}\r\n\r\n",
                        message.len()
                    );
                    if s.write_all(head.as_bytes()).is_err() || s.write_all(message).is_err() {
                        return;
                    }
                    let mut resp = String::new();
                    let _ = s.read_to_string(&mut resp);
                    if resp.starts_with("HTTP/1.1 200") {
                        answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    } else {
                        return;
                    }
                }
            })
        })
        .collect();
    while answered.load(std::sync::atomic::Ordering::SeqCst) < 200 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(server.stop().success());
    for sender in senders {
        sender.join().unwrap();
    }
    let answered = answered.load(std::sync::atomic::Ordering::SeqCst);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    sqlx::any::install_default_drivers();
    let written: i64 = rt.block_on(async {
        use sqlx::Connection;
        let url = format!("sqlite://{}", data.join("smimed.db").display());
        let mut db = sqlx::AnyConnection::connect(&url).await.unwrap();
        sqlx::query_scalar("SELECT COUNT(*) FROM operation_log WHERE operation = 'sign'")
            .fetch_one(&mut db)
            .await
            .unwrap()
    });
    assert!(answered >= 200);
    assert_eq!(written, answered as i64);
}
