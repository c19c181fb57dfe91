//! Issue 14's bounds, one test each: input just over the bound gets a clear
//! answer, and `/healthz` keeps answering. The connection bounds need a
//! real socket, so those tests run `smimed_server::serve` on a loopback
//! port with small limits and speak HTTP/1.1 by hand; the rest go through
//! the router in-process.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use smimed_engine::Engine;
use smimed_server::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A guard against a hang, not a speed requirement: every wait below ends
/// in well under a second when the bound works, and never when it does
/// not.
const HANG: Duration = Duration::from_secs(60);

/// `serve` on a free loopback port over a fresh store, with `tune` applied
/// to the configuration; the address and the admin token.
async fn listening(tune: impl FnOnce(&mut Config)) -> (SocketAddr, common::Service) {
    let s = common::service().await;
    let mut config = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..Config::default()
    };
    tune(&mut config);
    let (tx, rx) = tokio::sync::oneshot::channel();
    let engine = s.engine.clone();
    tokio::spawn(async move {
        smimed_server::serve(engine, config, |addr| {
            let _ = tx.send(addr);
        })
        .await
        .unwrap();
    });
    (rx.await.unwrap(), s)
}

/// One request on a new connection; the status and the body.
async fn http(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(HANG, stream.read_to_end(&mut answer))
        .await
        .expect("the service answered")
        .unwrap();
    parse(&answer)
}

fn parse(answer: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(answer).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

async fn healthz(addr: SocketAddr) -> u16 {
    http(
        addr,
        "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .await
    .0
}

/// Reads until the server closes the connection; what it sent first.
async fn until_closed(mut stream: TcpStream) -> Vec<u8> {
    let mut answer = Vec::new();
    tokio::time::timeout(HANG, stream.read_to_end(&mut answer))
        .await
        .expect("the service closed the connection")
        .ok();
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_header_connections_are_cut_and_healthz_answers() {
    // Four slots, one second for a header: eight connections that send
    // nothing or half a header are twice the bound. Without the timeout
    // they would hold every slot for ever, and /healthz would never be
    // served (issue 14 found 200 idle connections held indefinitely).
    let (addr, _s) = listening(|c| {
        c.max_connections = 4;
        c.header_timeout = Duration::from_secs(1);
    })
    .await;
    let mut held = Vec::new();
    for i in 0..8 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        if i % 2 == 1 {
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ")
                .await
                .unwrap();
        }
        held.push(stream);
    }
    assert_eq!(healthz(addr).await, 200);
    for stream in held {
        let answer = until_closed(stream).await;
        // Cut without an answer, or with 408: never served.
        let (status, _) = parse(&answer);
        assert!(answer.is_empty() || status == 408, "{status}");
    }
    assert_eq!(healthz(addr).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_is_answered_and_its_connection_freed() {
    let (addr, s) = listening(|c| {
        c.max_connections = 2;
        c.body_timeout = Duration::from_secs(1);
    })
    .await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/incoming HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {}\r\n\
         Content-Type: message/rfc822\r\nContent-Length: 100000\r\n\r\nFrom: a@b.example\r\n",
        s.agent
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let answer = until_closed(stream).await;
    let (status, body) = parse(&answer);
    assert_eq!(status, 408, "{}", String::from_utf8_lossy(&answer));
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    assert_eq!(v["error"]["code"], "request_timeout", "{body}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("body_timeout_secs"),
        "{body}"
    );
    // Nothing of it was kept or logged.
    assert!(s.store.operations(10, 0).await.unwrap().is_empty());
    assert_eq!(healthz(addr).await, 200);
}

#[tokio::test]
async fn messages_beyond_the_limit_are_503_with_retry_after() {
    let s = common::service().await;
    let engine = Arc::new(Engine::new(s.store.clone(), 8).with_message_limit(2));
    let app = smimed_server::router(
        smimed_server::AppState::new(engine.clone()),
        &Config::default(),
    );
    let plain = b"From: a@b.example\r\nTo: c@d.example\r\nSubject: hi\r\n\r\nhello\r\n".to_vec();
    let send = |app: axum::Router, body: Vec<u8>, token: String| async move {
        use tower::ServiceExt;
        let req = axum::http::Request::post("/api/v1/incoming")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "message/rfc822")
            .body(axum::body::Body::from(body))
            .unwrap();
        app.oneshot(req).await.unwrap()
    };
    // Both places taken (as by two long messages in progress).
    let held = engine.hold_message_slots(2).unwrap();
    let resp = send(app.clone(), plain.clone(), s.agent.clone()).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["retry-after"], "1");
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["code"], "busy", "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains('2'), "{v}");
    // /healthz does not wait for a place.
    let health = {
        use tower::ServiceExt;
        app.clone()
            .oneshot(
                axum::http::Request::get("/healthz")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap()
    };
    assert_eq!(health.status(), StatusCode::OK);
    // A place freed, the same message goes through.
    drop(held);
    let resp = send(app, plain, s.agent.clone()).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

fn addresses(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("user{i}@example.org")).collect()
}

#[tokio::test]
async fn a_thousand_and_one_addresses_are_413_and_a_thousand_are_not() {
    let s = common::service().await;
    s.enable_with_group("support", "support@example.org").await;
    for (n, want) in [
        (1000, StatusCode::OK),
        (1001, StatusCode::PAYLOAD_TOO_LARGE),
    ] {
        let all = addresses(n);
        let (to, cc) = all.split_at(n / 2);
        let body = json!({"group": "support", "to": to, "cc": cc});
        let (status, v) = s
            .call(
                Method::POST,
                "/api/v1/security-options",
                &s.agent,
                "application/json",
                body.to_string().into_bytes(),
            )
            .await;
        assert_eq!(status, want, "{n}: {v}");
        if want != StatusCode::OK {
            assert_eq!(v["error"]["code"], "too_large", "{v}");
            let message = v["error"]["message"].as_str().unwrap();
            assert!(
                message.contains("1001") && message.contains("1000"),
                "{message}"
            );
        }
        // The same bound on /outgoing, counted over To and Cc.
        let mut message = format!("From: support@example.org\r\nTo: {}\r\n", to.join(", "));
        if !cc.is_empty() {
            message += &format!("Cc: {}\r\n", cc.join(", "));
        }
        message += "Subject: many\r\n\r\nhello\r\n";
        let (status, v) = s
            .outgoing(
                "group=support&sign=false&encrypt=false",
                message.into_bytes(),
            )
            .await;
        assert_eq!(status, want, "outgoing {n}: {v}");
    }
    let (status, _) = s.request(Method::GET, "/healthz", None, "", vec![]).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn kept_messages_stay_within_their_budget_oldest_first() {
    let s = common::service().await;
    let (status, v) = s
        .admin(
            Method::PUT,
            "/api/v1/settings",
            "application/json",
            json!({"keep_incoming_mib": 1}).to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let message = |i: usize| {
        let mut m = format!("From: a@b.example\r\nSubject: {i}\r\n\r\n").into_bytes();
        m.extend(std::iter::repeat_n(b'x', 400 * 1024));
        m.extend(b"\r\n");
        m
    };
    let mut ids = Vec::new();
    for i in 0..4 {
        let (status, v) = s.incoming(message(i)).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    // 4 × 400 KiB against 1 MiB: the two oldest are gone, the two newest kept.
    let mut statuses = Vec::new();
    for id in ids {
        let path = format!("/api/v1/incoming/{id}");
        statuses.push(s.call(Method::GET, &path, &s.agent, "", vec![]).await.0);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::NOT_FOUND,
            StatusCode::NOT_FOUND,
            StatusCode::OK,
            StatusCode::OK
        ]
    );
    // A budget of 0 is refused by name, and the setting stays.
    let (status, v) = s
        .admin(
            Method::PUT,
            "/api/v1/settings",
            "application/json",
            json!({"keep_incoming_mib": -1}).to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let (_, v) = s.admin(Method::GET, "/api/v1/settings", "", vec![]).await;
    assert_eq!(v["keep_incoming_mib"], 1, "{v}");
}

#[tokio::test]
async fn a_request_id_that_could_forge_log_lines_is_replaced() {
    use tower::ServiceExt;
    let s = common::service().await;
    let with_id = |id: &'static str| {
        axum::http::Request::get("/healthz")
            .header("x-request-id", id)
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let good = s
        .app
        .clone()
        .oneshot(with_id("abc-123.4:5_6"))
        .await
        .unwrap();
    assert_eq!(good.headers()["x-request-id"], "abc-123.4:5_6");
    let long: &'static str = Box::leak("a".repeat(129).into_boxed_str());
    for forged in ["x\" level=ERROR msg=\"admin token leaked", "a b", long, "é"] {
        let resp = s.app.clone().oneshot(with_id(forged)).await.unwrap();
        let id = resp.headers()["x-request-id"].to_str().unwrap();
        assert_ne!(id, forged);
        // A fresh UUID instead.
        assert_eq!(id.len(), 36, "{id}");
        assert!(
            id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'),
            "{id}"
        );
    }
}

#[tokio::test]
async fn query_path_and_method_errors_are_json() {
    let s = common::service().await;
    for (method, path, status) in [
        (
            Method::GET,
            "/api/v1/certificates?has_key=maybe",
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            "/api/v1/certificates?page=-1",
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            "/api/v1/logs?limit=many",
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PATCH,
            "/api/v1/settings",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (Method::GET, "/api/v1/nothing-here", StatusCode::NOT_FOUND),
    ] {
        let (got, v) = s.admin(method.clone(), path, "", vec![]).await;
        assert_eq!(got, status, "{method} {path}: {v}");
        let code = v["error"]["code"].as_str().unwrap_or("");
        let message = v["error"]["message"].as_str().unwrap_or("");
        assert!(!code.is_empty() && !message.is_empty(), "{path}: {v}");
    }
    // The message names what was wrong.
    let (_, v) = s
        .admin(
            Method::GET,
            "/api/v1/certificates?has_key=maybe",
            "",
            vec![],
        )
        .await;
    assert!(
        v["error"]["message"].as_str().unwrap().contains("has_key"),
        "{v}"
    );
}

#[tokio::test]
async fn failed_web_sign_ins_are_audited_without_the_token() {
    use tower::ServiceExt;
    let s = common::service().await;
    let guess = "smimed_not-a-real-token-0123456789";
    let resp = s
        .app
        .clone()
        .oneshot(
            axum::http::Request::post("/login")
                .header("host", "smimed.test")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(axum::body::Body::from(format!("token={guess}")))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let entries = s.store.audit_entries(10, 0).await.unwrap();
    let failed: Vec<_> = entries
        .iter()
        .filter(|e| e.action == "web.sign_in_failed")
        .collect();
    assert_eq!(failed.len(), 1, "{entries:?}");
    // The guess itself is a secret-looking string: never stored.
    assert!(!format!("{entries:?}").contains(guess));
}

#[tokio::test]
async fn healthz_is_unhealthy_when_the_store_cannot_be_written() {
    let s = common::service().await;
    let (status, _) = s.request(Method::GET, "/healthz", None, "", vec![]).await;
    assert_eq!(status, StatusCode::OK);
    // The store still answers reads, but a write fails (as on a full disk
    // or a read-only file system): not healthy.
    use sqlx::ConnectOptions;
    let mut db = s
        .url
        .parse::<sqlx::sqlite::SqliteConnectOptions>()
        .unwrap()
        .connect()
        .await
        .unwrap();
    sqlx::query("DROP TABLE health")
        .execute(&mut db)
        .await
        .unwrap();
    let (status, body) = s.request(Method::GET, "/healthz", None, "", vec![]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["code"], "unhealthy", "{v}");
    // Reads still work: the certificate list answers.
    let (status, _) = s
        .admin(Method::GET, "/api/v1/certificates", "", vec![])
        .await;
    assert_eq!(status, StatusCode::OK);
}

/// DER: tag, length, contents.
fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = contents.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend(contents);
    out
}

fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

fn int(n: u64) -> Vec<u8> {
    let mut bytes: Vec<u8> = n
        .to_be_bytes()
        .into_iter()
        .skip_while(|b| *b == 0)
        .collect();
    if bytes.first().is_none_or(|b| b & 0x80 != 0) {
        bytes.insert(0, 0);
    }
    tlv(0x02, &bytes)
}

fn oid(dotted: &str) -> Vec<u8> {
    let arcs: Vec<u64> = dotted.split('.').map(|a| a.parse().unwrap()).collect();
    let mut body = vec![(arcs[0] * 40 + arcs[1]) as u8];
    for &arc in &arcs[2..] {
        let mut groups = vec![(arc & 0x7f) as u8];
        let mut rest = arc >> 7;
        while rest > 0 {
            groups.push(0x80 | (rest & 0x7f) as u8);
            rest >>= 7;
        }
        groups.reverse();
        body.extend(groups);
    }
    tlv(0x06, &body)
}

/// An encrypted PKCS#8 key (PBES2, AES-256-CBC) whose key derivation is
/// `kdf`; the ciphertext is filler, since the bound is checked before any
/// derivation runs.
fn encrypted_pkcs8(kdf: Vec<u8>) -> String {
    let pbes2 = seq(&[
        oid("1.2.840.113549.1.5.13"),
        seq(&[
            kdf,
            seq(&[oid("2.16.840.1.101.3.4.1.42"), tlv(0x04, &[7; 16])]),
        ]),
    ]);
    let der = seq(&[pbes2, tlv(0x04, &[0; 1232])]);
    openssl::base64::encode_block(&der)
        .as_bytes()
        .chunks(64)
        .fold(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\n".to_string(),
            |pem, line| pem + std::str::from_utf8(line).unwrap() + "\n",
        )
        + "-----END ENCRYPTED PRIVATE KEY-----\n"
}

fn scrypt(n: u64, r: u64, p: u64) -> Vec<u8> {
    seq(&[
        oid("1.3.6.1.4.1.11591.4.11"),
        seq(&[tlv(0x04, b"saltsalt"), int(n), int(r), int(p)]),
    ])
}

fn pbkdf2(iterations: u64) -> Vec<u8> {
    seq(&[
        oid("1.2.840.113549.1.5.12"),
        seq(&[
            tlv(0x04, b"saltsalt"),
            int(iterations),
            seq(&[oid("1.2.840.113549.2.9"), vec![0x05, 0x00]]),
        ]),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_derivation_work_is_bounded_per_key_and_per_file() {
    let s = common::service().await;
    let upload = |pem: String| {
        let body = json!({"data": pem, "passphrase": "pw"}).to_string();
        s.admin(
            Method::POST,
            "/api/v1/private-keys",
            "application/json",
            body.into_bytes(),
        )
    };
    // scrypt N·r·p = 2^20 · 8 · 8: the 47 s key of issue 14. Refused
    // before any derivation, naming the work and the bound.
    let (status, v) = upload(encrypted_pkcs8(scrypt(1 << 20, 8, 8))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("scrypt") && message.contains("67108864") && message.contains("1000000"),
        "{message}"
    );
    // Just over the bound: N 16384, r 8, p 8 is 1,048,576.
    let (status, v) = upload(encrypted_pkcs8(scrypt(16384, 8, 8))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    // Each key under the bound (917,504 PBKDF2 rounds), but 35 of them in
    // one file are over the 32,000,000 of a file.
    let many: String = (0..35).map(|_| encrypted_pkcs8(pbkdf2(917_504))).collect();
    let (status, v) = upload(many).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("in all") && message.contains("32000000"),
        "{message}"
    );
    // Nothing stored; the service answers.
    let (_, v) = s
        .admin(Method::GET, "/api/v1/certificates", "", vec![])
        .await;
    assert_eq!(v["total"], 0, "{v}");
    let (status, _) = s.request(Method::GET, "/healthz", None, "", vec![]).await;
    assert_eq!(status, StatusCode::OK);
}
