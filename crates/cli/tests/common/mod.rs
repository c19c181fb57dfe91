//! Helpers shared by the tests that run `smimed serve` as a process.
#![allow(dead_code)]

pub mod postfix;
pub mod relay;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A loopback port free now, and handed out once per test process. Taken
/// below the kernel's ephemeral range (32768 and up), from a window of 400
/// ports that depends on the process id: a port asked for with port 0 is
/// an ephemeral one, which any outgoing connection (Postfix's, smimed's,
/// a test client's) may take before the server that was meant to bind it
/// does; that raced when many gateway tests ran at once.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 10_000 + (std::process::id() % 50) as u16 * 400;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(n < 400, "free_port: the test process used its 400 ports");
        let port = base + n;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A minimal HTTP/1.1 client: enough for JSON requests in tests.
pub fn http(
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

pub struct Server {
    pub child: Child,
    pub port: u16,
    pub token: Option<String>,
}

impl Server {
    pub fn start(data_dir: &Path, extra: &[&str]) -> Server {
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
}
