//! Decryption of EnvelopedData and AuthEnvelopedData with the stored keys.
//!
//! Every failure after the recipient match reads the same, so the service
//! gives no padding oracle (Bleichenbacher, RFC 3218).

use openssl::cms::CmsContentInfo;
use openssl::nid::Nid;

use crate::policy::CmsLimits;
use crate::{Certificate, PrivateKey, ffi};

/// Why a message could not be decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecryptFailure {
    /// None of the stored keys belongs to a recipient.
    NoKey,
    /// A key was tried and the content did not come out (any reason).
    Failed,
    /// The key of a recipient is stored but cannot be opened.
    KeyUnavailable {
        /// The fingerprint of its certificate.
        fingerprint: String,
        /// Why, in words.
        reason: String,
    },
    /// The CMS structure is not an encrypted message.
    Malformed(String),
}

/// The receiving side's private keys: the certificates that have one, and
/// a way to open a key when, and only when, a message names its
/// certificate. A key that cannot be opened fails only the messages
/// addressed to it.
pub trait Keys {
    /// The certificates that have a private key.
    fn certificates(&self) -> Vec<&Certificate>;
    /// Runs `use_key` with the opened key of `cert`, or says why the key
    /// cannot be opened.
    fn with_key(
        &self,
        cert: &Certificate,
        use_key: &mut dyn FnMut(&PrivateKey),
    ) -> Result<(), String>;
}

impl Keys for [(&Certificate, &PrivateKey)] {
    fn certificates(&self) -> Vec<&Certificate> {
        self.iter().map(|(c, _)| *c).collect()
    }
    fn with_key(
        &self,
        cert: &Certificate,
        use_key: &mut dyn FnMut(&PrivateKey),
    ) -> Result<(), String> {
        let (_, key) = self
            .iter()
            .find(|(c, _)| c.fingerprint() == cert.fingerprint())
            .ok_or_else(|| "no such key".to_string())?;
        use_key(key);
        Ok(())
    }
}

impl<const N: usize> Keys for [(&Certificate, &PrivateKey); N] {
    fn certificates(&self) -> Vec<&Certificate> {
        self[..].certificates()
    }
    fn with_key(
        &self,
        cert: &Certificate,
        use_key: &mut dyn FnMut(&PrivateKey),
    ) -> Result<(), String> {
        self[..].with_key(cert, use_key)
    }
}

/// Decrypts `der` with a key whose certificate a RecipientInfo names (by
/// issuer and serial number, or by subject key identifier). No other key
/// is tried: a key is used only for the messages addressed to it.
pub fn decrypt(der: &[u8], keys: &dyn Keys, limits: &CmsLimits) -> Result<Vec<u8>, DecryptFailure> {
    // Count the recipients (and carried certificates) before OpenSSL parses.
    crate::shape::enveloped(der, limits).map_err(DecryptFailure::Malformed)?;
    let cms = CmsContentInfo::from_der(der)
        .map_err(|e| DecryptFailure::Malformed(crate::cert::first_reason(&e)))?;
    let kind = ffi::content_type(&cms);
    if kind != Nid::PKCS7_ENVELOPED && kind.as_raw() != NID_ID_SMIME_CT_AUTHENVELOPEDDATA {
        return Err(DecryptFailure::Malformed(
            "the S/MIME part is not an encrypted message".into(),
        ));
    }
    // One try for each key the message names, and any failure there is the
    // one uniform failure. A damaged key transport block also gives
    // OpenSSL's random content key (its defence against Bleichenbacher), so
    // only a MIME entity counts: otherwise CBC padding passing by chance
    // (1 time in 256) would answer "decrypted" with garbage.
    let mut matched = false;
    let mut unavailable = None;
    for cert in keys.certificates() {
        if !ffi::is_recipient(&cms, cert.x509()) {
            continue;
        }
        matched = true;
        let mut plain = None;
        let opened = keys.with_key(cert, &mut |key| {
            if let Ok(p) = cms.decrypt(key.pkey(), &cert.x509().to_owned())
                && looks_like_entity(&p)
            {
                plain = Some(p);
            }
        });
        match (opened, plain) {
            (_, Some(plain)) => return Ok(plain),
            (Err(reason), None) => {
                unavailable.get_or_insert(DecryptFailure::KeyUnavailable {
                    fingerprint: cert.fingerprint().to_string(),
                    reason,
                });
            }
            (Ok(()), None) => {}
        }
    }
    let _ = openssl::error::ErrorStack::get();
    Err(match (matched, unavailable) {
        (false, _) => DecryptFailure::NoKey,
        (true, Some(unavailable)) => unavailable,
        (true, None) => DecryptFailure::Failed,
    })
}

fn looks_like_entity(plain: &[u8]) -> bool {
    let (header, _) = crate::mime::split_header_body(plain);
    crate::mime::fields(header)
        .iter()
        .any(|f| f.name.eq_ignore_ascii_case("content-type"))
}

/// `NID_id_smime_ct_authEnvelopedData` (not in the `openssl` crate's list).
pub(crate) const NID_ID_SMIME_CT_AUTHENVELOPEDDATA: i32 = 1059;
