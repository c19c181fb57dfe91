//! Security tests, in-process against the router: decryption failures give
//! no oracle, bad input is refused cleanly (4xx, never a panic or a 500)
//! and leaves nothing stored, and imports that would make OpenSSL grind
//! are refused before it starts.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{ExtendedKeyUsage, KeyUsage, SubjectAlternativeName};
use openssl::x509::{X509, X509Builder, X509Name};
use serde_json::Value;
use smime::encrypt::{ContentCipher, EncryptOptions};
use sqlx::{AnyConnection, Connection};
use testpki::der::{Tlv, at_path, children, cms};
use testpki::files;
use tower::ServiceExt;

mod common;

// ---------------------------------------------------------------------------
// The service

type Svc = common::Service;

/// What the store holds, counted row by row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    certificates: i64,
    private_keys: i64,
    incoming: i64,
    operations: i64,
    audit: i64,
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(testpki::Pki::committed().path(name)).unwrap()
}

fn certificate(name: &str) -> smime::Certificate {
    smime::bundle::parse(&fixture(name), None)
        .unwrap()
        .certificates
        .remove(0)
}

/// S/MIME on; the test PKI's chain, Alice (RSA) and Bob (EC) with their
/// keys, Dave (RSA) and Carol (EC) without theirs, and a group sending as
/// Bob.
async fn svc() -> Svc {
    let s = common::service().await;
    s.import_fixtures(&[
        files::CHAIN,
        files::ALICE,
        files::ALICE_KEY,
        files::BOB,
        files::BOB_KEY,
        files::DAVE_DN,
        files::CAROL,
    ])
    .await;
    s.enable_with_group("support", "bob@example.org").await;
    s
}

impl Svc {
    async fn counts(&self) -> Counts {
        sqlx::any::install_default_drivers();
        let mut conn = AnyConnection::connect(&self.url).await.unwrap();
        let mut count = async |sql: &'static str| -> i64 {
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
        };
        Counts {
            certificates: count("SELECT COUNT(*) FROM certificates").await,
            private_keys: count("SELECT COUNT(*) FROM private_keys").await,
            incoming: count("SELECT COUNT(*) FROM incoming_messages").await,
            operations: count("SELECT COUNT(*) FROM operation_log").await,
            audit: count("SELECT COUNT(*) FROM audit_log").await,
        }
    }

    /// The newest operation log entries, as the admin API gives them.
    async fn operations(&self, n: usize) -> Vec<Value> {
        let (_, v) = self
            .admin(Method::GET, &format!("/api/v1/logs?limit={n}"), "", vec![])
            .await;
        v.as_array().unwrap().clone()
    }
}

// ---------------------------------------------------------------------------
// (a) Decryption failures give no oracle

const ENTITY: &[u8] =
    b"Content-Type: text/plain; charset=utf-8\r\n\r\nThe secret text, over a few AES blocks long.\r\n";

/// A message from Carol whose S/MIME part is `der`.
fn message(der: &[u8], smime_type: &str) -> Vec<u8> {
    smime::mime::pkcs7_mime(
        b"From: carol@example.org\r\nTo: alice@example.org, bob@example.org\r\nSubject: test\r\n",
        smime_type,
        der,
    )
}

/// `ENTITY` encrypted to `to`: the CMS DER and the smime-type.
fn encrypt(to: &smime::Certificate, options: EncryptOptions) -> (Vec<u8>, &'static str) {
    let entity = smime::encrypt::encrypt(ENTITY, &[to], options).unwrap();
    let split = entity.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let body: String = String::from_utf8_lossy(&entity[split + 4..])
        .split_whitespace()
        .collect();
    let smime_type = match options.cipher {
        ContentCipher::Aes256Cbc => "enveloped-data",
        ContentCipher::Aes256Gcm => "authEnveloped-data",
    };
    (openssl::base64::decode_block(&body).unwrap(), smime_type)
}

/// The (Auth)EnvelopedData's fields.
fn enveloped_fields(der: &[u8]) -> Vec<Tlv> {
    children(der, at_path(der, cms::CONTENT))
}

/// Where the encrypted content key of the first recipient lies: RSA key
/// transport (KeyTransRecipientInfo) or the key wrapped under an ECDH key
/// agreement (KeyAgreeRecipientInfo, `[1]`).
fn key_transport_blob(der: &[u8]) -> Tlv {
    let fields = enveloped_fields(der);
    let recipients = *fields.iter().find(|t| t.tag == 0x31).unwrap();
    let info = children(der, recipients)[0];
    let mut encrypted_key = *children(der, info).last().unwrap();
    if info.tag == 0xa1 {
        let first = children(der, encrypted_key)[0];
        encrypted_key = *children(der, first).last().unwrap();
    }
    assert_eq!(encrypted_key.tag, 0x04, "encryptedKey");
    encrypted_key
}

/// Where the encrypted content lies ([0] IMPLICIT OCTET STRING).
fn encrypted_content(der: &[u8]) -> Tlv {
    let fields = enveloped_fields(der);
    let info = *fields
        .iter()
        .find(|t| t.tag == 0x30)
        .expect("encryptedContentInfo");
    let content = *children(der, info).last().unwrap();
    assert_eq!(content.tag, 0x80, "a primitive encryptedContent");
    content
}

/// The same failure, whatever its cause: the response and the log.
#[derive(Debug, PartialEq)]
struct Answer {
    status: StatusCode,
    encryption: Value,
    layers: Value,
    log: (Value, Value, Value),
}

async fn answer(s: &Svc, msg: Vec<u8>) -> Answer {
    let (status, v) = s.incoming(msg).await;
    let log = s.operations(1).await.remove(0);
    Answer {
        status,
        encryption: v["report"]["encryption"].clone(),
        layers: v["report"]["layers"].clone(),
        log: (
            log["operation"].clone(),
            log["status"].clone(),
            log["detail"].clone(),
        ),
    }
}

#[tokio::test]
async fn decryption_failures_give_no_oracle() {
    let s = svc().await;
    let dave = certificate(files::DAVE_DN);
    let mut failures = Vec::new();
    let recipients = [
        (certificate(files::ALICE), &[false, true][..]),
        (certificate(files::BOB), &[false][..]),
    ];
    for (to, oaep) in &recipients {
        for cipher in [ContentCipher::Aes256Cbc, ContentCipher::Aes256Gcm] {
            for &rsa_oaep in *oaep {
                let options = EncryptOptions { cipher, rsa_oaep };
                let case = format!(
                    "to {} {} oaep={rsa_oaep}",
                    to.info().email_addresses[0],
                    cipher.as_str()
                );
                let (der, smime_type) = encrypt(to, options);

                // The intact message decrypts: the key is there and works.
                let (status, v) = s.incoming(message(&der, smime_type)).await;
                assert_eq!(status, StatusCode::OK);
                assert_eq!(v["report"]["encryption"]["code"], "decrypted", "{case}");

                // Damaged ciphertext. With CBC, the byte that the last
                // block's padding depends on, so that the padding is wrong
                // for sure (damage elsewhere in CBC goes unnoticed:
                // EnvelopedData has no integrity, which is why AES-GCM is
                // offered); with GCM any byte, the tag catches it.
                let content = encrypted_content(&der);
                let mut damaged = der.clone();
                match cipher {
                    ContentCipher::Aes256Cbc => {
                        let pad = (content.end - content.contents) - ENTITY.len();
                        assert!((1..=16).contains(&pad), "{case}: padding {pad}");
                        damaged[content.end - 17] ^= pad as u8 ^ 0xff;
                    }
                    ContentCipher::Aes256Gcm => damaged[content.contents + 5] ^= 0x01,
                }
                failures.push((
                    format!("{case}: damaged ciphertext"),
                    answer(&s, message(&damaged, smime_type)).await,
                ));

                // A damaged encrypted content key.
                let blob = key_transport_blob(&der);
                let mut damaged = der.clone();
                damaged[blob.contents + 20] ^= 0x5a;
                failures.push((
                    format!("{case}: damaged key transport"),
                    answer(&s, message(&damaged, smime_type)).await,
                ));

                // The content key of another message to the same recipient:
                // it opens, but it is the wrong key for this content.
                let (other, _) = encrypt(to, options);
                let other_blob = key_transport_blob(&other);
                let mut swapped = der.clone();
                swapped[blob.contents..blob.end]
                    .copy_from_slice(&other[other_blob.contents..other_blob.end]);
                failures.push((
                    format!("{case}: another message's content key"),
                    answer(&s, message(&swapped, smime_type)).await,
                ));

                // RSA: a block for Dave under Alice's name.
                if to.info().key_algorithm.starts_with("RSA") {
                    let (to_dave, _) = encrypt(&dave, options);
                    let dave_blob = key_transport_blob(&to_dave);
                    let mut swapped = der.clone();
                    swapped[blob.contents..blob.end]
                        .copy_from_slice(&to_dave[dave_blob.contents..dave_blob.end]);
                    failures.push((
                        format!("{case}: another recipient's key transport block"),
                        answer(&s, message(&swapped, smime_type)).await,
                    ));
                }
            }
        }
    }
    // Every failure in which a stored key was used reads exactly the same.
    let (first_case, first) = &failures[0];
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(
        first.encryption["code"], "decryption_failed",
        "{first_case}"
    );
    assert_eq!(first.encryption["success"], false);
    for (case, other) in &failures[1..] {
        assert_eq!(other, first, "{case} differs from {first_case}");
    }
    // Alice: 4 cases x 2 ciphers x 2 key transports; Bob: 3 x 2.
    assert_eq!(failures.len(), 22);

    // Answered from public data alone, before any key is used: a part that
    // is no CMS at all, and a message none of whose recipients has a key
    // here. Each has its own code, as documented; same HTTP status.
    let (der, smime_type) = encrypt(&recipients[0].0, EncryptOptions::default());
    let truncated = answer(&s, message(&der[..der.len() / 2], smime_type)).await;
    assert_eq!(truncated.status, StatusCode::OK);
    assert_eq!(truncated.encryption["code"], "malformed");
    let (to_dave, smime_type) = encrypt(&dave, EncryptOptions::default());
    let no_key = answer(&s, message(&to_dave, smime_type)).await;
    assert_eq!(no_key.status, StatusCode::OK);
    assert_eq!(no_key.encryption["code"], "no_key");
}

/// OpenSSL answers a bad key transport blob with a random content key (its
/// defence against Bleichenbacher); CBC padding then passes by chance once
/// in 256. Such garbage must not count as decrypted, or the same message
/// would get two different answers.
#[test]
fn a_bad_key_transport_blob_never_decrypts_to_garbage() {
    let alice = certificate(files::ALICE);
    let key = smime::PrivateKey::load(&fixture(files::ALICE_KEY), None).unwrap();
    let (der, _) = encrypt(&alice, EncryptOptions::default());
    let blob = key_transport_blob(&der);
    let mut damaged = der.clone();
    damaged[blob.contents + 100] ^= 0x5a;
    for _ in 0..1000 {
        assert_eq!(
            smime::decrypt::decrypt(&damaged, &[(&alice, &key)], &Default::default()),
            Err(smime::decrypt::DecryptFailure::Failed)
        );
    }
}

// ---------------------------------------------------------------------------
// (b) Bad input: refused with a clear 4xx and nothing stored, or (where the
// input is still a message smimed need not look into) handled intact.

const HEAD: &[u8] =
    b"From: bob@example.org\r\nTo: alice@example.org\r\nSubject: test\r\nMIME-Version: 1.0\r\n";

/// A multipart entity `depth` levels deep around a text part.
fn nested_entity(depth: usize) -> Vec<u8> {
    let mut m = Vec::new();
    for i in 0..depth {
        m.extend(
            format!("Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n")
                .as_bytes(),
        );
    }
    m.extend(b"Content-Type: text/plain\r\n\r\nhello from the bottom\r\n");
    for i in (0..depth).rev() {
        m.extend(format!("\r\n--b{i}--\r\n").as_bytes());
    }
    m
}

fn with_head(entity: &[u8]) -> Vec<u8> {
    [HEAD, entity].concat()
}

/// A 4xx with a JSON error whose code is `code`, and the store unchanged.
async fn refused(s: &Svc, before: Counts, what: &str, answer: (StatusCode, Value), code: &str) {
    let (status, v) = answer;
    assert!(status.is_client_error(), "{what}: {status} {v}");
    assert_eq!(v["error"]["code"], code, "{what}: {v}");
    assert!(
        v["error"]["message"].as_str().is_some_and(|m| m.len() > 10),
        "{what}: a message that says why: {v}"
    );
    assert_eq!(s.counts().await, before, "{what}: nothing may be stored");
}

fn decoded(v: &Value, field: &str) -> Vec<u8> {
    openssl::base64::decode_block(v[field].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn a_message_nested_1000_levels_deep() {
    let s = svc().await;
    let deep = with_head(&nested_entity(1000));

    // Outgoing must walk the structure to make it 7-bit safe: refused.
    let before = s.counts().await;
    let answer = s
        .outgoing("group=support&sign=true&encrypt=true", deep.clone())
        .await;
    refused(&s, before, "outgoing", answer, "invalid_input").await;

    // Incoming need not look inside a message that is not S/MIME: it is
    // passed through untouched (and kept, as every message is, for retry).
    let (status, v) = s.incoming(deep.clone()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["report"]["type"], Value::Null);
    assert_eq!(decoded(&v, "message"), deep);
    let after = s.counts().await;
    assert_eq!(after.operations, before.operations, "no S/MIME operation");
    assert_eq!(after.incoming, before.incoming + 1);

    // The same 1,000 levels inside an encrypted layer: decrypted, intact.
    let entity = smime::encrypt::encrypt(
        &nested_entity(1000),
        &[&certificate(files::ALICE)],
        EncryptOptions::default(),
    )
    .unwrap();
    let (status, v) = s.incoming(with_head(&entity)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["report"]["encryption"]["code"], "decrypted");
    assert!(
        decoded(&v, "message")
            .windows(21)
            .any(|w| w == b"hello from the bottom")
    );
}

/// A message with one base64 attachment of about `size` bytes.
fn with_base64_part(size: usize) -> Vec<u8> {
    let mut m = with_head(
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n",
    );
    m.reserve(size + 100);
    let line = [b'A'; 76];
    while m.len() < size {
        m.extend_from_slice(&line);
        m.extend_from_slice(b"\r\n");
    }
    m
}

#[tokio::test]
async fn a_100_mb_base64_part_is_refused_and_one_under_the_limit_is_not() {
    let s = svc().await;
    let before = s.counts().await;
    let huge = with_base64_part(100 << 20);
    let answer = s.incoming(huge.clone()).await;
    refused(&s, before, "incoming 100 MB", answer, "too_large").await;
    let answer = s.outgoing("group=support&sign=true", huge).await;
    refused(&s, before, "outgoing 100 MB", answer, "too_large").await;

    // Just under the 25 MiB limit: the limit is the only barrier.
    let big = with_base64_part((25 << 20) - 4096);
    let (status, v) = s.incoming(big.clone()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, v) = s
        .outgoing("group=support&sign=true&encrypt=false", big)
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn a_1_mb_header_is_refused() {
    let s = svc().await;
    let before = s.counts().await;
    let mut one_line = HEAD.to_vec();
    one_line.extend(b"X-Long: ");
    one_line.extend(vec![b'a'; 1 << 20]);
    one_line.extend(b"\r\n\r\nbody\r\n");
    let mut folded = HEAD.to_vec();
    folded.extend(b"X-Long: x");
    for _ in 0..(1 << 20) / 64 {
        folded.extend(b"\r\n ");
        folded.extend([b'a'; 61]);
    }
    folded.extend(b"\r\n\r\nbody\r\n");
    for (what, m) in [("one line", one_line), ("folded", folded)] {
        let answer = s.incoming(m.clone()).await;
        refused(
            &s,
            before,
            &format!("incoming, {what}"),
            answer,
            "too_large",
        )
        .await;
        let answer = s.outgoing("group=support&sign=true", m).await;
        refused(
            &s,
            before,
            &format!("outgoing, {what}"),
            answer,
            "too_large",
        )
        .await;
    }

    // A large but plausible header (100 KiB, Postfix's limit) still goes.
    let mut large = HEAD.to_vec();
    for i in 0..1600 {
        large.extend(
            format!("Received: from relay{i:05}.example.net by mx.example.org; hop {i:05}\r\n")
                .as_bytes(),
        );
    }
    large.extend(b"\r\nbody\r\n");
    assert!(large.len() > 100 << 10);
    assert_eq!(s.incoming(large.clone()).await.0, StatusCode::OK);
    assert_eq!(
        s.outgoing("group=support&sign=true", large).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn broken_boundaries() {
    let s = svc().await;
    let before = s.counts().await;
    // S/MIME structures that cannot be split: refused, nothing kept.
    let signed = |params: &str, body: &str| {
        with_head(
            format!(
                "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256{params}\r\n\r\n{body}"
            )
            .as_bytes(),
        )
    };
    let part = "Content-Type: text/plain\r\n\r\nhi\r\n";
    let sig = "Content-Type: application/pkcs7-signature\r\n\r\nMIAGCSqGSIb3DQEHAqCAMIACAQEx\r\n";
    for (what, m) in [
        (
            "no boundary parameter",
            signed("", &format!("--x\r\n{part}--x\r\n{sig}--x--\r\n")),
        ),
        (
            "an empty boundary",
            signed(
                "; boundary=\"\"",
                &format!("--\r\n{part}--\r\n{sig}----\r\n"),
            ),
        ),
        (
            "a boundary the body never uses",
            signed(
                "; boundary=zz",
                &format!("--x\r\n{part}--x\r\n{sig}--x--\r\n"),
            ),
        ),
        (
            "a second part under another boundary",
            signed(
                "; boundary=x",
                &format!("--x\r\n{part}--y\r\n{sig}--y--\r\n"),
            ),
        ),
        (
            "three parts",
            signed(
                "; boundary=x",
                &format!("--x\r\n{part}--x\r\n{sig}--x\r\n{part}--x--\r\n"),
            ),
        ),
    ] {
        let answer = s.incoming(m).await;
        refused(
            &s,
            before,
            &format!("multipart/signed with {what}"),
            answer,
            "invalid_input",
        )
        .await;
    }

    // Broken multiparts that are not S/MIME: incoming passes them through
    // untouched; outgoing signs and encrypts them, and they come back
    // whole (the signature verifies over exactly what was sent).
    let mixed = |params: &str, body: &str| {
        with_head(format!("Content-Type: multipart/mixed{params}\r\n\r\n{body}").as_bytes())
    };
    for (what, m) in [
        (
            "no boundary parameter",
            mixed("", &format!("--x\r\n{part}--x--\r\n")),
        ),
        (
            "a boundary the body never uses",
            mixed("; boundary=zz", &format!("--x\r\n{part}--x--\r\n")),
        ),
        (
            "no close delimiter",
            mixed("; boundary=x", &format!("--x\r\n{part}")),
        ),
        (
            "a truncated inner multipart",
            mixed(
                "; boundary=x",
                &format!(
                    "--x\r\nContent-Type: multipart/alternative; boundary=y\r\n\r\n--y\r\n{part}--x--\r\n"
                ),
            ),
        ),
    ] {
        let (status, v) = s.incoming(m.clone()).await;
        assert_eq!(status, StatusCode::OK, "{what}: {v}");
        assert_eq!(v["report"]["type"], Value::Null, "{what}");
        assert_eq!(decoded(&v, "message"), m, "{what}");

        let req = Request::builder()
            .method(Method::POST)
            .uri("/api/v1/outgoing?group=support&sign=true&encrypt=true")
            .header("authorization", format!("Bearer {}", s.agent))
            .header("content-type", "message/rfc822")
            .body(Body::from(m.clone()))
            .unwrap();
        let resp = s.app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{what}");
        let sent = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        let (status, v) = s.incoming(sent).await;
        assert_eq!(status, StatusCode::OK, "{what}");
        assert_eq!(v["report"]["encryption"]["code"], "decrypted", "{what}");
        assert_eq!(v["report"]["sign"]["code"], "verified", "{what}");
        let readable = decoded(&v, "message");
        assert_eq!(
            smime::mime::split_header_body(&readable).1,
            smime::mime::split_header_body(&m).1,
            "{what}: the body came back as sent"
        );
    }
}

fn ec_key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

/// A self-signed S/MIME certificate for `email` whose subject has `ous`
/// organisational units of 64 characters.
fn certificate_with_subject(email: &str, ous: usize, key: &PKey<Private>) -> X509 {
    let mut name = X509Name::builder().unwrap();
    for i in 0..ous {
        name.append_entry_by_nid(Nid::ORGANIZATIONALUNITNAME, &format!("{i:064}"))
            .unwrap();
    }
    name.append_entry_by_nid(Nid::COMMONNAME, email).unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    let mut serial = BigNum::new().unwrap();
    serial.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
    b.set_serial_number(&serial.to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(365).unwrap())
        .unwrap();
    b.append_extension(KeyUsage::new().digital_signature().build().unwrap())
        .unwrap();
    b.append_extension(ExtendedKeyUsage::new().email_protection().build().unwrap())
        .unwrap();
    let san = SubjectAlternativeName::new()
        .email(email)
        .build(&b.x509v3_context(None, None))
        .unwrap();
    b.append_extension(san).unwrap();
    b.sign(key, MessageDigest::sha256()).unwrap();
    b.build()
}

#[tokio::test]
async fn a_certificate_with_a_64_kb_subject_is_refused() {
    let s = svc().await;
    let key = ec_key();
    let big = certificate_with_subject("big@example.org", 1024, &key);
    assert!(big.subject_name().to_der().unwrap().len() > 64 * 1024);
    let before = s.counts().await;
    for (what, body) in [
        ("PEM", big.to_pem().unwrap()),
        ("DER", big.to_der().unwrap()),
    ] {
        let (status, v) = s
            .admin(Method::POST, "/api/v1/certificates", "", body)
            .await;
        // (The report quotes the 64 KB subject: print only the verdict.)
        let item = &v["report"]["certificates"][0];
        let reason = item["reason"].as_str().unwrap_or("");
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {reason}");
        assert_eq!(v["error"]["code"], "rejected");
        assert_eq!(item["outcome"], "rejected", "{what}: {reason}");
        assert!(reason.contains("subject name is"), "{what}: {reason}");
        assert_eq!(
            s.counts().await,
            before,
            "{what}: nothing stored, nothing audited"
        );
    }
    // A long but ordinary subject (8 units) goes in.
    let fine = certificate_with_subject("fine@example.org", 8, &key);
    let (status, v) = s
        .admin(
            Method::POST,
            "/api/v1/certificates",
            "",
            fine.to_pem().unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
}

/// A multipart upload of `file` with `passphrase`, and its content type.
fn upload_form(file: &[u8], passphrase: &str) -> (String, Vec<u8>) {
    let boundary = "Sep";
    let mut form = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"passphrase\"\r\n\r\n{passphrase}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"upload.p12\"\r\n\r\n").into_bytes();
    form.extend(file);
    form.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), form)
}

#[tokio::test]
async fn a_pkcs12_with_a_huge_iteration_count_is_refused_at_once() {
    let s = svc().await;
    let key = ec_key();
    let cert = certificate_with_subject("p12@example.org", 1, &key);
    let mut builder = Pkcs12::builder();
    builder.name("p12").pkey(&key).cert(&cert);
    let der = builder.build2("p12-pass").unwrap().to_der().unwrap();
    // One MAC iteration over smimed's limit: building it runs them once
    // (a fraction of a second); the limit is there because a file may name
    // up to 2^31 − 1, which OpenSSL would run before it even looks at the
    // passphrase.
    let over = smime::bundle::MAX_ITERATIONS + 1;
    builder.mac_iter(over as u32);
    let huge = builder.build2("p12-pass").unwrap().to_der().unwrap();

    let before = s.counts().await;
    for path in ["/api/v1/certificates", "/api/v1/private-keys"] {
        let (content_type, form) = upload_form(&huge, "p12-pass");
        let answer = s.admin(Method::POST, path, &content_type, form).await;
        let message = answer.1["error"]["message"]
            .as_str()
            .unwrap_or("")
            .to_string();
        refused(&s, before, path, answer, "invalid_input").await;
        assert!(
            message.contains("PKCS#12")
                && message.contains(&format!("{over} key derivation iterations")),
            "{message}"
        );
    }
    // The file as built with the default count (2,048) goes in.
    let (content_type, form) = upload_form(&der, "p12-pass");
    let (status, v) = s
        .admin(Method::POST, "/api/v1/certificates", &content_type, form)
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(s.counts().await.private_keys, before.private_keys + 1);
}

#[tokio::test]
async fn a_refused_settings_change_changes_nothing() {
    let s = svc().await;
    let before = s.counts().await;
    let answer = s
        .admin(
            Method::PUT,
            "/api/v1/settings",
            "application/json",
            br#"{"cipher": "aes-256-gcm", "rsa_oaep": true, "log_retention_days": 0}"#.to_vec(),
        )
        .await;
    refused(&s, before, "settings", answer, "bad_request").await;
    let (_, v) = s.admin(Method::GET, "/api/v1/settings", "", vec![]).await;
    assert_eq!(v["cipher"], "aes-256-cbc", "{v}");
    assert_eq!(v["rsa_oaep"], false, "{v}");
}

// ---------------------------------------------------------------------------
// (e) One stored key that will not open breaks only its own messages

#[tokio::test]
async fn a_stored_key_that_will_not_open_fails_only_the_mail_addressed_to_it() {
    let s = svc().await;
    let alice = certificate(files::ALICE);
    sqlx::any::install_default_drivers();
    let mut db = AnyConnection::connect(&s.url).await.unwrap();
    sqlx::query("UPDATE private_keys SET sealed_key = $1 WHERE fingerprint = $2")
        .bind(vec![0u8; 40])
        .bind(alice.fingerprint().to_string())
        .execute(&mut db)
        .await
        .unwrap();

    // Mail to Bob still opens: Alice's key is never touched for it.
    let (der, smime_type) = encrypt(&certificate(files::BOB), EncryptOptions::default());
    let (status, v) = s.incoming(message(&der, smime_type)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["report"]["encryption"]["code"], "decrypted", "{v}");

    // Mail to Alice says that her stored key cannot be opened.
    let (der, smime_type) = encrypt(&alice, EncryptOptions::default());
    let (status, v) = s.incoming(message(&der, smime_type)).await;
    assert_eq!(status, StatusCode::OK);
    let enc = &v["report"]["encryption"];
    assert_eq!(enc["code"], "key_unavailable", "{v}");
    assert!(
        enc["comment"]
            .as_str()
            .unwrap()
            .contains(&alice.fingerprint()[..16]),
        "{enc}"
    );

    // Her certificate shows it until the key opens again.
    let path = format!("/api/v1/certificates/{}", alice.fingerprint());
    let (_, cert) = s.admin(Method::GET, &path, "", vec![]).await;
    let issues = cert["issues"].as_array().unwrap();
    assert!(issues.contains(&Value::from("key_unusable")), "{cert}");
    assert!(cert["key_problem"].is_string(), "{cert}");

    // The admin imports the key again: mail to Alice opens, the issue goes.
    let key_path = format!("{path}/private-key");
    let (status, _) = s.admin(Method::DELETE, &key_path, "", vec![]).await;
    assert_eq!(status, StatusCode::OK);
    s.import_fixtures(&[files::ALICE_KEY]).await;
    let (_, v) = s.incoming(message(&der, smime_type)).await;
    assert_eq!(v["report"]["encryption"]["code"], "decrypted", "{v}");
    let (_, cert) = s.admin(Method::GET, &path, "", vec![]).await;
    assert!(cert["issues"].as_array().unwrap().is_empty(), "{cert}");
}
