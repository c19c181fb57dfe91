//! Property tests: for arbitrary message bodies (text and binary, LF and
//! CRLF, long lines, trailing white space, 8-bit bytes, nested multiparts),
//! what goes out comes back with the same content:
//!
//! - sign, then verify the detached signature;
//! - encrypt, then decrypt;
//! - sign and encrypt, then the whole incoming processing;
//! - for the first few cases, the same sign+encrypt message through the
//!   `openssl cms` command line (decrypt, then verify).
//!
//! "Same content" means: the same leaf parts in the same order, with the
//! same media types and the same decoded bytes (text compared with line
//! ends made uniform, since canonical form is CRLF), as `mail-parser` reads
//! the original message.
//!
//! 48 cases per property by default; `PROPTEST_CASES=1000 cargo test -p
//! smime --test prop` runs more.

use std::path::PathBuf;
use std::process::Command;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use mail_parser::{MessageParser, MimeHeaders, PartType};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError};
use smime::encrypt::{ContentCipher, EncryptOptions};
use smime::incoming::{Context, DecryptCode, Layer};
use smime::trust::TrustStore;
use smime::verify::SignCode;
use smime::{Certificate, PrivateKey};
use testpki::files;

/// Cases per property unless `PROPTEST_CASES` says otherwise.
const DEFAULT_CASES: u32 = 48;
/// Cases that also go through `openssl cms`.
const OPENSSL_SAMPLE: usize = 8;

fn config() -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = DEFAULT_CASES;
    }
    // Failures are turned into named tests in tests/regressions.rs.
    config.failure_persistence = None;
    config
}

// ---------------------------------------------------------------------------
// The test PKI.
// ---------------------------------------------------------------------------

mod common;

fn pki(name: &str) -> PathBuf {
    testpki::Pki::committed().path(name)
}

struct Keys {
    alice: Certificate,
    alice_key: PrivateKey,
    bob: Certificate,
    bob_key: PrivateKey,
    /// The intermediate, sent along with signatures (the root is the anchor).
    chain: Vec<Certificate>,
    trust: TrustStore,
}

static KEYS: LazyLock<Keys> = LazyLock::new(|| Keys {
    alice: common::certificate(files::ALICE),
    alice_key: common::key(files::ALICE_KEY),
    bob: common::certificate(files::BOB),
    bob_key: common::key(files::BOB_KEY),
    chain: common::certificates(files::INTERMEDIATE),
    trust: TrustStore::new(common::certificates(files::CHAIN).iter()),
});

// ---------------------------------------------------------------------------
// Generated messages.
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum TextEncoding {
    /// No Content-Transfer-Encoding field.
    Absent,
    SevenBit,
    EightBit,
    QuotedPrintable,
    Base64,
}

#[derive(Debug, Clone, Copy)]
enum BinaryEncoding {
    Binary,
    Base64,
}

#[derive(Debug, Clone)]
enum Part {
    /// text/plain or text/html, UTF-8.
    Text {
        html: bool,
        body: String,
        encoding: TextEncoding,
    },
    /// application/octet-stream.
    Binary {
        data: Vec<u8>,
        encoding: BinaryEncoding,
    },
    Multipart {
        subtype: &'static str,
        parts: Vec<Part>,
    },
}

/// One line of text: the shapes that 7-bit transport and canonical form
/// must survive.
fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[ -~]{0,80}",
        2 => "[a-z]{1,10}[ \t]{1,3}",
        1 => "[a-z ]{999,1500}",
        3 => "[a-zA-Z äöüßÄÖÜ€日本語—]{0,60}",
        1 => "From [a-z ]{0,20}",
        1 => Just(".".to_string()),
        1 => Just(String::new()),
        1 => "[-=.]{1,4}[a-z]{0,5}",
    ]
}

fn text_body() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(line(), 0..12),
        prop::bool::ANY,
        prop::bool::ANY,
    )
        .prop_map(|(lines, crlf, final_eol)| {
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut body = lines.join(eol);
            if final_eol {
                body.push_str(eol);
            }
            body
        })
}

fn binary_data() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..3000),
        // ASCII with bare LF and CR: binary that looks like text.
        "[a-z \n\r]{0,300}".prop_map(String::into_bytes),
    ]
}

fn leaf() -> impl Strategy<Value = Part> {
    prop_oneof![
        3 => (
            prop::bool::weighted(0.2),
            text_body(),
            prop_oneof![
                Just(TextEncoding::Absent),
                Just(TextEncoding::SevenBit),
                Just(TextEncoding::EightBit),
                Just(TextEncoding::QuotedPrintable),
                Just(TextEncoding::Base64),
            ],
        )
            .prop_map(|(html, body, encoding)| Part::Text { html, body, encoding }),
        1 => (
            binary_data(),
            prop_oneof![Just(BinaryEncoding::Binary), Just(BinaryEncoding::Base64)],
        )
            .prop_map(|(data, encoding)| Part::Binary { data, encoding }),
    ]
}

fn part() -> impl Strategy<Value = Part> {
    leaf().prop_recursive(4, 24, 4, |inner| {
        (
            prop_oneof![Just("mixed"), Just("alternative"), Just("related")],
            prop::collection::vec(inner, 1..4),
        )
            .prop_map(|(subtype, parts)| Part::Multipart { subtype, parts })
    })
}

#[derive(Debug, Clone)]
struct Message {
    /// The entity; `None` for a bare message without MIME fields.
    root: Option<Part>,
    /// The body of a bare message.
    bare: String,
    /// Line ends of header fields and boundaries.
    crlf: bool,
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        1 => (text_body(), prop::bool::ANY)
            .prop_map(|(bare, crlf)| Message { root: None, bare, crlf }),
        6 => (part(), prop::bool::ANY)
            .prop_map(|(root, crlf)| Message { root: Some(root), bare: String::new(), crlf }),
    ]
}

/// Quoted-printable written independently of `smime::mime`: every byte
/// outside `[A-Za-z0-9]` and space is escaped, soft breaks every 60.
fn qp(text: &str) -> String {
    let mut out = String::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let mut col = 0;
        for &b in line.as_bytes() {
            if col >= 60 {
                out.push_str("=\n");
                col = 0;
            }
            if b.is_ascii_alphanumeric() {
                out.push(b as char);
                col += 1;
            } else {
                out.push_str(&format!("={b:02X}"));
                col += 3;
            }
        }
        out.push('\n');
    }
    // `split` gives one more line than there are line ends.
    out.pop();
    out
}

fn base64(data: &[u8]) -> String {
    let b64 = openssl::base64::encode_block(data);
    let mut out = String::new();
    for chunk in b64.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push('\n');
    }
    out
}

struct Renderer {
    eol: &'static str,
    boundaries: usize,
}

impl Renderer {
    /// Header fields and body of one part; the body as bytes, since binary
    /// parts are not text.
    fn part(&mut self, part: &Part, out: &mut Vec<u8>) {
        let eol = self.eol;
        let field = |out: &mut Vec<u8>, f: &str| {
            out.extend_from_slice(f.as_bytes());
            out.extend_from_slice(eol.as_bytes());
        };
        match part {
            Part::Text {
                html,
                body,
                encoding,
            } => {
                let subtype = if *html { "html" } else { "plain" };
                field(out, &format!("Content-Type: text/{subtype}; charset=utf-8"));
                let (cte, encoded) = match encoding {
                    TextEncoding::Absent => (None, body.clone()),
                    TextEncoding::SevenBit => (Some("7bit"), body.clone()),
                    TextEncoding::EightBit => (Some("8bit"), body.clone()),
                    TextEncoding::QuotedPrintable => (Some("quoted-printable"), qp(body)),
                    TextEncoding::Base64 => (Some("base64"), base64(body.as_bytes())),
                };
                if let Some(cte) = cte {
                    field(out, &format!("Content-Transfer-Encoding: {cte}"));
                }
                out.extend_from_slice(eol.as_bytes());
                out.extend_from_slice(encoded.as_bytes());
            }
            Part::Binary { data, encoding } => {
                field(
                    out,
                    "Content-Type: application/octet-stream; name=\"data.bin\"",
                );
                field(
                    out,
                    "Content-Disposition: attachment; filename=\"data.bin\"",
                );
                match encoding {
                    BinaryEncoding::Binary => {
                        field(out, "Content-Transfer-Encoding: binary");
                        out.extend_from_slice(eol.as_bytes());
                        out.extend_from_slice(data);
                    }
                    BinaryEncoding::Base64 => {
                        field(out, "Content-Transfer-Encoding: base64");
                        out.extend_from_slice(eol.as_bytes());
                        out.extend_from_slice(base64(data).as_bytes());
                    }
                }
            }
            Part::Multipart { subtype, parts } => {
                self.boundaries += 1;
                let boundary = format!("=_prop_{}_b", self.boundaries);
                field(
                    out,
                    &format!("Content-Type: multipart/{subtype}; boundary=\"{boundary}\""),
                );
                out.extend_from_slice(eol.as_bytes());
                field(out, "This is a multi-part message in MIME format.");
                for child in parts {
                    field(out, &format!("--{boundary}"));
                    self.part(child, out);
                    out.extend_from_slice(eol.as_bytes());
                }
                field(out, &format!("--{boundary}--"));
            }
        }
    }
}

fn render(m: &Message, n: usize) -> Vec<u8> {
    let eol = if m.crlf { "\r\n" } else { "\n" };
    let mut out = format!(
        "From: Alice <alice@example.org>{eol}To: Bob <bob@example.org>{eol}Subject: prop {n}{eol}Date: Fri, 27 Nov 2026 10:00:00 +0000{eol}Message-ID: <prop-{n}@example.org>{eol}"
    )
    .into_bytes();
    match &m.root {
        None => {
            out.extend_from_slice(eol.as_bytes());
            out.extend_from_slice(m.bare.as_bytes());
        }
        Some(root) => {
            out.extend_from_slice(format!("MIME-Version: 1.0{eol}").as_bytes());
            Renderer { eol, boundaries: 0 }.part(root, &mut out);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Content comparison.
// ---------------------------------------------------------------------------

/// (media type, decoded content) of every leaf part, in order.
fn leaves(raw: &[u8]) -> Vec<(String, Vec<u8>)> {
    let message = MessageParser::default()
        .parse(raw)
        .expect("a message with header fields");
    message
        .parts
        .iter()
        .filter(|p| !matches!(p.body, PartType::Multipart(_)))
        .map(|p| {
            let ct = p.content_type().map_or("text/plain".to_string(), |ct| {
                format!(
                    "{}/{}",
                    ct.ctype().to_ascii_lowercase(),
                    ct.subtype().unwrap_or_default().to_ascii_lowercase()
                )
            });
            let content = if ct.starts_with("text/") {
                // Canonical form may only change line ends.
                p.contents()
                    .iter()
                    .copied()
                    .filter(|&b| b != b'\r')
                    .collect()
            } else {
                p.contents().to_vec()
            };
            (ct, content)
        })
        .collect()
}

fn same_content(what: &str, original: &[u8], got: &[u8]) -> Result<(), TestCaseError> {
    let (want, have) = (leaves(original), leaves(got));
    prop_assert_eq!(
        &have,
        &want,
        "{}: content differs\n--- sent:\n{}\n--- received:\n{}",
        what,
        String::from_utf8_lossy(original),
        String::from_utf8_lossy(got)
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// The round trips.
// ---------------------------------------------------------------------------

fn signed(entity: &[u8]) -> Vec<u8> {
    let k = &*KEYS;
    smime::sign::sign(
        entity,
        &smime::sign::Signer {
            certificate: &k.alice,
            key: &k.alice_key,
            chain: &k.chain,
        },
    )
    .expect("sign")
}

fn encrypted(entity: &[u8], options: EncryptOptions) -> Vec<u8> {
    let k = &*KEYS;
    smime::encrypt::encrypt(entity, &[&k.alice, &k.bob], options).expect("encrypt")
}

fn options() -> impl Strategy<Value = EncryptOptions> {
    (prop::bool::ANY, prop::bool::ANY).prop_map(|(gcm, rsa_oaep)| EncryptOptions {
        cipher: if gcm {
            ContentCipher::Aes256Gcm
        } else {
            ContentCipher::Aes256Cbc
        },
        rsa_oaep,
    })
}

/// The DER inside an `application/pkcs7-mime` entity, or the two parts of
/// a `multipart/signed` one.
fn body_of(entity: &[u8]) -> &[u8] {
    smime::mime::split_header_body(entity).1
}

fn boundary_of(entity: &[u8]) -> String {
    let text = String::from_utf8_lossy(smime::mime::split_header_body(entity).0);
    text.split("boundary=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("multipart/signed has a boundary")
        .to_string()
}

fn unbase64(text: &[u8]) -> Vec<u8> {
    let joined: String = String::from_utf8_lossy(text).split_whitespace().collect();
    openssl::base64::decode_block(&joined).expect("base64")
}

static OPENSSL_RUNS: AtomicUsize = AtomicUsize::new(0);

fn openssl_available() -> bool {
    let found = Command::new("openssl").arg("version").output().is_ok();
    if !found {
        if std::env::var_os("CI").is_some() {
            panic!("the `openssl` command is required in CI");
        }
        eprintln!("skipping the openssl cms sample: no `openssl` command");
    }
    found
}

fn openssl(args: &[&str], dir: &std::path::Path) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

proptest! {
    #![proptest_config(config())]

    /// sign → verify: the detached signature verifies over the content
    /// the receiver splits out, and that content is what was sent.
    #[test]
    fn sign_then_verify(m in message(), n in 0usize..1000) {
        let raw = render(&m, n);
        let split = smime::mime::split_message(&raw).expect("split");
        let entity = signed(&split.entity);
        let boundary = boundary_of(&entity);
        let parts = smime::mime::split_multipart(body_of(&entity), &boundary);
        prop_assert_eq!(parts.len(), 2);
        prop_assert_eq!(parts[0], &split.entity[..]);
        let signature = unbase64(body_of(parts[1]));
        let senders = smime::verify::Senders {
            from: vec!["alice@example.org".to_string()],
            ..Default::default()
        };
        let (result, content) = smime::verify::verify(
            &signature,
            Some(parts[0]),
            &KEYS.trust,
            Some(&senders),
            &smime::Policy::now(),
        );
        prop_assert_eq!(result.code, SignCode::Verified, "{:?}", result);
        same_content("sign→verify", &raw, &content.expect("content"))?;
    }

    /// encrypt → decrypt, with each key and each cipher.
    #[test]
    fn encrypt_then_decrypt(m in message(), n in 0usize..1000, options in options()) {
        let k = &*KEYS;
        let raw = render(&m, n);
        let split = smime::mime::split_message(&raw).expect("split");
        let entity = encrypted(&split.entity, options);
        let der = unbase64(body_of(&entity));
        for keys in [[(&k.alice, &k.alice_key)], [(&k.bob, &k.bob_key)]] {
            let limits = smime::policy::CmsLimits::default();
            let plain = smime::decrypt::decrypt(&der, &keys, &limits).expect("decrypt");
            prop_assert_eq!(&plain, &split.entity);
            same_content("encrypt→decrypt", &raw, &plain)?;
        }
    }

    /// sign + encrypt → incoming: decrypted, verified, from the sender,
    /// and the readable message has the content that was sent.
    #[test]
    fn sign_encrypt_then_incoming(m in message(), n in 0usize..1000, options in options()) {
        let k = &*KEYS;
        let raw = render(&m, n);
        let split = smime::mime::split_message(&raw).expect("split");
        let mut message = split.outer.clone();
        message.extend_from_slice(&encrypted(&signed(&split.entity), options));
        let keys = [(&k.bob, &k.bob_key)];
        let policy = smime::Policy::now();
        let ctx = Context { keys: &keys, trust: &k.trust, policy: &policy };
        let processed = smime::incoming::process(&message, &ctx).expect("incoming");
        let report = &processed.report;
        prop_assert_eq!(report.layers.len(), 2, "{:?}", report);
        prop_assert!(
            matches!(&report.layers[0], Layer::Encrypted(r) if r.code == DecryptCode::Decrypted),
            "{:?}", report
        );
        prop_assert_eq!(report.sign.as_ref().map(|s| s.code), Some(SignCode::Verified), "{:?}", report);
        same_content("sign+encrypt→incoming", &raw, &processed.message)?;

        // A sample through the openssl command line: decrypt as bob, then
        // verify against the root alone.
        if OPENSSL_RUNS.fetch_add(1, Ordering::SeqCst) < OPENSSL_SAMPLE && openssl_available() {
            let dir = tempfile_dir();
            std::fs::write(dir.join("in.eml"), &message).unwrap();
            let bob_cert = pki(files::BOB);
            let bob_key = pki(files::BOB_KEY);
            let ca = pki(files::CA);
            openssl(&["cms", "-decrypt", "-in", "in.eml", "-recip", bob_cert.to_str().unwrap(),
                "-inkey", bob_key.to_str().unwrap(), "-out", "signed.eml"], &dir);
            openssl(&["cms", "-verify", "-in", "signed.eml", "-CAfile", ca.to_str().unwrap(),
                "-purpose", "smimesign", "-out", "content"], &dir);
            let content = std::fs::read(dir.join("content")).unwrap();
            let _ = std::fs::remove_dir_all(&dir);
            prop_assert_eq!(&content, &split.entity, "openssl cms -verify gives back the signed entity");
            same_content("openssl cms", &raw, &content)?;
        }
    }
}

fn tempfile_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "smime-prop-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The generators make what they promise (so the properties are not
/// vacuous): over a few hundred samples, every shape shows up.
#[test]
fn generators_cover_the_shapes() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = message();
    let (mut long, mut trailing, mut eight_bit, mut nested, mut binary, mut lf, mut crlf) =
        (false, false, false, false, false, false, false);
    for n in 0..400 {
        let m = strategy.new_tree(&mut runner).unwrap().current();
        let raw = render(&m, n);
        let text = String::from_utf8_lossy(&raw);
        long |= text.split('\n').any(|l| l.len() > 998);
        trailing |= text.split('\n').any(|l| {
            let l = l.strip_suffix('\r').unwrap_or(l);
            l.ends_with(' ') || l.ends_with('\t')
        });
        eight_bit |= !raw.is_ascii();
        nested |= text.matches("multipart/").count() >= 2;
        binary |= text.contains("Content-Transfer-Encoding: binary");
        lf |= !m.crlf;
        crlf |= m.crlf;
    }
    assert!(long && trailing && eight_bit && nested && binary && lf && crlf);
}
