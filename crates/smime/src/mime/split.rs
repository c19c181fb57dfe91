//! Cutting a message apart: header from body, header into fields, a
//! multipart body into its parts, and a message into outer fields and entity.

use std::borrow::Cow;

use super::canonical::{MAX_NESTING, needs_nothing, seven_bit, to_crlf};
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
    let finder = memchr::memmem::Finder::new(dash.as_bytes());
    let mut parts = Vec::new();
    let mut start: Option<usize> = None;
    // Only lines that start with `--boundary` matter: found by searching
    // for it (one vectorised pass), each hit kept only at a line's start.
    let mut from = 0;
    while let Some(found) = finder.find(&body[from..]) {
        let i = from + found;
        if i > 0 && body[i - 1] != b'\n' {
            from = i + 1;
            continue;
        }
        let end = memchr::memchr(b'\n', &body[i..]).map_or(body.len(), |p| i + p + 1);
        let line = &body[i..end];
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        // Not the whole hit on this line: a boundary with a line break.
        let Some(rest) = line.strip_prefix(dash.as_bytes()) else {
            from = i + 1;
            continue;
        };
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
        from = end;
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
    let (outer, entity) = split_entity(raw)?;
    Ok(Split {
        outer,
        entity: entity.to_vec(),
    })
}

/// A canonical, 7-bit-safe entity in two pieces: its header (rewritten)
/// and its body, borrowed from the message when its bytes are already
/// what would be sent, so that a large message is not copied.
pub(crate) struct Entity<'a> {
    /// The `Content-*` fields and the empty line, or nothing when the
    /// whole entity had to be rewritten into `body`.
    pub head: Vec<u8>,
    /// The rest.
    pub body: Cow<'a, [u8]>,
}

impl Entity<'_> {
    pub fn pieces(&self) -> [&[u8]; 2] {
        [&self.head, &self.body]
    }

    pub fn len(&self) -> usize {
        self.head.len() + self.body.len()
    }

    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        out.extend_from_slice(&self.head);
        out.extend_from_slice(&self.body);
        out
    }
}

/// [`split_message`] without putting the entity together: the outer
/// fields and the entity's pieces.
pub(crate) fn split_entity(raw: &[u8]) -> Result<(Vec<u8>, Entity<'_>)> {
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
    let mut head = entity_header;
    head.extend_from_slice(b"\r\n");
    // One scan of the body decides whether it goes out as it is (then it
    // is not parsed, not copied); anything else is parsed and rewritten
    // part by part.
    let mut content_types = 0;
    if needs_nothing(&head, &mut content_types)
        && needs_nothing(body, &mut content_types)
        && content_types < MAX_NESTING
    {
        return Ok((
            outer,
            Entity {
                head,
                body: Cow::Borrowed(body),
            },
        ));
    }
    head.extend_from_slice(body);
    Ok((
        outer,
        Entity {
            head: Vec::new(),
            body: Cow::Owned(seven_bit(&head)?),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The line-by-line reading that [`split_multipart`] replaced.
    fn split_by_lines<'a>(body: &'a [u8], boundary: &str) -> Vec<&'a [u8]> {
        let dash = format!("--{boundary}");
        let mut parts = Vec::new();
        let mut start: Option<usize> = None;
        let mut i = 0;
        while i < body.len() {
            let end = body[i..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(body.len(), |p| i + p + 1);
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

    #[test]
    fn multipart_split_by_search_is_the_split_by_lines() {
        // Every body of up to 7 bytes over these, for boundaries that
        // overlap themselves and one that holds a line break.
        let alphabet = b"-b\r\n x";
        let mut bodies = vec![Vec::new()];
        let mut last = bodies.clone();
        for _ in 0..7 {
            last = last
                .iter()
                .flat_map(|v: &Vec<u8>| {
                    alphabet.iter().map(move |&c| {
                        let mut w = v.clone();
                        w.push(c);
                        w
                    })
                })
                .collect();
            bodies.extend(last.iter().cloned());
        }
        for boundary in ["b", "", "-", "b-", "\nb"] {
            for body in &bodies {
                assert_eq!(
                    split_multipart(body, boundary),
                    split_by_lines(body, boundary),
                    "{boundary:?} {:?}",
                    String::from_utf8_lossy(body)
                );
            }
        }
        let long = b"pre\r\n--xyz\r\na\r\n --xyz\r\n--xyzz\r\n--xyz \t\r\nb\r\n--xyz--\r\nepi";
        assert_eq!(split_multipart(long, "xyz"), split_by_lines(long, "xyz"));
        assert_eq!(split_multipart(long, "xyz").len(), 2);
    }

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
}
