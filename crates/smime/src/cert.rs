//! Certificates: parse, fingerprint and classify for S/MIME (RFC 8550).
//!
//! Classification is done once, at parse time, into a plain [`CertInfo`]
//! that the store, the CLI and the API can show without touching OpenSSL.
//! Only the issues that depend on the clock or on the rest of the store are
//! computed later, by [`CertInfo::issues`].

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use openssl::asn1::{Asn1Time, Asn1TimeRef};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Public};
use openssl::x509::{X509, X509NameRef, X509Ref, X509VerifyResult};
use openssl_sys as sys;
use serde::Serialize;

use crate::{Error, Result, ffi};

/// Certificates that expire within this many seconds get [`Issue::ExpiresSoon`].
pub const EXPIRY_WARNING_SECS: i64 = 30 * 86_400;
/// The smallest RSA modulus accepted for S/MIME.
pub const MIN_RSA_BITS: u32 = 2048;
/// Largest subject or issuer name (DER) accepted at import. Real names are
/// a few hundred bytes; RFC 5280's attribute bounds keep them far below.
pub const MAX_NAME_BYTES: usize = 8 * 1024;

/// How many certificates [`Certificate::from_der_cached`] keeps parsed.
pub const PARSED_CACHE: usize = 1024;
/// The largest encoding [`Certificate::from_der_cached`] keeps.
pub const PARSED_CACHE_MAX_DER: usize = 16 * 1024;

/// A parsed X.509 certificate and what smimed knows about it.
#[derive(Clone)]
pub struct Certificate {
    x509: X509,
    der: Vec<u8>,
    info: CertInfo,
}

/// What a certificate is and can do, independent of time and of the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertInfo {
    /// SHA-256 of the DER, lowercase hex: the certificate's identity.
    pub fingerprint: String,
    /// Subject DN, e.g. `C=DE, O=Example, CN=Alice`.
    pub subject: String,
    /// Issuer DN, same form as `subject`.
    pub issuer: String,
    /// Serial number, lowercase hex.
    pub serial: String,
    /// Lowercase, deduplicated: subjectAltName rfc822Name first, then the
    /// subject DN's emailAddress (legacy certificates, RFC 8550 §3).
    pub email_addresses: Vec<String>,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds.
    pub not_after: i64,
    /// CA or end entity.
    pub kind: Kind,
    /// What the key may be used for in S/MIME.
    pub usage: Usage,
    /// E.g. `RSA 2048` or `EC P-256`.
    pub key_algorithm: String,
    /// Subject and issuer are equal and the certificate verifies itself.
    pub self_signed: bool,
    /// Problems that do not depend on the time or the store.
    pub static_issues: Vec<Issue>,
}

/// Whether a certificate is a CA: basicConstraints CA:TRUE, or an X.509 v1
/// self-signed root with no email address (legacy roots have no
/// extensions; a certificate without an address can only serve as a root).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A CA: storing it trusts what it issued.
    Ca,
    /// Anything else.
    EndEntity,
}

/// What the certificate's key may do for S/MIME (keyUsage and key type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Usage {
    /// Signing and encryption.
    Both,
    /// Signing only.
    Signature,
    /// Encryption only.
    Encryption,
    /// Neither.
    None,
}

impl Usage {
    /// May sign (keyUsage absent, digitalSignature or nonRepudiation).
    pub fn can_sign(self) -> bool {
        matches!(self, Usage::Both | Usage::Signature)
    }
    /// May receive encrypted mail (keyEncipherment for RSA, keyAgreement for EC).
    pub fn can_encrypt(self) -> bool {
        matches!(self, Usage::Both | Usage::Encryption)
    }
    /// `both`, `signature`, `encryption` or `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            Usage::Both => "both",
            Usage::Signature => "signature",
            Usage::Encryption => "encryption",
            Usage::None => "none",
        }
    }
}

/// A problem shown on a certificate. Codes are stable API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "&'static str")]
pub enum Issue {
    /// notAfter is in the past.
    Expired,
    /// notBefore is in the future.
    NotYetValid,
    /// Expires within [`EXPIRY_WARNING_SECS`].
    ExpiresSoon,
    /// An end entity with no email address.
    NoEmailAddress,
    /// keyUsage or extendedKeyUsage exclude S/MIME; the text says which.
    NotUsableForSmime(String),
    /// RSA under [`MIN_RSA_BITS`], or an unsupported curve or key type.
    WeakKey(String),
    /// Signed with SHA-1.
    Sha1Signature,
    /// Not self-signed, and no stored certificate issued it.
    IssuerNotInStore,
    /// An X.509 v1 self-signed root (no extensions), trusted as a CA
    /// because it was stored.
    V1Root,
}

impl Issue {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Issue::Expired => "expired",
            Issue::NotYetValid => "not_yet_valid",
            Issue::ExpiresSoon => "expires_soon",
            Issue::NoEmailAddress => "no_email_address",
            Issue::NotUsableForSmime(_) => "not_usable_for_smime",
            Issue::WeakKey(_) => "weak_key",
            Issue::Sha1Signature => "sha1_signature",
            Issue::IssuerNotInStore => "issuer_not_in_store",
            Issue::V1Root => "v1_root",
        }
    }
}

impl From<Issue> for &'static str {
    fn from(issue: Issue) -> Self {
        issue.code()
    }
}

impl std::fmt::Display for Issue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Issue::Expired => f.write_str("expired"),
            Issue::NotYetValid => f.write_str("not yet valid"),
            Issue::ExpiresSoon => f.write_str("expires within 30 days"),
            Issue::NoEmailAddress => f.write_str("no email address"),
            Issue::NotUsableForSmime(why) => write!(f, "not usable for S/MIME: {why}"),
            Issue::WeakKey(why) => write!(f, "weak key: {why}"),
            Issue::Sha1Signature => f.write_str("SHA-1 signature"),
            Issue::IssuerNotInStore => f.write_str("issuer not in the store"),
            Issue::V1Root => f.write_str(
                "X.509 v1 root without extensions: trusted as a CA because it is stored",
            ),
        }
    }
}

impl Certificate {
    /// Parses one DER certificate. Trailing bytes (the auxiliary trust data
    /// of a `TRUSTED CERTIFICATE` block) are dropped from the identity.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let x509 = X509::from_der(der).map_err(|e| Error::Malformed {
            item: "certificate".into(),
            reason: format!("not a valid X.509 certificate ({})", first_reason(&e)),
        })?;
        Self::from_x509(x509)
    }

    /// [`Certificate::from_der`], remembered for the process: parsing costs
    /// 100–150 µs under OpenSSL 3.0 (its provider decoders), a lookup about
    /// 1 µs, and a certificate's bytes always parse to the same result.
    /// For the certificates each message needs again (signers, recipients,
    /// chains, trust anchors); bulk imports use `from_der`. At most
    /// [`PARSED_CACHE`] entries; beyond, the memory starts over. Encodings
    /// over [`PARSED_CACHE_MAX_DER`] bytes (real certificates have 1–3 KiB;
    /// a hostile message may carry megabytes) are parsed but not kept, so
    /// the cache stays under about 32 MiB whatever arrives.
    pub fn from_der_cached(der: &[u8]) -> Result<Self> {
        static CACHE: OnceLock<Mutex<HashMap<Vec<u8>, Certificate>>> = OnceLock::new();
        if der.len() > PARSED_CACHE_MAX_DER {
            return Self::from_der(der);
        }
        let cache = CACHE.get_or_init(Default::default);
        let lock = || cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cert) = lock().get(der) {
            return Ok(cert.clone());
        }
        let cert = Self::from_der(der)?;
        let mut map = lock();
        if map.len() >= PARSED_CACHE {
            map.clear();
        }
        map.insert(der.to_vec(), cert.clone());
        Ok(cert)
    }

    /// Wraps an already parsed certificate.
    pub fn from_x509(x509: X509) -> Result<Self> {
        let der = x509.to_der()?;
        let info = classify(&x509, &der)?;
        Ok(Certificate { x509, der, info })
    }

    /// The OpenSSL certificate, for the engine.
    pub fn x509(&self) -> &X509Ref {
        &self.x509
    }
    /// The DER encoding (what the fingerprint is taken of).
    pub fn der(&self) -> &[u8] {
        &self.der
    }
    /// PEM encoding.
    pub fn to_pem(&self) -> Result<Vec<u8>> {
        Ok(self.x509.to_pem()?)
    }
    /// Everything known about the certificate.
    pub fn info(&self) -> &CertInfo {
        &self.info
    }
    /// SHA-256 fingerprint, lowercase hex.
    pub fn fingerprint(&self) -> &str {
        &self.info.fingerprint
    }
    /// The public key.
    pub fn public_key(&self) -> Result<PKey<Public>> {
        Ok(self.x509.public_key()?)
    }
    /// SubjectPublicKeyInfo DER, as in the certificate: matches private keys.
    pub fn spki_der(&self) -> Result<Vec<u8>> {
        Ok(ffi::spki_der(&self.x509)?)
    }
    /// DER of the subject name, to find what a certificate issued.
    pub fn subject_name_der(&self) -> Result<Vec<u8>> {
        Ok(self.x509.subject_name().to_der()?)
    }
    /// DER of the issuer name, to find a certificate's issuer.
    pub fn issuer_name_der(&self) -> Result<Vec<u8>> {
        Ok(self.x509.issuer_name().to_der()?)
    }

    /// True when `issuer` issued this certificate: names, key identifiers
    /// and the signature all agree.
    pub fn is_issued_by(&self, issuer: &Certificate) -> bool {
        issuer.x509.issued(&self.x509) == X509VerifyResult::OK
            && issuer
                .x509
                .public_key()
                .and_then(|key| self.x509.verify(&key))
                .unwrap_or(false)
    }

    /// Why a certificate is refused at import, if it is: only for a subject
    /// or issuer name over [`MAX_NAME_BYTES`], which would bloat every list,
    /// report and log line that shows it. Certificates that cannot serve
    /// S/MIME (no address, a weak key, the wrong key usage) are stored with
    /// their issues and never used for what they cannot do.
    pub fn rejection(&self) -> Option<String> {
        for (what, name) in [
            ("subject", self.x509.subject_name()),
            ("issuer", self.x509.issuer_name()),
        ] {
            let len = name.to_der().map_or(usize::MAX, |der| der.len());
            if len > MAX_NAME_BYTES {
                return Some(format!(
                    "its {what} name is {len} bytes long; at most {} KiB are accepted",
                    MAX_NAME_BYTES / 1024
                ));
            }
        }
        None
    }

    /// Why this certificate must not be used for S/MIME at all (not for
    /// signing, not for encryption), if so: a weak key, or a key usage or
    /// extended key usage that excludes S/MIME.
    pub fn unusable(&self) -> Option<&Issue> {
        self.info
            .static_issues
            .iter()
            .find(|i| matches!(i, Issue::WeakKey(_) | Issue::NotUsableForSmime(_)))
    }
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("fingerprint", &self.info.fingerprint)
            .field("subject", &self.info.subject)
            .finish()
    }
}

impl CertInfo {
    /// All issues at time `now` (Unix seconds). `issuer_known` says whether
    /// the store holds the issuer; it is ignored for self-signed certificates.
    pub fn issues(&self, now: i64, issuer_known: bool) -> Vec<Issue> {
        let mut issues = Vec::new();
        if now > self.not_after {
            issues.push(Issue::Expired);
        } else if now < self.not_before {
            issues.push(Issue::NotYetValid);
        } else if self.not_after - now < EXPIRY_WARNING_SECS {
            issues.push(Issue::ExpiresSoon);
        }
        issues.extend(self.static_issues.iter().cloned());
        if !self.self_signed && !issuer_known {
            issues.push(Issue::IssuerNotInStore);
        }
        issues
    }

    /// Valid at `now` (inside notBefore..=notAfter).
    pub fn is_valid_at(&self, now: i64) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}

fn classify(x509: &X509Ref, der: &[u8]) -> Result<CertInfo> {
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

/// Unix seconds of an ASN.1 time.
pub fn unix_time(t: &Asn1TimeRef) -> Result<i64> {
    let epoch = Asn1Time::from_unix(0)?;
    let diff = epoch.diff(t)?;
    Ok(i64::from(diff.days) * 86_400 + i64::from(diff.secs))
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The most useful line of an OpenSSL error stack, for messages.
pub(crate) fn first_reason(e: &openssl::error::ErrorStack) -> String {
    e.errors()
        .iter()
        .find_map(|err| err.reason().map(str::to_string))
        .unwrap_or_else(|| "not valid DER".to_string())
}
