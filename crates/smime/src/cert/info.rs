//! What smimed shows about a certificate: [`CertInfo`], its [`Kind`] and
//! [`Usage`], and the [`Issue`]s found on it.

use serde::Serialize;

/// Certificates that expire within this many seconds get [`Issue::ExpiresSoon`].
pub const EXPIRY_WARNING_SECS: i64 = 30 * 86_400;

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
    /// RSA under [`MIN_RSA_BITS`](super::MIN_RSA_BITS), or an unsupported curve or key type.
    WeakKey(String),
    /// Signed with SHA-1.
    Sha1Signature,
    /// Not self-signed, and no stored certificate issued it.
    IssuerNotInStore,
    /// An X.509 v1 self-signed root (no extensions), trusted as a CA
    /// because it was stored.
    V1Root,
    /// A stored CRL of its issuer revokes it; the text says when and by
    /// which CRL. Known to the store, never to the certificate alone.
    Revoked(String),
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
            Issue::Revoked(_) => "revoked",
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
            Issue::Revoked(why) => write!(f, "revoked: {why}"),
        }
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
