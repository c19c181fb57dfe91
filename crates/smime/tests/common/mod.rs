//! The committed test PKI, as the integration tests load it, and the one
//! way they take a detached signature out of a signed entity.
#![allow(dead_code)]

use smime::{Certificate, PrivateKey};

/// A file of the committed test PKI.
pub fn read(name: &str) -> Vec<u8> {
    std::fs::read(testpki::Pki::committed().path(name)).unwrap()
}

/// Every certificate in a file of the test PKI.
pub fn certificates(name: &str) -> Vec<Certificate> {
    smime::bundle::parse(&read(name), None)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .certificates
}

/// The first certificate in a file of the test PKI.
pub fn certificate(name: &str) -> Certificate {
    certificates(name).remove(0)
}

/// The private key in an unprotected key file of the test PKI.
pub fn key(name: &str) -> PrivateKey {
    smime::bundle::parse(&read(name), None)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .keys
        .remove(0)
}

/// Signs `entity` with `smime::sign` and returns the DER of the detached
/// signature from the `multipart/signed` it made.
pub fn detached_signature(
    entity: &[u8],
    certificate: &Certificate,
    key: &PrivateKey,
    chain: &[Certificate],
) -> Vec<u8> {
    let signed = smime::sign::sign(
        entity,
        &smime::sign::Signer {
            certificate,
            key,
            chain,
        },
    )
    .unwrap();
    let text = String::from_utf8(signed).unwrap();
    let b64: String = text
        .split("Content-Description: S/MIME Cryptographic Signature\r\n\r\n")
        .nth(1)
        .unwrap()
        .split("\r\n--")
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    openssl::base64::decode_block(&b64).unwrap()
}
