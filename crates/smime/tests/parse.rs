//! Format detection, classification and the errors an admin sees, over the
//! generated test PKI and the Thunderbird/NSS corpus.

use std::path::PathBuf;

use smime::bundle::parse;
use smime::{Error, Issue, Kind, Usage};
use testpki::{ALICE_KEY_PASSPHRASE, P12_PASSWORD, files};

fn pki(name: &str) -> Vec<u8> {
    std::fs::read(testpki::Pki::committed().path(name)).expect("fixture")
}

fn thunderbird(name: &str) -> Vec<u8> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/thunderbird");
    std::fs::read(dir.join(name)).expect("corpus file")
}

fn one_cert(name: &str) -> smime::Certificate {
    let mut bundle = parse(&pki(name), None).expect(name);
    assert_eq!(bundle.certificates.len(), 1, "{name}");
    bundle.certificates.remove(0)
}

#[test]
fn every_certificate_format_is_detected_by_content() {
    let alice = one_cert(files::ALICE);
    let cases: &[(&str, Option<&str>, usize, usize)] = &[
        (files::ALICE, None, 1, 0),
        (files::ALICE_DER, None, 1, 0),
        (files::CHAIN, None, 2, 0),
        (files::ALL_VALID, None, 6, 0),
        (files::CHAIN_P7B, None, 3, 0),
        (files::CHAIN_P7B_PEM, None, 3, 0),
        (files::ALICE_P12, Some(P12_PASSWORD), 3, 1),
        (files::ALICE_LEGACY_P12, Some(P12_PASSWORD), 3, 1),
        (files::ALICE_BUNDLE, None, 1, 1),
    ];
    for &(name, pass, certs, keys) in cases {
        let bundle = parse(&pki(name), pass).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(bundle.certificates.len(), certs, "{name}: certificates");
        assert_eq!(bundle.keys.len(), keys, "{name}: keys");
        if name != files::CHAIN {
            assert!(
                bundle
                    .certificates
                    .iter()
                    .any(|c| c.fingerprint() == alice.fingerprint()),
                "{name} holds alice"
            );
        }
        for key in &bundle.keys {
            assert!(key.matches(&alice), "{name}: key matches alice");
        }
    }
}

#[test]
fn trusted_certificate_blocks_keep_the_plain_fingerprint() {
    let plain = one_cert(files::CA);
    let pem = String::from_utf8(pki(files::CA)).unwrap();
    // A TRUSTED CERTIFICATE block is the certificate followed by trust data.
    let der = parse(pem.as_bytes(), None).unwrap().certificates[0]
        .der()
        .to_vec();
    let mut aux = der.clone();
    aux.extend_from_slice(&[
        0x30, 0x0c, 0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x04,
    ]);
    let b64 = openssl::base64::encode_block(&aux);
    let trusted = format!(
        "Some text before.\n-----BEGIN TRUSTED CERTIFICATE-----\n{b64}\n-----END TRUSTED CERTIFICATE-----\ntrailing text\n"
    );
    let bundle = parse(trusted.as_bytes(), None).expect("trusted certificate");
    assert_eq!(bundle.certificates[0].fingerprint(), plain.fingerprint());
}

#[test]
fn private_key_formats_open_and_keep_their_original_bytes() {
    let alice = one_cert(files::ALICE);
    let cases: &[(&str, Option<&str>, bool)] = &[
        (files::ALICE_KEY, None, false),
        (files::ALICE_KEY_RSA, None, false),
        (files::ALICE_KEY_DER, None, false),
        (files::ALICE_KEY_ENC, Some(ALICE_KEY_PASSPHRASE), true),
        (files::ALICE_KEY_LEGACY, Some(ALICE_KEY_PASSPHRASE), true),
    ];
    for &(name, pass, protected) in cases {
        let bytes = pki(name);
        let bundle = parse(&bytes, pass).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(bundle.keys.len(), 1, "{name}");
        let key = &bundle.keys[0];
        assert!(key.matches(&alice), "{name} matches alice");
        assert_eq!(key.is_protected(), protected, "{name}");
        assert_eq!(key.original(), bytes.as_slice(), "{name} kept as uploaded");
        // What is stored opens again with the same passphrase.
        let again = smime::PrivateKey::load(key.original(), pass).expect("reload");
        assert!(again.matches(&alice));
    }
    let bob = one_cert(files::BOB);
    let sec1 = parse(&pki(files::BOB_KEY), None).unwrap();
    assert!(sec1.keys[0].matches(&bob) && !sec1.keys[0].matches(&alice));
}

#[test]
fn pkcs12_keys_come_back_as_pkcs8_under_the_same_passphrase() {
    let bundle = parse(&pki(files::ALICE_P12), Some(P12_PASSWORD)).unwrap();
    let key = &bundle.keys[0];
    assert!(key.is_protected());
    let text = std::str::from_utf8(key.original()).unwrap();
    assert!(
        text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "{text}"
    );
    assert!(smime::PrivateKey::load(key.original(), Some(P12_PASSWORD)).is_ok());
    assert!(matches!(
        smime::PrivateKey::load(key.original(), Some("other")),
        Err(Error::WrongPassphrase { .. })
    ));
}

#[test]
fn classification_of_the_test_pki() {
    let alice = one_cert(files::ALICE);
    let info = alice.info();
    assert_eq!(info.kind, Kind::EndEntity);
    assert_eq!(info.usage, Usage::Both);
    assert_eq!(info.key_algorithm, "RSA 2048");
    assert_eq!(info.email_addresses, ["alice@example.org"]);
    assert_eq!(info.fingerprint.len(), 64);
    assert!(alice.rejection().is_none());
    assert!(info.issues(smime::now(), true).is_empty());
    assert_eq!(info.issues(smime::now(), false), [Issue::IssuerNotInStore]);

    let ca = one_cert(files::CA);
    assert_eq!(ca.info().kind, Kind::Ca);
    assert!(ca.info().self_signed);
    assert!(
        ca.info().issues(smime::now(), false).is_empty(),
        "self-signed needs no issuer"
    );
    let intermediate = one_cert(files::INTERMEDIATE);
    assert!(intermediate.is_issued_by(&ca) && alice.is_issued_by(&intermediate));
    assert!(!alice.is_issued_by(&ca));

    let bob = one_cert(files::BOB);
    assert_eq!(bob.info().key_algorithm, "EC P-256");
    assert_eq!(
        bob.info().usage,
        Usage::Both,
        "EC: keyAgreement is encryption"
    );
    let carol = one_cert(files::CAROL);
    assert_eq!(carol.info().key_algorithm, "EC P-384");
    assert_eq!(
        carol.info().email_addresses,
        ["carol@example.org", "carol.second@example.org"],
        "lowercased"
    );
    let dave = one_cert(files::DAVE_DN);
    assert_eq!(
        dave.info().email_addresses,
        ["dave@example.org"],
        "from the subject DN"
    );
    assert_eq!(one_cert(files::SIGNONLY).info().usage, Usage::Signature);

    let now = smime::now();
    assert!(
        one_cert(files::EXPIRED)
            .info()
            .issues(now, true)
            .contains(&Issue::Expired)
    );
    assert!(
        one_cert(files::EXPIRED).rejection().is_none(),
        "expired is accepted, flagged"
    );
    assert!(
        one_cert(files::NOTYET)
            .info()
            .issues(now, true)
            .contains(&Issue::NotYetValid)
    );
    assert!(
        one_cert(files::SHA1)
            .info()
            .issues(now, true)
            .contains(&Issue::Sha1Signature)
    );
}

#[test]
fn expiring_soon_is_flagged() {
    let dir = std::env::temp_dir().join(format!("smime-soon-{}", std::process::id()));
    let pki = testpki::generate(&dir).unwrap();
    let soon = parse(&std::fs::read(pki.path(files::SOON)).unwrap(), None).unwrap();
    let issues = soon.certificates[0].info().issues(smime::now(), true);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(issues, [Issue::ExpiresSoon]);
}

#[test]
fn unusable_end_entities_are_accepted_with_their_issues_and_marked_unusable() {
    let cases = [
        (files::NOEMAIL, "no_email_address", false),
        (files::WRONG_EKU, "not_usable_for_smime", true),
        (files::WRONG_KU, "not_usable_for_smime", true),
        (files::WEAK, "weak_key", true),
    ];
    for (name, code, unusable) in cases {
        let cert = one_cert(name);
        assert_eq!(cert.rejection(), None, "{name} is parseable: stored");
        let codes: Vec<&str> = cert.info().static_issues.iter().map(Issue::code).collect();
        assert!(codes.contains(&code), "{name}: {codes:?}");
        assert_eq!(cert.unusable().is_some(), unusable, "{name}");
    }
    let weak = one_cert(files::WEAK);
    assert!(weak.unusable().unwrap().to_string().contains("1024 bits"));
}

#[test]
fn bad_input_gets_a_clear_error() {
    let garbage: Vec<u8> = (0..=255u8).cycle().skip(7).take(600).collect();
    let empty = parse(b"  \n", None).unwrap_err();
    assert!(matches!(empty, Error::Empty), "{empty}");
    for input in [&garbage[..], b"hello world", b"\x30\x03\x02\x01\x01"] {
        let err = parse(input, None).unwrap_err();
        assert!(matches!(err, Error::Unreadable), "{err}");
        assert!(err.to_string().contains("PEM, DER, PKCS#7 or PKCS#12"));
    }
    let truncated = parse(&pki(files::TRUNCATED), None).unwrap_err().to_string();
    assert!(truncated.contains("truncated"), "{truncated}");
    let broken = parse(&pki(files::BROKEN_BUNDLE), None)
        .unwrap_err()
        .to_string();
    assert!(
        broken.contains("PEM block 2") && broken.contains("corrupted"),
        "{broken}"
    );

    let p12 = pki(files::ALICE_P12);
    assert!(matches!(
        parse(&p12, None),
        Err(Error::PassphraseRequired { .. })
    ));
    assert!(matches!(
        parse(&p12, Some("nope")),
        Err(Error::WrongPassphrase { .. })
    ));
    let enc = pki(files::ALICE_KEY_ENC);
    assert!(matches!(
        parse(&enc, None),
        Err(Error::PassphraseRequired { .. })
    ));
    assert!(matches!(
        parse(&enc, Some("nope")),
        Err(Error::WrongPassphrase { .. })
    ));
    let legacy = pki(files::ALICE_KEY_LEGACY);
    assert!(matches!(
        parse(&legacy, None),
        Err(Error::PassphraseRequired { .. })
    ));
    assert!(matches!(
        parse(&legacy, Some("nope")),
        Err(Error::WrongPassphrase { .. })
    ));
}

#[test]
fn thunderbird_certificates_show_the_right_addresses() {
    let ca = parse(&thunderbird("TestCA.pem"), None).unwrap();
    assert_eq!(ca.certificates.len(), 1);
    assert_eq!(ca.certificates[0].info().kind, Kind::Ca);
    let cases: &[(&str, &[&str])] = &[
        ("Alice.p12", &["alice@example.com"]),
        ("Alice-ec.p12", &["alice-ec@example.com"]),
        ("Bob.p12", &["bob@example.com"]),
        ("Dave.p12", &["dave@example.com"]),
        (
            "Eve.p12",
            &[
                "eve@example.net",
                "eve@example.org",
                "beve@example.com",
                "eve@example.com",
            ],
        ),
        ("Fran.p12", &["fran@example.com"]),
        ("Fran-ec.p12", &["fran-ec@example.com"]),
    ];
    for &(name, emails) in cases {
        let bundle =
            parse(&thunderbird(name), Some("nss")).unwrap_or_else(|e| panic!("{name}: {e}"));
        let leaf = bundle
            .certificates
            .iter()
            .find(|c| c.info().kind == Kind::EndEntity)
            .expect("end entity");
        assert_eq!(leaf.info().email_addresses, emails, "{name}");
        assert_eq!(bundle.keys.len(), 1, "{name}");
        assert!(bundle.keys[0].matches(leaf), "{name}: key matches");
        // RSA users are issued by TestCA.pem, the EC ones by the ECC CA
        // their PKCS#12 file carries; Fran's issuer is in no file.
        let issued = leaf.is_issued_by(&ca.certificates[0])
            || bundle
                .certificates
                .iter()
                .any(|c| c.info().kind == Kind::Ca && leaf.is_issued_by(c));
        assert_eq!(issued, !name.starts_with("Fran"), "{name}: issuer known");
        assert!(leaf.rejection().is_none(), "{name}");
    }
}

#[test]
fn spki_from_the_certificate_equals_the_keys_public_half() {
    for (cert, key) in [
        (files::ALICE, files::ALICE_KEY),
        (files::BOB, files::BOB_KEY),
        (files::CAROL, files::CAROL_KEY),
    ] {
        let c = one_cert(cert);
        let k = parse(&pki(key), None).unwrap().keys.remove(0);
        assert_eq!(
            c.spki_der().unwrap(),
            k.pkey().public_key_to_der().unwrap(),
            "{cert}"
        );
    }
}
