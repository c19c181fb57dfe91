//! Revocation (issue 17): a test CA made with `openssl ca` issues a user,
//! publishes a CRL, revokes the user and publishes another. A message the
//! user signed verifies before that CRL is loaded and is `revoked` after.
//! CRLs that no stored CA signed, out-of-date ones, garbage and oversized
//! input are refused, each with its own error.
//!
//! Without the `openssl` command the tests say so and pass: they need it
//! to make the CA.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use smime::crl::{CrlError, MAX_CRL_BYTES, distribution_points};
use smime::incoming::{Context, process};
use smime::outgoing::{Protection, protect};
use smime::sign::Signer;
use smime::trust::{PathCheck, TrustStore};
use smime::verify::SignCode;
use smime::{Certificate, Crl, CrlSet, Error, Policy, PrivateKey};

use testpki::openssl_ca::OpensslCa as TestCa;

/// What `ca` issued for `email`, parsed.
fn issue(ca: &TestCa, name: &str, email: &str) -> (Certificate, PrivateKey) {
    let (pem, key) = ca.issue(name, email);
    let bundle = smime::bundle::parse(&std::fs::read(key).unwrap(), None).unwrap();
    (certificate(&pem), bundle.keys.into_iter().next().unwrap())
}

fn certificate(path: &Path) -> Certificate {
    smime::bundle::parse(&std::fs::read(path).unwrap(), None)
        .unwrap()
        .certificates
        .remove(0)
}

/// What the tests share: made once per process.
struct Pki {
    ca: Certificate,
    user: Certificate,
    user_key: PrivateKey,
    /// Before the user's revocation, then after (PEM).
    crl_before: Vec<u8>,
    crl_after: Vec<u8>,
    /// After the revocation, valid for one hour only.
    crl_short: Vec<u8>,
    /// Same issuer name as `ca`, another key.
    forged: Vec<u8>,
    /// By a CA with another name, and that CA.
    stranger_crl: Vec<u8>,
    stranger: Certificate,
    /// By a CA whose keyUsage lacks cRLSign, and that CA.
    no_crl_sign_crl: Vec<u8>,
    no_crl_sign: Certificate,
    /// `ca` issued `intermediate`, which issued `deep_user`; then `ca`
    /// revoked `intermediate` (`crl_intermediate_revoked`).
    intermediate: Certificate,
    deep_user: Certificate,
    deep_user_key: PrivateKey,
    crl_of_intermediate: Vec<u8>,
    crl_intermediate_revoked: Vec<u8>,
    /// By `ca`: config section → CRL with those extensions.
    with_extensions: Vec<(&'static str, Vec<u8>)>,
}

const CA_SUBJECT: &str = "/O=smimed tests/CN=CRL Test CA";

fn pki() -> Option<&'static Pki> {
    static PKI: OnceLock<Option<Pki>> = OnceLock::new();
    PKI.get_or_init(|| {
        if !testpki::openssl_ca::available() {
            return None;
        }
        let root = std::env::temp_dir().join(format!("smime-crl-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let ca = TestCa::new(&root, "ca", CA_SUBJECT, "v3_ca");
        let (user, user_key) = issue(&ca, "user", "user@example.org");
        let crl_before = ca.crl("before.crl", 24);
        ca.revoke("user");
        let crl_after = ca.crl("after.crl", 24);
        let crl_short = ca.crl("short.crl", 1);
        let with_extensions = [
            "crl_partitioned",
            "crl_delta",
            "crl_unknown_critical",
            "crl_unknown",
        ]
        .map(|section| (section, ca.crl_with(&format!("{section}.crl"), section)))
        .to_vec();
        let sub = ca.subordinate(&root, "intermediate", "/CN=CRL Test Intermediate");
        let (deep_user, deep_user_key) = issue(&sub, "deep", "deep@example.org");
        let crl_of_intermediate = sub.crl("sub.crl", 24);
        ca.revoke("intermediate");
        let crl_intermediate_revoked = ca.crl("after-intermediate.crl", 24);
        let evil = TestCa::new(&root, "evil", CA_SUBJECT, "v3_ca");
        let forged = evil.crl("forged.crl", 24);
        let other = TestCa::new(&root, "other", "/CN=Another CA", "v3_ca");
        let stranger_crl = other.crl("other.crl", 24);
        let limited = TestCa::new(&root, "limited", "/CN=No CRL Sign CA", "v3_ca_no_crl_sign");
        let no_crl_sign_crl = limited.crl("limited.crl", 24);
        let pki = Pki {
            ca: certificate(&ca.certificate_path()),
            user,
            user_key,
            crl_before,
            crl_after,
            crl_short,
            forged,
            stranger_crl,
            stranger: certificate(&other.certificate_path()),
            no_crl_sign_crl,
            no_crl_sign: certificate(&limited.certificate_path()),
            intermediate: certificate(&sub.certificate_path()),
            deep_user,
            deep_user_key,
            crl_of_intermediate,
            crl_intermediate_revoked,
            with_extensions,
        };
        let _ = std::fs::remove_dir_all(&root);
        Some(pki)
    })
    .as_ref()
}

/// The test PKI, or `None` after saying plainly why the test is skipped.
macro_rules! pki_or_skip {
    () => {
        match pki() {
            Some(pki) => pki,
            None => {
                eprintln!(
                    "SKIPPED: the `openssl` command was not found; it is needed to make the test CA"
                );
                return;
            }
        }
    };
}

fn set(crl: &[u8], signer: &Certificate) -> Arc<CrlSet> {
    let mut set = CrlSet::new();
    set.insert(Crl::parse(crl).unwrap(), signer).unwrap();
    Arc::new(set)
}

/// A message from the user, signed, as `smime::outgoing` sends it.
fn signed_message(pki: &Pki) -> Vec<u8> {
    let raw = b"From: user@example.org\r\nTo: desk@example.org\r\nSubject: hello\r\n\
                Content-Type: text/plain\r\n\r\nhello\r\n";
    protect(
        raw,
        &Protection {
            sign: Some(Signer {
                certificate: &pki.user,
                key: &pki.user_key,
                chain: &[],
            }),
            encrypt: None,
        },
    )
    .unwrap()
}

fn check(message: &[u8], trust: &TrustStore, policy: &Policy) -> smime::verify::SignResult {
    let keys: [(&Certificate, &PrivateKey); 0] = [];
    let ctx = Context {
        keys: &keys,
        trust,
        policy,
    };
    process(message, &ctx).unwrap().report.sign.unwrap()
}

fn crl_error(result: smime::Result<impl std::fmt::Debug>) -> CrlError {
    match result {
        Err(Error::Crl(e)) => e,
        other => panic!("expected a CRL error, got {other:?}"),
    }
}

#[test]
fn a_message_verifies_before_the_crl_and_is_revoked_after() {
    let pki = pki_or_skip!();
    let message = signed_message(pki);
    let policy = Policy::now();
    let cas = [pki.ca.clone()];

    let plain = TrustStore::new(cas.iter());
    let before = check(&message, &plain, &policy);
    assert_eq!(before.code, SignCode::Verified, "{before:?}");
    assert!(before.warnings.is_empty(), "no CRLs loaded: no note");

    let old = TrustStore::new(cas.iter()).with_crls(set(&pki.crl_before, &pki.ca));
    let with_old = check(&message, &old, &policy);
    assert_eq!(with_old.code, SignCode::Verified, "{with_old:?}");
    assert!(with_old.warnings.is_empty(), "{with_old:?}");

    let crl = Crl::parse(&pki.crl_after).unwrap();
    let signer = crl.verify_issuer(&cas, policy.now).unwrap();
    assert_eq!(signer.fingerprint(), pki.ca.fingerprint());
    let mut crls = CrlSet::new();
    crls.insert(crl, signer).unwrap();
    let trust = TrustStore::new(cas.iter()).with_crls(Arc::new(crls));
    let after = check(&message, &trust, &policy);
    assert_eq!(after.code, SignCode::Revoked, "{after:?}");
    assert_eq!(after.code.as_str(), "revoked");
    assert!(!after.success);
    for part in ["revoked on", "CRL of", "CRL Test CA", "user@example.org"] {
        assert!(after.comment.contains(part), "{part}: {}", after.comment);
    }
}

#[test]
fn the_newer_crl_replaces_the_older_in_a_set_whatever_the_order() {
    let pki = pki_or_skip!();
    let message = signed_message(pki);
    let cas = [pki.ca.clone()];
    let (old, new) = (
        Crl::parse(&pki.crl_before).unwrap(),
        Crl::parse(&pki.crl_after).unwrap(),
    );
    assert!(new.supersedes(&old) && !old.supersedes(&new));
    assert_eq!(old.issuer_id(), new.issuer_id());
    let mut crls = CrlSet::new();
    crls.insert(new, &pki.ca).unwrap();
    crls.insert(old, &pki.ca).unwrap();
    assert_eq!(crls.len(), 1);
    let trust = TrustStore::new(cas.iter()).with_crls(Arc::new(crls));
    assert_eq!(
        check(&message, &trust, &Policy::now()).code,
        SignCode::Revoked
    );
}

/// The process remembers valid paths (trust.rs); a CRL loaded after the
/// path was remembered must still revoke.
#[test]
fn a_remembered_path_does_not_hide_a_new_crl() {
    let pki = pki_or_skip!();
    let cas = [pki.ca.clone()];
    let now = smime::now();
    let plain = TrustStore::new(cas.iter());
    for _ in 0..2 {
        assert_eq!(
            plain.validate(&pki.user, &[], now).unwrap(),
            PathCheck::Valid { itself: false }
        );
    }
    let trust = TrustStore::new(cas.iter()).with_crls(set(&pki.crl_after, &pki.ca));
    match trust.validate(&pki.user, &[], now).unwrap() {
        PathCheck::Revoked(why) => assert!(why.contains("CRL Test CA"), "{why}"),
        other => panic!("remembered path hid the CRL: {other:?}"),
    }
    // And the memory still answers for the store without CRLs.
    assert_eq!(
        plain.validate(&pki.user, &[], now).unwrap(),
        PathCheck::Valid { itself: false }
    );
}

#[test]
fn a_revocation_counts_only_from_its_date() {
    let pki = pki_or_skip!();
    let crl = Crl::parse(&pki.crl_after).unwrap();
    let when = crl.revoked(pki.user.x509().serial_number()).unwrap();
    assert!(when <= crl.this_update());
    let trust = TrustStore::new([&pki.ca]).with_crls(set(&pki.crl_after, &pki.ca));
    // The user's certificate is valid from the minute it was made; the
    // revocation came later (the same second at worst).
    let before = when - 1;
    if before >= pki.user.info().not_before {
        assert_eq!(
            trust.validate(&pki.user, &[], before).unwrap(),
            PathCheck::Valid { itself: false }
        );
    }
    assert!(matches!(
        trust.validate(&pki.user, &[], when).unwrap(),
        PathCheck::Revoked(_)
    ));
}

#[test]
fn a_signer_trusted_as_itself_is_revoked_by_its_issuers_crl() {
    let pki = pki_or_skip!();
    let now = smime::now();
    // The user's own certificate stored, its CA not.
    let alone = TrustStore::new([&pki.user]);
    assert_eq!(
        alone.validate(&pki.user, &[], now).unwrap(),
        PathCheck::Valid { itself: true }
    );
    let revoking = TrustStore::new([&pki.user]).with_crls(set(&pki.crl_after, &pki.ca));
    assert!(matches!(
        revoking.validate(&pki.user, &[], now).unwrap(),
        PathCheck::Revoked(_)
    ));
    // Another CA's CRL says nothing about it.
    let unrelated = TrustStore::new([&pki.user]).with_crls(set(&pki.stranger_crl, &pki.stranger));
    assert_eq!(
        unrelated.validate(&pki.user, &[], now).unwrap(),
        PathCheck::Valid { itself: true }
    );
}

/// Every certificate below the anchor is checked: an intermediate CA
/// revoked by the root's CRL revokes what it issued, and with CRLs
/// required, each issuer on the path must have one.
#[test]
fn an_intermediate_revoked_by_the_root_revokes_its_users() {
    let pki = pki_or_skip!();
    let raw = b"From: deep@example.org\r\nTo: desk@example.org\r\nSubject: hi\r\n\r\nhi\r\n";
    let chain = [pki.intermediate.clone()];
    let message = protect(
        raw,
        &Protection {
            sign: Some(Signer {
                certificate: &pki.deep_user,
                key: &pki.deep_user_key,
                chain: &chain,
            }),
            encrypt: None,
        },
    )
    .unwrap();
    let roots = [pki.ca.clone()];
    let policy = Policy::now();
    let mut strict = policy.clone();
    strict.require_crl = true;

    let mut both = CrlSet::new();
    both.insert(
        Crl::parse(&pki.crl_of_intermediate).unwrap(),
        &pki.intermediate,
    )
    .unwrap();
    both.insert(Crl::parse(&pki.crl_before).unwrap(), &pki.ca)
        .unwrap();
    let trust = TrustStore::new(roots.iter()).with_crls(Arc::new(both));
    let result = check(&message, &trust, &strict);
    assert_eq!(result.code, SignCode::Verified, "{result:?}");

    // Only the intermediate's CRL: the root's is missing.
    let one =
        TrustStore::new(roots.iter()).with_crls(set(&pki.crl_of_intermediate, &pki.intermediate));
    let result = check(&message, &one, &strict);
    assert_eq!(result.code, SignCode::UnknownSigner, "{result:?}");
    assert!(
        result.comment.contains("no CRL of") && result.comment.contains("CRL Test CA"),
        "{}",
        result.comment
    );
    let result = check(&message, &one, &policy);
    assert_eq!(result.code, SignCode::Verified, "{result:?}");
    assert_eq!(result.warnings.len(), 1, "{result:?}");

    let revoking =
        TrustStore::new(roots.iter()).with_crls(set(&pki.crl_intermediate_revoked, &pki.ca));
    let result = check(&message, &revoking, &policy);
    assert_eq!(result.code, SignCode::Revoked, "{result:?}");
    assert!(
        result.comment.contains("CRL Test Intermediate"),
        "{}",
        result.comment
    );
}

#[test]
fn a_forged_crl_is_refused() {
    let pki = pki_or_skip!();
    let crl = Crl::parse(&pki.forged).unwrap();
    assert_eq!(crl.issuer(), Crl::parse(&pki.crl_after).unwrap().issuer());
    let cas = [pki.ca.clone()];
    let e = crl_error(crl.verify_issuer(&cas, smime::now()));
    assert!(matches!(e, CrlError::Forged { .. }), "{e:?}");
    assert!(e.to_string().contains("forged"), "{e}");
    assert!(CrlSet::new().insert(crl, &pki.ca).is_err());
}

#[test]
fn a_crl_from_an_unknown_issuer_is_refused() {
    let pki = pki_or_skip!();
    let crl = Crl::parse(&pki.stranger_crl).unwrap();
    // The user is not a CA: being stored does not make it an issuer.
    let cas = [pki.ca.clone(), pki.user.clone()];
    let e = crl_error(crl.verify_issuer(&cas, smime::now()));
    assert!(matches!(e, CrlError::UnknownIssuer { .. }), "{e:?}");
    assert!(e.to_string().contains("Another CA"), "{e}");
    let e = crl_error(CrlSet::new().insert(crl, &pki.ca));
    assert!(matches!(e, CrlError::UnknownIssuer { .. }), "{e:?}");
}

#[test]
fn a_ca_without_crl_sign_cannot_issue_crls() {
    let pki = pki_or_skip!();
    let crl = Crl::parse(&pki.no_crl_sign_crl).unwrap();
    let cas = [pki.no_crl_sign.clone()];
    let e = crl_error(crl.verify_issuer(&cas, smime::now()));
    assert!(matches!(e, CrlError::NotForCrlSigning { .. }), "{e:?}");
    assert!(!crl.is_signed_by(&pki.no_crl_sign));
}

#[test]
fn an_expired_or_future_crl_is_refused() {
    let pki = pki_or_skip!();
    let crl = Crl::parse(&pki.crl_short).unwrap();
    let cas = [pki.ca.clone()];
    let next = crl.next_update().unwrap();
    assert_eq!(next - crl.this_update(), 3600);
    assert!(crl.verify_issuer(&cas, next).is_ok());
    let e = crl_error(crl.verify_issuer(&cas, next + 1));
    assert!(matches!(e, CrlError::Expired { .. }), "{e:?}");
    assert!(e.to_string().contains("expired"), "{e}");
    let e = crl_error(crl.verify_issuer(&cas, crl.this_update() - 1));
    assert!(matches!(e, CrlError::NotYetValid { .. }), "{e:?}");
}

#[test]
fn an_out_of_date_crl_still_revokes_and_is_noted() {
    let pki = pki_or_skip!();
    let message = signed_message(pki);
    let cas = [pki.ca.clone()];
    let crl = Crl::parse(&pki.crl_short).unwrap();
    let late = Policy::at(crl.next_update().unwrap() + 60);
    // It revokes the user...
    let trust = TrustStore::new(cas.iter()).with_crls(set(&pki.crl_short, &pki.ca));
    assert_eq!(check(&message, &trust, &late).code, SignCode::Revoked);
    // ...and the CRL from before the revocation, out of date, is noted.
    let mut before = CrlSet::new();
    let short_before = Crl::parse(&pki.crl_before).unwrap();
    let at = Policy::at(short_before.next_update().unwrap() + 60);
    before.insert(short_before, &pki.ca).unwrap();
    let trust = TrustStore::new(cas.iter()).with_crls(Arc::new(before));
    if at.now < pki.user.info().not_after {
        let result = check(&message, &trust, &at);
        assert_eq!(result.code, SignCode::Verified, "{result:?}");
        assert!(
            result.warnings.iter().any(|w| w.contains("out of date")),
            "{result:?}"
        );
        let mut strict = at.clone();
        strict.require_crl = true;
        let result = check(&message, &trust, &strict);
        assert_eq!(result.code, SignCode::UnknownSigner, "{result:?}");
        assert!(result.comment.contains("out of date"), "{}", result.comment);
    }
}

#[test]
fn require_crl_fails_without_a_crl_and_a_missing_one_is_otherwise_noted() {
    let pki = pki_or_skip!();
    let message = signed_message(pki);
    let cas = [pki.ca.clone(), pki.stranger.clone()];
    let policy = Policy::now();
    let mut strict = policy.clone();
    strict.require_crl = true;

    let none = TrustStore::new(cas.iter());
    let result = check(&message, &none, &strict);
    assert_eq!(result.code, SignCode::UnknownSigner, "{result:?}");
    assert!(
        result.comment.contains("no CRL of") && result.comment.contains("require_crl"),
        "{}",
        result.comment
    );
    assert!(matches!(
        none.validate_with(&pki.user, &[], &strict).unwrap().check,
        PathCheck::RevocationUnknown(_)
    ));

    // Not required: CRLs are loaded, but none of the user's CA. Noted.
    let other = TrustStore::new(cas.iter()).with_crls(set(&pki.stranger_crl, &pki.stranger));
    let result = check(&message, &other, &policy);
    assert_eq!(result.code, SignCode::Verified, "{result:?}");
    assert!(
        result
            .warnings
            .iter()
            .any(|w| w.contains("no CRL of") && w.contains("CRL Test CA")),
        "{result:?}"
    );
    assert!(result.comment.contains("no CRL of"), "{}", result.comment);

    // Required and present: verified, nothing to note.
    let covered = TrustStore::new(cas.iter()).with_crls(set(&pki.crl_before, &pki.ca));
    let result = check(&message, &covered, &strict);
    assert_eq!(result.code, SignCode::Verified, "{result:?}");
    assert!(result.warnings.is_empty(), "{result:?}");
}

/// A delta or partitioned CRL would be read as the CA's whole list, and an
/// unknown critical extension must not be ignored (RFC 5280 §5.2).
#[test]
fn crls_that_are_not_complete_lists_are_refused() {
    let pki = pki_or_skip!();
    for (section, crl) in &pki.with_extensions {
        let parsed = Crl::parse(crl);
        let says = match *section {
            "crl_partitioned" => "issuingDistributionPoint",
            "crl_delta" => "delta CRL",
            "crl_unknown_critical" => {
                "critical extension smimed does not know (OID 1.3.6.1.4.1.99999.1)"
            }
            _ => {
                let crl = parsed.unwrap();
                assert!(crl.number().is_some(), "{section}");
                continue;
            }
        };
        let e = crl_error(parsed);
        assert!(matches!(e, CrlError::Unsupported(_)), "{section}: {e:?}");
        assert!(e.to_string().contains(says), "{section}: {e}");
    }
}

#[test]
fn garbage_is_refused_with_a_reason() {
    let pki = pki_or_skip!();
    let cert_pem = pki.user.to_pem().unwrap();
    for (input, says) in [
        (b"".to_vec(), "empty"),
        (b"this is not a CRL".to_vec(), "neither PEM nor"),
        (cert_pem, "X509 CRL"),
        (pki.user.der().to_vec(), "not a valid X.509 CRL"),
        (
            [Crl::parse(&pki.crl_after).unwrap().der(), b"x"].concat(),
            "trailing bytes",
        ),
    ] {
        let e = crl_error(Crl::parse(&input));
        assert!(matches!(e, CrlError::Malformed(_)), "{e:?}");
        assert!(e.to_string().contains(says), "{says}: {e}");
    }
}

#[test]
fn fifty_megabytes_are_refused_by_size_before_parsing() {
    // A valid CRL's first bytes: only the size can refuse it.
    let mut input = vec![0u8; 50 * 1024 * 1024];
    input[..4].copy_from_slice(&[0x30, 0x84, 0x03, 0x1f]);
    let e = crl_error(Crl::parse(&input));
    assert_eq!(
        e,
        CrlError::TooLarge {
            size: 50 * 1024 * 1024,
            limit: MAX_CRL_BYTES
        }
    );
    let text = e.to_string();
    assert!(
        text.contains("52428800") && text.contains("10 MiB"),
        "{text}"
    );
    // At the limit, it is parsed (and found wanting).
    input.truncate(MAX_CRL_BYTES);
    assert!(matches!(
        crl_error(Crl::parse(&input)),
        CrlError::Malformed(_)
    ));
}

#[test]
fn accessors_read_the_crl() {
    let pki = pki_or_skip!();
    let before = Crl::parse(&pki.crl_before).unwrap();
    let after = Crl::parse(&pki.crl_after).unwrap();
    assert_eq!(before.revoked_count(), 0);
    assert_eq!(after.revoked_count(), 1);
    assert_eq!(before.number_hex().as_deref(), Some("01"));
    assert_eq!(after.number_hex().as_deref(), Some("02"));
    assert_eq!(after.issuer(), pki.ca.info().subject);
    assert_eq!(after.next_update(), Some(after.this_update() + 24 * 3600));
    assert!(before.revoked(pki.user.x509().serial_number()).is_none());
    assert!(after.revoked(pki.ca.x509().serial_number()).is_none());
    // PEM and DER give the same CRL.
    let der = Crl::parse(after.der()).unwrap();
    assert_eq!(der.der(), after.der());
    assert_eq!(der.fingerprint(), after.fingerprint());
}

#[test]
fn distribution_points_are_the_http_urls() {
    let pki = pki_or_skip!();
    assert_eq!(
        distribution_points(&pki.user),
        [
            "http://crl.example.org/ca.crl",
            "HTTPS://crl.example.org/ca.crl"
        ]
    );
    assert!(distribution_points(&pki.ca).is_empty());
}
