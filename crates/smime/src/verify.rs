//! Verification of detached (`multipart/signed`) and opaque (signed-data)
//! signatures: the mathematics, then the signer's path to a stored CA, then
//! the signer's address against the sender. Each failure has its own code.

use std::borrow::Cow;

use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::nid::Nid;
use openssl::x509::{X509, X509VerifyResult};
use serde::Serialize;

use crate::trust::TrustStore;
use crate::{Certificate, ffi};

/// Result codes of a signature check. Stable API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignCode {
    /// Valid, trusted, and from the sender.
    Verified,
    /// The signature does not match the content.
    BadSignature,
    /// The signer does not chain to a stored CA and is not stored itself.
    UnknownSigner,
    /// The signer's certificate does not carry the From (or Sender) address.
    SignerNotSender,
    /// The signer's certificate was not valid when it signed.
    ExpiredSigner,
    /// An algorithm OpenSSL cannot or will not use here.
    UnsupportedAlgorithm,
    /// The signature part cannot be parsed.
    Malformed,
    /// S/MIME is switched off.
    Disabled,
}

/// Who signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignerInfo {
    /// SHA-256 fingerprint of the signer certificate.
    pub fingerprint: String,
    /// Its subject.
    pub subject: String,
    /// Its addresses.
    pub email_addresses: Vec<String>,
}

/// The outcome of one signature layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignResult {
    /// True only for [`SignCode::Verified`].
    pub success: bool,
    /// What happened.
    pub code: SignCode,
    /// The same in words, for people.
    pub comment: String,
    /// The signer, when the signature could be read.
    pub signer: Option<SignerInfo>,
}

impl SignResult {
    pub(crate) fn new(
        code: SignCode,
        comment: impl Into<String>,
        signer: Option<SignerInfo>,
    ) -> Self {
        SignResult {
            success: code == SignCode::Verified,
            code,
            comment: comment.into(),
            signer,
        }
    }
}

/// Checks one signature. `detached` is the signed entity of a
/// `multipart/signed` (already CRLF), `None` for signed-data. `senders` are
/// the From/Sender addresses the signer must match; `None` skips that check
/// (inner layers). Returns the result and the signed content.
pub fn verify(
    der: &[u8],
    detached: Option<&[u8]>,
    trust: &TrustStore,
    senders: Option<&[String]>,
    now: i64,
) -> (SignResult, Option<Vec<u8>>) {
    let malformed = |why: String| (SignResult::new(SignCode::Malformed, why, None), None);
    // The carried certificates come from the cache when seen before; OpenSSL
    // then parses only the rest (see `der`).
    let (der, carried) = match crate::der::take_certificates(der) {
        Some((stripped, ders)) => match ders
            .iter()
            .map(|d| {
                Certificate::from_der_cached(d)
                    .ok()
                    .map(|c| c.x509().to_owned())
            })
            .collect()
        {
            Some(xs) => (Cow::Owned(stripped), Some(xs)),
            None => (Cow::Borrowed(der), None),
        },
        None => (Cow::Borrowed(der), None),
    };
    let Ok(mut cms) = CmsContentInfo::from_der(&der) else {
        let _ = openssl::error::ErrorStack::get();
        return malformed("the signature cannot be parsed as CMS".into());
    };
    if ffi::content_type(&cms) != Nid::PKCS7_SIGNED {
        return malformed("the signature part is not CMS signed-data".into());
    }

    // 1. The mathematics: digest and signature, no path yet. A digest
    // OpenSSL cannot set up is refused before `CMS_verify` sees detached
    // content (see `ffi::digests_available`).
    if detached.is_some() && !ffi::digests_available(&cms) {
        let e = openssl::error::ErrorStack::get();
        return (
            SignResult::new(
                SignCode::UnsupportedAlgorithm,
                format!(
                    "the signature uses an unsupported algorithm ({})",
                    crate::cert::first_reason(&e)
                ),
                None,
            ),
            detached.map(<[u8]>::to_vec),
        );
    }
    let mut content = Vec::new();
    let flags = CMSOptions::BINARY | CMSOptions::NOVERIFY;
    // Stored certificates find a signer the message does not carry.
    let carried: Vec<X509> = carried.unwrap_or_else(|| ffi::certificates(&cms));
    let mut stored = openssl::stack::Stack::new().ok();
    if let Some(stack) = stored.as_mut() {
        for cert in carried.iter().chain(trust.certificates()) {
            let _ = stack.push(cert.clone());
        }
    }
    let known = stored.as_deref();
    let mut math = cms.verify(known, None, detached, Some(&mut content), flags);
    let mut note = String::new();
    if let (Err(_), Some(d)) = (&math, detached) {
        // Some signers hash the text with bare LF line endings (not
        // canonical, RFC 8551 §3.1.1); the bytes differ only there.
        let lf = lf_only(d);
        if lf != d && cms.verify(known, None, Some(&lf), None, flags).is_ok() {
            math = Ok(());
            note = " (the signer hashed the text with LF line endings)".into();
        }
    }
    // A failed check still tells who claims to have signed, and the
    // content of an opaque signature: read both without the checks.
    let loose = flags | CMSOptions::NOSIGS | CMSOptions::NO_CONTENT_VERIFY;
    let content = match detached {
        Some(d) => Some(d.to_vec()),
        None if math.is_ok() => Some(content),
        None => {
            let mut c = Vec::new();
            cms.verify(known, None, None, Some(&mut c), loose)
                .ok()
                .map(|()| c)
        }
    };
    if let Err(e) = math {
        if detached.is_some() {
            let _ = cms.verify(known, None, detached, None, loose);
        }
        let claimed = ffi::signers(&cms)
            .first()
            .and_then(|x| Certificate::from_x509(x.clone()).ok())
            .map(|c| signer_info(&c));
        let _ = openssl::error::ErrorStack::get();
        let text = e.to_string().to_ascii_lowercase();
        let result = if text.contains("unsupported")
            || text.contains("unknown digest")
            || text.contains("unknown message digest")
        {
            SignResult::new(
                SignCode::UnsupportedAlgorithm,
                format!(
                    "the signature uses an unsupported algorithm ({})",
                    crate::cert::first_reason(&e)
                ),
                claimed,
            )
        } else if text.contains("signer certificate not found") {
            SignResult::new(
                SignCode::UnknownSigner,
                "the signer's certificate is neither in the message nor in the store",
                None,
            )
        } else {
            SignResult::new(
                SignCode::BadSignature,
                "the signature does not match the content: the message was changed after signing",
                claimed,
            )
        };
        return (result, content);
    }
    let _ = openssl::error::ErrorStack::get();

    // 2. The signer's path to a trusted certificate.
    let signers = ffi::signers(&cms);
    let times = ffi::signing_times(&cms);
    let Some(signer_x509) = signers.first() else {
        return (
            SignResult::new(
                SignCode::UnknownSigner,
                "the signature names no signer",
                None,
            ),
            content,
        );
    };
    let signer = match signer_x509
        .to_der()
        .map_err(crate::Error::from)
        .and_then(|der| Certificate::from_der_cached(&der))
    {
        Ok(cert) => cert,
        Err(e) => {
            return (
                SignResult::new(
                    SignCode::Malformed,
                    format!("the signer certificate: {e}"),
                    None,
                ),
                content,
            );
        }
    };
    let info = signer_info(&signer);
    let who = signer
        .info()
        .email_addresses
        .first()
        .cloned()
        .unwrap_or_else(|| info.subject.clone());
    match trust.validate(signer.x509(), &carried, now) {
        Ok(r) if r == X509VerifyResult::OK => {}
        Ok(r)
            if r.as_raw() == openssl_sys::X509_V_ERR_CERT_HAS_EXPIRED
                || r.as_raw() == openssl_sys::X509_V_ERR_CERT_NOT_YET_VALID =>
        {
            // Valid when it signed is still a good signature (RFC 5652 signingTime).
            let at_signing = times.first().copied().flatten();
            let ok_then = at_signing
                .and_then(|t| trust.validate(signer.x509(), &carried, t).ok())
                .is_some_and(|r| r == X509VerifyResult::OK);
            if !ok_then {
                return (
                    SignResult::new(
                        SignCode::ExpiredSigner,
                        format!(
                            "the certificate of {who} was not valid when the message was signed ({})",
                            r.error_string()
                        ),
                        Some(info),
                    ),
                    content,
                );
            }
            note.push_str(&format!(
                " (its certificate is no longer valid now: {})",
                r.error_string()
            ));
        }
        Ok(r) => {
            return (
                SignResult::new(
                    SignCode::UnknownSigner,
                    format!(
                        "the signer {who} is not trusted: {}; import the signer's CA certificate or its own certificate",
                        r.error_string()
                    ),
                    Some(info),
                ),
                content,
            );
        }
        Err(e) => {
            return (
                SignResult::new(
                    SignCode::UnknownSigner,
                    format!("the signer {who} could not be checked: {e}"),
                    Some(info),
                ),
                content,
            );
        }
    }

    // 3. The signer is the sender.
    if let Some(senders) = senders {
        let matches = signer
            .info()
            .email_addresses
            .iter()
            .any(|e| senders.contains(e));
        if !matches {
            let from = if senders.is_empty() {
                "no sender address".to_string()
            } else {
                senders.join(", ")
            };
            return (
                SignResult::new(
                    SignCode::SignerNotSender,
                    format!("signed by {who}, but the message is from {from}"),
                    Some(info),
                ),
                content,
            );
        }
    }
    (
        SignResult::new(
            SignCode::Verified,
            format!("signed by {who}, signature valid{note}"),
            Some(info),
        ),
        content,
    )
}

fn lf_only(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    for (i, &b) in data.iter().enumerate() {
        if !(b == b'\r' && data.get(i + 1) == Some(&b'\n')) {
            out.push(b);
        }
    }
    out
}

fn signer_info(cert: &Certificate) -> SignerInfo {
    SignerInfo {
        fingerprint: cert.fingerprint().to_string(),
        subject: cert.info().subject.clone(),
        email_addresses: cert.info().email_addresses.clone(),
    }
}
