//! The parsed certificate: its encodings, its classification, and the
//! checks that need the X.509 itself (issuer, import rejection).

use openssl::pkey::{PKey, Public};
use openssl::x509::{X509, X509Ref, X509VerifyResult};

use super::classify::classify;
use super::convert::first_reason;
use super::info::{CertInfo, Issue};
use crate::{Error, Result, ffi};

/// Largest subject or issuer name (DER) accepted at import. Real names are
/// a few hundred bytes; RFC 5280's attribute bounds keep them far below.
pub const MAX_NAME_BYTES: usize = 8 * 1024;

/// A parsed X.509 certificate and what smimed knows about it.
#[derive(Clone)]
pub struct Certificate {
    x509: X509,
    der: Vec<u8>,
    info: CertInfo,
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
