//! The canonical form of an entity: CRLF line endings, and every part that
//! is not 7-bit safe rewritten to quoted-printable or base64.

use std::borrow::Cow;

use mail_parser::{MessageParser, MimeHeaders, PartType};

use super::encoding::{push_base64_lines, quoted_printable};
use super::split::{fields, split_header_body};
use crate::{Error, Result};

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

/// Line endings to CRLF, borrowed when they are CRLF already.
pub(crate) fn crlf(data: &[u8]) -> Cow<'_, [u8]> {
    if is_crlf(data) {
        Cow::Borrowed(data)
    } else {
        Cow::Owned(to_crlf(data))
    }
}

/// Line endings to CRLF, the same buffer when they are CRLF already.
pub(crate) fn crlf_owned(data: Vec<u8>) -> Vec<u8> {
    if is_crlf(&data) { data } else { to_crlf(&data) }
}

/// Whether `data` needs nothing of [`seven_bit`]: ASCII without NUL,
/// every line ended by CRLF (the last one may be unended), none longer
/// than 998 bytes, ending in white space or starting with `From `. Then no
/// part of an entity made of such pieces needs re-encoding and its
/// canonical form is itself, whatever its MIME structure, which is then
/// not parsed. `content_types` counts the lines that start with
/// `Content-Type` (any case): only an entity with fewer than
/// [`MAX_NESTING`] of them can be no deeper than that.
pub(super) fn needs_nothing(data: &[u8], content_types: &mut usize) -> bool {
    if !data.is_ascii() || memchr::memchr(0, data).is_some() {
        return false;
    }
    let mut start = 0;
    while start < data.len() {
        // The first CR or LF ends the line, and must be a CR before an LF.
        let (line, next) = match memchr::memchr2(b'\r', b'\n', &data[start..]) {
            Some(p) if data[start + p] == b'\r' && data.get(start + p + 1) == Some(&b'\n') => {
                (&data[start..start + p], start + p + 2)
            }
            Some(_) => return false,
            None => (&data[start..], data.len()),
        };
        if line.len() > 998
            || matches!(line.last(), Some(b' ' | b'\t'))
            || line.starts_with(b"From ")
        {
            return false;
        }
        if line.len() >= 12 && line[..12].eq_ignore_ascii_case(b"content-type") {
            *content_types += 1;
        }
        start = next;
    }
    true
}

/// Rewrites every leaf part that is not safe for 7-bit transport (8-bit
/// bytes, NUL, lines over 998 bytes, trailing white space, `From ` at the
/// start of a line) to quoted-printable (text) or base64 (anything else),
/// then canonicalises line endings. Parts already safe are kept as they are.
pub(super) fn seven_bit(entity: &[u8]) -> Result<Vec<u8>> {
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
pub(crate) fn is_crlf(data: &[u8]) -> bool {
    let mut at = 0;
    while let Some(off) = memchr::memchr2(b'\r', b'\n', &data[at..]) {
        let i = at + off;
        // An LF found here follows no CR: a CR before it would have been
        // found first, and taken with its LF.
        if data[i] == b'\n' || data.get(i + 1) != Some(&b'\n') {
            return false;
        }
        at = i + 2;
    }
    true
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::split_message;

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

    #[test]
    fn crlf_is_recognised_wherever_the_line_ends_fall() {
        // Every string of up to 6 bytes over CR, LF and 'a'.
        let mut all = vec![Vec::new()];
        for _ in 0..6 {
            let longer: Vec<Vec<u8>> = all
                .iter()
                .filter(|v| v.len() == all.last().map_or(0, Vec::len))
                .flat_map(|v| {
                    [b'\r', b'\n', b'a'].map(|b| {
                        let mut w = v.clone();
                        w.push(b);
                        w
                    })
                })
                .collect();
            all.extend(longer);
        }
        for data in &all {
            let reference = data.iter().enumerate().all(|(i, &b)| match b {
                b'\r' => data.get(i + 1) == Some(&b'\n'),
                b'\n' => i > 0 && data[i - 1] == b'\r',
                _ => true,
            });
            assert_eq!(is_crlf(data), reference, "{data:?}");
            assert_eq!(is_crlf(data), to_crlf(data) == *data, "{data:?}");
            assert_eq!(*crlf(data), to_crlf(data)[..]);
            assert_eq!(crlf_owned(data.clone()), to_crlf(data));
        }
    }

    /// Entities already canonical and 7-bit safe, of several shapes.
    fn safe_entities() -> Vec<Vec<u8>> {
        let long = "x".repeat(998);
        [
            "Content-Type: text/plain\r\n\r\nhello\r\n".to_string(),
            "Content-Type: text/plain\r\n\r\nno final line break".to_string(),
            "Content-Type: text/plain\r\n\r\n".to_string(),
            format!("Content-Type: text/plain\r\n\r\n{long}\r\nFrom\r\n from here\r\n>From x\r\n"),
            // 7-bit non-text without encoding, in CRLF, first and last.
            "Content-Type: multipart/mixed; boundary=b\r\n\r\npreamble\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: 7bit\r\n\r\nab\r\ncd\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: application/x-thing\r\n\r\nxy\r\n--b--\r\nepilogue\r\n".to_string(),
            // Nested, with a message/rfc822 part and a base64 attachment.
            "Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n--i\r\nContent-Type: text/plain\r\n\r\nplain\r\n--i\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--i--\r\n--o\r\nContent-Type: message/rfc822\r\n\r\nFrom: x@example.org\r\nSubject: inner\r\n\r\ninner body\r\n--o\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--o--\r\n".to_string(),
            // Unclosed multipart.
            "Content-Type: multipart/mixed; boundary=u\r\n\r\n--u\r\nContent-Type: application/octet-stream\r\n\r\nab\r\n".to_string(),
        ]
        .into_iter()
        .map(String::into_bytes)
        .collect()
    }

    #[test]
    fn an_entity_that_needs_nothing_is_what_the_full_rewrite_gives() {
        for entity in safe_entities() {
            let mut n = 0;
            let text = String::from_utf8_lossy(&entity).to_string();
            assert!(needs_nothing(&entity, &mut n), "{text}");
            assert_eq!(seven_bit(&entity).unwrap(), entity, "{text}");
            // And so split_message keeps the body as it came.
            let mut raw = b"From: a@example.org\r\n".to_vec();
            raw.extend_from_slice(&entity);
            assert_eq!(split_message(&raw).unwrap().entity, entity, "{text}");
        }
    }

    #[test]
    fn anything_that_needs_rewriting_is_not_taken_as_it_is() {
        let good = b"Content-Type: text/plain\r\n\r\nline\r\n".to_vec();
        let long = format!("Content-Type: text/plain\r\n\r\n{}\r\n", "x".repeat(999));
        for bad in [
            &b"Content-Type: text/plain\r\n\r\nGr\xc3\xbc\xc3\x9fe\r\n"[..],
            b"Content-Type: text/plain\r\n\r\nnul \x00\r\n",
            b"Content-Type: text/plain\r\n\r\nbare LF\n",
            b"Content-Type: text/plain\r\n\r\nbare CR\rinside\r\n",
            b"Content-Type: text/plain\r\n\r\nCR at the end\r",
            b"Content-Type: text/plain\r\n\r\n\nLF first",
            b"Content-Type: text/plain\r\n\r\ntrailing space \r\n",
            b"Content-Type: text/plain\r\n\r\ntrailing tab\t\r\n",
            b"Content-Type: text/plain\r\n\r\nFrom here\r\n",
            b"Content-Type: text/plain\r\n\r\nlast line ends in a blank ",
            long.as_bytes(),
        ] {
            let mut n = 0;
            let text = String::from_utf8_lossy(bad).to_string();
            assert!(!needs_nothing(bad, &mut n), "{text:?}");
            // What the full rewrite makes of it needs nothing more.
            let mut raw = b"From: a@example.org\r\n".to_vec();
            raw.extend_from_slice(bad);
            let entity = split_message(&raw).unwrap().entity;
            assert!(needs_nothing(&entity, &mut n), "{text:?}");
        }
        let mut n = 0;
        assert!(needs_nothing(&good, &mut n));
        assert_eq!(n, 1, "one Content-Type line");
        let mut n = 0;
        assert!(needs_nothing(
            b"content-TYPE: a\r\nX: b\r\nContent-type\r\n",
            &mut n
        ));
        assert_eq!(n, 2);
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
}
