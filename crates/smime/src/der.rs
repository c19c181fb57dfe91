//! Just enough DER to look into a CMS ContentInfo before OpenSSL parses it.
//!
//! Why: OpenSSL 3.0 decodes every certificate a signature carries through
//! its provider decoders, about 110–125 µs each, which is more than the
//! signature check itself. Taking the certificates out of a SignedData
//! (they are not covered by the signature) lets [`crate::verify`] reuse
//! certificates it has parsed before. Anything that is not plain DER with
//! definite lengths (BER from some mailers) is left to OpenSSL as it is.

/// `1.2.840.113549.1.7.2` signedData, content octets of the OID.
pub(crate) const OID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
/// `1.2.840.113549.1.7.3` envelopedData.
pub(crate) const OID_ENVELOPED_DATA: &[u8] =
    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03];
/// `1.2.840.113549.1.9.16.1.23` authEnvelopedData (RFC 5083).
pub(crate) const OID_AUTH_ENVELOPED_DATA: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x17,
];

/// One element: its tag, its whole encoding, and its contents.
struct Tlv<'a> {
    tag: u8,
    whole: &'a [u8],
    contents: &'a [u8],
}

/// The first element of `data` (single-byte tags, definite lengths only).
fn tlv(data: &[u8]) -> Option<Tlv<'_>> {
    let tag = *data.first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let first = *data.get(1)?;
    let (len, header) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 {
            return None; // indefinite (BER) or absurd
        }
        let mut len = 0usize;
        for &b in data.get(2..2 + n)? {
            len = (len << 8) | b as usize;
        }
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    Some(Tlv {
        tag,
        whole: data.get(..end)?,
        contents: data.get(header..end)?,
    })
}

/// The elements of a constructed value's contents, all of them or none.
fn elements(mut data: &[u8]) -> Option<Vec<Tlv<'_>>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let t = tlv(data)?;
        data = &data[t.whole.len()..];
        out.push(t);
    }
    Some(out)
}

fn encode(tag: u8, contents: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(contents);
}

/// `ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT ANY }`:
/// the OID's content octets and the content's own encoding.
fn content_info(der: &[u8]) -> Option<(&[u8], Option<Tlv<'_>>)> {
    let outer = tlv(der)?;
    if outer.tag != 0x30 {
        return None;
    }
    let parts = elements(outer.contents)?;
    let oid = parts.first().filter(|t| t.tag == 0x06)?;
    let content = parts
        .get(1)
        .filter(|t| t.tag == 0xa0)
        .and_then(|t| tlv(t.contents));
    Some((oid.contents, content))
}

/// The content type OID of a CMS ContentInfo, without parsing the rest.
pub(crate) fn content_type(der: &[u8]) -> Option<&[u8]> {
    content_info(der).map(|(oid, _)| oid)
}

/// A SignedData ContentInfo without its `certificates` field, and the DER of
/// each certificate that field held. `None` when there is nothing to take
/// out or the input is not plain DER; the caller then uses the input as is.
pub(crate) fn take_certificates(der: &[u8]) -> Option<(Vec<u8>, Vec<&[u8]>)> {
    let (oid, content) = content_info(der)?;
    if oid != OID_SIGNED_DATA {
        return None;
    }
    let signed = content.filter(|t| t.tag == 0x30)?;
    // version, digestAlgorithms, encapContentInfo, [0] certificates, [1]
    // crls, signerInfos: certificates is a [0] IMPLICIT SET after the third.
    let fields = elements(signed.contents)?;
    let certs = fields.get(3).filter(|t| t.tag == 0xa0)?;
    let certs: Vec<&[u8]> = elements(certs.contents)?
        .into_iter()
        // Only plain certificates; other CertificateChoices stay with OpenSSL.
        .map(|t| (t.tag == 0x30).then_some(t.whole))
        .collect::<Option<_>>()?;
    let mut rest = Vec::with_capacity(signed.contents.len());
    for (i, f) in fields.iter().enumerate() {
        if i != 3 {
            rest.extend_from_slice(f.whole);
        }
    }
    let mut signed_data = Vec::with_capacity(rest.len() + 8);
    encode(0x30, &rest, &mut signed_data);
    let mut explicit = Vec::with_capacity(signed_data.len() + 8);
    encode(0xa0, &signed_data, &mut explicit);
    let mut inner = Vec::with_capacity(explicit.len() + 16);
    encode(0x06, oid, &mut inner);
    inner.extend_from_slice(&explicit);
    let mut out = Vec::with_capacity(inner.len() + 8);
    encode(0x30, &inner, &mut out);
    Some((out, certs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_round_trip_in_every_form() {
        for len in [0usize, 1, 127, 128, 255, 256, 65_535, 65_536, 1 << 20] {
            let contents = vec![7u8; len];
            let mut enc = Vec::new();
            encode(0x04, &contents, &mut enc);
            let t = tlv(&enc).unwrap();
            assert_eq!(
                (t.tag, t.contents.len(), t.whole.len()),
                (0x04, len, enc.len())
            );
        }
    }

    #[test]
    fn ber_and_truncated_input_are_left_alone() {
        assert!(tlv(&[0x30, 0x80, 0, 0]).is_none());
        assert!(tlv(&[0x30, 0x05, 1, 2]).is_none());
        assert!(tlv(&[0x30, 0x82, 0x01]).is_none());
        assert!(take_certificates(&[0x30, 0x80, 0x06, 0x00, 0, 0]).is_none());
        assert!(content_type(&[]).is_none());
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
