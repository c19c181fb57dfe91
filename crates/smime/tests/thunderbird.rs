//! The Thunderbird/NSS corpus: every message gives the result its name says.
//!
//! Receiving side: `TestCA.pem` trusted, Bob's key (`Bob.p12`) for
//! decryption. Names: `.bad` and `mismatch-econtent` must fail verification;
//! everything else must decrypt (where `env`) and verify, signer = From.

use std::path::PathBuf;

use smime::incoming::{Context, DecryptCode, process};
use smime::trust::TrustStore;
use smime::verify::SignCode;

/// The time of every check, 2026-06-01T00:00:00Z: inside the validity of
/// the corpus' certificates (issued 2026-01-26, end entities valid until
/// 2031), so the test checks the same path whenever it runs.
const CHECKED_AT: i64 = 1_780_272_000;

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/thunderbird")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(corpus().join(name)).unwrap()
}

#[test]
fn every_message_gives_the_result_its_name_says() {
    let ca = smime::bundle::parse(&read("TestCA.pem"), None)
        .unwrap()
        .certificates;
    let bob = smime::bundle::parse(&read("Bob.p12"), Some("nss")).unwrap();
    let bob_cert = bob
        .certificates
        .iter()
        .find(|c| c.info().kind == smime::Kind::EndEntity)
        .unwrap();
    let keys = [(bob_cert, &bob.keys[0])];
    let trust = TrustStore::new(ca.iter());
    let ctx = Context {
        keys: &keys,
        trust: &trust,
        policy: &smime::Policy::at(CHECKED_AT),
    };

    let mut names: Vec<String> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".eml"))
        .collect();
    names.sort();
    assert!(names.len() >= 60, "corpus complete: {}", names.len());
    let mut failures = Vec::new();
    for name in &names {
        let processed = process(&read(name), &ctx).unwrap_or_else(|e| panic!("{name}: {e}"));
        let report = &processed.report;
        let must_fail = name.contains(".bad") || name.contains("mismatch-econtent");
        let encrypted = name.contains(".env");
        let mut problems = Vec::new();
        if report.kind != Some("S/MIME") {
            problems.push("not recognised as S/MIME".to_string());
        }
        if encrypted {
            let enc = report.encryption.as_ref();
            if enc.map(|e| e.code) != Some(DecryptCode::Decrypted) {
                problems.push(format!("encryption: {enc:?}"));
            }
        }
        let sign = report.sign.as_ref();
        let code = sign.map(|s| s.code);
        if must_fail {
            if code != Some(SignCode::BadSignature) {
                problems.push(format!("expected bad_signature, got {sign:?}"));
            }
        } else if name.contains("sig") && code != Some(SignCode::Verified) {
            problems.push(format!("expected verified, got {sign:?}"));
        }
        if name.contains("sig") {
            let signer = sign
                .and_then(|s| s.signer.as_ref())
                .map(|s| s.email_addresses.clone());
            let expected = if name.contains("dave") {
                "dave@example.com"
            } else {
                "alice@example.com"
            };
            if signer != Some(vec![expected.to_string()]) {
                problems.push(format!("outer signer {signer:?}, expected {expected}"));
            }
        }
        if !name.contains("html") && !must_fail {
            let text = String::from_utf8_lossy(&processed.message);
            if !text.contains("This is a test message from Alice to Bob.") {
                problems.push("readable message lacks the text".into());
            }
        }
        // Every layer of a good message verifies or decrypts.
        if !must_fail {
            for layer in &report.layers {
                if !layer.success() {
                    problems.push(format!("layer failed: {layer:?}"));
                }
            }
            let body = String::from_utf8_lossy(&processed.message);
            if body.contains("application/pkcs7") {
                problems.push("readable message still holds S/MIME parts".into());
            }
        }
        if !problems.is_empty() {
            failures.push(format!("{name}: {}", problems.join("; ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} failed:\n{}",
        failures.len(),
        names.len(),
        failures.join("\n")
    );
}
