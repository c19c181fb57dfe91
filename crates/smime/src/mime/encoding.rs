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
/// no intermediate string, one allocation at most. Whole lines go through
/// a table of character pairs (12 bits of input → two characters), six
/// bytes at a time; the last, shorter line through the `base64` crate.
pub fn push_base64_lines(out: &mut Vec<u8>, data: &[u8]) {
    use base64::Engine;
    out.reserve(data.len().div_ceil(3) * 4 + data.len().div_ceil(57) * 2);
    let whole = data.chunks_exact(57);
    let rest = whole.remainder();
    // Each line is made in a small buffer and appended: the output is
    // written once, not zeroed first.
    let mut line = [0u8; 78];
    line[76..].copy_from_slice(b"\r\n");
    for src in whole {
        // 57 bytes: nine times 6 bytes (read as 8, of which the first 6
        // count) into 8 characters, then the last 3 into 4.
        for k in 0..9 {
            let mut word = [0u8; 8];
            word.copy_from_slice(&src[6 * k..6 * k + 8]);
            let w = u64::from_be_bytes(word);
            let chars = u64::from(BASE64_PAIRS[(w >> 52) as usize])
                | u64::from(BASE64_PAIRS[(w >> 40) as usize & 0xfff]) << 16
                | u64::from(BASE64_PAIRS[(w >> 28) as usize & 0xfff]) << 32
                | u64::from(BASE64_PAIRS[(w >> 16) as usize & 0xfff]) << 48;
            line[8 * k..8 * k + 8].copy_from_slice(&chars.to_le_bytes());
        }
        let n = (usize::from(src[54]) << 16) | (usize::from(src[55]) << 8) | usize::from(src[56]);
        let chars = u32::from(BASE64_PAIRS[n >> 12]) | u32::from(BASE64_PAIRS[n & 0xfff]) << 16;
        line[72..76].copy_from_slice(&chars.to_le_bytes());
        out.extend_from_slice(&line);
    }
    if !rest.is_empty() {
        let mut last = [0u8; 78];
        // Cannot fail: 76 characters hold the base64 of up to 57 bytes.
        let n = base64::engine::general_purpose::STANDARD
            .encode_slice(rest, &mut last)
            .unwrap_or(0);
        last[n..n + 2].copy_from_slice(b"\r\n");
        out.extend_from_slice(&last[..n + 2]);
    }
}

/// The two base64 characters of every 12-bit value, the first in the low
/// byte (written out little-endian).
static BASE64_PAIRS: [u16; 4096] = {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut table = [0u16; 4096];
    let mut i = 0;
    while i < 4096 {
        table[i] = ALPHABET[i >> 6] as u16 | (ALPHABET[i & 63] as u16) << 8;
        i += 1;
    }
    table
};

/// Base64 in 76-character CRLF lines, written as the bytes come: the
/// output is exactly [`push_base64_lines`] of all the bytes written, in
/// whatever pieces they arrive. Used to write an envelope's DER while it
/// is encrypted, without holding the DER.
pub(crate) struct Base64Lines<'o> {
    out: &'o mut Vec<u8>,
    carry: [u8; 57],
    held: usize,
}

impl<'o> Base64Lines<'o> {
    pub(crate) fn new(out: &'o mut Vec<u8>) -> Self {
        Base64Lines {
            out,
            carry: [0; 57],
            held: 0,
        }
    }

    /// The length of the base64 lines of `len` bytes.
    pub(crate) fn encoded_len(len: usize) -> usize {
        len.div_ceil(3) * 4 + len.div_ceil(57) * 2
    }

    pub(crate) fn write(&mut self, mut data: &[u8]) {
        if self.held > 0 {
            let take = (57 - self.held).min(data.len());
            self.carry[self.held..self.held + take].copy_from_slice(&data[..take]);
            self.held += take;
            data = &data[take..];
            if self.held < 57 {
                return;
            }
            let line = self.carry;
            push_base64_lines(self.out, &line);
            self.held = 0;
        }
        let whole = data.len() / 57 * 57;
        push_base64_lines(self.out, &data[..whole]);
        let rest = &data[whole..];
        self.carry[..rest.len()].copy_from_slice(rest);
        self.held = rest.len();
    }

    /// Writes the last, shorter line.
    pub(crate) fn finish(self) {
        push_base64_lines(self.out, &self.carry[..self.held]);
    }
}

/// Decodes a base64 body whose lines end in any mix of CR and LF, with
/// white space around them or inside; `None` when what is left is not
/// base64. One pass: the characters are gathered in a small buffer and
/// decoded a block at a time straight into the result.
pub fn decode_base64_lines(body: &[u8]) -> Option<Vec<u8>> {
    // Strict base64 in lines, what every S/MIME part is, goes the fast way;
    // anything else as before. White space inside a line is rare: only
    // when the lines as they are do not decode is every byte looked at.
    decode_strict(body)
        .or_else(|| decode_blocks(body, false))
        .or_else(|| decode_blocks(body, true))
}

/// Strict standard base64 in lines (RFC 4648 with its padding; white space
/// only at the ends of lines): the lines' characters gathered a block at a
/// time and decoded with SIMD (base64-simd), 3.5 times the speed of the
/// line by line decoder. `None` for anything else, which then decodes as before: where
/// this accepts, every decoder gives the same bytes.
fn decode_strict(body: &[u8]) -> Option<Vec<u8>> {
    const BLOCK: usize = 64 * 1024;
    let mut out = Vec::with_capacity(body.len() / 4 * 3 + 3);
    let mut pending: Vec<u8> = Vec::with_capacity(BLOCK.min(body.len()) + 1024);
    // Padding is only right at the end: once a block shows some, any more
    // text is left to the line decoder (which refuses it, or mends a
    // padding split over two lines), and nothing more is gathered.
    let mut padded = false;
    // The last line's length with its line break: most lines are as long.
    let mut width = 0;
    let mut start = 0;
    while start < body.len() {
        // A line as long as the last is taken without looking for a line
        // break inside it. Were there one, either it goes with the white
        // space trimmed at an end, and the characters are those of its
        // lines, or it stays in `pending`, and the decoder refuses it.
        let end = if width > 0 && body.get(start + width - 1) == Some(&b'\n') {
            start + width - 1
        } else {
            let end = memchr::memchr(b'\n', &body[start..]).map_or(body.len(), |p| start + p);
            width = end + 1 - start;
            end
        };
        let line = body[start..end].trim_ascii();
        if padded && !line.is_empty() {
            return None;
        }
        pending.extend_from_slice(line);
        if pending.len() >= BLOCK && !padded {
            let whole = pending.len() / 4 * 4;
            padded = memchr::memchr(b'=', &pending[..whole]).is_some();
            if !padded {
                base64_simd::STANDARD
                    .decode_append(&pending[..whole], &mut out)
                    .ok()?;
                pending.drain(..whole);
            }
        }
        start = end + 1;
    }
    base64_simd::STANDARD
        .decode_append(&pending, &mut out)
        .ok()?;
    Some(out)
}

fn decode_blocks(body: &[u8], filter: bool) -> Option<Vec<u8>> {
    use base64::Engine;
    const BLOCK: usize = 16 * 1024;
    let mut out = Vec::with_capacity(body.len() / 4 * 3 + 3);
    let mut pending: Vec<u8> = Vec::with_capacity(BLOCK + 1024);
    let mut padded = false;
    let mut start = 0;
    while start < body.len() {
        let end = memchr::memchr(b'\n', &body[start..]).map_or(body.len(), |p| start + p);
        let line = body[start..end].trim_ascii();
        // The common line (whole quanta of the alphabet only, nothing
        // held before it) is decoded where it lies.
        if pending.is_empty() && !padded && decode_quanta(line, &mut out) {
            start = end + 1;
            continue;
        }
        if filter {
            pending.extend(line.iter().filter(|b| !b.is_ascii_whitespace()));
        } else {
            pending.extend_from_slice(line);
        }
        // The whole quanta so far, until padding is seen: padding is only
        // right at the end, which the last decode below judges.
        padded = padded || memchr::memchr(b'=', line).is_some();
        if pending.len() >= BLOCK && !padded {
            let whole = pending.len() / 4 * 4;
            BASE64_LENIENT
                .decode_vec(&pending[..whole], &mut out)
                .ok()?;
            pending.drain(..whole);
        }
        start = end + 1;
    }
    BASE64_LENIENT.decode_vec(&pending, &mut out).ok()?;
    Some(out)
}

/// Decodes `line` onto `out` when it is whole quanta (at most 1,024
/// characters) of the standard alphabet and nothing else, no padding; with
/// anything else it writes nothing and says no. Then its decoding is that
/// of any standard decoder, and decoding such lines one by one is decoding
/// them together.
fn decode_quanta(line: &[u8], out: &mut Vec<u8>) -> bool {
    // Room for 1,024 characters, and for the 8-byte store of the last 6.
    let mut buf = [0u8; 770];
    if line.is_empty() || !line.len().is_multiple_of(4) || line.len() > 1024 {
        return false;
    }
    let v = |x: u8| u64::from(BASE64_VALUES[usize::from(x)]);
    let mut bad = 0u64;
    // Eight characters (48 bits) at a time, then the last four if any.
    let pairs = line.chunks_exact(8);
    let last = pairs.remainder();
    let mut at = 0;
    for q in pairs {
        let x = [q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7]].map(v);
        bad |= (x[0] | x[1]) | (x[2] | x[3]) | ((x[4] | x[5]) | (x[6] | x[7]));
        // Independent shifts, not a chain: the eight can go in parallel.
        let bits = ((x[0] << 58) | (x[1] << 52) | (x[2] << 46) | (x[3] << 40))
            | ((x[4] << 34) | (x[5] << 28) | (x[6] << 22) | (x[7] << 16));
        buf[at..at + 8].copy_from_slice(&bits.to_be_bytes());
        at += 6;
    }
    if let [a, b, c, d] = *last {
        let x = [a, b, c, d].map(v);
        bad |= x[0] | x[1] | x[2] | x[3];
        let bits = (x[0] << 18) | (x[1] << 12) | (x[2] << 6) | x[3];
        buf[at..at + 3].copy_from_slice(&bits.to_be_bytes()[5..]);
        at += 3;
    }
    if bad & 0x80 != 0 {
        return false;
    }
    out.extend_from_slice(&buf[..at]);
    true
}

/// The value of each standard base64 character; 0x80 for every other byte
/// (`=` and white space included).
static BASE64_VALUES: [u8; 256] = {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut table = [0x80u8; 256];
    let mut i = 0;
    while i < 64 {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

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

    /// Deterministic bytes of every value.
    fn bytes(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect()
    }

    #[test]
    fn base64_lines_are_the_standard_encoding_in_lines_and_decode_back() {
        use base64::Engine;
        let mut lengths: Vec<usize> = (0..=400).collect();
        lengths.extend([1_000, 4_096, 57 * 300, 57 * 300 + 1, 100_000]);
        for len in lengths {
            let data = bytes(len, len as u64 + 11);
            let text = base64::engine::general_purpose::STANDARD.encode(&data);
            let expected: Vec<u8> = text
                .as_bytes()
                .chunks(76)
                .flat_map(|l| [l, b"\r\n"].concat())
                .collect();
            let mut out = b"x".to_vec();
            push_base64_lines(&mut out, &data);
            assert_eq!(&out[1..], &expected[..], "{len}");
            assert!(
                decode_base64_lines(&expected).as_deref() == Some(&data[..]),
                "{len}"
            );
        }
        // Every byte value in every position of a quantum.
        let all: Vec<u8> = (0..=255u8).cycle().take(256 * 3 + 3).collect();
        let text = base64::engine::general_purpose::STANDARD.encode(&all);
        assert_eq!(
            base64_lines(&all)
                .iter()
                .filter(|&&b| b != b'\r' && b != b'\n')
                .copied()
                .collect::<Vec<u8>>(),
            text.as_bytes()
        );
    }

    #[test]
    fn lines_decoded_where_they_lie_refuse_what_is_not_base64() {
        let mut out = Vec::new();
        assert!(decode_quanta(b"QUJD", &mut out));
        assert_eq!(out, b"ABC");
        for bad in [
            &b""[..],
            b"QUJ",
            b"QUI=",
            b"QU==",
            b"QUJ\r",
            b"QU JD",
            b"QUJD QUJD",
            b"QUJ*",
            b"QUJ\x80",
            b"\xffUJD",
        ] {
            let mut out = b"kept".to_vec();
            assert!(!decode_quanta(bad, &mut out), "{bad:?}");
            assert_eq!(out, b"kept");
        }
        assert!(!decode_quanta(&[b'A'; 1028], &mut Vec::new()));
        assert!(decode_quanta(&[b'A'; 1024], &mut out));
        // Every byte that is not of the alphabet, at each place.
        for x in 0..=255u8 {
            let valid = x.is_ascii_alphanumeric() || x == b'+' || x == b'/';
            for at in 0..4 {
                let mut q = *b"QUJD";
                q[at] = x;
                assert_eq!(decode_quanta(&q, &mut Vec::new()), valid, "{x} at {at}");
            }
        }
    }

    #[test]
    fn base64_lines_written_in_pieces_are_the_lines_of_the_whole() {
        for len in [0, 1, 2, 3, 56, 57, 58, 113, 114, 115, 1000, 4095] {
            let data = bytes(len, len as u64 + 7);
            let whole = base64_lines(&data);
            assert_eq!(whole.len(), Base64Lines::encoded_len(len), "{len}");
            // Pieces of every size from 1 to 60, and a split at each point.
            for piece in 1..=60 {
                let mut out = b"prefix".to_vec();
                let mut lines = Base64Lines::new(&mut out);
                for chunk in data.chunks(piece) {
                    lines.write(chunk);
                }
                lines.finish();
                assert_eq!(&out[6..], &whole[..], "len {len}, pieces of {piece}");
            }
            for at in 0..=len.min(130) {
                let mut out = Vec::new();
                let mut lines = Base64Lines::new(&mut out);
                lines.write(&data[..at]);
                lines.write(&[]);
                lines.write(&data[at..]);
                lines.finish();
                assert_eq!(out, whole, "len {len}, split at {at}");
            }
        }
    }

    /// Where the fast decoder accepts, it gives what the line by line one
    /// gives; what it refuses still decodes as before.
    #[test]
    fn the_strict_decoder_agrees_with_the_line_decoder_or_leaves_it_to_it() {
        use base64::Engine;
        let data = bytes(100_000, 5);
        let text = base64::engine::general_purpose::STANDARD.encode(&data);
        let lines = |width: usize, end: &str| -> Vec<u8> {
            text.as_bytes()
                .chunks(width)
                .flat_map(|l| [l, end.as_bytes()].concat())
                .collect()
        };
        let slow = |b: &[u8]| decode_blocks(b, false).or_else(|| decode_blocks(b, true));
        let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
        for width in [4, 76, 64, 72, 1000] {
            for end in ["\r\n", "\n", " \r\n", "\r\n\r\n"] {
                cases.push((format!("{width} {end:?}"), lines(width, end)));
            }
        }
        // Lines of one width but for one: a line break, a blank, a shorter
        // and a longer line at each of the first places, and further in.
        let body = lines(76, "\r\n");
        for at in (0..80).chain([155, 156, 157, 65_530, 65_536, 87_000, 131_000]) {
            for insert in ["\n", "\r\n", " ", "\t", "\r", "=", "QQ==", "*", "A"] {
                let mut b = body.clone();
                b.splice(at..at, insert.bytes());
                cases.push((format!("{insert:?} at {at}"), b));
            }
        }
        // Padding that ends exactly where the first block is decoded (the
        // first whole line at 64 KiB), and a quantum before and after.
        let block_end = 65_536usize.div_ceil(76) * 76;
        for shift in [0, 4, 8] {
            let at = block_end - 8 + shift;
            let mut joined = text.as_bytes()[..at].to_vec();
            joined.extend_from_slice(b"QQ==");
            joined.extend_from_slice(&text.as_bytes()[at..]);
            let b: Vec<u8> = joined
                .chunks(76)
                .flat_map(|l| [l, b"\r\n"].concat())
                .collect();
            assert_eq!(decode_strict(&b), None, "padding at {at}");
            assert_eq!(decode_base64_lines(&b), slow(&b), "padding at {at}");
            cases.push((format!("padding at {at}"), b));
        }
        // Padding at the very end of a block, then only blank lines: strict.
        let whole = &text.as_bytes()[..block_end];
        let mut end_padded = whole[..whole.len() - 4].to_vec();
        end_padded.extend_from_slice(b"QQ==");
        let mut b: Vec<u8> = end_padded
            .chunks(76)
            .flat_map(|l| [l, b"\r\n"].concat())
            .collect();
        b.extend_from_slice(b"\r\n \r\n\r\n");
        assert!(decode_strict(&b).is_some());
        cases.push(("padding at a block's end, then blank lines".into(), b));
        // A padding split over two lines: gathered, it is strict.
        let split = b"QUJD\r\nQQ=\r\n=\r\n";
        assert_eq!(decode_strict(split).as_deref(), Some(&b"ABCA"[..]));
        let mut fast = 0;
        for (what, b) in &cases {
            let expected = slow(b);
            if let Some(got) = decode_strict(b) {
                fast += 1;
                assert!(Some(&got) == expected.as_ref(), "{what}");
            }
            assert!(decode_base64_lines(b) == expected, "{what}");
        }
        // The plain bodies took the fast way.
        assert!(fast >= 20, "{fast} of {}", cases.len());
        assert!(decode_strict(&lines(76, "\r\n")).as_deref() == Some(&data[..]));
    }

    /// At the largest message's size, padding early in the body is refused
    /// by both decoders (the strict one stops gathering at the next line).
    #[test]
    fn early_padding_in_a_24_mib_body_is_refused() {
        let line = [b"QUJD".repeat(19), b"\r\n".to_vec()].concat();
        let mut body = line.repeat(24 * (1 << 20) / line.len());
        // Past the first block, so that a block sees it.
        let at = 70_000 / line.len() * line.len();
        body[at..at + 4].copy_from_slice(b"QQ==");
        assert_eq!(decode_strict(&body), None);
        assert_eq!(decode_base64_lines(&body), None);
        // Without it, the same body decodes.
        body[at..at + 4].copy_from_slice(b"QUJD");
        assert_eq!(
            decode_strict(&body).map(|d| d.len()),
            Some(body.len() / 78 * 57)
        );
    }

    #[test]
    fn base64_bodies_decode_across_blocks_as_they_decode_whole() {
        use base64::Engine;
        // Over several 16 KiB blocks, in lines of 76 and of odd lengths
        // that cross the blocks, with CRLF, LF, CR and white space.
        let data = bytes(50_000, 3);
        let text = base64::engine::general_purpose::STANDARD.encode(&data);
        for width in [76, 64, 77, 1000, 20_001, text.len()] {
            for end in ["\r\n", "\n", "\r", " \r\n\t"] {
                let body: String = text
                    .as_bytes()
                    .chunks(width)
                    .map(|l| format!("{}{end}", std::str::from_utf8(l).unwrap()))
                    .collect();
                let got = decode_base64_lines(body.as_bytes());
                assert!(got.as_deref() == Some(&data[..]), "width {width}, {end:?}");
            }
        }
        // White space inside lines, on both sides of a block's end.
        let spaced: String = text
            .as_bytes()
            .chunks(10)
            .map(|c| format!("{} ", std::str::from_utf8(c).unwrap()))
            .collect();
        assert!(decode_base64_lines(spaced.as_bytes()).as_deref() == Some(&data[..]));
        // Missing padding is accepted, as mail clients accept it.
        assert_eq!(
            decode_base64_lines(b"QUJDRA\r\n").as_deref(),
            Some(&b"ABCD"[..])
        );
        // Padding inside the text is refused, in the first block and the last.
        let mut inside = text.clone();
        inside.insert_str(100, "QQ==");
        assert!(decode_base64_lines(inside.as_bytes()).is_none());
        let mut late = text.clone();
        late.insert_str(text.len() - 100, "QQ==");
        assert!(decode_base64_lines(late.as_bytes()).is_none());
        // Characters outside the alphabet, and a length that cannot be.
        let mut bad = text.clone();
        bad.insert(30_000, '*');
        assert!(decode_base64_lines(bad.as_bytes()).is_none());
        assert_eq!(decode_base64_lines(b"QUJDR"), None);
        assert_eq!(decode_base64_lines(b"").as_deref(), Some(&b""[..]));
    }
}
