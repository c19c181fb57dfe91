//! Signing and verification rules that need a clock: a signer whose
//! certificate expired after signing still verifies (with a note); one that
//! was already expired when it signed does not. And the digest follows the key.

use smime::trust::TrustStore;
use smime::verify::{SignCode, verify};
use smime::{Certificate, PrivateKey};
use testpki::files;

fn load(cert: &str, key: &str) -> (Certificate, PrivateKey) {
    let read = |n: &str| std::fs::read(testpki::Pki::committed().path(n)).unwrap();
    let c = smime::bundle::parse(&read(cert), None)
        .unwrap()
        .certificates
        .remove(0);
    let k = smime::bundle::parse(&read(key), None)
        .unwrap()
        .keys
        .remove(0);
    (c, k)
}

fn chain() -> Vec<Certificate> {
    let pem = std::fs::read(testpki::Pki::committed().path(files::CHAIN)).unwrap();
    smime::bundle::parse(&pem, None).unwrap().certificates
}

/// Signs and returns (signed entity, detached content, DER signature).
fn sign(cert: &Certificate, key: &PrivateKey) -> (Vec<u8>, Vec<u8>) {
    let entity = b"Content-Type: text/plain\r\n\r\nhello\r\n".to_vec();
    let chain = chain();
    let signed = smime::sign::sign(
        &entity,
        &smime::sign::Signer {
            certificate: cert,
            key,
            chain: &chain,
        },
    )
    .unwrap();
    let text = String::from_utf8(signed.clone()).unwrap();
    let b64: String = text
        .split("Content-Description: S/MIME Cryptographic Signature\r\n\r\n")
        .nth(1)
        .unwrap()
        .split("\r\n--")
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    (entity, openssl::base64::decode_block(&b64).unwrap())
}

#[test]
fn expired_since_signing_still_verifies_with_a_note() {
    let (alice, key) = load(files::ALICE, files::ALICE_KEY);
    let (entity, sig) = sign(&alice, &key);
    let chain = chain();
    let trust = TrustStore::new(chain.iter());
    let senders = ["alice@example.org".to_string()];
    let now = smime::now();
    let (today, _) = verify(&sig, Some(&entity), &trust, Some(&senders), now);
    assert_eq!(today.code, SignCode::Verified, "{today:?}");
    let later = alice.info().not_after + 86_400;
    let (then, _) = verify(&sig, Some(&entity), &trust, Some(&senders), later);
    assert_eq!(then.code, SignCode::Verified, "{then:?}");
    assert!(then.comment.contains("no longer valid"), "{}", then.comment);
}

#[test]
fn signed_with_an_expired_certificate_fails() {
    let (expired, key) = load(files::EXPIRED, files::EXPIRED_KEY);
    let (entity, sig) = sign(&expired, &key);
    let chain = chain();
    let trust = TrustStore::new(chain.iter());
    let senders = ["expired@example.org".to_string()];
    let (result, _) = verify(&sig, Some(&entity), &trust, Some(&senders), smime::now());
    assert_eq!(result.code, SignCode::ExpiredSigner, "{result:?}");
    assert_eq!(
        result.signer.unwrap().email_addresses,
        ["expired@example.org"]
    );
}

#[test]
fn digest_follows_the_key() {
    for (cert, key, micalg) in [
        (files::ALICE, files::ALICE_KEY, "micalg=sha-256"),
        (files::BOB, files::BOB_KEY, "micalg=sha-256"),
        (files::CAROL, files::CAROL_KEY, "micalg=sha-384"),
    ] {
        let (c, k) = load(cert, key);
        let chain = chain();
        let signed = smime::sign::sign(
            b"Content-Type: text/plain\r\n\r\nx\r\n",
            &smime::sign::Signer {
                certificate: &c,
                key: &k,
                chain: &chain,
            },
        )
        .unwrap();
        assert!(String::from_utf8_lossy(&signed).contains(micalg), "{cert}");
    }
}
