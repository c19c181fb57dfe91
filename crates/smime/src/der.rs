//! Just enough BER/DER to look into CMS and PKCS#12 structures before
//! OpenSSL parses them, and to write the two CMS structures smimed sends
//! ([`crate::sign`], [`crate::encrypt`]). The readers:
//!
//! - [`crate::verify`]: OpenSSL 3.0 decodes every certificate a signature
//!   carries through its provider decoders, about 110–125 µs each, which is
//!   more than the signature check itself. Taking the certificates out of a
//!   SignedData (they are not covered by the signature) lets verification
//!   reuse certificates it has parsed before.
//! - [`crate::bundle`]: the iteration counts of a PKCS#12 file are read
//!   before OpenSSL runs them.
//!
//! The reader takes definite and indefinite lengths (some exporters and
//! mailers write BER) and OCTET STRINGs in pieces; anything else unexpected
//! gives `None`, and the caller leaves the input to OpenSSL. `depth` bounds
//! the recursion on hostile input.

use std::borrow::Cow;

/// `1.2.840.113549.1.7.2` signedData, content octets of the OID.
pub(crate) const OID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
/// `1.2.840.113549.1.7.3` envelopedData.
pub(crate) const OID_ENVELOPED_DATA: &[u8] =
    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03];
/// `1.2.840.113549.1.9.16.1.23` authEnvelopedData (RFC 5083).
pub(crate) const OID_AUTH_ENVELOPED_DATA: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x17,
];

/// One element.
pub(crate) struct Tlv<'a> {
    pub tag: u8,
    /// The whole encoding.
    pub whole: &'a [u8],
    /// The contents (without an end-of-contents marker).
    pub contents: &'a [u8],
}

const MAX_DEPTH: usize = 64;

/// The first element of `data` and what follows it.
pub(crate) fn read(data: &[u8], depth: usize) -> Option<(Tlv<'_>, &[u8])> {
    if depth > MAX_DEPTH {
        return None;
    }
    let tag = *data.first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let first = *data.get(1)?;
    if first == 0x80 {
        // Indefinite: constructed only, up to the end-of-contents octets.
        if tag & 0x20 == 0 {
            return None;
        }
        let body = data.get(2..)?;
        let mut rest = body;
        while !rest.starts_with(&[0, 0]) {
            rest = read(rest, depth + 1)?.1;
        }
        let len = body.len() - rest.len();
        let whole = &data[..2 + len + 2];
        return Some((
            Tlv {
                tag,
                whole,
                contents: &body[..len],
            },
            &rest[2..],
        ));
    }
    let (len, header) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let n = (first & 0x7f) as usize;
        if n > 4 {
            return None;
        }
        let len = data
            .get(2..2 + n)?
            .iter()
            .fold(0usize, |l, &b| (l << 8) | b as usize);
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    Some((
        Tlv {
            tag,
            whole: data.get(..end)?,
            contents: data.get(header..end)?,
        },
        data.get(end..)?,
    ))
}

/// The elements of a constructed value's contents, all or none.
pub(crate) fn children(mut contents: &[u8], depth: usize) -> Option<Vec<Tlv<'_>>> {
    let mut out = Vec::new();
    while !contents.is_empty() {
        let (t, rest) = read(contents, depth)?;
        out.push(t);
        contents = rest;
    }
    Some(out)
}

/// An OCTET STRING's bytes, also when BER sends it in pieces. The pieces
/// are gathered into one buffer in one walk (each byte copied once,
/// however the pieces nest), and constructed pieces nest at most
/// [`MAX_STRING_NEST`] levels deep, as OpenSSL allows: a deeper nest would
/// make each level walk the whole string again.
pub(crate) fn octets<'a>(t: &Tlv<'a>, depth: usize) -> Option<Cow<'a, [u8]>> {
    match t.tag {
        0x04 => Some(Cow::Borrowed(t.contents)),
        0x24 => {
            let mut out = Vec::with_capacity(t.contents.len());
            gather(t.contents, depth + 1, 0, &mut out)?;
            Some(Cow::Owned(out))
        }
        _ => None,
    }
}

/// OpenSSL's `ASN1_MAX_STRING_NEST`: constructed OCTET STRINGs inside a
/// constructed OCTET STRING, at most this deep.
const MAX_STRING_NEST: usize = 5;

/// Appends the octets of the pieces in `contents` to `out`.
fn gather(mut contents: &[u8], depth: usize, nest: usize, out: &mut Vec<u8>) -> Option<()> {
    if nest > MAX_STRING_NEST || depth > MAX_DEPTH {
        return None;
    }
    while !contents.is_empty() {
        let (piece, rest) = read(contents, depth)?;
        match piece.tag {
            0x04 => out.extend_from_slice(piece.contents),
            0x24 => gather(piece.contents, depth + 1, nest + 1, out)?,
            _ => return None,
        }
        contents = rest;
    }
    Some(())
}

/// `tag`, a definite length, `contents`.
pub(crate) fn encode(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(contents.len() + 10);
    push_header(&mut out, tag, contents.len());
    out.extend_from_slice(contents);
    out
}

/// `tag` and the definite length `len`: what precedes contents of that
/// length, for contents written later (a stream).
pub(crate) fn header(tag: u8, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(10);
    push_header(&mut out, tag, len);
    out
}

fn push_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// `1.2.840.113549.1.7.1` id-data.
pub(crate) const OID_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
/// `1.2.840.113549.1.1.1` rsaEncryption.
const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// `AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters ANY OPTIONAL }`.
pub(crate) fn algorithm(oid: &[u8], parameters: Option<&[u8]>) -> Vec<u8> {
    constructed(0x30, &[&encode(0x06, oid), parameters.unwrap_or_default()])
}

/// `rsaEncryption` with NULL parameters: RSA PKCS#1 v1.5, for signatures
/// and key transport alike in CMS (RFC 3370 §3.2, §4.2.1).
pub(crate) fn rsa_encryption() -> Vec<u8> {
    algorithm(OID_RSA_ENCRYPTION, Some(&[0x05, 0x00]))
}

/// The concatenation of `parts`, each already encoded, under `tag`.
pub(crate) fn constructed(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    encode(tag, &parts.concat())
}

/// A DER `SET OF` (or an implicitly tagged one, by `tag`): the encoded
/// elements sorted as octet strings (X.690 §11.6).
pub(crate) fn set_of(tag: u8, mut elements: Vec<Vec<u8>>) -> Vec<u8> {
    elements.sort_unstable();
    encode(tag, &elements.concat())
}

/// A time as RFC 5280 §4.1.2.5 and RFC 5652 §11.3 want it: UTCTime for the
/// years 1950 to 2049, GeneralizedTime otherwise, in UTC to the second.
pub(crate) fn time(unix: i64) -> Vec<u8> {
    // 2031-01-26T14:38:35Z → 20310126143835Z
    let digits: Vec<u8> = crate::rfc3339(unix)
        .bytes()
        .filter(|b| !matches!(b, b'-' | b'T' | b':'))
        .collect();
    if (-631_152_000..2_524_608_000).contains(&unix) {
        encode(0x17, &digits[2..]) // 1950-01-01 up to 2049-12-31
    } else {
        encode(0x18, &digits)
    }
}

/// `IssuerAndSerialNumber` (RFC 5652 §10.2.4) of a DER certificate, from
/// the certificate's own bytes so that it matches them exactly.
pub(crate) fn issuer_and_serial(certificate: &[u8]) -> Option<Vec<u8>> {
    let (cert, _) = read(certificate, 0)?;
    let (tbs, _) = read(cert.contents, 1)?;
    let fields = children(tbs.contents, 2)?;
    // [0] version is optional; then serialNumber, signature, issuer.
    let at = usize::from(fields.first()?.tag == 0xa0);
    let serial = fields.get(at).filter(|t| t.tag == 0x02)?;
    let issuer = fields.get(at + 2).filter(|t| t.tag == 0x30)?;
    Some(constructed(0x30, &[issuer.whole, serial.whole]))
}

/// `ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT ANY }`:
/// the OID's content octets and the content's own encoding.
fn content_info(der: &[u8]) -> Option<(&[u8], Option<Tlv<'_>>)> {
    let (outer, _) = read(der, 0)?;
    if outer.tag != 0x30 {
        return None;
    }
    let parts = children(outer.contents, 1)?;
    let oid = parts.first().filter(|t| t.tag == 0x06)?;
    let content = parts
        .get(1)
        .filter(|t| t.tag == 0xa0)
        .and_then(|t| read(t.contents, 2))
        .map(|(t, _)| t);
    Some((oid.contents, content))
}

/// The content type OID of a CMS ContentInfo, read from its first bytes
/// without parsing the rest: also of a structure cut short after them.
pub(crate) fn content_type(der: &[u8]) -> Option<&[u8]> {
    if *der.first()? != 0x30 {
        return None;
    }
    let header = match *der.get(1)? {
        first if first <= 0x80 => 2,
        first => 2 + usize::from(first & 0x7f),
    };
    let (oid, _) = read(der.get(header..)?, 1)?;
    (oid.tag == 0x06).then_some(oid.contents)
}

/// A SignedData ContentInfo without its `certificates` field, and the
/// encoding of each certificate that field held. `None` when there is
/// nothing to take out or the structure is not as expected; the caller then
/// uses the input as is. Fields are copied as they came (BER included);
/// only the enclosing lengths are written anew.
pub(crate) fn take_certificates(der: &[u8]) -> Option<(Vec<u8>, Vec<&[u8]>)> {
    let (oid, content) = content_info(der)?;
    if oid != OID_SIGNED_DATA {
        return None;
    }
    let signed = content.filter(|t| t.tag == 0x30)?;
    // version, digestAlgorithms, encapContentInfo, [0] certificates, [1]
    // crls, signerInfos: certificates is a [0] IMPLICIT SET after the third.
    let fields = children(signed.contents, 3)?;
    let certs = fields.get(3).filter(|t| t.tag == 0xa0)?;
    let certs: Vec<&[u8]> = children(certs.contents, 4)?
        .into_iter()
        // Only plain certificates; other CertificateChoices stay with OpenSSL.
        .map(|t| (t.tag == 0x30).then_some(t.whole))
        .collect::<Option<_>>()?;
    let rest: Vec<u8> = fields
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != 3)
        .flat_map(|(_, f)| f.whole.iter().copied())
        .collect();
    let mut inner = encode(0x06, oid);
    inner.extend_from_slice(&encode(0xa0, &encode(0x30, &rest)));
    Some((encode(0x30, &inner), certs))
}

/// An EnvelopedData ContentInfo without its `encryptedContent`, and the
/// octets that field held, so that OpenSSL parses the small part and
/// decrypts the content where it lies instead of copying it into its own
/// structure. `None` when the structure is not as expected; the caller
/// then uses the input as is. Fields are copied as they came (BER
/// included); only the enclosing lengths are written anew.
pub(crate) fn take_encrypted_content(der: &[u8]) -> Option<(Vec<u8>, Cow<'_, [u8]>)> {
    let (oid, content) = content_info(der)?;
    if oid != OID_ENVELOPED_DATA {
        return None;
    }
    let enveloped = content.filter(|t| t.tag == 0x30)?;
    // version, [0] originatorInfo OPTIONAL, recipientInfos SET OF,
    // encryptedContentInfo, [1] unprotectedAttrs OPTIONAL.
    let fields = children(enveloped.contents, 3)?;
    let at = match fields.get(1)?.tag {
        0xa0 => 3,
        _ => 2,
    };
    if fields.get(at - 1)?.tag != 0x31 {
        return None;
    }
    let info = fields.get(at).filter(|t| t.tag == 0x30)?;
    // contentType, contentEncryptionAlgorithm, [0] IMPLICIT encryptedContent.
    let parts = children(info.contents, 4)?;
    let [kind, algorithm, encrypted] = parts.as_slice() else {
        return None;
    };
    let octets = match encrypted.tag {
        0x80 => Cow::Borrowed(encrypted.contents),
        // Constructed (BER): OCTET STRINGs in pieces.
        0xa0 => octets(
            &Tlv {
                tag: 0x24,
                whole: encrypted.whole,
                contents: encrypted.contents,
            },
            5,
        )?,
        _ => return None,
    };
    let info = constructed(0x30, &[kind.whole, algorithm.whole]);
    let rest: Vec<&[u8]> = fields
        .iter()
        .enumerate()
        .map(|(i, f)| if i == at { &info[..] } else { f.whole })
        .collect();
    let enveloped = constructed(0x30, &rest);
    let inner = constructed(0x30, &[&encode(0x06, oid), &encode(0xa0, &enveloped)]);
    Some((inner, octets))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn times_switch_from_utc_to_generalized_in_2050() {
        let text = |t| {
            let enc = time(t);
            (enc[0], String::from_utf8(enc[2..].to_vec()).unwrap())
        };
        assert_eq!(text(0), (0x17, "700101000000Z".into()));
        // 2000-02-29 (a leap day in a century year) 12:34:56.
        assert_eq!(text(951_827_696), (0x17, "000229123456Z".into()));
        assert_eq!(text(2_524_607_999), (0x17, "491231235959Z".into()));
        assert_eq!(text(2_524_608_000), (0x18, "20500101000000Z".into()));
        assert_eq!(text(-631_152_001), (0x18, "19491231235959Z".into()));
        // Against OpenSSL for a spread of times.
        for t in (0..4_000_000_000i64).step_by(86_399_999) {
            let ours = String::from_utf8(time(t)[2..].to_vec()).unwrap();
            let theirs = openssl::asn1::Asn1Time::from_unix(t as _)
                .unwrap()
                .to_string();
            let parsed = openssl::asn1::Asn1Time::from_str_x509(&ours).unwrap();
            assert_eq!(parsed.to_string(), theirs, "{t}");
        }
    }

    /// The content octets of the OID written as `text`, by OpenSSL.
    pub(crate) fn oid(text: &str) -> Vec<u8> {
        openssl::asn1::Asn1Object::from_str(text)
            .unwrap()
            .as_slice()
            .to_vec()
    }

    #[test]
    fn object_identifiers_are_the_named_ones() {
        assert_eq!(OID_DATA, oid("1.2.840.113549.1.7.1"));
        assert_eq!(OID_SIGNED_DATA, oid("1.2.840.113549.1.7.2"));
        assert_eq!(OID_ENVELOPED_DATA, oid("1.2.840.113549.1.7.3"));
        assert_eq!(OID_AUTH_ENVELOPED_DATA, oid("1.2.840.113549.1.9.16.1.23"));
        assert_eq!(OID_RSA_ENCRYPTION, oid("1.2.840.113549.1.1.1"));
    }

    #[test]
    fn sets_are_sorted() {
        let set = set_of(0x31, vec![vec![2, 1, 9], vec![2, 1, 3], vec![1, 1, 0]]);
        assert_eq!(set, [0x31, 9, 1, 1, 0, 2, 1, 3, 2, 1, 9]);
    }

    #[test]
    fn lengths_round_trip_in_every_form() {
        for len in [0usize, 1, 127, 128, 255, 256, 65_535, 65_536, 1 << 20] {
            let contents = vec![7u8; len];
            let enc = encode(0x04, &contents);
            let (t, rest) = read(&enc, 0).unwrap();
            assert!(rest.is_empty());
            assert_eq!(
                (t.tag, t.contents.len(), t.whole.len()),
                (0x04, len, enc.len())
            );
        }
    }

    #[test]
    fn indefinite_lengths_are_read_and_truncated_input_is_refused() {
        let (t, rest) = read(&[0x30, 0x80, 0x04, 0x01, 7, 0, 0, 9], 0).unwrap();
        assert_eq!(
            (t.tag, t.contents, t.whole.len(), rest),
            (0x30, &[4u8, 1, 7][..], 7, &[9u8][..])
        );
        assert!(
            read(&[0x04, 0x80, 0, 0], 0).is_none(),
            "primitive indefinite"
        );
        assert!(
            read(&[0x30, 0x80, 0x04, 0x01], 0).is_none(),
            "no end-of-contents"
        );
        assert!(read(&[0x30, 0x05, 1, 2], 0).is_none());
        assert!(read(&[0x30, 0x82, 0x01], 0).is_none());
        assert!(take_certificates(&[0x30, 0x80, 0x06, 0x00, 0, 0]).is_none());
        assert!(content_type(&[]).is_none());
    }

    /// `inner` wrapped in `levels` constructed OCTET STRINGs, of definite
    /// or indefinite length.
    fn nest(inner: Vec<u8>, levels: usize, definite: bool) -> Vec<u8> {
        (0..levels).fold(inner, |acc, _| {
            if definite {
                encode(0x24, &acc)
            } else {
                [&[0x24, 0x80][..], &acc, &[0, 0]].concat()
            }
        })
    }

    #[test]
    fn octets_in_pieces_are_gathered_and_their_nesting_is_bounded() {
        let pieces = [encode(0x04, b"ab"), encode(0x04, b""), encode(0x04, b"c")].concat();
        for definite in [true, false] {
            // The outer string and up to five constructed levels inside it,
            // as OpenSSL takes them.
            for levels in 1..=6 {
                let der = nest(pieces.clone(), levels, definite);
                let (t, rest) = read(&der, 0).unwrap();
                assert!(rest.is_empty());
                assert_eq!(octets(&t, 0).as_deref(), Some(&b"abc"[..]), "{levels}");
            }
            // Mixed: a piece, a nested string, a piece.
            let mixed = [
                encode(0x04, b"1"),
                nest(encode(0x04, b"2"), 2, definite),
                encode(0x04, b"3"),
            ]
            .concat();
            let der = nest(mixed, 1, definite);
            let (t, _) = read(&der, 0).unwrap();
            assert_eq!(octets(&t, 0).as_deref(), Some(&b"123"[..]));
            // Deeper than OpenSSL allows, a piece of another type, a piece
            // that claims more than there is: refused.
            let deep = nest(pieces.clone(), 7, definite);
            let (t, _) = read(&deep, 0).unwrap();
            assert!(octets(&t, 0).is_none());
            let integer = nest(encode(0x02, b"\x01"), 1, definite);
            let (t, _) = read(&integer, 0).unwrap();
            assert!(octets(&t, 0).is_none());
        }
        let (t, _) = read(&[0x24, 0x06, 0x04, 0x84, 0xff, 0xff, 0xff, 0xf0], 0).unwrap();
        assert!(octets(&t, 0).is_none(), "a piece longer than the input");
        assert!(read(&[0x04, 0x88, 1, 0, 0, 0, 0, 0, 0, 0], 0).is_none());
        // A hostile depth of indefinite strings is refused, not recursed into.
        let deep = nest(Vec::new(), 10_000, false);
        assert!(read(&deep, 0).is_none());
    }

    fn pki(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/../../tests/data/pki/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn certificates_come_out_and_the_signature_still_verifies() {
        use openssl::cms::{CMSOptions, CmsContentInfo};
        use openssl::pkey::PKey;
        use openssl::stack::Stack;
        use openssl::x509::X509;
        let signer = X509::from_pem(&pki("alice.pem")).unwrap();
        let key = PKey::private_key_from_pem(&pki("alice.key.pem")).unwrap();
        let mut chain = Stack::new().unwrap();
        chain
            .push(X509::from_pem(&pki("intermediate.pem")).unwrap())
            .unwrap();
        let flags = CMSOptions::BINARY;
        let cms = CmsContentInfo::sign(Some(&signer), Some(&key), Some(&chain), Some(b"hi"), flags)
            .unwrap();
        let der = cms.to_der().unwrap();
        assert_eq!(content_type(&der), Some(OID_SIGNED_DATA));

        let (stripped, certs) = take_certificates(&der).unwrap();
        assert_eq!(certs.len(), 2);
        assert!(stripped.len() < der.len());
        let parsed: Vec<X509> = certs.iter().map(|d| X509::from_der(d).unwrap()).collect();
        assert!(
            parsed
                .iter()
                .any(|x| x.to_der().unwrap() == signer.to_der().unwrap())
        );

        let mut bare = CmsContentInfo::from_der(&stripped).unwrap();
        assert!(crate::ffi::certificates(&bare).is_empty());
        let mut out = Vec::new();
        let none = CMSOptions::BINARY | CMSOptions::NOVERIFY;
        assert!(bare.verify(None, None, None, Some(&mut out), none).is_err());
        let mut given = Stack::new().unwrap();
        for x in parsed {
            given.push(x).unwrap();
        }
        bare.verify(Some(&given), None, None, Some(&mut out), none)
            .unwrap();
        assert_eq!(out, b"hi");

        // A structure with nothing to take out is left alone.
        let no_certs = CmsContentInfo::sign(
            Some(&signer),
            Some(&key),
            None,
            Some(b"hi"),
            flags | CMSOptions::CMS_NOCERTS,
        )
        .unwrap();
        assert!(take_certificates(&no_certs.to_der().unwrap()).is_none());
    }
}
