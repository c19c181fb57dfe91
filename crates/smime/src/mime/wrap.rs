//! The S/MIME wrappers: `multipart/signed`, `application/pkcs7-mime`, and
//! the message's outer fields put back around an unwrapped entity.
//! Written by hand rather than with a builder: they are a dozen lines each,
//! and the signed entity must go out byte for byte.

use super::canonical::crlf;
use super::encoding::push_base64_lines;
use super::split::{fields, is_content_field, split_header_body};

fn boundary() -> String {
    let mut bytes = [0u8; 12];
    // A boundary only needs to be unique; fall back to a fixed one if the
    // RNG fails, which never happens with OpenSSL's DRBG.
    let _ = openssl::rand::rand_bytes(&mut bytes);
    format!("----smimed-{}", crate::cert::hex(&bytes))
}

/// `multipart/signed` around `entity` with a detached signature.
pub fn multipart_signed(outer: &[u8], entity: &[u8], signature: &[u8], micalg: &str) -> Vec<u8> {
    let (head, tail) = multipart_signed_around(signature, micalg);
    let mut out = Vec::with_capacity(outer.len() + head.len() + entity.len() + tail.len());
    out.extend_from_slice(outer);
    out.extend_from_slice(&head);
    out.extend_from_slice(entity);
    out.extend_from_slice(&tail);
    out
}

/// What goes before and after the signed entity in a `multipart/signed`
/// entity: its header fields, preamble and first delimiter; the signature
/// part and the close delimiter.
pub(crate) fn multipart_signed_around(signature: &[u8], micalg: &str) -> (Vec<u8>, Vec<u8>) {
    let boundary = boundary();
    let head = format!(
        "MIME-Version: 1.0\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg={micalg};\r\n boundary=\"{boundary}\"\r\n\r\nThis is a cryptographically signed message in MIME format.\r\n\r\n--{boundary}\r\n"
    )
    .into_bytes();
    let mut tail = format!(
        "\r\n--{boundary}\r\nContent-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"smime.p7s\"\r\nContent-Description: S/MIME Cryptographic Signature\r\n\r\n"
    )
    .into_bytes();
    push_base64_lines(&mut tail, signature);
    tail.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (head, tail)
}

/// `application/pkcs7-mime` carrying `der`; `smime_type` is e.g.
/// `enveloped-data` or `authEnveloped-data`.
pub fn pkcs7_mime(outer: &[u8], smime_type: &str, der: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(outer.len() + der.len() * 4 / 3 + 512);
    out.extend_from_slice(outer);
    out.extend_from_slice(pkcs7_mime_header(smime_type).as_bytes());
    push_base64_lines(&mut out, der);
    out
}

/// The header fields of an `application/pkcs7-mime` entity and the empty
/// line; the base64 lines of the DER follow.
pub(crate) fn pkcs7_mime_header(smime_type: &str) -> String {
    format!(
        "MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type={smime_type}; name=\"smime.p7m\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"smime.p7m\"\r\nContent-Description: S/MIME Encrypted Message\r\n\r\n"
    )
}

/// The message's outer fields around `entity`'s `Content-*` fields and
/// body: what a reader sees after a layer is removed. Any other field of
/// the entity (a From, a Subject) is left out: it is not the message's.
pub fn with_outer(outer: &[u8], entity: &[u8]) -> Vec<u8> {
    let entity = crlf(entity);
    let (head, body) = outer_head(outer, &entity);
    let mut out = Vec::with_capacity(head.len() + body.len());
    out.extend_from_slice(&head);
    out.extend_from_slice(body);
    out
}

/// The header of [`with_outer`], and `entity`'s body.
pub(crate) fn outer_head<'e>(outer: &[u8], entity: &'e [u8]) -> (Vec<u8>, &'e [u8]) {
    let (header, body) = split_header_body(entity);
    let mut out = Vec::with_capacity(outer.len() + header.len() + 24);
    out.extend_from_slice(outer);
    out.extend_from_slice(b"MIME-Version: 1.0\r\n");
    for field in fields(header) {
        if is_content_field(field.name) && !field.name.eq_ignore_ascii_case("mime-version") {
            out.extend_from_slice(field.raw);
            if !field.raw.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    out.extend_from_slice(b"\r\n");
    (out, body)
}
