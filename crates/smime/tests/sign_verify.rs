//! Signing and verification rules that need a clock: a signer whose
//! certificate expired after signing still verifies (with a note); one that
//! was already expired when it signed does not. And the digest follows the key.

use smime::trust::TrustStore;
use smime::verify::{SignCode, verify};
use smime::{Certificate, PrivateKey};
use testpki::files;

mod common;
use common::{certificate, certificates};

fn load(cert: &str, key: &str) -> (Certificate, PrivateKey) {
    (certificate(cert), common::key(key))
}

fn chain() -> Vec<Certificate> {
    certificates(files::CHAIN)
}

/// Signs and returns (signed entity, DER signature).
fn sign(cert: &Certificate, key: &PrivateKey) -> (Vec<u8>, Vec<u8>) {
    let entity = b"Content-Type: text/plain\r\n\r\nhello\r\n".to_vec();
    let signature = common::detached_signature(&entity, cert, key, &chain());
    (entity, signature)
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

/// Path validation is remembered per process (trust.rs); the memory must
/// answer exactly as a fresh validation would.
#[test]
fn a_remembered_path_holds_only_inside_its_validity() {
    use openssl::x509::X509VerifyResult;
    let (alice, _) = load(files::ALICE, files::ALICE_KEY);
    let chain = chain();
    let untrusted: Vec<_> = chain.iter().map(|c| c.x509().to_owned()).collect();
    let trust = TrustStore::new(chain.iter().skip(1)); // the root only
    let validate = |at| trust.validate(alice.x509(), &untrusted, at).unwrap();
    let start = chain
        .iter()
        .map(|c| c.info().not_before)
        .chain([alice.info().not_before])
        .max()
        .unwrap();
    let end = alice.info().not_after;
    for _ in 0..2 {
        // The first round fills the memory, the second reads it.
        assert_eq!(validate(smime::now()), X509VerifyResult::OK);
        assert_eq!(validate(start), X509VerifyResult::OK);
        assert_eq!(validate(end), X509VerifyResult::OK);
        assert_eq!(
            validate(end + 1).as_raw(),
            openssl_sys::X509_V_ERR_CERT_HAS_EXPIRED
        );
        assert_eq!(
            validate(start - 1).as_raw(),
            openssl_sys::X509_V_ERR_CERT_NOT_YET_VALID
        );
    }
}

#[test]
fn a_remembered_path_is_not_trusted_under_other_anchors_or_without_its_intermediate() {
    let (alice, key) = load(files::ALICE, files::ALICE_KEY);
    let (entity, sig) = sign(&alice, &key);
    let chain = chain();
    let senders = ["alice@example.org".to_string()];
    let now = smime::now();
    let trusted = TrustStore::new(chain.iter());
    let (first, _) = verify(&sig, Some(&entity), &trusted, Some(&senders), now);
    assert_eq!(first.code, SignCode::Verified, "{first:?}");
    let other_ca = certificate(files::OTHER_CA);
    for trust in [TrustStore::new([]), TrustStore::new([&other_ca])] {
        let (result, _) = verify(&sig, Some(&entity), &trust, Some(&senders), now);
        assert_eq!(result.code, SignCode::UnknownSigner, "{result:?}");
    }
    // The same signer and anchors, but the intermediate no longer offered.
    let untrusted = [alice.x509().to_owned()];
    let root_only = TrustStore::new(chain.iter().skip(1));
    let without = root_only.validate(alice.x509(), &untrusted, now).unwrap();
    assert_ne!(without, openssl::x509::X509VerifyResult::OK);
}
