//! Signing and verification rules that need a clock: a signer whose
//! certificate is not valid at the time of the check is `expired_signer`,
//! whatever its signingTime claims. And the digest follows the key.

use smime::trust::{PathCheck, TrustStore};
use smime::verify::{Senders, SignCode, verify};
use smime::{Certificate, Policy, PrivateKey};
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

fn from(address: &str) -> Senders {
    Senders {
        from: vec![address.to_string()],
        ..Senders::default()
    }
}

#[test]
fn a_signer_expired_at_the_check_fails_whenever_it_signed() {
    let (alice, key) = load(files::ALICE, files::ALICE_KEY);
    let (entity, sig) = sign(&alice, &key);
    let chain = chain();
    let trust = TrustStore::new(chain.iter());
    let senders = from("alice@example.org");
    let (today, _) = verify(&sig, Some(&entity), &trust, Some(&senders), &Policy::now());
    assert_eq!(today.code, SignCode::Verified, "{today:?}");
    // Signed while valid (the signingTime is now), checked after expiry.
    let later = Policy::at(alice.info().not_after + 86_400);
    let (then, _) = verify(&sig, Some(&entity), &trust, Some(&senders), &later);
    assert_eq!(then.code, SignCode::ExpiredSigner, "{then:?}");
    assert!(
        then.comment.contains("claims to have signed on")
            && then.comment.contains("cannot be checked"),
        "{}",
        then.comment
    );
}

#[test]
fn signed_with_an_expired_certificate_fails() {
    let (expired, key) = load(files::EXPIRED, files::EXPIRED_KEY);
    let (entity, sig) = sign(&expired, &key);
    let chain = chain();
    let trust = TrustStore::new(chain.iter());
    let senders = from("expired@example.org");
    let (result, _) = verify(&sig, Some(&entity), &trust, Some(&senders), &Policy::now());
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
    let (alice, _) = load(files::ALICE, files::ALICE_KEY);
    let chain = chain();
    let untrusted: Vec<_> = chain.iter().map(|c| c.x509().to_owned()).collect();
    let trust = TrustStore::new(chain.iter().skip(1)); // the root only
    let validate = |at| trust.validate(&alice, &untrusted, at).unwrap();
    let valid = PathCheck::Valid { itself: false };
    let start = chain
        .iter()
        .map(|c| c.info().not_before)
        .chain([alice.info().not_before])
        .max()
        .unwrap();
    let end = alice.info().not_after;
    for _ in 0..2 {
        // The first round fills the memory, the second reads it.
        assert_eq!(validate(smime::now()), valid);
        assert_eq!(validate(start), valid);
        assert_eq!(validate(end), valid);
        assert!(matches!(validate(end + 1), PathCheck::Expired(_)));
        assert!(matches!(validate(start - 1), PathCheck::NotYetValid(_)));
    }
}

#[test]
fn a_remembered_path_is_not_trusted_under_other_anchors_or_without_its_intermediate() {
    let (alice, key) = load(files::ALICE, files::ALICE_KEY);
    let (entity, sig) = sign(&alice, &key);
    let chain = chain();
    let senders = from("alice@example.org");
    let now = Policy::now();
    let trusted = TrustStore::new(chain.iter());
    let (first, _) = verify(&sig, Some(&entity), &trusted, Some(&senders), &now);
    assert_eq!(first.code, SignCode::Verified, "{first:?}");
    let other_ca = certificate(files::OTHER_CA);
    for trust in [TrustStore::new([]), TrustStore::new([&other_ca])] {
        let (result, _) = verify(&sig, Some(&entity), &trust, Some(&senders), &now);
        assert_eq!(result.code, SignCode::UnknownSigner, "{result:?}");
    }
    // The same signer and anchors, but the intermediate no longer offered.
    let untrusted = [alice.x509().to_owned()];
    let root_only = TrustStore::new(chain.iter().skip(1));
    let without = root_only.validate(&alice, &untrusted, now.now).unwrap();
    assert!(matches!(without, PathCheck::Untrusted(_)), "{without:?}");
}

/// Some signers hash text with bare LF line endings: the policy's LF
/// fallback accepts that (with a note); switched off, it is a bad signature.
#[test]
fn the_lf_fallback_is_the_policy_s_choice() {
    let (alice, key) = load(files::ALICE, files::ALICE_KEY);
    let crlf = b"Content-Type: text/plain\r\n\r\nline one\r\nline two\r\n".to_vec();
    let lf: Vec<u8> = String::from_utf8(crlf.clone())
        .unwrap()
        .replace("\r\n", "\n")
        .into_bytes();
    let sig = common::detached_signature(&lf, &alice, &key, &chain());
    let trust = TrustStore::new(chain().iter());
    let senders = from("alice@example.org");
    let mut policy = Policy::now();
    let (with, _) = verify(&sig, Some(&crlf), &trust, Some(&senders), &policy);
    assert_eq!(with.code, SignCode::Verified, "{with:?}");
    assert!(with.comment.contains("LF line endings"), "{}", with.comment);
    policy.lf_fallback = false;
    let (without, _) = verify(&sig, Some(&crlf), &trust, Some(&senders), &policy);
    assert_eq!(without.code, SignCode::BadSignature, "{without:?}");
}
