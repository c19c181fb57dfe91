//! Incoming mail: peel every S/MIME layer (encrypted, clear-signed, opaque
//! signed, in any order and depth), and report each.
//!
//! The report sums up as Thunderbird shows it: `encryption` is the
//! outermost encryption layer, `sign` the outermost signature layer, which
//! alone must match the From address; inner signatures are checked for
//! validity and trust, and every layer is listed in `layers`.
//!
//! The readable message is the outer header fields around the innermost
//! entity's `Content-*` fields and body. Header fields inside a signed or
//! encrypted part (From, Subject, ...) are never shown in place of the
//! outer ones: anyone can sign content that claims another author. Where
//! they differ, `header_mismatch` names them.

use std::borrow::Cow;
use std::ops::Range;

use mail_parser::{MessageParser, MimeHeaders};
use serde::Serialize;

use crate::decrypt::{DecryptFailure, Keys, NID_ID_SMIME_CT_AUTHENVELOPEDDATA, decrypt};
use crate::policy::Policy;
use crate::trust::TrustStore;
use crate::verify::{SignCode, SignResult, check};
use crate::{Error, Result, mime};

pub use crate::verify::Senders;

/// Result codes of a decryption. Stable API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DecryptCode {
    /// Decrypted.
    Decrypted,
    /// No stored key belongs to a recipient.
    NoKey,
    /// The key of a recipient is stored but cannot be opened.
    KeyUnavailable,
    /// Decryption failed (one message for every cause).
    DecryptionFailed,
    /// The encrypted part cannot be parsed.
    Malformed,
    /// S/MIME is switched off.
    Disabled,
}

impl DecryptCode {
    /// The code as the report writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            DecryptCode::Decrypted => "decrypted",
            DecryptCode::NoKey => "no_key",
            DecryptCode::KeyUnavailable => "key_unavailable",
            DecryptCode::DecryptionFailed => "decryption_failed",
            DecryptCode::Malformed => "malformed",
            DecryptCode::Disabled => "disabled",
        }
    }
}

/// The outcome of one decryption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecryptResult {
    /// True only for [`DecryptCode::Decrypted`].
    pub success: bool,
    /// What happened.
    pub code: DecryptCode,
    /// The same in words.
    pub comment: String,
}

impl DecryptResult {
    fn new(code: DecryptCode, comment: impl Into<String>) -> Self {
        DecryptResult {
            success: code == DecryptCode::Decrypted,
            code,
            comment: comment.into(),
        }
    }
}

/// One peeled layer, outermost first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "layer", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Layer {
    /// An encryption layer.
    Encrypted(DecryptResult),
    /// A signature layer; `opaque` for signed-data, else `multipart/signed`.
    Signed {
        /// signed-data rather than multipart/signed.
        opaque: bool,
        /// The check's result.
        #[serde(flatten)]
        result: SignResult,
    },
}

impl Layer {
    /// The operation the layer took: `decrypt` or `verify`.
    pub fn operation(&self) -> &'static str {
        match self {
            Layer::Encrypted(_) => "decrypt",
            Layer::Signed { .. } => "verify",
        }
    }

    /// Whether it succeeded.
    pub fn success(&self) -> bool {
        match self {
            Layer::Encrypted(r) => r.success,
            Layer::Signed { result, .. } => result.success,
        }
    }

    /// The result in words.
    pub fn comment(&self) -> &str {
        match self {
            Layer::Encrypted(r) => &r.comment,
            Layer::Signed { result, .. } => &result.comment,
        }
    }

    /// The result code as the report writes it (`decrypted`, `verified`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            Layer::Encrypted(r) => r.code.as_str(),
            Layer::Signed { result, .. } => result.code.as_str(),
        }
    }

    /// What kind of layer: `encrypted`, `signed` or `signed, opaque`.
    pub fn kind(&self) -> &'static str {
        match self {
            Layer::Encrypted(_) => "encrypted",
            Layer::Signed { opaque: true, .. } => "signed, opaque",
            Layer::Signed { .. } => "signed",
        }
    }
}

/// The incoming report (DESIGN §5), plus every layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// `"S/MIME"`, or `null` for a message without S/MIME.
    #[serde(rename = "type")]
    pub kind: Option<&'static str>,
    /// Any layer was encrypted.
    pub encrypted: bool,
    /// Any layer was signed.
    pub signed: bool,
    /// The outermost encryption layer.
    pub encryption: Option<DecryptResult>,
    /// The outermost signature layer.
    pub sign: Option<SignResult>,
    /// All layers, outermost first.
    pub layers: Vec<Layer>,
    /// Header fields (lowercase names) that a signed or encrypted part
    /// repeats with another value than the message's own, or adds: shown
    /// from outside only.
    pub header_mismatch: Vec<String>,
    /// Fingerprints of signer certificates the store kept as contacts
    /// (a stored CA vouches for them); filled in by the store's side.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub learned: Vec<String>,
    /// Fingerprints of signer certificates that now wait for an admin's
    /// decision; filled in by the store's side.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<String>,
}

/// What the receiving side knows: its keys, what it trusts, its rules.
pub struct Context<'a> {
    /// Stored private keys, opened when a message names one.
    pub keys: &'a dyn Keys,
    /// Stored CA certificates and stored certificates.
    pub trust: &'a TrustStore,
    /// The rules, the time of the check among them.
    pub policy: &'a Policy,
}

/// A processed message: the report and the readable message (original
/// header fields around the innermost content, signatures removed).
pub struct Processed {
    /// The report.
    pub report: Report,
    /// The readable message.
    pub message: Vec<u8>,
}

/// At most this many From addresses are taken for the signer to match;
/// more name no author a signature can vouch for.
pub const MAX_AUTHORS: usize = 16;

/// The message's author as a signature must name it: the From addresses
/// (and Sender's, shown only), lowercase; a message with two From or two
/// Sender fields names no single author.
pub fn senders(raw: &[u8]) -> Result<Senders> {
    if !starts_with_field(raw) {
        return Err(not_a_message());
    }
    let message = MessageParser::default()
        .parse_headers(raw)
        .ok_or_else(not_a_message)?;
    let addresses = |field: Option<&mail_parser::Address<'_>>| {
        let mut seen = std::collections::HashSet::new();
        let mut out: Vec<String> = Vec::new();
        for a in field.into_iter().flat_map(|f| f.iter()) {
            if let Some(email) = a.address() {
                let email = email.trim().to_ascii_lowercase();
                if seen.insert(email.clone()) {
                    out.push(email);
                }
            }
        }
        out
    };
    let (header, _) = mime::split_header_body(raw);
    let fields = mime::fields(header);
    let count = |name: &str| {
        fields
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case(name))
            .count()
    };
    let mut from = addresses(message.from());
    let mut sender = addresses(message.sender());
    let ambiguous = match (count("from"), count("sender"), from.len()) {
        (n, _, _) if n > 1 => Some(format!("the message has {n} From fields")),
        (_, n, _) if n > 1 => Some(format!("the message has {n} Sender fields")),
        (_, _, n) if n > MAX_AUTHORS => Some(format!("the message names {n} authors")),
        _ => None,
    };
    // Only so many are looked up: a message naming more verifies never.
    from.truncate(MAX_AUTHORS);
    sender.truncate(MAX_AUTHORS);
    Ok(Senders {
        from,
        sender,
        ambiguous,
    })
}

/// RFC 5322: a message starts with a header field, `name:` where the name
/// is printable ASCII (obsolete syntax allows blanks before the colon).
fn starts_with_field(raw: &[u8]) -> bool {
    let line = raw.split(|&b| b == b'\n').next().unwrap_or_default();
    match line.iter().position(|&b| b == b':') {
        Some(colon) => {
            let name = line[..colon].trim_ascii_end();
            !name.is_empty() && name.iter().all(|b| b.is_ascii_graphic())
        }
        None => false,
    }
}

fn not_a_message() -> Error {
    Error::Malformed {
        item: "the input".into(),
        reason: "it is not an RFC 5322 message (no header fields)".into(),
    }
}

/// What kind of S/MIME structure an entity is, if any.
enum Kind {
    /// The DER and the `smime-type` parameter, lowercase.
    Pkcs7Mime(Vec<u8>, String),
    MultipartSigned {
        /// Where the signed content lies in the entity.
        content: Range<usize>,
        signature: Vec<u8>,
    },
}

/// Looks at the top of `entity` (header + body, CRLF).
fn classify(entity: &[u8]) -> Result<Option<Kind>> {
    // The header says what the entity is; the body is decoded only when it
    // is S/MIME, and a multipart/signed's content is not decoded at all.
    let message = MessageParser::default()
        .parse_headers(entity)
        .ok_or_else(not_a_message)?;
    let root = &message.parts[0];
    let Some(ct) = root.content_type() else {
        return Ok(None);
    };
    let full = format!(
        "{}/{}",
        ct.ctype().to_ascii_lowercase(),
        ct.subtype().unwrap_or_default().to_ascii_lowercase()
    );
    let named_p7m = || {
        [root.attachment_name(), ct.attribute("name")]
            .into_iter()
            .flatten()
            .any(|n| n.to_ascii_lowercase().ends_with(".p7m"))
    };
    let smime_type = ct
        .attribute("smime-type")
        .unwrap_or_default()
        .to_ascii_lowercase();
    match full.as_str() {
        "application/pkcs7-mime" | "application/x-pkcs7-mime" => Ok(Some(Kind::Pkcs7Mime(
            decoded_body(entity, root),
            smime_type,
        ))),
        "application/octet-stream" if named_p7m() => Ok(Some(Kind::Pkcs7Mime(
            decoded_body(entity, root),
            smime_type,
        ))),
        "multipart/signed" => {
            let protocol = ct
                .attribute("protocol")
                .unwrap_or_default()
                .to_ascii_lowercase();
            let malformed = |reason: String| Error::Malformed {
                item: "the multipart/signed part".into(),
                reason,
            };
            let boundary = ct
                .attribute("boundary")
                .filter(|b| !b.is_empty())
                .ok_or_else(|| malformed("it has no boundary".into()))?;
            // Split at the boundary itself (RFC 2046 §5.1.1), not by the
            // parser's view of the parts: an unclosed multipart inside the
            // signed content must not swallow the signature.
            let (_, body) = mime::split_header_body(entity);
            let children = mime::split_multipart(body, boundary);
            if children.len() != 2 {
                return Err(malformed(format!(
                    "it has {} parts instead of 2",
                    children.len()
                )));
            }
            let signature = MessageParser::default().parse_headers(children[1]);
            let signature_part = signature.as_ref().map(|m| &m.parts[0]);
            let sig_is_p7s = protocol.ends_with("pkcs7-signature")
                || signature_part
                    .and_then(|p| p.attachment_name())
                    .is_some_and(|n| n.to_ascii_lowercase().ends_with(".p7s"));
            if !sig_is_p7s {
                return Ok(None);
            }
            // The content is a slice of `entity`: where it starts.
            let start = children[0].as_ptr() as usize - entity.as_ptr() as usize;
            Ok(Some(Kind::MultipartSigned {
                content: start..start + children[0].len(),
                signature: signature_part
                    .map(|p| decoded_body(children[1], p))
                    .unwrap_or_default(),
            }))
        }
        _ => Ok(None),
    }
}

/// The body of a single-part entity, transfer-decoded. Base64, what S/MIME
/// parts use, is decoded here in one pass; anything else, or base64 that
/// the decoder refuses (characters outside the alphabet), goes through mail-parser.
fn decoded_body(entity: &[u8], part: &mail_parser::MessagePart<'_>) -> Vec<u8> {
    let base64 = part
        .content_transfer_encoding()
        .is_some_and(|c| c.trim().eq_ignore_ascii_case("base64"));
    if base64 {
        let (_, body) = mime::split_header_body(entity);
        if let Some(der) = mime::decode_base64_lines(body) {
            return der;
        }
    }
    MessageParser::default()
        .parse(entity)
        .map(|m| m.parts[0].contents().to_vec())
        .unwrap_or_default()
}

/// True when the message has an S/MIME layer at the top.
pub fn is_smime(raw: &[u8]) -> bool {
    matches!(classify(&mime::crlf(raw)), Ok(Some(_)))
}

/// The entity being peeled: a buffer (the message itself, or what a layer
/// gave) and where in it the entity lies, so that taking the signed
/// content out of a `multipart/signed` copies nothing.
struct Held<'r> {
    buf: Cow<'r, [u8]>,
    range: Range<usize>,
}

impl<'r> Held<'r> {
    fn new(buf: Cow<'r, [u8]>) -> Self {
        let range = 0..buf.len();
        Held { buf, range }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[self.range.clone()]
    }

    /// The part at `within` (relative to the entity).
    fn narrow(self, within: Range<usize>) -> Self {
        let start = self.range.start + within.start;
        Held {
            buf: self.buf,
            range: start..start + within.len(),
        }
    }

    /// The readable message: `outer` around the entity's `Content-*`
    /// fields and body ([`mime::with_outer`]), in the entity's own buffer
    /// when it has one.
    fn with_outer(self, outer: &[u8]) -> Vec<u8> {
        match self.buf {
            Cow::Owned(mut buf) => {
                // One move of the body: the header before it is replaced.
                buf.truncate(self.range.end);
                let (head, body) = mime::outer_head(outer, &buf[self.range.start..]);
                let body_start = buf.len() - body.len();
                buf.splice(..body_start, head);
                buf
            }
            Cow::Borrowed(buf) => mime::with_outer(outer, &buf[self.range]),
        }
    }
}

/// Processes an incoming message. Fails only for input that is not a
/// message at all; everything else is in the report.
///
/// A large message is copied as little as it can be: a message in CRLF
/// already is read where it lies, the signed content of a
/// `multipart/signed` is not taken out of its buffer, the envelope's
/// encoded form is let go before its content is decrypted, and the
/// readable message is made in the buffer of the innermost entity.
pub fn process(raw: &[u8], ctx: &Context<'_>) -> Result<Processed> {
    let canonical = mime::crlf(raw);
    let senders = senders(&canonical)?;
    let (header, _) = mime::split_header_body(&canonical);
    let header = header.to_vec();
    let outer_fields: Vec<mime::Field<'_>> = mime::fields(&header)
        .into_iter()
        .filter(|f| !mime::is_content_field(f.name))
        .collect();
    let outer: Vec<u8> = outer_fields
        .iter()
        .flat_map(|f| f.raw.iter().copied())
        .collect();

    let mut report = Report {
        kind: None,
        encrypted: false,
        signed: false,
        encryption: None,
        sign: None,
        layers: Vec::new(),
        header_mismatch: Vec::new(),
        learned: Vec::new(),
        pending: Vec::new(),
    };
    let mut held = Held::new(canonical);
    let mut peeled = false;
    for depth in 0.. {
        let kind = match classify(held.bytes()) {
            Ok(Some(kind)) => kind,
            Ok(None) => break,
            Err(e) if depth > 0 => {
                push_malformed(&mut report, e.to_string());
                break;
            }
            Err(e) => return Err(e),
        };
        report.kind = Some("S/MIME");
        if depth == ctx.policy.max_layers {
            push_malformed(
                &mut report,
                format!("more than {} S/MIME layers", ctx.policy.max_layers),
            );
            break;
        }
        let next = match kind {
            Kind::MultipartSigned { content, signature } => {
                let check_sender = !report.signed;
                let (result, _) = check(
                    &signature,
                    Some(&held.bytes()[content.clone()]),
                    ctx.trust,
                    check_sender.then_some(&senders),
                    ctx.policy,
                );
                record_sign(&mut report, false, result);
                held = held.narrow(content);
                Some(None)
            }
            Kind::Pkcs7Mime(der, smime_type) => match cms_kind(&der, &smime_type) {
                CmsKind::Signed => {
                    let check_sender = !report.signed;
                    let (result, content) = check(
                        &der,
                        None,
                        ctx.trust,
                        check_sender.then_some(&senders),
                        ctx.policy,
                    );
                    record_sign(&mut report, true, result);
                    content.map(|c| Some(mime::crlf_owned(c)))
                }
                CmsKind::Enveloped => {
                    // The message's own converted copy is let go while the
                    // content is decrypted; made again if that fails.
                    let remade = depth == 0 && matches!(held.buf, Cow::Owned(_));
                    if remade {
                        held = Held::new(Cow::Borrowed(&[]));
                    }
                    let result = decrypt_layer(&der, ctx);
                    drop(der);
                    report.encrypted = true;
                    match result {
                        Ok(plain) => {
                            record_decrypt(
                                &mut report,
                                DecryptResult::new(DecryptCode::Decrypted, "decrypted"),
                            );
                            Some(Some(mime::crlf_owned(plain)))
                        }
                        Err(failure) => {
                            record_decrypt(&mut report, failure);
                            if remade {
                                held = Held::new(mime::crlf(raw));
                            }
                            None
                        }
                    }
                }
                CmsKind::Other(why) => {
                    push_malformed(&mut report, why);
                    None
                }
            },
        };
        match next {
            // A new buffer, or (inner `None`) the same one narrowed.
            Some(inner) => {
                if let Some(inner) = inner {
                    held = Held::new(Cow::Owned(inner));
                }
                peeled = true;
                compare_headers(&outer_fields, held.bytes(), &mut report.header_mismatch);
            }
            None => break,
        }
    }
    let message = if peeled {
        held.with_outer(&outer)
    } else {
        held.buf.into_owned()
    };
    Ok(Processed { report, message })
}

/// Decrypts one encryption layer, or says why not.
fn decrypt_layer(der: &[u8], ctx: &Context<'_>) -> std::result::Result<Vec<u8>, DecryptResult> {
    match decrypt(der, ctx.keys, &ctx.policy.limits) {
        Ok(plain) => Ok(plain),
        Err(DecryptFailure::NoKey) => Err(DecryptResult::new(
            DecryptCode::NoKey,
            "no stored private key belongs to a recipient of this message; import the recipient's key and retry",
        )),
        Err(DecryptFailure::Failed) => Err(DecryptResult::new(
            DecryptCode::DecryptionFailed,
            "the message could not be decrypted",
        )),
        Err(DecryptFailure::KeyUnavailable {
            fingerprint,
            reason,
        }) => Err(DecryptResult::new(
            DecryptCode::KeyUnavailable,
            format!(
                "the stored private key of certificate {} cannot be opened ({reason}); an admin must import it again",
                &fingerprint[..16.min(fingerprint.len())]
            ),
        )),
        Err(DecryptFailure::Malformed(why)) => Err(DecryptResult::new(
            DecryptCode::Malformed,
            format!("the encrypted part is damaged: {why}"),
        )),
    }
}

/// Fields that say who wrote a message, to whom, when and about what: an
/// inner copy that differs from the outer one is reported.
const COMPARED: [&str; 7] = ["from", "sender", "reply-to", "to", "cc", "subject", "date"];

/// Adds to `mismatch` each [`COMPARED`] field that `entity`'s header has
/// with another value than `outer` has (or that `outer` lacks).
fn compare_headers(outer: &[mime::Field<'_>], entity: &[u8], mismatch: &mut Vec<String>) {
    let (header, _) = mime::split_header_body(entity);
    let values = |fields: &[mime::Field<'_>], name: &str| -> Vec<String> {
        fields
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case(name))
            .map(|f| {
                let value = &f.raw[f.raw.iter().position(|&b| b == b':').map_or(0, |p| p + 1)..];
                String::from_utf8_lossy(value)
                    .split_ascii_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    };
    let inner = mime::fields(header);
    for name in COMPARED {
        let theirs = values(&inner, name);
        if !theirs.is_empty()
            && theirs != values(outer, name)
            && !mismatch.iter().any(|m| m == name)
        {
            mismatch.push(name.to_string());
        }
    }
}

/// A report for a message that is not processed because S/MIME is off.
pub fn disabled_report(raw: &[u8]) -> Report {
    let smime = is_smime(raw);
    let comment = "S/MIME is disabled; an admin can enable it";
    Report {
        kind: smime.then_some("S/MIME"),
        encrypted: false,
        signed: false,
        encryption: smime.then(|| DecryptResult::new(DecryptCode::Disabled, comment)),
        sign: smime.then(|| SignResult::new(SignCode::Disabled, comment, None)),
        layers: Vec::new(),
        header_mismatch: Vec::new(),
        learned: Vec::new(),
        pending: Vec::new(),
    }
}

enum CmsKind {
    Signed,
    Enveloped,
    Other(String),
}

/// What a `application/pkcs7-mime` part holds: the content type read from
/// the start of the DER (enough even of a truncated structure, whose verb
/// then reports it damaged), else what its `smime-type` says it is.
fn cms_kind(der: &[u8], smime_type: &str) -> CmsKind {
    // A full parse (which decodes every carried certificate) is left to the
    // verb that needs it.
    match crate::der::content_type(der) {
        Some(crate::der::OID_SIGNED_DATA) => return CmsKind::Signed,
        Some(crate::der::OID_ENVELOPED_DATA | crate::der::OID_AUTH_ENVELOPED_DATA) => {
            return CmsKind::Enveloped;
        }
        Some(_) => {}
        None if smime_type == "signed-data" => return CmsKind::Signed,
        None if smime_type.contains("enveloped") => return CmsKind::Enveloped,
        None => {}
    }
    match openssl::cms::CmsContentInfo::from_der(der) {
        Ok(cms) => {
            let nid = crate::ffi::content_type(&cms);
            if nid == openssl::nid::Nid::PKCS7_SIGNED {
                CmsKind::Signed
            } else if nid == openssl::nid::Nid::PKCS7_ENVELOPED
                || nid.as_raw() == NID_ID_SMIME_CT_AUTHENVELOPEDDATA
            {
                CmsKind::Enveloped
            } else {
                CmsKind::Other(format!(
                    "unsupported S/MIME content ({})",
                    nid.long_name().unwrap_or("unknown")
                ))
            }
        }
        Err(e) => CmsKind::Other(format!(
            "the S/MIME part cannot be parsed as CMS ({})",
            crate::cert::first_reason(&e)
        )),
    }
}

fn record_sign(report: &mut Report, opaque: bool, result: SignResult) {
    if !report.signed {
        report.signed = true;
        report.sign = Some(result.clone());
    }
    report.layers.push(Layer::Signed { opaque, result });
}

fn record_decrypt(report: &mut Report, result: DecryptResult) {
    if report.encryption.is_none() {
        report.encryption = Some(result.clone());
    }
    report.layers.push(Layer::Encrypted(result));
}

fn push_malformed(report: &mut Report, why: String) {
    let result = SignResult::new(SignCode::Malformed, why, None);
    if report.sign.is_none() && report.encryption.is_none() {
        report.sign = Some(result.clone());
    }
    report.layers.push(Layer::Signed {
        opaque: false,
        result,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_as_the_report_writes_them() {
        for code in [
            SignCode::Verified,
            SignCode::BadSignature,
            SignCode::UnknownSigner,
            SignCode::SignerNotSender,
            SignCode::ExpiredSigner,
            SignCode::WeakSignature,
            SignCode::UnsupportedAlgorithm,
            SignCode::Malformed,
            SignCode::Disabled,
        ] {
            assert_eq!(json(&code), code.as_str());
        }
        for code in [
            DecryptCode::Decrypted,
            DecryptCode::NoKey,
            DecryptCode::KeyUnavailable,
            DecryptCode::DecryptionFailed,
            DecryptCode::Malformed,
            DecryptCode::Disabled,
        ] {
            assert_eq!(json(&code), code.as_str());
        }
    }

    fn json(code: &impl serde::Serialize) -> String {
        serde_json::to_value(code)
            .unwrap()
            .as_str()
            .unwrap()
            .to_string()
    }
}
