//! What a hostile message costs next to an ordinary one (issue 12): a
//! signature repeating its digestAlgorithms entry 15,000 times, and an
//! encrypted message with 20,000 or 1,000 recipient infos naming nobody
//! stored. Both are counted before OpenSSL parses them (`shape.rs`).
//!
//! Run: `cargo bench -p smime --bench hostile` (figures in
//! docs/benchmarks.md).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::pkey::PKey;
use openssl::stack::Stack;
use openssl::symm::Cipher;
use openssl::x509::X509;
use smime::incoming::{Context, process};
use smime::trust::TrustStore;
use smime::{Certificate, Policy, PrivateKey};
use testpki::der::{self, cms};
use testpki::files;

const ENTITY: &[u8] = b"Content-Type: text/plain\r\n\r\nhello\r\n";
const HEADER: &[u8] = b"From: alice@example.org\r\nTo: alice@example.org\r\nSubject: x\r\n";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(testpki::Pki::committed().path(name)).unwrap()
}

fn hostile(c: &mut Criterion) {
    let x509 = X509::from_pem(&fixture(files::ALICE)).unwrap();
    let pkey = PKey::private_key_from_pem(&fixture(files::ALICE_KEY)).unwrap();
    let cert = Certificate::from_x509(x509.clone()).unwrap();
    let key = PrivateKey::load(&fixture(files::ALICE_KEY), None).unwrap();
    let chain = smime::bundle::parse(&fixture(files::CHAIN), None)
        .unwrap()
        .certificates;
    let trust = TrustStore::new(chain.iter());
    let keys = [(&cert, &key)];
    let policy = Policy::now();
    let ctx = Context {
        keys: &keys,
        trust: &trust,
        policy: &policy,
    };
    let run = |message: &[u8]| black_box(process(black_box(message), &ctx).unwrap());

    let signature = CmsContentInfo::sign(
        Some(&x509),
        Some(&pkey),
        None,
        Some(ENTITY),
        CMSOptions::DETACHED | CMSOptions::BINARY,
    )
    .unwrap()
    .to_der()
    .unwrap();
    let signed = |der: &[u8]| smime::mime::multipart_signed(HEADER, ENTITY, der, "sha-256");
    let normal = signed(&signature);
    let repeated = signed(&der::repeat_first_child(
        &signature,
        cms::DIGEST_ALGORITHMS,
        15_000,
    ));
    let sign = |m: &[u8]| run(m).report.sign.map(|s| s.code.as_str());
    assert_eq!(sign(&normal), Some("verified"));
    assert_eq!(sign(&repeated), Some("malformed"));
    let mut group = c.benchmark_group("hostile_signature");
    group.bench_function("ordinary", |b| b.iter(|| run(&normal)));
    group.bench_function("digest_algorithms_15000", |b| b.iter(|| run(&repeated)));
    group.finish();

    let mut to = Stack::new().unwrap();
    to.push(x509.clone()).unwrap();
    let env = CmsContentInfo::encrypt(&to, ENTITY, Cipher::aes_256_cbc(), CMSOptions::BINARY)
        .unwrap()
        .to_der()
        .unwrap();
    // Recipient infos naming another certificate: the same key transport
    // block, another serial number.
    let recipients = [cms::CONTENT, &[1]].concat();
    let stranger = {
        let info = der::children(&env, der::at_path(&env, &recipients))[0];
        let mut one = env[info.start..info.end].to_vec();
        // ktri: version, rid (issuerAndSerialNumber: issuer, serial), ...
        let rid = der::at_path(&one, &[1]);
        let serial = der::children(&one, rid)[1];
        one[serial.end - 1] ^= 0x5a;
        one
    };
    let env_with = |n: usize| {
        let set = der::encode(0x31, &stranger.repeat(n));
        smime::mime::pkcs7_mime(
            HEADER,
            "enveloped-data",
            &der::replace(&env, &recipients, &set),
        )
    };
    let ordinary = smime::mime::pkcs7_mime(HEADER, "enveloped-data", &env);
    let (unknown_1000, unknown_20000) = (env_with(1000), env_with(20_000));
    // An ordinary message as large as the one with 20,000 recipients: what
    // reading that many bytes costs anyway.
    let big_entity = [
        &b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"[..],
        &smime::mime::base64_lines(&vec![7u8; unknown_20000.len() * 3 / 4 * 3 / 4]),
    ]
    .concat();
    let big = CmsContentInfo::encrypt(&to, &big_entity, Cipher::aes_256_cbc(), CMSOptions::BINARY)
        .unwrap()
        .to_der()
        .unwrap();
    let ordinary_same_size = smime::mime::pkcs7_mime(HEADER, "enveloped-data", &big);
    eprintln!(
        "sizes: ordinary {} B, 1,000 unknown {} B, 20,000 unknown {} B, ordinary large {} B",
        ordinary.len(),
        unknown_1000.len(),
        unknown_20000.len(),
        ordinary_same_size.len()
    );
    let code = |m: &[u8]| run(m).report.encryption.map(|e| e.code.as_str());
    assert_eq!(code(&ordinary), Some("decrypted"));
    assert_eq!(code(&unknown_1000), Some("no_key"));
    assert_eq!(code(&unknown_20000), Some("malformed"));
    assert_eq!(code(&ordinary_same_size), Some("decrypted"));
    let mut group = c.benchmark_group("hostile_recipients");
    group.bench_function("ordinary_decrypted", |b| b.iter(|| run(&ordinary)));
    group.bench_function("unknown_1000", |b| b.iter(|| run(&unknown_1000)));
    group.bench_function("unknown_20000", |b| b.iter(|| run(&unknown_20000)));
    group.bench_function("ordinary_same_size_as_20000", |b| {
        b.iter(|| run(&ordinary_same_size))
    });
    group.finish();
}

criterion_group!(benches, hostile);
criterion_main!(benches);
