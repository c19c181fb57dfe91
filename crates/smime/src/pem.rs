//! A PEM block scanner that keeps positions, so that errors can name the
//! block ("PEM block 2, line 31") and keys can be stored exactly as given.
//!
//! A block may be a private key: its copies here are zeroed when dropped,
//! and each is allocated once at its final size, so that no reallocation
//! leaves a stale copy behind.

use base64::Engine;
use zeroize::Zeroizing;

use crate::mime::BASE64_LENIENT;
use crate::{Error, Result};

/// One `-----BEGIN X-----` .. `-----END X-----` block.
pub(crate) struct Block<'a> {
    /// The label, e.g. `CERTIFICATE` or `ENCRYPTED PRIVATE KEY`.
    pub label: &'a str,
    /// The whole block, BEGIN and END lines included, with a final newline.
    pub text: Zeroizing<String>,
    /// RFC 1421 headers (`Proc-Type: 4,ENCRYPTED`) were present.
    pub has_headers: bool,
    /// Base64 body without white space.
    body: Zeroizing<String>,
    /// 1-based position among the blocks, and line of the BEGIN line.
    index: usize,
    line: usize,
}

impl Block<'_> {
    /// How errors name this block.
    pub fn describe(&self) -> String {
        format!(
            "PEM block {} (line {}, {})",
            self.index, self.line, self.label
        )
    }

    /// The DER inside, or a clear error for corrupted base64.
    pub fn der(&self) -> Result<Zeroizing<Vec<u8>>> {
        let malformed = || Error::Malformed {
            item: self.describe(),
            reason: "its base64 body is corrupted".into(),
        };
        if self.body.is_empty() || !self.body.len().is_multiple_of(4) {
            return Err(malformed());
        }
        // Decoded into a buffer of the final size that zeroes itself, also
        // when the body turns out corrupted halfway.
        let mut der = Zeroizing::new(vec![0; self.body.len() / 4 * 3]);
        let len = BASE64_LENIENT
            .decode_slice(self.body.as_bytes(), &mut der)
            .map_err(|_| malformed())?;
        der.truncate(len);
        Ok(der)
    }
}

/// True when the input looks like PEM text.
pub(crate) fn is_pem(input: &[u8]) -> bool {
    input.windows(11).any(|w| w == b"-----BEGIN ")
}

/// All blocks in `text`, in order. A block without its END line is an error.
pub(crate) fn scan(text: &str) -> Result<Vec<Block<'_>>> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let Some(label) = line
            .trim()
            .strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
        else {
            continue;
        };
        let index = blocks.len() + 1;
        let end = format!("-----END {label}-----");
        let begin = line.trim();
        let mut inner_lines = Vec::new();
        let mut closed = false;
        for (_, inner) in lines.by_ref() {
            let inner = inner.trim();
            inner_lines.push(inner);
            if inner == end {
                closed = true;
                break;
            }
        }
        let size = inner_lines.iter().map(|l| l.len() + 1).sum::<usize>();
        let mut block_text = Zeroizing::new(String::with_capacity(begin.len() + 1 + size));
        block_text.push_str(begin);
        block_text.push('\n');
        let mut body = Zeroizing::new(String::with_capacity(size));
        let mut has_headers = false;
        for inner in inner_lines {
            block_text.push_str(inner);
            block_text.push('\n');
            if inner == end {
                break;
            }
            // RFC 1421 headers come before the body; later, ':' is corruption.
            if body.is_empty() && inner.contains(':') {
                has_headers = true;
            } else {
                body.extend(inner.chars().filter(|c| !c.is_whitespace()));
            }
        }
        if !closed {
            return Err(Error::Malformed {
                item: format!("PEM block {index} (line {}, {label})", n + 1),
                reason: format!("it has no \"{end}\" line: the text is truncated"),
            });
        }
        blocks.push(Block {
            label,
            text: block_text,
            has_headers,
            body,
            index,
            line: n + 1,
        });
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn der_of(body: &str) -> Result<Zeroizing<Vec<u8>>> {
        let text = format!("-----BEGIN X-----\n{body}\n-----END X-----\n");
        scan(&text)?[0].der()
    }

    #[test]
    fn bodies_decode_as_openssl_decoded_them() {
        assert_eq!(*der_of("AAH/\n/g==").unwrap(), [0, 1, 0xff, 0xfe]);
        assert_eq!(*der_of("AAH//v8A").unwrap(), [0, 1, 0xff, 0xfe, 0xff, 0]);
        // Non-zero trailing bits pass, as they did with OpenSSL's decoder.
        assert_eq!(*der_of("AAH//h==").unwrap(), [0, 1, 0xff, 0xfe]);
        for corrupted in ["", "AAH//g=", "AA-A", "AA.A/g==", "AAH/\u{e9}=="] {
            match der_of(corrupted) {
                Err(Error::Malformed { item, reason }) => {
                    assert_eq!(reason, "its base64 body is corrupted", "{corrupted:?}");
                    assert_eq!(item, "PEM block 1 (line 1, X)");
                }
                other => panic!("{corrupted:?}: {:?}", other.map(|d| d.to_vec())),
            }
        }
    }
}
