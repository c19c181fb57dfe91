//! Verification of detached (`multipart/signed`) and opaque (signed-data)
//! signatures: the structure's bounds, the mathematics, the algorithms,
//! the signer's path to a stored CA (or the signer stored as itself), and
//! the signer's address against From. Each failure has its own code.

use std::borrow::Cow;

use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::error::ErrorStack;
use openssl::nid::Nid;
use openssl::pkey::Id;
use openssl::x509::X509;
use serde::Serialize;

use crate::policy::Policy;
use crate::trust::{PathCheck, TrustStore};
use crate::{Certificate, ffi, shape};

/// Result codes of a signature check. Stable API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SignCode {
    /// Valid, trusted, and from the sender.
    Verified,
    /// The signature does not match the content.
    BadSignature,
    /// The signer does not chain to a stored CA and is not stored itself.
    UnknownSigner,
    /// The signer's certificate does not carry the From address, or the
    /// message does not name one author.
    SignerNotSender,
    /// The signer's certificate is not valid now (expired or not yet valid).
    ExpiredSigner,
    /// MD5, SHA-1 when refused, or a signer key below the minimum.
    WeakSignature,
    /// An algorithm OpenSSL cannot or will not use here.
    UnsupportedAlgorithm,
    /// The signature part cannot be parsed, or passes a bound.
    Malformed,
    /// S/MIME is switched off.
    Disabled,
    /// The signer's certificate (or an issuer's on its path) was revoked by
    /// a CRL of its issuer.
    Revoked,
}

impl SignCode {
    /// The code as the report writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            SignCode::Verified => "verified",
            SignCode::BadSignature => "bad_signature",
            SignCode::UnknownSigner => "unknown_signer",
            SignCode::SignerNotSender => "signer_not_sender",
            SignCode::ExpiredSigner => "expired_signer",
            SignCode::WeakSignature => "weak_signature",
            SignCode::UnsupportedAlgorithm => "unsupported_algorithm",
            SignCode::Malformed => "malformed",
            SignCode::Disabled => "disabled",
            SignCode::Revoked => "revoked",
        }
    }
}

/// Who signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignerInfo {
    /// SHA-256 fingerprint of the signer certificate.
    pub fingerprint: String,
    /// Its subject.
    pub subject: String,
    /// Its issuer (for `body.smime-issuer` of RFC 7281).
    pub issuer: String,
    /// Its serial number, lowercase hex (for `body.smime-serial`).
    pub serial: String,
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
    /// What a verified signature still deserves a word about (a SHA-1
    /// digest accepted, text hashed with LF line ends); also in `comment`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The signer's certificate, when the store may keep it (see [`Learn`]).
    #[serde(skip)]
    pub learn: Option<Learn>,
}

/// What a signature of the message's author offers the store: the signer's
/// certificate, which the message does not make trusted by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Learn {
    /// Verified through a stored CA and not stored: a contact to encrypt
    /// replies to. Trusted only through that CA, never as itself.
    Contact(Vec<u8>),
    /// A valid signature by the sender without a path to a stored CA: kept
    /// aside, untrusted and unused, until an admin accepts it.
    Pending {
        /// The signer's certificate, DER.
        certificate: Vec<u8>,
        /// The From address it signed for (it carries every one; the first).
        sender: String,
    },
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
            warnings: Vec::new(),
            learn: None,
        }
    }
}

/// The author a signature must name: the From field, one of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Senders {
    /// The From addresses, lowercase: the signer's certificate must carry
    /// every one.
    pub from: Vec<String>,
    /// The Sender addresses, lowercase: shown, never enough to verify.
    pub sender: Vec<String>,
    /// Why the message names no single author (two From fields, two Sender
    /// fields), if so: then no signature verifies.
    pub ambiguous: Option<String>,
}

/// Checks one signature. `detached` is the signed entity of a
/// `multipart/signed` (already CRLF), `None` for signed-data. `senders`
/// is whom the signer must be; `None` skips that check (inner layers).
/// Returns the result and the signed content, also when the signature
/// fails (marked unverified by the result).
pub fn verify(
    der: &[u8],
    detached: Option<&[u8]>,
    trust: &TrustStore,
    senders: Option<&Senders>,
    policy: &Policy,
) -> (SignResult, Option<Vec<u8>>) {
    let (result, content) = check(der, detached, trust, senders, policy);
    (result, content.or_else(|| detached.map(<[u8]>::to_vec)))
}

/// [`verify`], without a copy of detached content: the content returned
/// is that of signed-data, `None` for a detached signature.
pub(crate) fn check(
    der: &[u8],
    detached: Option<&[u8]>,
    trust: &TrustStore,
    senders: Option<&Senders>,
    policy: &Policy,
) -> (SignResult, Option<Vec<u8>>) {
    // 0. Count before OpenSSL parses: it works through every listed
    // digest, signer and certificate, some of them recursively.
    let shape = match shape::signed(der, &policy.limits) {
        Ok(shape) => shape,
        Err(why) => {
            return (
                SignResult::new(
                    SignCode::Malformed,
                    format!("the signature is malformed: {why}"),
                    None,
                ),
                None,
            );
        }
    };
    let content_of_shape = || match detached {
        Some(_) => None,
        None => shape.content.as_deref().map(<[u8]>::to_vec),
    };
    let malformed = |why: String| {
        (
            SignResult::new(SignCode::Malformed, why, None),
            content_of_shape(),
        )
    };
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
    let Ok(cms) = CmsContentInfo::from_der(&der) else {
        let _ = ErrorStack::get();
        return malformed("the signature cannot be parsed as CMS".into());
    };
    if ffi::content_type(&cms) != Nid::PKCS7_SIGNED {
        return malformed("the signature part is not CMS signed-data".into());
    }

    // 1. The mathematics: digest and signature, no path yet. A digest
    // OpenSSL cannot set up is refused before `CMS_verify` sees detached
    // content (see `ffi::digests_available`).
    if detached.is_some() && !ffi::digests_available(&cms) {
        let e = ErrorStack::get();
        return (
            SignResult::new(
                SignCode::UnsupportedAlgorithm,
                format!(
                    "the signature uses an unsupported algorithm ({})",
                    crate::cert::first_reason(&e)
                ),
                None,
            ),
            content_of_shape(),
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
    // Detached content is read where it lies and not copied out.
    let out = detached.is_none().then_some(&mut content);
    let mut math = ffi::verify(&cms, known, detached, out, flags);
    let mut notes = Vec::new();
    if let (Err(_), Some(d), true) = (&math, detached, policy.lf_fallback) {
        // Some signers hash the text with bare LF line endings (not
        // canonical, RFC 8551 §3.1.1); the bytes differ only there.
        let lf = lf_only(d);
        if lf != d && ffi::verify(&cms, known, Some(&lf), None, flags).is_ok() {
            math = Ok(());
            notes.push("the signer hashed the text with LF line endings".to_string());
        }
    }
    let content = match detached {
        Some(_) => None,
        None if math.is_ok() => Some(content),
        None => content_of_shape(),
    };
    if let Err(e) = math {
        // A failed check still tells who claims to have signed: read the
        // signers without the checks.
        let loose = flags | CMSOptions::NOSIGS | CMSOptions::NO_CONTENT_VERIFY;
        let _ = ffi::verify(&cms, known, detached, None, loose);
        let claimed = ffi::signers(&cms)
            .first()
            .and_then(|x| Certificate::from_x509(x.clone()).ok())
            .map(|c| signer_info(&c));
        let _ = ErrorStack::get();
        let result = if ffi::has_reason(&e, ffi::UNSUPPORTED_ALGORITHM) {
            SignResult::new(
                SignCode::UnsupportedAlgorithm,
                format!(
                    "the signature uses an unsupported algorithm ({})",
                    crate::cert::first_reason(&e)
                ),
                claimed,
            )
        } else if ffi::has_reason(&e, ffi::SIGNER_NOT_FOUND) {
            SignResult::new(
                SignCode::UnknownSigner,
                "the signer's certificate is neither in the message nor in the store; \
                 the content is shown unverified",
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
    let _ = ErrorStack::get();

    // 2. Who signed, and with what.
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
    match weakness(&shape, &signer, policy) {
        Weakness::Refused(why) => {
            return (
                SignResult::new(
                    SignCode::WeakSignature,
                    format!("signed by {who}, but {why}; such a signature is never accepted"),
                    Some(info),
                ),
                content,
            );
        }
        Weakness::Accepted(note) => notes.push(note),
        Weakness::None => {}
    }

    // 3. The signer's path to a trusted certificate.
    let fail = |code, comment: String| {
        (
            SignResult::new(code, comment, Some(info.clone())),
            content.clone(),
        )
    };
    let claimed_time = || match times.first().copied().flatten() {
        Some(t) => format!(
            "; it claims to have signed on {}, which cannot be checked",
            crate::rfc3339(t)
        ),
        None => String::new(),
    };
    // Learned only from the outer signature (checked against the author),
    // never a CA: mail can add no trust.
    let learnable = senders.is_some_and(|s| not_the_author(&signer, s).is_none())
        && signer.info().kind != crate::Kind::Ca
        && signer.rejection().is_none();
    let validation = trust.validate_with(&signer, &carried, policy);
    if let Ok(v) = &validation {
        notes.extend(v.notes.iter().cloned());
    }
    let through_ca = match validation.map(|v| v.check) {
        Ok(PathCheck::Valid { itself }) => !itself,
        Ok(PathCheck::Revoked(e)) => {
            return fail(SignCode::Revoked, format!("signed by {who}, but {e}"));
        }
        Ok(PathCheck::RevocationUnknown(e)) => {
            return fail(
                SignCode::UnknownSigner,
                format!("the revocation status of {who}'s certificate is unknown: {e}"),
            );
        }
        // Whatever signingTime says: the signer sets it, and an expired key
        // (perhaps no longer kept safe) can claim any time.
        Ok(PathCheck::Expired(e) | PathCheck::NotYetValid(e)) => {
            return fail(
                SignCode::ExpiredSigner,
                format!(
                    "the certificate of {who} is not valid now ({e}){}",
                    claimed_time()
                ),
            );
        }
        Ok(PathCheck::Untrusted(e)) => {
            let (mut result, content) = fail(
                SignCode::UnknownSigner,
                format!(
                    "the signer {who} is not trusted: {e}; import the signer's CA certificate or its own certificate"
                ),
            );
            if learnable
                && !trust.is_learned(&signer)
                && let Some(sender) = senders.and_then(|s| s.from.first())
            {
                result.learn = Some(Learn::Pending {
                    certificate: signer.der().to_vec(),
                    sender: sender.clone(),
                });
            }
            return (result, content);
        }
        Err(e) => {
            return fail(
                SignCode::UnknownSigner,
                format!("the signer {who} could not be checked: {e}"),
            );
        }
    };

    // 4. The signer is the author.
    if let Some(senders) = senders
        && let Some(why) = not_the_author(&signer, senders)
    {
        return fail(
            SignCode::SignerNotSender,
            format!("signed by {who}, but {why}"),
        );
    }
    let said = if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join("; "))
    };
    let mut result = SignResult::new(
        SignCode::Verified,
        format!("signed by {who}, signature valid{said}"),
        Some(info),
    );
    result.warnings = notes;
    if learnable && through_ca && !trust.is_learned(&signer) {
        result.learn = Some(Learn::Contact(signer.der().to_vec()));
    }
    (result, content)
}

/// Why `signer` does not vouch for the message's author, if it does not.
fn not_the_author(signer: &Certificate, senders: &Senders) -> Option<String> {
    if let Some(why) = &senders.ambiguous {
        return Some(format!("{why}, so a signature cannot vouch for its sender"));
    }
    if senders.from.is_empty() {
        return Some("the message has no From address".into());
    }
    let carries = |a: &String| signer.info().email_addresses.contains(a);
    if senders.from.iter().all(carries) {
        return None;
    }
    let from = senders.from.join(", ");
    Some(if senders.sender.iter().any(carries) {
        format!(
            "the message is from {from}; the signer is only named in its Sender field, which does not count"
        )
    } else {
        format!("the message is from {from}")
    })
}

enum Weakness {
    None,
    /// Accepted, with a note for the comment.
    Accepted(String),
    /// Refused: the reason.
    Refused(String),
}

/// `md5`, `md2`, `md4` and RSA over them (OID content octets).
const BROKEN: &[&[u8]] = &[
    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x05],
    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x02],
    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x04],
    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x04],
    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x02],
    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x03],
];
/// `sha1`, `sha1WithRSAEncryption`, `ecdsa-with-SHA1`, `dsa-with-sha1`.
const SHA1: &[&[u8]] = &[
    &[0x2b, 0x0e, 0x03, 0x02, 0x1a],
    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05],
    &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01],
    &[0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x03],
];

fn weakness(shape: &shape::Signed<'_>, signer: &Certificate, policy: &Policy) -> Weakness {
    let uses = |list: &[&[u8]]| {
        shape
            .signers
            .iter()
            .flat_map(|s| [s.digest, s.signature])
            .any(|oid| list.contains(&oid))
    };
    if uses(BROKEN) {
        return Weakness::Refused("the signature uses MD5 (or MD2, MD4), which is broken".into());
    }
    let key = signer.public_key().ok();
    if let Some(key) = &key
        && key.id() == Id::RSA
        && key.bits() < policy.min_rsa_bits
    {
        return Weakness::Refused(format!(
            "the signer's RSA key has {} bits, fewer than the {} required",
            key.bits(),
            policy.min_rsa_bits
        ));
    }
    if key.is_some_and(|k| k.id() != Id::RSA)
        && let Some(crate::Issue::WeakKey(why)) = signer
            .info()
            .static_issues
            .iter()
            .find(|i| matches!(i, crate::Issue::WeakKey(_)))
    {
        return Weakness::Refused(format!("the signer's key is not accepted: {why}"));
    }
    if uses(SHA1) {
        if policy.reject_sha1 {
            return Weakness::Refused(
                "the signature uses SHA-1, which this service is set to refuse (reject_sha1)"
                    .into(),
            );
        }
        return Weakness::Accepted(
            "SHA-1: a weak digest, still accepted because mail clients use it".into(),
        );
    }
    Weakness::None
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
        issuer: cert.info().issuer.clone(),
        serial: cert.info().serial.clone(),
        email_addresses: cert.info().email_addresses.clone(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn weak_algorithm_identifiers_are_the_named_ones() {
        let oid = crate::der::tests::oid;
        let broken = [
            "1.2.840.113549.2.5",
            "1.2.840.113549.2.2",
            "1.2.840.113549.2.4",
            "1.2.840.113549.1.1.4",
            "1.2.840.113549.1.1.2",
            "1.2.840.113549.1.1.3",
        ];
        let sha1 = [
            "1.3.14.3.2.26",
            "1.2.840.113549.1.1.5",
            "1.2.840.10045.4.1",
            "1.2.840.10040.4.3",
        ];
        let have = |list: &[&[u8]]| list.iter().map(|o| o.to_vec()).collect::<Vec<_>>();
        assert_eq!(have(super::BROKEN), broken.map(oid));
        assert_eq!(have(super::SHA1), sha1.map(oid));
    }
}
