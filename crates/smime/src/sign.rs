//! Signing: a detached CMS signature over the canonical entity, wrapped as
//! `multipart/signed` (RFC 8551 §3.5.3), what every mail client reads.

use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::Id;
use openssl::stack::Stack;

use crate::{Certificate, PrivateKey, Result, ffi, mime};

/// Who signs: the certificate, its key, and the chain to send along.
pub struct Signer<'a> {
    /// The signer's certificate.
    pub certificate: &'a Certificate,
    /// Its private key.
    pub key: &'a PrivateKey,
    /// Intermediate and root certificates, nearest first.
    pub chain: &'a [Certificate],
}

/// The digest for a key, never below SHA-256 and rising with its strength:
/// P-384 and RSA > 3072 use SHA-384, P-521 and RSA > 7680 SHA-512.
pub fn digest_for(key: &PrivateKey) -> (MessageDigest, &'static str) {
    let pkey = key.pkey();
    let strong = match pkey.id() {
        Id::EC => pkey
            .ec_key()
            .ok()
            .and_then(|ec| ec.group().curve_name())
            .map_or(0, |nid| match nid {
                Nid::SECP384R1 => 1,
                Nid::SECP521R1 => 2,
                _ => 0,
            }),
        _ => match pkey.bits() {
            0..=3072 => 0,
            3073..=7680 => 1,
            _ => 2,
        },
    };
    match strong {
        0 => (MessageDigest::sha256(), "sha-256"),
        1 => (MessageDigest::sha384(), "sha-384"),
        _ => (MessageDigest::sha512(), "sha-512"),
    }
}

/// Signs a canonical entity (from [`mime::split_message`]) and returns the
/// `multipart/signed` entity, headers included, ready to send or encrypt.
pub fn sign(entity: &[u8], signer: &Signer<'_>) -> Result<Vec<u8>> {
    let (md, micalg) = digest_for(signer.key);
    let mut chain = Stack::new()?;
    for cert in signer.chain {
        chain.push(cert.x509().to_owned())?;
    }
    let cms = ffi::sign(
        signer.certificate.x509(),
        signer.key.pkey(),
        md,
        &chain,
        entity,
        true,
    )?;
    Ok(mime::multipart_signed(b"", entity, &cms.to_der()?, micalg))
}
