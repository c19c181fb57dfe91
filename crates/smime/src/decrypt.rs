//! Decryption of EnvelopedData and AuthEnvelopedData with the stored keys.
//!
//! Every failure after the recipient match reads the same, so the service
//! gives no padding oracle (Bleichenbacher, RFC 3218).

use openssl::cms::CmsContentInfo;
use openssl::nid::Nid;

use crate::{Certificate, PrivateKey, ffi};

/// Why a message could not be decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecryptFailure {
    /// None of the stored keys belongs to a recipient.
    NoKey,
    /// A key was tried and the content did not come out (any reason).
    Failed,
    /// The CMS structure is not an encrypted message.
    Malformed(String),
}

/// Decrypts `der` with the first key whose certificate is a recipient;
/// failing that, tries every key against every recipient (a renewed
/// certificate may keep its key under a new issuer and serial).
pub fn decrypt(
    der: &[u8],
    keys: &[(&Certificate, &PrivateKey)],
) -> Result<Vec<u8>, DecryptFailure> {
    let cms = CmsContentInfo::from_der(der)
        .map_err(|e| DecryptFailure::Malformed(crate::cert::first_reason(&e)))?;
    let kind = ffi::content_type(&cms);
    if kind != Nid::PKCS7_ENVELOPED && kind.as_raw() != NID_ID_SMIME_CT_AUTHENVELOPEDDATA {
        return Err(DecryptFailure::Malformed(
            "the S/MIME part is not an encrypted message".into(),
        ));
    }
    // Keys whose certificate the message names: one try each, and any
    // failure there is the one uniform failure. A damaged key transport
    // block also gives OpenSSL's random content key (its defence against
    // Bleichenbacher), so here too only a MIME entity counts: otherwise CBC
    // padding passing by chance would answer "decrypted" with garbage.
    let mut matched = false;
    for (cert, key) in keys {
        if ffi::is_recipient(&cms, cert.x509()) {
            matched = true;
            if let Ok(plain) = cms.decrypt(key.pkey(), &cert.x509().to_owned())
                && looks_like_entity(&plain)
            {
                return Ok(plain);
            }
        }
    }
    if !matched {
        for (_, key) in keys {
            // Without a recipient match, PKCS#1 v1.5 failures turn into a
            // random content key (against Bleichenbacher), and CBC padding
            // then passes by chance 1 time in 256: only a MIME entity counts.
            if let Ok(plain) = cms.decrypt_without_cert_check(key.pkey())
                && looks_like_entity(&plain)
            {
                return Ok(plain);
            }
        }
    }
    let _ = openssl::error::ErrorStack::get();
    Err(if matched {
        DecryptFailure::Failed
    } else {
        DecryptFailure::NoKey
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
