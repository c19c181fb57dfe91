//! The Thunderbird/NSS corpus: every message gives the result its name says,
//! and exactly the report and readable message pinned beside it.
//!
//! Receiving side: `TestCA.pem` trusted, Bob's key (`Bob.p12`) for
//! decryption. Names: `.bad` and `mismatch-econtent` must fail verification;
//! everything else must decrypt (where `env`) and verify, signer = From.
//!
//! Golden files: beside every `<name>.eml` lies `<name>.eml.report.json`,
//! the report (`processed.report` as serde writes it) and the SHA-256 of the
//! readable message. `BLESS=1 cargo test -p smime --test thunderbird`
//! writes them; without `BLESS` the test only reads and compares. The checks
//! from the file names run in both cases, so a blessed wrong answer fails.

use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;
use smime::incoming::{Context, DecryptCode, Processed, Report, process};
use smime::trust::TrustStore;
use smime::verify::SignCode;

/// The time of every check, 2026-06-01T00:00:00Z: inside the validity of
/// the corpus' certificates (issued 2026-01-26, end entities valid until
/// 2031), so the test checks the same path whenever it runs.
const CHECKED_AT: i64 = 1_780_272_000;

/// Suffix of a golden file: `<name>.eml` + this.
const GOLDEN: &str = ".report.json";

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/thunderbird")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(corpus().join(name)).unwrap()
}

/// The corpus' file names ending in `suffix`, sorted.
fn files_ending(suffix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(suffix))
        .collect();
    names.sort();
    names
}

/// Every `*.eml` of the corpus, sorted.
fn messages() -> Vec<String> {
    let names = files_ending(".eml");
    assert!(names.len() >= 60, "corpus complete: {}", names.len());
    names
}

/// Processes every message at [`CHECKED_AT`] as Bob, trusting `TestCA.pem`.
fn process_all(names: &[String]) -> Vec<Processed> {
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
    names
        .iter()
        .map(|name| process(&read(name), &ctx).unwrap_or_else(|e| panic!("{name}: {e}")))
        .collect()
}

/// What a golden file holds.
#[derive(Serialize)]
struct Golden<'a> {
    report: &'a Report,
    message_sha256: String,
}

/// The golden file's text for a processed message: pretty JSON, keys in
/// the order serde writes them, a trailing newline.
fn golden_text(processed: &Processed) -> String {
    let digest = openssl::sha::sha256(&processed.message);
    let golden = Golden {
        report: &processed.report,
        message_sha256: digest.iter().map(|b| format!("{b:02x}")).collect(),
    };
    let mut text = serde_json::to_string_pretty(&golden).unwrap();
    text.push('\n');
    text
}

/// `eprintln!` straight to the process' stderr, past the test harness'
/// capture, so that `BLESS=1` says what it wrote even when the test passes.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `BLESS` is set (and not empty or `0`): write the golden files.
fn blessing() -> bool {
    std::env::var_os("BLESS").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Every difference between `expected` and `got`, one line each:
/// `path: expected …, got …`.
fn differences(path: &str, expected: &Value, got: &Value, out: &mut Vec<String>) {
    match (expected, got) {
        (Value::Object(e), Value::Object(g)) => {
            let mut keys: Vec<&String> = e.keys().chain(g.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let here = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match (e.get(key), g.get(key)) {
                    (Some(e), Some(g)) => differences(&here, e, g, out),
                    (Some(e), None) => out.push(format!("{here}: expected {e}, got nothing")),
                    (None, Some(g)) => out.push(format!("{here}: expected nothing, got {g}")),
                    (None, None) => unreachable!(),
                }
            }
        }
        (Value::Array(e), Value::Array(g)) => {
            for i in 0..e.len().max(g.len()) {
                let here = format!("{path}[{i}]");
                match (e.get(i), g.get(i)) {
                    (Some(e), Some(g)) => differences(&here, e, g, out),
                    (Some(e), None) => out.push(format!("{here}: expected {e}, got nothing")),
                    (None, Some(g)) => out.push(format!("{here}: expected nothing, got {g}")),
                    (None, None) => unreachable!(),
                }
            }
        }
        _ if expected != got => out.push(format!("{path}: expected {expected}, got {got}")),
        _ => {}
    }
}

#[test]
fn every_message_gives_its_golden_report() {
    let bless = blessing();
    let names = messages();
    let first = process_all(&names);
    // A second pass in the same process: the report and the readable
    // message must not depend on anything but the message and the context.
    let second = process_all(&names);
    let mut failures = Vec::new();
    let mut written = 0;
    for ((name, processed), again) in names.iter().zip(&first).zip(&second) {
        let got = golden_text(processed);
        if golden_text(again) != got {
            failures.push(format!(
                "{name}: not deterministic, two runs differ:\n{got}\n---\n{}",
                golden_text(again)
            ));
            continue;
        }
        let golden = format!("{name}{GOLDEN}");
        let path = corpus().join(&golden);
        let on_disk = std::fs::read_to_string(&path);
        if bless {
            if on_disk.as_deref().ok() != Some(got.as_str()) {
                std::fs::write(&path, &got).unwrap_or_else(|e| panic!("{golden}: {e}"));
                say!("BLESS: wrote {golden}");
                written += 1;
            }
            continue;
        }
        let text = match on_disk {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                failures.push(format!(
                    "{golden}: missing; run `BLESS=1 cargo test -p smime --test thunderbird` \
                     to write it, then check it"
                ));
                continue;
            }
            Err(e) => {
                failures.push(format!("{golden}: {e}"));
                continue;
            }
        };
        let expected: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{golden}: not JSON: {e}"));
                continue;
            }
        };
        let got: Value = serde_json::from_str(&got).unwrap();
        let mut diffs = Vec::new();
        differences("", &expected, &got, &mut diffs);
        if !diffs.is_empty() {
            failures.push(format!("{golden}:\n    {}", diffs.join("\n    ")));
        }
    }
    // A golden file without its message is stale.
    for golden in files_ending(GOLDEN) {
        let message = golden.strip_suffix(GOLDEN).unwrap();
        if !names.iter().any(|n| n == message) {
            if bless {
                std::fs::remove_file(corpus().join(&golden)).unwrap();
                say!("BLESS: removed {golden} (no {message})");
            } else {
                failures.push(format!(
                    "{golden}: no message {message}; remove it, or run with BLESS=1"
                ));
            }
        }
    }
    if bless {
        say!(
            "BLESS: {} golden files in tests/data/thunderbird, {written} written",
            names.len(),
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden reports differ (if the change is intended, run \
         `BLESS=1 cargo test -p smime --test thunderbird` and review the diff):\n{}",
        failures.len(),
        names.len(),
        failures.join("\n")
    );
}

#[test]
fn every_message_gives_the_result_its_name_says() {
    let names = messages();
    let processed = process_all(&names);
    let mut failures = Vec::new();
    for (name, processed) in names.iter().zip(&processed) {
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
