//! What a CMS structure holds, read from its BER before OpenSSL parses it:
//! every repeated element is counted against the policy's [`CmsLimits`],
//! and each signer's algorithms are read, so that a hostile structure is
//! refused by name before OpenSSL works through it (see `policy`).
//!
//! A structure this reader cannot follow is malformed: OpenSSL reads only
//! BER too, and every real mailer writes definite or indefinite lengths.

use std::borrow::Cow;

use crate::der::{self, Tlv};
use crate::policy::CmsLimits;

/// A SignedData as counted.
pub(crate) struct Signed<'a> {
    /// Each signer's digest and signature algorithm (OID content octets).
    pub signers: Vec<SignerAlgorithms<'a>>,
    /// The encapsulated content, when the signature carries it (opaque).
    pub content: Option<Cow<'a, [u8]>>,
}

/// The algorithms one SignerInfo names.
pub(crate) struct SignerAlgorithms<'a> {
    /// `digestAlgorithm`.
    pub digest: &'a [u8],
    /// `signatureAlgorithm`.
    pub signature: &'a [u8],
}

type Shape<T> = Result<T, String>;

fn unreadable(what: &str) -> String {
    format!("{what} cannot be read as BER")
}

fn too_many(field: &str, what: &str, n: usize, max: usize) -> String {
    format!("it lists {n} {what} ({field}); smimed accepts at most {max}")
}

/// Counts the elements in `contents` without keeping them.
fn count(contents: &[u8], depth: usize, what: &str) -> Shape<usize> {
    let mut n = 0;
    let mut rest = contents;
    while !rest.is_empty() {
        rest = der::read(rest, depth).ok_or_else(|| unreadable(what))?.1;
        n += 1;
    }
    Ok(n)
}

/// The elements of a structure that has at most `max` of them.
fn fields<'a>(contents: &'a [u8], depth: usize, max: usize, what: &str) -> Shape<Vec<Tlv<'a>>> {
    let mut out = Vec::new();
    let mut rest = contents;
    while !rest.is_empty() {
        if out.len() == max {
            return Err(format!("{what} has more fields than it may"));
        }
        let (t, next) = der::read(rest, depth).ok_or_else(|| unreadable(what))?;
        out.push(t);
        rest = next;
    }
    Ok(out)
}

/// `ContentInfo ::= SEQUENCE { contentType, [0] EXPLICIT content }`: the
/// content's own element.
fn content<'a>(der: &'a [u8], what: &str) -> Shape<Tlv<'a>> {
    let (info, _) = der::read(der, 0).ok_or_else(|| unreadable(what))?;
    let parts = fields(info.contents, 1, 2, what)?;
    let explicit = parts
        .get(1)
        .filter(|t| t.tag == 0xa0)
        .ok_or_else(|| format!("{what} has no content"))?;
    let (inner, _) = der::read(explicit.contents, 2).ok_or_else(|| unreadable(what))?;
    if inner.tag != 0x30 {
        return Err(format!("{what} is not a SEQUENCE"));
    }
    Ok(inner)
}

fn check(field: &str, what: &str, n: usize, max: usize) -> Shape<()> {
    if n > max {
        return Err(too_many(field, what, n, max));
    }
    Ok(())
}

/// Counts a SignedData (RFC 5652 §5.1) and reads its signers' algorithms.
pub(crate) fn signed<'a>(der: &'a [u8], limits: &CmsLimits) -> Shape<Signed<'a>> {
    let what = "the signature";
    let signed = content(der, what)?;
    // version, digestAlgorithms, encapContentInfo, [0] certificates, [1]
    // crls, signerInfos.
    let f = fields(signed.contents, 3, 6, what)?;
    if f.len() < 4 || f[0].tag != 0x02 || f[1].tag != 0x31 || f[2].tag != 0x30 {
        return Err(format!("{what} is not a SignedData"));
    }
    let digests = count(f[1].contents, 4, what)?;
    check(
        "digestAlgorithms",
        "digest algorithms",
        digests,
        limits.digest_algorithms,
    )?;
    let mut signer_infos = None;
    for t in &f[3..] {
        match t.tag {
            0xa0 => check(
                "certificates",
                "certificates",
                count(t.contents, 4, what)?,
                limits.certificates,
            )?,
            0xa1 => check("crls", "CRLs", count(t.contents, 4, what)?, limits.crls)?,
            0x31 => signer_infos = Some(t),
            _ => return Err(format!("{what} has an unexpected field")),
        }
    }
    let infos = signer_infos.ok_or_else(|| format!("{what} has no signerInfos"))?;
    check(
        "signerInfos",
        "signers",
        count(infos.contents, 4, what)?,
        limits.signers,
    )?;
    let mut signers = Vec::new();
    let mut rest = infos.contents;
    while !rest.is_empty() {
        let (info, next) = der::read(rest, 4).ok_or_else(|| unreadable(what))?;
        signers.push(signer(&info, limits)?);
        rest = next;
    }
    Ok(Signed {
        signers,
        content: encapsulated(&f[2])?,
    })
}

/// `SignerInfo ::= SEQUENCE { version, sid, digestAlgorithm, [0]
/// signedAttrs OPTIONAL, signatureAlgorithm, signature, [1] unsignedAttrs
/// OPTIONAL }`.
fn signer<'a>(info: &Tlv<'a>, limits: &CmsLimits) -> Shape<SignerAlgorithms<'a>> {
    let what = "a signerInfo of the signature";
    let f = fields(info.contents, 5, 7, what)?;
    let algorithm = |t: Option<&Tlv<'a>>| -> Shape<&'a [u8]> {
        let t = t
            .filter(|t| t.tag == 0x30)
            .ok_or_else(|| unreadable(what))?;
        let (oid, _) = der::read(t.contents, 6).ok_or_else(|| unreadable(what))?;
        if oid.tag != 0x06 {
            return Err(unreadable(what));
        }
        Ok(oid.contents)
    };
    let digest = algorithm(f.get(2))?;
    let mut at = 3;
    for (tag, field) in [(0xa0, "signedAttrs"), (0xa1, "unsignedAttrs")] {
        for t in f.iter().filter(|t| t.tag == tag) {
            check(
                field,
                "attributes",
                count(t.contents, 6, what)?,
                limits.attributes,
            )?;
        }
    }
    if f.get(at).is_some_and(|t| t.tag == 0xa0) {
        at += 1;
    }
    let signature = algorithm(f.get(at))?;
    Ok(SignerAlgorithms { digest, signature })
}

/// `EncapsulatedContentInfo ::= SEQUENCE { eContentType, [0] EXPLICIT
/// eContent OCTET STRING OPTIONAL }`: the content, in one piece.
fn encapsulated<'a>(t: &Tlv<'a>) -> Shape<Option<Cow<'a, [u8]>>> {
    let what = "the signed content";
    let f = fields(t.contents, 4, 2, what)?;
    let Some(explicit) = f.get(1) else {
        return Ok(None);
    };
    if explicit.tag != 0xa0 {
        return Err(unreadable(what));
    }
    let (octets, _) = der::read(explicit.contents, 5).ok_or_else(|| unreadable(what))?;
    der::octets(&octets, 5)
        .map(Some)
        .ok_or_else(|| unreadable(what))
}

/// Counts an EnvelopedData (RFC 5652 §6.1) or AuthEnvelopedData (RFC 5083):
/// the OriginatorInfo's certificates and CRLs, and the recipients, each
/// recipient of a key agreement counted.
pub(crate) fn enveloped(der: &[u8], limits: &CmsLimits) -> Shape<()> {
    let what = "the encrypted part";
    let env = content(der, what)?;
    // version, [0] originatorInfo, recipientInfos, (auth)encryptedContentInfo,
    // then attributes and a MAC.
    let f = fields(env.contents, 3, 7, what)?;
    let mut at = 1;
    if let Some(originator) = f.get(1).filter(|t| t.tag == 0xa0) {
        for t in fields(originator.contents, 4, 2, what)? {
            match t.tag {
                0xa0 => check(
                    "originatorInfo certs",
                    "certificates",
                    count(t.contents, 5, what)?,
                    limits.certificates,
                )?,
                0xa1 => check(
                    "originatorInfo crls",
                    "CRLs",
                    count(t.contents, 5, what)?,
                    limits.crls,
                )?,
                _ => return Err(unreadable(what)),
            }
        }
        at = 2;
    }
    let infos = f
        .get(at)
        .filter(|t| t.tag == 0x31)
        .ok_or_else(|| format!("{what} has no recipientInfos"))?;
    let n = count(infos.contents, 4, what)?;
    check("recipientInfos", "recipients", n, limits.recipients)?;
    let mut recipients = 0;
    let mut rest = infos.contents;
    while !rest.is_empty() {
        let (info, next) = der::read(rest, 4).ok_or_else(|| unreadable(what))?;
        recipients += if info.tag == 0xa1 {
            // KeyAgreeRecipientInfo: version, [0] originator, [1] ukm
            // OPTIONAL, keyEncryptionAlgorithm, recipientEncryptedKeys.
            let kari = fields(info.contents, 5, 5, what)?;
            let keys = kari.last().filter(|t| t.tag == 0x30);
            let keys = keys.ok_or_else(|| unreadable(what))?;
            count(keys.contents, 6, what)?
        } else {
            1
        };
        rest = next;
    }
    check(
        "recipientInfos",
        "recipients",
        recipients,
        limits.recipients,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid(text: &str) -> Vec<u8> {
        crate::der::tests::oid(text)
    }

    /// SEQUENCE { OID signedData, [0] { SEQUENCE { fields } } }
    fn signed_data(fields: &[Vec<u8>]) -> Vec<u8> {
        let inner = der::encode(0x30, &fields.concat());
        der::constructed(
            0x30,
            &[
                &der::encode(0x06, der::OID_SIGNED_DATA),
                &der::encode(0xa0, &inner),
            ],
        )
    }

    fn alg(text: &str) -> Vec<u8> {
        der::algorithm(&oid(text), None)
    }

    fn signer_info(digest: &str, attributes: usize) -> Vec<u8> {
        let attr = der::encode(
            0x30,
            &[der::encode(0x06, &oid("1.2.3")), der::encode(0x31, &[])].concat(),
        );
        der::encode(
            0x30,
            &[
                vec![2, 1, 1],
                der::encode(0x30, &[]),
                alg(digest),
                der::encode(0xa0, &attr.repeat(attributes)),
                alg("1.2.840.113549.1.1.1"),
                der::encode(0x04, &[1, 2, 3]),
            ]
            .concat(),
        )
    }

    fn message(digests: usize, certs: usize, signers: usize, attributes: usize) -> Vec<u8> {
        let sha256 = alg("2.16.840.1.101.3.4.2.1");
        let encap = der::encode(
            0x30,
            &[
                der::encode(0x06, der::OID_DATA),
                der::encode(0xa0, &der::encode(0x04, b"hello")),
            ]
            .concat(),
        );
        signed_data(&[
            vec![2, 1, 1],
            der::encode(0x31, &sha256.repeat(digests)),
            encap,
            der::encode(0xa0, &der::encode(0x30, &[]).repeat(certs)),
            der::encode(
                0x31,
                &signer_info("2.16.840.1.101.3.4.2.1", attributes).repeat(signers),
            ),
        ])
    }

    #[test]
    fn each_bound_is_named_when_passed() {
        let limits = CmsLimits::default();
        let ok = message(16, 64, 16, 64);
        let shape = signed(&ok, &limits).unwrap();
        assert_eq!(shape.signers.len(), 16);
        assert_eq!(shape.signers[0].digest, oid("2.16.840.1.101.3.4.2.1"));
        assert_eq!(shape.signers[0].signature, oid("1.2.840.113549.1.1.1"));
        assert_eq!(shape.content.as_deref(), Some(&b"hello"[..]));
        for (input, field) in [
            (message(17, 1, 1, 1), "digestAlgorithms"),
            (message(15_000, 1, 1, 1), "digestAlgorithms"),
            (message(1, 65, 1, 1), "certificates"),
            (message(1, 1, 17, 1), "signerInfos"),
            (message(1, 1, 1, 65), "signedAttrs"),
        ] {
            let err = signed(&input, &limits).err().unwrap();
            assert!(err.contains(field), "{field}: {err}");
        }
    }

    #[test]
    fn truncated_or_odd_structures_are_refused() {
        let ok = message(1, 1, 1, 1);
        for cut in [1, 10, ok.len() / 2, ok.len() - 1] {
            assert!(signed(&ok[..cut], &CmsLimits::default()).is_err(), "{cut}");
        }
        assert!(signed(&[0x30, 0x00], &CmsLimits::default()).is_err());
        assert!(enveloped(&ok[..ok.len() / 2], &CmsLimits::default()).is_err());
    }

    #[test]
    fn recipients_of_key_agreements_count_one_by_one() {
        let ktri = der::encode(0x30, &[2, 1, 0]);
        let rek = der::encode(0x30, &[]);
        let kari = |n: usize| {
            der::encode(
                0xa1,
                &[
                    vec![2, 1, 3],
                    der::encode(0xa0, &[]),
                    alg("1.3.133.16.840.63.0.2"),
                    der::encode(0x30, &rek.repeat(n)),
                ]
                .concat(),
            )
        };
        let env = |infos: Vec<u8>| {
            let inner = der::encode(
                0x30,
                &[
                    vec![2, 1, 2],
                    der::encode(0x31, &infos),
                    der::encode(0x30, &[]),
                ]
                .concat(),
            );
            der::constructed(
                0x30,
                &[
                    &der::encode(0x06, der::OID_ENVELOPED_DATA),
                    &der::encode(0xa0, &inner),
                ],
            )
        };
        let limits = CmsLimits::default();
        assert!(enveloped(&env(ktri.repeat(1000)), &limits).is_ok());
        let err = enveloped(&env(ktri.repeat(20_000)), &limits).unwrap_err();
        assert!(
            err.contains("recipientInfos") && err.contains("20000"),
            "{err}"
        );
        assert!(enveloped(&env(kari(999)), &limits).is_ok());
        let err = enveloped(&env([kari(999), ktri.clone(), ktri].concat()), &limits).unwrap_err();
        assert!(err.contains("1001"), "{err}");
    }
}
