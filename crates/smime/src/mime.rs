//! MIME plumbing for S/MIME: split a message into the header fields that
//! stay outside and the entity that gets signed or encrypted, make that
//! entity canonical (CRLF) and 7-bit safe so no MTA can change a signed
//! byte, and wrap results as `multipart/signed` or `application/pkcs7-mime`.
//!
//! The wrappers are written by hand rather than with a builder: they are a
//! dozen lines each, and the signed entity must go out byte for byte.

use mail_parser::{MessageParser, MimeHeaders, PartType};

use crate::{Error, Result};

/// A message cut into what stays outside and the MIME entity.
pub struct Split {
    /// Header fields other than `Content-*` and `MIME-Version`, CRLF.
    pub outer: Vec<u8>,
    /// The `Content-*` fields and the body: the part to protect, CRLF.
    pub entity: Vec<u8>,
}

/// Splits a message at the first empty line; a message without one is all
/// header. Returns (header block without the empty line, body). A line ends
/// at LF, CRLF or a bare CR, as [`to_crlf`] reads line ends, so that making
/// the header canonical can never put an empty line into it. A line of
/// white space only counts as empty, as the MIME parser reads it.
pub fn split_header_body(raw: &[u8]) -> (&[u8], &[u8]) {
    let mut i = 0;
    while i < raw.len() {
        let line_end = match raw[i..].iter().position(|&b| b == b'\n' || b == b'\r') {
            Some(p) if raw[i + p] == b'\r' && raw.get(i + p + 1) == Some(&b'\n') => i + p + 2,
            Some(p) => i + p + 1,
            None => raw.len(),
        };
        if raw[i..line_end].iter().all(|b| b.is_ascii_whitespace()) {
            return (&raw[..i], &raw[line_end..]);
        }
        i = line_end;
    }
    (raw, &[])
}

/// The body parts of a multipart body, split at `--boundary` lines as RFC
/// 2046 §5.1.1 defines them: the line break before a delimiter belongs to
/// the delimiter, the preamble and the epilogue are dropped, and a body
/// without its close delimiter ends its last part at the end of the input.
/// Lines inside a part that merely look like another boundary do not split.
pub fn split_multipart<'a>(body: &'a [u8], boundary: &str) -> Vec<&'a [u8]> {
    let dash = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i < body.len() {
        let end = body[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|p| i + p + 1)
            .unwrap_or(body.len());
        let line = &body[i..end];
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(rest) = line.strip_prefix(dash.as_bytes()) {
            let (close, padding) = match rest.strip_prefix(b"--") {
                Some(padding) => (true, padding),
                None => (false, rest),
            };
            if padding.iter().all(|&b| b == b' ' || b == b'\t') {
                if let Some(s) = start {
                    let mut e = i;
                    if e > s && body[e - 1] == b'\n' {
                        e -= 1;
                        if e > s && body[e - 1] == b'\r' {
                            e -= 1;
                        }
                    }
                    parts.push(&body[s..e]);
                }
                if close {
                    return parts;
                }
                start = Some(end);
            }
        }
        i = end;
    }
    if let Some(s) = start {
        parts.push(&body[s..]);
    }
    parts
}

/// One header field with its continuation lines.
pub struct Field<'a> {
    /// The field name as written.
    pub name: &'a str,
    /// The whole field, name to final line break, as in the input.
    pub raw: &'a [u8],
}

/// The header fields of a header block, unfolded only in the sense that
/// continuation lines stay with their field.
pub fn fields(header: &[u8]) -> Vec<Field<'_>> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < header.len() {
        let end = header[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|p| i + p + 1)
            .unwrap_or(header.len());
        let continuation = matches!(header[i], b' ' | b'\t');
        match out.last_mut() {
            Some(last) if continuation => last.1 = end,
            _ => out.push((i, end)),
        }
        i = end;
    }
    out.into_iter()
        .map(|(start, end)| {
            let raw = &header[start..end];
            // The name is on the field's first line, or there is none.
            let name = raw
                .iter()
                .take_while(|&&b| b != b'\n')
                .position(|&b| b == b':')
                .and_then(|p| std::str::from_utf8(&raw[..p]).ok())
                .unwrap_or("")
                .trim();
            Field { name, raw }
        })
        .collect()
}

/// `Content-*` and `MIME-Version` describe the entity, everything else the
/// message.
pub fn is_content_field(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("content-") || lower == "mime-version"
}

/// A field's first line starts with its name (printable ASCII, no colon),
/// then, after optional blanks, a colon (RFC 5322 §2.2, §4.5.3).
fn is_field(raw: &[u8]) -> bool {
    let first_line = raw.split(|&b| b == b'\n').next().unwrap_or_default();
    let Some(colon) = first_line.iter().position(|&b| b == b':') else {
        return false;
    };
    let name = &first_line[..colon];
    let name_end = name
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |p| p + 1);
    name_end > 0 && name[..name_end].iter().all(u8::is_ascii_graphic)
}

/// Cuts an RFC 5322 message into outer header fields and a canonical,
/// 7-bit-safe entity. A message without MIME fields becomes `text/plain`
/// (UTF-8 when it has 8-bit bytes, US-ASCII otherwise). Lines of the header
/// that are no field are dropped, so that every reader finds the same
/// fields in what is sent.
pub fn split_message(raw: &[u8]) -> Result<Split> {
    let (header, body) = split_header_body(raw);
    if header.is_empty() {
        return Err(Error::Malformed {
            item: "the message".into(),
            reason: "it has no header fields".into(),
        });
    }
    // Canonical from here on, and every field ends with its line break
    // (a message that is all header may end without one).
    let mut header = to_crlf(header);
    if !header.ends_with(b"\n") {
        header.extend_from_slice(b"\r\n");
    }
    let mut outer = Vec::new();
    let mut entity_header = Vec::new();
    for field in fields(&header) {
        // A line that is no field (no name and colon, or a continuation of
        // nothing) would end the header for some readers: it is dropped.
        if !is_field(field.raw) || field.name.eq_ignore_ascii_case("mime-version") {
            continue;
        } else if is_content_field(field.name) {
            entity_header.extend_from_slice(field.raw);
        } else {
            outer.extend_from_slice(field.raw);
        }
    }
    if !fields(&entity_header)
        .iter()
        .any(|f| f.name.eq_ignore_ascii_case("content-type"))
    {
        let charset = if body.is_ascii() { "us-ascii" } else { "utf-8" };
        entity_header.extend_from_slice(
            format!("Content-Type: text/plain; charset={charset}\r\n").as_bytes(),
        );
    }
    let mut entity = entity_header;
    entity.extend_from_slice(b"\r\n");
    entity.extend_from_slice(body);
    Ok(Split {
        outer,
        entity: seven_bit(&entity)?,
    })
}

/// Line endings to CRLF: bare LF and bare CR become CRLF.
pub fn to_crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 32);
    // Copy the runs between line breaks whole, found with memchr: scanning
    // byte by byte cost more than the rest of reading a message.
    let mut start = 0;
    while let Some(off) = memchr::memchr2(b'\r', b'\n', &data[start..]) {
        let at = start + off;
        out.extend_from_slice(&data[start..at]);
        out.extend_from_slice(b"\r\n");
        start = if data[at] == b'\r' && data.get(at + 1) == Some(&b'\n') {
            at + 2
        } else {
            at + 1
        };
    }
    out.extend_from_slice(&data[start..]);
    out
}

/// Rewrites every leaf part that is not safe for 7-bit transport (8-bit
/// bytes, NUL, lines over 998 bytes, trailing white space, `From ` at the
/// start of a line) to quoted-printable (text) or base64 (anything else),
/// then canonicalises line endings. Parts already safe are kept as they are.
fn seven_bit(entity: &[u8]) -> Result<Vec<u8>> {
    let Some(message) = MessageParser::default().parse(entity) else {
        return Ok(to_crlf(entity));
    };
    // `rebuild` recurses once per level: refuse what would exhaust the stack.
    if nesting(&message) > MAX_NESTING {
        return Err(Error::Malformed {
            item: "the message".into(),
            reason: format!("its multipart parts are nested more than {MAX_NESTING} levels deep"),
        });
    }
    if !message.parts.iter().any(|p| leaf_needs_encoding(entity, p)) {
        return Ok(to_crlf(entity));
    }
    let mut out = Vec::with_capacity(entity.len() * 4 / 3 + 256);
    rebuild(entity, &message, 0, &mut out)?;
    Ok(out)
}

/// Outgoing messages may nest multipart parts at most this deep.
pub const MAX_NESTING: usize = 100;

/// How deep the multipart parts of `message` are nested (1: no multipart).
fn nesting(message: &mail_parser::Message<'_>) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(0usize, 1usize)];
    while let Some((id, depth)) = stack.pop() {
        deepest = deepest.max(depth);
        if let Some(PartType::Multipart(children)) = message.parts.get(id).map(|p| &p.body) {
            // Children come after their parent; anything else is no tree.
            stack.extend(
                children
                    .iter()
                    .map(|&c| c as usize)
                    .filter(|&c| c > id)
                    .map(|c| (c, depth + 1)),
            );
        }
    }
    deepest
}

fn is_leaf(part: &mail_parser::MessagePart<'_>) -> bool {
    !matches!(part.body, PartType::Multipart(_))
}

fn raw_body<'a>(entity: &'a [u8], part: &mail_parser::MessagePart<'_>) -> &'a [u8] {
    let start = (part.offset_body as usize).min(entity.len());
    let end = (part.offset_end as usize).clamp(start, entity.len());
    &entity[start..end]
}

fn leaf_needs_encoding(entity: &[u8], part: &mail_parser::MessagePart<'_>) -> bool {
    if !is_leaf(part) || part.encoding != mail_parser::Encoding::None {
        return false;
    }
    let body = raw_body(entity, part);
    // Canonical CRLF is for text: other content with bare LF or CR bytes
    // (a `binary` attachment that happens to be 7-bit) must keep every byte.
    let is_text = part.content_type().is_none_or(|ct| {
        ct.ctype().eq_ignore_ascii_case("text") || ct.ctype().eq_ignore_ascii_case("message")
    });
    !body.is_ascii()
        || body.contains(&0)
        || !is_text && !is_crlf(body)
        || body.split(|&b| b == b'\n').any(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            line.len() > 998
                || line.ends_with(b" ")
                || line.ends_with(b"\t")
                || line.starts_with(b"From ")
        })
}

/// Every CR is followed by LF and every LF preceded by CR.
fn is_crlf(data: &[u8]) -> bool {
    data.iter().enumerate().all(|(i, &b)| match b {
        b'\r' => data.get(i + 1) == Some(&b'\n'),
        b'\n' => i > 0 && data[i - 1] == b'\r',
        _ => true,
    })
}

fn rebuild(
    entity: &[u8],
    message: &mail_parser::Message<'_>,
    id: usize,
    out: &mut Vec<u8>,
) -> Result<()> {
    let part = &message.parts[id];
    let header_end = (part.offset_body as usize).min(entity.len());
    let header = &entity[(part.offset_header as usize).min(header_end)..header_end];
    let (header, _) = split_header_body(header);
    match &part.body {
        PartType::Multipart(children) => {
            let boundary = part
                .content_type()
                .and_then(|ct| ct.attribute("boundary"))
                .ok_or_else(|| Error::Malformed {
                    item: "the message".into(),
                    reason: "a multipart part has no boundary".into(),
                })?
                .to_string();
            out.extend_from_slice(&to_crlf(header));
            out.extend_from_slice(b"\r\n");
            for &child in children {
                out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
                rebuild(entity, message, child as usize, out)?;
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        }
        _ if leaf_needs_encoding(entity, part) => {
            let is_text = part
                .content_type()
                .is_none_or(|ct| ct.ctype().eq_ignore_ascii_case("text"));
            for field in fields(header) {
                if !field.name.eq_ignore_ascii_case("content-transfer-encoding") {
                    out.extend_from_slice(&to_crlf(field.raw));
                }
            }
            // The root part's body runs to the end of the input.
            let body = if id == 0 {
                &entity[header_end..]
            } else {
                raw_body(entity, part)
            };
            if is_text {
                out.extend_from_slice(b"Content-Transfer-Encoding: quoted-printable\r\n\r\n");
                out.extend_from_slice(&quoted_printable(body));
            } else {
                out.extend_from_slice(b"Content-Transfer-Encoding: base64\r\n\r\n");
                push_base64_lines(out, body);
            }
        }
        _ => {
            out.extend_from_slice(&to_crlf(header));
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(&to_crlf(raw_body(entity, part)));
        }
    }
    Ok(())
}

/// Quoted-printable (RFC 2045 §6.7) with CRLF line breaks; LF, CRLF and CR
/// in the input are line breaks.
pub fn quoted_printable(data: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(data.len() + data.len() / 8);
    let text = to_crlf(data);
    let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    let last = lines.len() - 1;
    for (n, line) in lines.iter().enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut col = 0;
        for (i, &b) in line.iter().enumerate() {
            let at_end = i + 1 == line.len();
            let literal = (b == b' ' || b == b'\t') && !at_end
                || (33..=126).contains(&b)
                    && b != b'='
                    && !(col == 0 && b == b'.')
                    && !(col == 0 && line.starts_with(b"From "));
            let width = if literal { 1 } else { 3 };
            if col + width > 75 {
                out.extend_from_slice(b"=\r\n");
                col = 0;
            }
            if literal {
                out.push(b);
            } else {
                out.extend_from_slice(&[b'=', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
            }
            col += width;
        }
        if n != last {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

/// Base64 in lines of 76 characters, CRLF after each.
pub fn base64_lines(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    push_base64_lines(&mut out, data);
    out
}

/// Appends `data` as base64 in 76-character CRLF lines, written in place:
/// no intermediate string, one allocation at most.
pub fn push_base64_lines(out: &mut Vec<u8>, data: &[u8]) {
    use base64::Engine;
    let lines = data.len().div_ceil(57);
    let start = out.len();
    out.resize(start + data.len().div_ceil(3) * 4 + lines * 2, 0);
    let mut at = start;
    for chunk in data.chunks(57) {
        // Cannot fail: the buffer was sized for exactly this output.
        at += base64::engine::general_purpose::STANDARD
            .encode_slice(chunk, &mut out[at..])
            .unwrap_or(0);
        out[at..at + 2].copy_from_slice(b"\r\n");
        at += 2;
    }
    out.truncate(at);
}

/// Decodes a base64 body whose lines end in any mix of CR and LF, with
/// white space around them; `None` when what is left is not base64.
pub fn decode_base64_lines(body: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine;
    // Lines are copied whole (found with memchr); white space inside a
    // line is rare and only then filtered byte by byte.
    let mut compact = Vec::with_capacity(body.len());
    let mut start = 0;
    while start < body.len() {
        let end = memchr::memchr(b'\n', &body[start..]).map_or(body.len(), |p| start + p);
        compact.extend_from_slice(body[start..end].trim_ascii());
        start = end + 1;
    }
    BASE64_LENIENT.decode(&compact).ok().or_else(|| {
        compact.retain(|b| !b.is_ascii_whitespace());
        BASE64_LENIENT.decode(&compact).ok()
    })
}

/// Standard base64 that, like mail clients, accepts missing padding and
/// non-zero trailing bits.
const BASE64_LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

fn boundary() -> String {
    let mut bytes = [0u8; 12];
    // A boundary only needs to be unique; fall back to a fixed one if the
    // RNG fails, which never happens with OpenSSL's DRBG.
    let _ = openssl::rand::rand_bytes(&mut bytes);
    format!("----smimed-{}", crate::cert::hex(&bytes))
}

/// `multipart/signed` around `entity` with a detached signature.
pub fn multipart_signed(outer: &[u8], entity: &[u8], signature: &[u8], micalg: &str) -> Vec<u8> {
    let boundary = boundary();
    let mut out = Vec::with_capacity(outer.len() + entity.len() + signature.len() * 2 + 512);
    out.extend_from_slice(outer);
    out.extend_from_slice(
        format!(
            "MIME-Version: 1.0\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg={micalg};\r\n boundary=\"{boundary}\"\r\n\r\nThis is a cryptographically signed message in MIME format.\r\n\r\n--{boundary}\r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(entity);
    out.extend_from_slice(
        format!(
            "\r\n--{boundary}\r\nContent-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"smime.p7s\"\r\nContent-Description: S/MIME Cryptographic Signature\r\n\r\n"
        )
        .as_bytes(),
    );
    push_base64_lines(&mut out, signature);
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

/// `application/pkcs7-mime` carrying `der`; `smime_type` is e.g.
/// `enveloped-data` or `authEnveloped-data`.
pub fn pkcs7_mime(outer: &[u8], smime_type: &str, der: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(outer.len() + der.len() * 4 / 3 + 512);
    out.extend_from_slice(outer);
    out.extend_from_slice(
        format!(
            "MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type={smime_type}; name=\"smime.p7m\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"smime.p7m\"\r\nContent-Description: S/MIME Encrypted Message\r\n\r\n"
        )
        .as_bytes(),
    );
    push_base64_lines(&mut out, der);
    out
}

/// The message's outer fields around `entity`'s `Content-*` fields and
/// body: what a reader sees after a layer is removed. Any other field of
/// the entity (a From, a Subject) is left out: it is not the message's.
pub fn with_outer(outer: &[u8], entity: &[u8]) -> Vec<u8> {
    let entity = to_crlf(entity);
    let (header, body) = split_header_body(&entity);
    let mut out = Vec::with_capacity(outer.len() + entity.len() + 20);
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
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn to_crlf_makes_every_kind_of_line_break_crlf() {
        for (input, want) in [
            (&b""[..], &b""[..]),
            (b"a", b"a"),
            (b"a\n", b"a\r\n"),
            (b"a\r", b"a\r\n"),
            (b"a\r\nb", b"a\r\nb"),
            (b"\r\r\n\n", b"\r\n\r\n\r\n"),
            (b"\n\r", b"\r\n\r\n"),
            (b"x\ry\nz\r\n", b"x\r\ny\r\nz\r\n"),
        ] {
            assert_eq!(to_crlf(input), want, "{:?}", String::from_utf8_lossy(input));
        }
    }

    use super::*;

    #[test]
    fn split_keeps_outer_fields_and_canonicalises() {
        let raw = b"From: a@example.org\nSubject: hi\n there\nMIME-Version: 1.0\nContent-Type: text/plain\n\nline 1\nline 2\n";
        let split = split_message(raw).unwrap();
        assert_eq!(
            split.outer,
            b"From: a@example.org\r\nSubject: hi\r\n there\r\n"
        );
        assert_eq!(
            split.entity,
            b"Content-Type: text/plain\r\n\r\nline 1\r\nline 2\r\n"
        );
    }

    #[test]
    fn eight_bit_text_becomes_quoted_printable() {
        let raw = "From: a@example.org\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nGr\u{fc}\u{df}e \nFrom here\n".as_bytes();
        let split = split_message(raw).unwrap();
        let text = String::from_utf8(split.entity).unwrap();
        assert!(
            text.contains("Content-Transfer-Encoding: quoted-printable"),
            "{text}"
        );
        assert!(!text.contains("8bit"));
        assert!(text.contains("Gr=C3=BC=C3=9Fe=20\r\n=46rom here"), "{text}");
        assert!(text.is_ascii());
    }

    #[test]
    fn binary_attachment_in_multipart_becomes_base64() {
        let raw = b"From: a@example.org\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\npreamble\r\n--XX\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n\x00\x01\xff\xfe\r\n--XX--\r\n";
        let split = split_message(raw).unwrap();
        let text = String::from_utf8(split.entity).unwrap();
        assert!(
            text.contains("Content-Transfer-Encoding: base64\r\n\r\nAAH//g==\r\n"),
            "{text}"
        );
        assert!(
            text.contains("--XX\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XX"),
            "{text}"
        );
        assert!(text.ends_with("--XX--\r\n"));
    }

    #[test]
    fn quoted_printable_wraps_long_lines() {
        let qp = quoted_printable(&[b'a'; 200]);
        assert!(qp.split(|&b| b == b'\n').all(|l| l.len() <= 77));
    }
}
