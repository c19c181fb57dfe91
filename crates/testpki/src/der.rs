//! A small DER reader and editor for tests that build hostile inputs: take
//! a valid structure that OpenSSL wrote, change one element (repeat it,
//! cut it, swap it), and re-encode every enclosing length. Definite
//! lengths only, which is what OpenSSL writes for DER.

/// One element of a DER encoding, as offsets into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv {
    /// The identifier octet.
    pub tag: u8,
    /// Offset of the identifier octet.
    pub start: usize,
    /// Offset of the contents.
    pub contents: usize,
    /// Offset just past the contents.
    pub end: usize,
}

/// The element that starts at `at`. Panics on input it cannot read: it is
/// for tests, on structures OpenSSL wrote.
pub fn read(der: &[u8], at: usize) -> Tlv {
    let tag = der[at];
    let first = der[at + 1] as usize;
    let (len, header) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        assert!(
            (1..=4).contains(&n),
            "definite lengths of 1 to 4 octets only"
        );
        let len = der[at + 2..at + 2 + n]
            .iter()
            .fold(0usize, |l, &b| (l << 8) | b as usize);
        (len, 2 + n)
    };
    Tlv {
        tag,
        start: at,
        contents: at + header,
        end: at + header + len,
    }
}

/// The elements inside a constructed element.
pub fn children(der: &[u8], parent: Tlv) -> Vec<Tlv> {
    let mut out = Vec::new();
    let mut at = parent.contents;
    while at < parent.end {
        let t = read(der, at);
        at = t.end;
        out.push(t);
    }
    out
}

/// The element reached from the outermost one by child indices.
pub fn at_path(der: &[u8], path: &[usize]) -> Tlv {
    let mut t = read(der, 0);
    for &i in path {
        t = children(der, t)[i];
    }
    t
}

/// One element: `tag`, the DER length of `contents`, `contents`.
pub fn encode(tag: u8, contents: &[u8]) -> Vec<u8> {
    let len = contents.len();
    let mut out = vec![tag];
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend(&bytes[skip..]);
    }
    out.extend(contents);
    out
}

/// `der` with the element at `path` replaced by `new` (a whole element, or
/// nothing to remove it), every enclosing length re-encoded.
pub fn replace(der: &[u8], path: &[usize], new: &[u8]) -> Vec<u8> {
    let outer = read(der, 0);
    let Some((&first, rest)) = path.split_first() else {
        return new.to_vec();
    };
    let kids = children(der, outer);
    let child = kids[first];
    let inner = replace(&der[child.start..child.end], rest, new);
    let mut contents = der[outer.contents..child.start].to_vec();
    contents.extend(inner);
    contents.extend(&der[child.end..outer.end]);
    let mut out = encode(outer.tag, &contents);
    out.extend(&der[outer.end..]);
    out
}

/// `der` with the constructed element at `path` holding its first child
/// `n` times (and nothing else): a SET OF with thousands of entries.
pub fn repeat_first_child(der: &[u8], path: &[usize], n: usize) -> Vec<u8> {
    let t = at_path(der, path);
    let first = children(der, t)[0];
    let one = &der[first.start..first.end];
    replace(der, path, &encode(t.tag, &one.repeat(n)))
}

/// The CMS paths the tests edit: `ContentInfo { contentType, [0] content }`
/// and the fields of a SignedData inside it.
pub mod cms {
    /// The SignedData or (Auth)EnvelopedData SEQUENCE.
    pub const CONTENT: &[usize] = &[1, 0];
    /// `SignedData.digestAlgorithms`.
    pub const DIGEST_ALGORITHMS: &[usize] = &[1, 0, 1];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_re_encodes_every_enclosing_length() {
        // SEQUENCE { SET { INTEGER 1 }, INTEGER 2 }
        let der = encode(
            0x30,
            &[encode(0x31, &encode(0x02, &[1])), encode(0x02, &[2])].concat(),
        );
        let big = repeat_first_child(&der, &[0], 100);
        let set = at_path(&big, &[0]);
        assert_eq!(children(&big, set).len(), 100);
        assert_eq!(at_path(&big, &[1]).tag, 0x02);
        assert_eq!(read(&big, 0).end, big.len());
        let removed = replace(&der, &[0], &[]);
        assert_eq!(removed, encode(0x30, &encode(0x02, &[2])));
    }
}
