//! Time to first byte of the S/MIME page and of a filter keystroke, with
//! 10,000 certificates stored against 100, in the same run (issue 16: at
//! most 1.5×).
//!
//! Run: `cargo bench -p smimed-server --bench page`
//!
//! Each store holds an own certificate with its key (Alice), a CA and
//! contacts `user{i}@d{i % 100}.example` issued by it, imported through
//! the store's import path. The service runs in process on a loopback
//! port (the router of `smimed serve`, multi-threaded runtime); a client
//! thread signs in as an admin, then times each request from the first
//! byte written to the first byte of the answer read, on a kept-alive
//! connection. Prints the median and the 90th percentile of 200 requests
//! per case, and the ratios.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use smimed_engine::Engine;
use smimed_server::{AppState, Config, router};
use smimed_store::{MasterKey, Role, Store};

const RUNS: usize = 200;

fn repo_file(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/data")
            .join(name),
    )
    .expect("test data")
}

/// A store of `n` certificates (Alice with her key, a CA, contacts), its
/// admin token, and the directory that holds it.
async fn store_of(n: usize) -> (tempfile::TempDir, Store, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("db").display());
    let store = Store::open(&url, MasterKey::from_bytes([9; 32]))
        .await
        .unwrap();
    let admin = store
        .create_token("root", Role::Admin, "bench")
        .await
        .unwrap();
    let ca = testpki::BulkCa::new("smimed Bench CA").unwrap();
    let key = testpki::ec_p256().unwrap();
    let mut pem = ca.cert.to_pem().unwrap();
    pem.extend(repo_file("pki/alice.pem"));
    pem.extend(repo_file("pki/alice.key.pem"));
    for i in 0..n - 2 {
        let email = format!("user{i}@d{}.example", i % 100);
        pem.extend(ca.issue(&key, &email).unwrap().to_pem().unwrap());
    }
    let bundle = smime::bundle::parse(&pem, None).unwrap();
    let report = store.import(bundle, None, &|_| {}, "bench").await.unwrap();
    assert!(report.stored);
    assert_eq!(store.certificate_count().await.unwrap(), n);
    (dir, store, admin)
}

/// One HTTP/1.1 exchange on `conn`: the time to the first byte of the
/// answer, and the whole answer.
fn exchange(conn: &mut TcpStream, request: &str) -> (Duration, String) {
    let start = Instant::now();
    conn.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 65536];
    let n = conn.read(&mut buf).unwrap();
    let first = start.elapsed();
    answer.extend_from_slice(&buf[..n]);
    // Read to the end of the body (chunked or with a length).
    loop {
        let text = String::from_utf8_lossy(&answer);
        if let Some(head_end) = text.find("\r\n\r\n") {
            let head = text[..head_end].to_ascii_lowercase();
            let body = &answer[head_end + 4..];
            if let Some(len) = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.trim().parse::<usize>().ok())
            {
                if body.len() >= len {
                    break;
                }
            } else if body.ends_with(b"0\r\n\r\n") {
                break;
            }
        }
        let n = conn.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed mid-answer");
        answer.extend_from_slice(&buf[..n]);
    }
    (first, String::from_utf8_lossy(&answer).into_owned())
}

/// Signs in with `token`: the session cookie.
fn sign_in(port: u16, token: &str) -> String {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let body = format!("token={token}");
    let (_, answer) = exchange(
        &mut conn,
        &format!(
            "POST /login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    let cookie = answer
        .lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or(l.strip_prefix("Set-Cookie: "))
        })
        .expect("a session cookie");
    cookie.split(';').next().unwrap().to_string()
}

struct Figures {
    median: Duration,
    p90: Duration,
}

fn measure(port: u16, cookie: &str, path: &str, expect: &str) -> Figures {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.set_nodelay(true).unwrap();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\n\r\n");
    let (_, answer) = exchange(&mut conn, &request);
    assert!(answer.starts_with("HTTP/1.1 200"), "{path}: {answer}");
    assert!(
        answer.contains(expect),
        "{path}: no “{expect}” in the answer"
    );
    let mut times: Vec<Duration> = (0..RUNS).map(|_| exchange(&mut conn, &request).0).collect();
    times.sort();
    Figures {
        median: times[RUNS / 2],
        p90: times[RUNS * 9 / 10],
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let cases = [
        ("S/MIME page", "/smime", "alice@example.org"),
        // The same one row at both sizes: what typing down to a customer
        // gives.
        (
            "filter keystroke `user42@`",
            "/ui/certificates?email=user42%40",
            "1 of ",
        ),
        // Rows that grow with the store (11 and 1,111; 1 and 100).
        (
            "filter keystroke `user4`",
            "/ui/certificates?email=user4",
            "certificates matching",
        ),
        (
            "filter keystroke `d42.ex`",
            "/ui/certificates?email=d42.ex",
            "certificates matching",
        ),
    ];
    let mut results = Vec::new();
    for n in [100usize, 10_000] {
        let made = Instant::now();
        let (_dir, store, admin) = rt.block_on(store_of(n));
        eprintln!(
            "store of {n} certificates made in {:.1} s",
            made.elapsed().as_secs_f64()
        );
        let engine = Arc::new(Engine::new(store.clone(), 8));
        let app = router(AppState::new(engine), &Config::default());
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = rt.spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        let cookie = sign_in(port, &admin);
        let figures: Vec<Figures> = cases
            .iter()
            .map(|(_, path, expect)| measure(port, &cookie, path, expect))
            .collect();
        server.abort();
        results.push((n, figures));
    }
    println!(
        "| request | 100 certificates (median / p90) | 10,000 certificates (median / p90) | ratio of medians |"
    );
    println!("|---|---:|---:|---:|");
    for (i, (name, _, _)) in cases.iter().enumerate() {
        let (small, large) = (&results[0].1[i], &results[1].1[i]);
        println!(
            "| {name} | {:.2} / {:.2} ms | {:.2} / {:.2} ms | {:.2}× |",
            ms(small.median),
            ms(small.p90),
            ms(large.median),
            ms(large.p90),
            large.median.as_secs_f64() / small.median.as_secs_f64()
        );
    }
}
