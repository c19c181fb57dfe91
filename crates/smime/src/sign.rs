//! Signing: a detached CMS signature over the canonical entity, wrapped as
//! `multipart/signed` (RFC 8551 §3.5.3), what every mail client reads.
//!
//! The SignedData is written here, in DER, around one OpenSSL signature
//! (`EVP_DigestSign`). Its shape is fixed: one signer named by issuer and
//! serial number, the four signed attributes of RFC 8551 §2.5, the signer's
//! certificate and chain. OpenSSL's CMS encoder builds the same bytes
//! through its ASN.1 templates at about 25 µs a message, a tenth of the
//! RSA-2048 signature; this costs about 2 µs. Reading CMS stays with
//! OpenSSL, and the interoperability tests check that `openssl cms`, gpgsm
//! and Thunderbird's NSS read what is written here.

use openssl::hash::{Hasher, MessageDigest};
use openssl::nid::Nid;
use openssl::pkey::Id;

use crate::der::{self, OID_DATA, algorithm, constructed, encode};
use crate::{Certificate, Error, PrivateKey, Result, mime};

/// Who signs: the certificate, its key, and the chain to send along.
pub struct Signer<'a> {
    /// The signer's certificate.
    pub certificate: &'a Certificate,
    /// Its private key.
    pub key: &'a PrivateKey,
    /// Intermediate and root certificates, nearest first.
    pub chain: &'a [Certificate],
}

/// SHA-256, SHA-384 or SHA-512.
#[derive(Clone, Copy)]
enum Digest {
    Sha256,
    Sha384,
    Sha512,
}

impl Digest {
    /// The digest for a key, never below SHA-256 and rising with its
    /// strength: P-384 and RSA > 3072 use SHA-384, P-521 and RSA > 7680
    /// SHA-512.
    fn for_key(key: &PrivateKey) -> Digest {
        let pkey = key.pkey();
        match pkey.id() {
            Id::EC => match pkey.ec_key().ok().and_then(|ec| ec.group().curve_name()) {
                Some(Nid::SECP384R1) => Digest::Sha384,
                Some(Nid::SECP521R1) => Digest::Sha512,
                _ => Digest::Sha256,
            },
            _ => match pkey.bits() {
                0..=3072 => Digest::Sha256,
                3073..=7680 => Digest::Sha384,
                _ => Digest::Sha512,
            },
        }
    }

    fn md(self) -> MessageDigest {
        match self {
            Digest::Sha256 => MessageDigest::sha256(),
            Digest::Sha384 => MessageDigest::sha384(),
            Digest::Sha512 => MessageDigest::sha512(),
        }
    }

    fn micalg(self) -> &'static str {
        match self {
            Digest::Sha256 => "sha-256",
            Digest::Sha384 => "sha-384",
            Digest::Sha512 => "sha-512",
        }
    }

    /// `AlgorithmIdentifier` of the digest, parameters absent (RFC 5754 §2).
    fn algorithm(self) -> Vec<u8> {
        let last = match self {
            Digest::Sha256 => 1,
            Digest::Sha384 => 2,
            Digest::Sha512 => 3,
        };
        algorithm(
            &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, last],
            None,
        )
    }

    /// `ecdsa-with-SHA256/384/512` (RFC 5758 §3.2), parameters absent.
    fn ecdsa(self) -> Vec<u8> {
        let last = match self {
            Digest::Sha256 => 2,
            Digest::Sha384 => 3,
            Digest::Sha512 => 4,
        };
        algorithm(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, last], None)
    }
}

/// `1.2.840.113549.1.9.{3,4,5,15}`: contentType, messageDigest,
/// signingTime, SMIMECapabilities; the last octet differs.
const OID_PKCS9: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0];

/// The SMIMECapabilities we announce (RFC 8551 §2.5.2), most preferred
/// first: AES-256-GCM, AES-128-GCM, AES-256-CBC, AES-192-CBC, AES-128-CBC,
/// all of which smimed reads. Unlike OpenSSL's standard list it names no
/// DES, 3DES or RC2, so no correspondent is invited to encrypt to us weakly.
const SMIME_CAPABILITIES: [u8; 67] = {
    const AES: [u8; 11] = [6, 9, 0x60, 0x86, 0x48, 1, 0x65, 3, 4, 1, 0];
    const MODES: [u8; 5] = [46, 6, 42, 22, 2];
    let mut der = [0u8; 67];
    der[0] = 0x30;
    der[1] = 65;
    let mut i = 0;
    while i < MODES.len() {
        let at = 2 + i * 13;
        der[at] = 0x30;
        der[at + 1] = 11;
        let mut j = 0;
        while j < AES.len() {
            der[at + 2 + j] = AES[j];
            j += 1;
        }
        der[at + 12] = MODES[i];
        i += 1;
    }
    der
};

/// The digest of the concatenation of `pieces`.
fn hash(md: MessageDigest, pieces: &[&[u8]]) -> Result<openssl::hash::DigestBytes> {
    let mut hasher = Hasher::new(md)?;
    for piece in pieces {
        hasher.update(piece)?;
    }
    Ok(hasher.finish()?)
}

/// `Attribute ::= SEQUENCE { attrType OID, attrValues SET OF value }` with
/// one value, for the PKCS #9 attribute numbered `arc`.
fn attribute(arc: u8, value: &[u8]) -> Vec<u8> {
    let mut oid = OID_PKCS9;
    oid[8] = arc;
    constructed(0x30, &[&encode(0x06, &oid), &encode(0x31, value)])
}

/// Signs a canonical entity (from [`mime::split_message`]) and returns the
/// `multipart/signed` entity, headers included, ready to send or encrypt.
pub fn sign(entity: &[u8], signer: &Signer<'_>) -> Result<Vec<u8>> {
    let (head, tail) = sign_around(&[entity], signer)?;
    let mut out = Vec::with_capacity(head.len() + entity.len() + tail.len());
    out.extend_from_slice(&head);
    out.extend_from_slice(entity);
    out.extend_from_slice(&tail);
    Ok(out)
}

/// [`sign`] of the entity made of `pieces`, without copying it: what goes
/// before it and what goes after it in the `multipart/signed` entity.
pub(crate) fn sign_around(pieces: &[&[u8]], signer: &Signer<'_>) -> Result<(Vec<u8>, Vec<u8>)> {
    let digest = Digest::for_key(signer.key);
    let cms = signed_data(pieces, signer, digest, crate::now())?;
    Ok(mime::multipart_signed_around(&cms, digest.micalg()))
}

/// The DER `ContentInfo` of a detached SignedData over the concatenation
/// of `content` (RFC 5652 §5), signed at `now`.
fn signed_data(
    content: &[&[u8]],
    signer: &Signer<'_>,
    digest: Digest,
    now: i64,
) -> Result<Vec<u8>> {
    let key = signer.key.pkey();
    let cert = signer.certificate;
    if !cert.public_key()?.public_eq(key) {
        return Err(Error::UnsupportedKey(format!(
            "the private key does not belong to the certificate {}",
            cert.fingerprint()
        )));
    }
    let signature_algorithm = match key.id() {
        // rsaEncryption for PKCS#1 v1.5 signatures (RFC 3370 §3.2), as
        // OpenSSL and NSS write it.
        Id::RSA => der::rsa_encryption(),
        Id::EC => digest.ecdsa(),
        _ => {
            return Err(Error::UnsupportedKey(
                "only RSA and EC keys can sign S/MIME messages".into(),
            ));
        }
    };
    let malformed = || Error::Malformed {
        item: "the signer certificate".into(),
        reason: "its issuer or serial number cannot be read".into(),
    };
    let sid = der::issuer_and_serial(cert.der()).ok_or_else(malformed)?;
    let digest_algorithm = digest.algorithm();

    // RFC 5652 §5.4: the signature covers the attributes as a SET OF
    // (tag 0x31); the SignerInfo carries the same bytes tagged [0].
    let attributes = vec![
        attribute(3, &encode(0x06, OID_DATA)),
        attribute(4, &encode(0x04, &hash(digest.md(), content)?)),
        attribute(5, &der::time(now)),
        attribute(15, &SMIME_CAPABILITIES),
    ];
    let mut signed_attributes = der::set_of(0x31, attributes);
    let mut signing = openssl::sign::Signer::new(digest.md(), key)?;
    signing.update(&signed_attributes)?;
    let signature = signing.sign_to_vec()?;
    signed_attributes[0] = 0xa0;

    let signer_info = constructed(
        0x30,
        &[
            &[0x02, 0x01, 0x01], // version 1: issuerAndSerialNumber
            &sid,
            &digest_algorithm,
            &signed_attributes,
            &signature_algorithm,
            &encode(0x04, &signature),
        ],
    );
    // The signer first, then its chain, each once.
    let mut certificates: Vec<Vec<u8>> = Vec::with_capacity(1 + signer.chain.len());
    for c in std::iter::once(cert).chain(signer.chain) {
        if !certificates.iter().any(|d| d == c.der()) {
            certificates.push(c.der().to_vec());
        }
    }
    let signed = constructed(
        0x30,
        &[
            &[0x02, 0x01, 0x01], // version 1: no attribute certificates, id-data
            &encode(0x31, &digest_algorithm),
            &constructed(0x30, &[&encode(0x06, OID_DATA)]),
            &der::set_of(0xa0, certificates),
            &encode(0x31, &signer_info),
        ],
    );
    Ok(constructed(
        0x30,
        &[&encode(0x06, der::OID_SIGNED_DATA), &encode(0xa0, &signed)],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::der::tests::oid;

    #[test]
    fn object_identifiers_are_the_named_ones() {
        let mut pkcs9 = OID_PKCS9;
        pkcs9[8] = 15;
        assert_eq!(pkcs9, oid("1.2.840.113549.1.9.15")[..]);
        for (d, sha, ecdsa) in [
            (
                Digest::Sha256,
                "2.16.840.1.101.3.4.2.1",
                "1.2.840.10045.4.3.2",
            ),
            (
                Digest::Sha384,
                "2.16.840.1.101.3.4.2.2",
                "1.2.840.10045.4.3.3",
            ),
            (
                Digest::Sha512,
                "2.16.840.1.101.3.4.2.3",
                "1.2.840.10045.4.3.4",
            ),
        ] {
            assert_eq!(d.algorithm(), algorithm(&oid(sha), None));
            assert_eq!(d.ecdsa(), algorithm(&oid(ecdsa), None));
        }
    }

    #[test]
    fn smime_capabilities_are_the_five_aes_modes_in_der() {
        let (caps, rest) = der::read(&SMIME_CAPABILITIES, 0).expect("one element");
        assert!(rest.is_empty());
        assert_eq!(caps.tag, 0x30);
        let oids: Vec<Vec<u8>> = der::children(caps.contents, 0)
            .expect("a sequence")
            .iter()
            .map(|alg| {
                assert_eq!(alg.tag, 0x30);
                let fields = der::children(alg.contents, 1).expect("an algorithm identifier");
                assert_eq!(fields.len(), 1, "no parameters");
                assert_eq!(fields[0].tag, 0x06);
                fields[0].contents.to_vec()
            })
            .collect();
        let expected: Vec<Vec<u8>> = ["46", "6", "42", "22", "2"]
            .iter()
            .map(|mode| oid(&format!("2.16.840.1.101.3.4.1.{mode}")))
            .collect();
        assert_eq!(oids, expected);
    }
}
