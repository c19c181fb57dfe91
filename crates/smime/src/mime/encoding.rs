//! Content transfer encodings: quoted-printable, and base64 in CRLF lines
//! (with the lenient decoder that PEM bodies use too).

use super::canonical::to_crlf;

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
/// non-zero trailing bits. PEM bodies are decoded with it too, so that they
/// pass as they passed OpenSSL's decoder.
pub(crate) const BASE64_LENIENT: base64::engine::GeneralPurpose =
    base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_printable_wraps_long_lines() {
        let qp = quoted_printable(&[b'a'; 200]);
        assert!(qp.split(|&b| b == b'\n').all(|l| l.len() <= 77));
    }
}
