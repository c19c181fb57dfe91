//! Classification: how a certificate's kind, usage, key, addresses and
//! static issues are read from the X.509.

use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Public};
use openssl::x509::{X509NameRef, X509Ref, X509VerifyResult};
use openssl_sys as sys;

use super::convert::{hex, unix_time};
use super::info::{CertInfo, Issue, Kind, Usage};
use crate::{Result, ffi};

/// The smallest RSA modulus accepted for S/MIME.
pub const MIN_RSA_BITS: u32 = 2048;

/// Reads what a certificate is and can do, once, at parse time: identity,
/// names, addresses, validity, kind, usage and the issues that do not
/// depend on the time or the store.
pub(super) fn classify(x509: &X509Ref, der: &[u8]) -> Result<CertInfo> {
    let fingerprint = hex(&openssl::hash::hash(MessageDigest::sha256(), der)?);
    let flags = ffi::extension_flags(x509);
    let key = x509.public_key()?;
    let self_signed =
        x509.issued(x509) == X509VerifyResult::OK && x509.verify(&key).unwrap_or(false);
    let email_addresses = emails(x509);
    let v1_root = flags & sys::EXFLAG_V1 != 0 && self_signed && email_addresses.is_empty();
    let kind = if flags & sys::EXFLAG_BCONS != 0 && flags & sys::EXFLAG_CA != 0 || v1_root {
        Kind::Ca
    } else {
        Kind::EndEntity
    };
    let (key_algorithm, key_problem) = describe_key(&key);
    let is_rsa = key.id() == Id::RSA;
    let is_ec = key.id() == Id::EC;

    let ku = ffi::key_usage(x509);
    let ku_present = flags & sys::EXFLAG_KUSAGE != 0;
    let may_sign = !ku_present
        || ku & (sys::X509v3_KU_DIGITAL_SIGNATURE | sys::X509v3_KU_NON_REPUDIATION) != 0;
    let may_encrypt = (is_rsa && (!ku_present || ku & sys::X509v3_KU_KEY_ENCIPHERMENT != 0))
        || (is_ec && (!ku_present || ku & sys::X509v3_KU_KEY_AGREEMENT != 0));
    let usage = match (may_sign, may_encrypt) {
        (true, true) => Usage::Both,
        (true, false) => Usage::Signature,
        (false, true) => Usage::Encryption,
        (false, false) => Usage::None,
    };

    let mut static_issues = Vec::new();
    if v1_root {
        static_issues.push(Issue::V1Root);
    }
    if kind == Kind::EndEntity {
        if email_addresses.is_empty() {
            static_issues.push(Issue::NoEmailAddress);
        }
        let xku_present = flags & sys::EXFLAG_XKUSAGE != 0;
        let xku = ffi::extended_key_usage(x509);
        if xku_present && xku & (sys::XKU_SMIME | sys::XKU_ANYEKU) == 0 {
            static_issues.push(Issue::NotUsableForSmime(
                "its extendedKeyUsage has neither emailProtection nor anyExtendedKeyUsage".into(),
            ));
        }
        if usage == Usage::None {
            static_issues.push(Issue::NotUsableForSmime(
                "its keyUsage allows neither signing (digitalSignature, nonRepudiation) nor key encipherment or agreement".into(),
            ));
        }
    }
    if let Some(problem) = key_problem {
        static_issues.push(Issue::WeakKey(problem));
    }
    let sig_nid = x509.signature_algorithm().object().nid();
    if [
        Nid::SHA1WITHRSAENCRYPTION,
        Nid::SHA1WITHRSA,
        Nid::ECDSA_WITH_SHA1,
        Nid::DSAWITHSHA1,
    ]
    .contains(&sig_nid)
    {
        static_issues.push(Issue::Sha1Signature);
    }

    Ok(CertInfo {
        fingerprint,
        subject: name_to_string(x509.subject_name()),
        issuer: name_to_string(x509.issuer_name()),
        serial: x509
            .serial_number()
            .to_bn()?
            .to_hex_str()?
            .to_ascii_lowercase(),
        email_addresses,
        not_before: unix_time(x509.not_before())?,
        not_after: unix_time(x509.not_after())?,
        kind,
        usage,
        key_algorithm,
        self_signed,
        static_issues,
    })
}

/// `("RSA 2048", None)` or `("RSA 1024", Some(why it is refused))`.
fn describe_key(key: &PKey<Public>) -> (String, Option<String>) {
    match key.id() {
        Id::RSA => {
            let bits = key.bits();
            let problem = (bits < MIN_RSA_BITS).then(|| {
                format!("RSA key of {bits} bits; at least {MIN_RSA_BITS} bits are required")
            });
            (format!("RSA {bits}"), problem)
        }
        Id::EC => {
            let curve = key.ec_key().ok().and_then(|ec| ec.group().curve_name());
            match curve {
                Some(Nid::X9_62_PRIME256V1) => ("EC P-256".into(), None),
                Some(Nid::SECP384R1) => ("EC P-384".into(), None),
                Some(Nid::SECP521R1) => ("EC P-521".into(), None),
                other => {
                    let name = other
                        .and_then(|nid| nid.short_name().ok())
                        .unwrap_or("explicit parameters");
                    (
                        format!("EC {name}"),
                        Some(format!(
                            "EC curve {name} is not supported; use P-256, P-384 or P-521"
                        )),
                    )
                }
            }
        }
        other => {
            let name = match other {
                Id::ED25519 => "Ed25519",
                Id::ED448 => "Ed448",
                Id::DSA => "DSA",
                _ => "unknown",
            };
            (
                name.to_string(),
                Some(format!("{name} keys are not supported for S/MIME")),
            )
        }
    }
}

fn emails(x509: &X509Ref) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |addr: &str| {
        let addr = addr.trim().to_ascii_lowercase();
        if addr.contains('@') && !out.contains(&addr) {
            out.push(addr);
        }
    };
    if let Some(names) = x509.subject_alt_names() {
        for name in names.iter() {
            if let Some(email) = name.email() {
                push(email);
            }
        }
    }
    for entry in x509.subject_name().entries_by_nid(Nid::PKCS9_EMAILADDRESS) {
        if let Ok(s) = entry.data().to_string() {
            push(&s);
        }
    }
    out
}

/// `C=DE, O=Example, CN=Alice`, in the order the certificate lists them.
pub(crate) fn name_to_string(name: &X509NameRef) -> String {
    name.entries()
        .map(|entry| {
            let key = entry.object().nid().short_name().unwrap_or("?");
            let value = entry
                .data()
                .to_string()
                .unwrap_or_else(|_| format!("#{}", hex(entry.data().as_slice())));
            format!("{key}={value}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}
