//! Fetching CRLs (issue 17) from servers this test starts on loopback: a
//! good one (the CRL is stored, the user revoked, not asked again before
//! it is due), and bad ones that each fail the fetch with the reason
//! while the next one is still fetched: one that never answers, one that
//! announces 20 MB, one that sends without end, one that sends garbage.
//! A distribution point of a certificate whose issuer is not stored is
//! never asked.

use std::sync::Arc;
use std::time::Duration;

use smimed_engine::{Actor, Engine};
use smimed_server::crl_fetch::{FetchLimits, Fetched, Schedule, round};
use smimed_store::{MasterKey, Store};
use testpki::openssl_ca::OpensslCa;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How a test server answers each connection.
#[derive(Clone)]
enum Answer {
    /// 200 with this body.
    Body(Vec<u8>),
    /// 200 with the body set meanwhile.
    Shared(Arc<std::sync::Mutex<Vec<u8>>>),
    /// Reads the request, then says nothing.
    Silence,
    /// 200 announcing 20 MB.
    Huge,
    /// 200 without a length, then bytes until the client goes.
    Endless,
}

/// A server on loopback answering every connection the same way; its URL.
async fn server(answer: Answer) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request).await;
                let head = |extra: &str| {
                    format!("HTTP/1.1 200 OK\r\nContent-Type: application/pkix-crl\r\n{extra}\r\n")
                };
                let answer = match answer {
                    Answer::Shared(body) => Answer::Body(body.lock().unwrap().clone()),
                    other => other,
                };
                match answer {
                    Answer::Shared(_) => {}
                    Answer::Body(body) => {
                        let head = head(&format!(
                            "Content-Length: {}\r\nConnection: close\r\n",
                            body.len()
                        ));
                        let _ = stream.write_all(head.as_bytes()).await;
                        let _ = stream.write_all(&body).await;
                    }
                    Answer::Silence => {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    }
                    Answer::Huge => {
                        let _ = stream
                            .write_all(head("Content-Length: 20000000\r\n").as_bytes())
                            .await;
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    }
                    Answer::Endless => {
                        let _ = stream
                            .write_all(head("Connection: close\r\n").as_bytes())
                            .await;
                        let chunk = vec![b'A'; 64 * 1024];
                        while stream.write_all(&chunk).await.is_ok() {}
                    }
                }
            });
        }
    });
    format!("http://127.0.0.1:{port}/ca.crl")
}

/// A store with `ca` and the user it issued (pointing to `url`), and an
/// engine over it.
async fn helpdesk(dir: &std::path::Path, files: &[std::path::PathBuf]) -> Arc<Engine> {
    let url = format!("sqlite://{}?mode=rwc", dir.join("db").display());
    let store = Store::open(&url, MasterKey::from_bytes([9; 32]))
        .await
        .unwrap();
    let mut pem = Vec::new();
    for f in files {
        pem.extend(std::fs::read(f).unwrap());
    }
    let bundle = smime::bundle::parse(&pem, None).unwrap();
    assert!(
        store
            .import(bundle, None, &|_| {}, "test")
            .await
            .unwrap()
            .stored
    );
    Arc::new(Engine::new(store, 4))
}

fn limits() -> FetchLimits {
    FetchLimits {
        connect: Duration::from_secs(5),
        deadline: Duration::from_secs(2),
        max_bytes: 1 << 20,
        max_urls: 8,
    }
}

#[tokio::test]
async fn crls_are_fetched_from_their_distribution_points_within_bounds() {
    if !testpki::openssl_ca::available() {
        eprintln!("SKIPPED: the openssl command is needed to run a CA (openssl ca)");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let ca = OpensslCa::new(root.path(), "ca", "/O=Shop/CN=Shop CA", "v3_ca");

    // A good server: the CRL is stored, the revoked user marked.
    let crl = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let good = server(Answer::Shared(crl.clone())).await;
    let (user, _) = ca.issue_pointing_to("before", "before@shop.example", &good);
    ca.revoke("before");
    *crl.lock().unwrap() = ca.crl("ca.crl", 24);
    let (pointing, _) = ca.issue_pointing_to("user", "user@shop.example", &good);
    let d = tempfile::tempdir().unwrap();
    let engine = helpdesk(d.path(), &[ca.certificate_path(), pointing, user]).await;
    let mut schedule = Schedule::default();
    let got = round(&engine, &mut schedule, &limits()).await;
    assert_eq!(got, [(good.clone(), Fetched::Stored)], "{got:?}");
    let crls = engine.crls(&Actor::service()).await.unwrap();
    assert_eq!(crls.len(), 1);
    assert_eq!(
        (crls[0].source.as_str(), crls[0].revoked_stored),
        (good.as_str(), 1)
    );
    // Fetched, not retried until it is due.
    let got = round(&engine, &mut schedule, &limits()).await;
    assert!(matches!(got[0].1, Fetched::NotDue(_)), "{got:?}");

    // Servers that misbehave: each fetch fails with its reason.
    for (answer, why) in [
        (Answer::Silence, "no whole answer"),
        (Answer::Huge, "20000000 bytes"),
        (Answer::Endless, "the rest was not read"),
        (
            Answer::Body(b"garbage".to_vec()),
            "not a certificate revocation list",
        ),
    ] {
        let url = server(answer).await;
        let name = format!("u{}", why.len());
        let (user, _) = ca.issue_pointing_to(&name, &format!("{name}@shop.example"), &url);
        let d = tempfile::tempdir().unwrap();
        let engine = helpdesk(d.path(), &[ca.certificate_path(), user]).await;
        let got = round(&engine, &mut Schedule::default(), &limits()).await;
        match &got[..] {
            [(u, Fetched::Failed(reason))] if *u == url => {
                assert!(reason.contains(why), "{why}: {reason}")
            }
            other => panic!("{why}: {other:?}"),
        }
        assert!(engine.crls(&Actor::service()).await.unwrap().is_empty());
    }

    // A contact whose issuer is not stored: its distribution point is
    // never asked.
    let other = OpensslCa::new(root.path(), "other", "/CN=Other CA", "v3_ca");
    let url = server(Answer::Silence).await;
    let (stranger, _) = other.issue_pointing_to("s", "s@other.example", &url);
    let d = tempfile::tempdir().unwrap();
    let engine = helpdesk(d.path(), &[stranger]).await;
    assert!(
        round(&engine, &mut Schedule::default(), &limits())
            .await
            .is_empty()
    );
}
