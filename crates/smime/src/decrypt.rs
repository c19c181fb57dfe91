//! Decryption of EnvelopedData and AuthEnvelopedData with the stored keys.
//!
//! Every failure after the recipient match reads the same, so the service
//! gives no padding oracle (Bleichenbacher, RFC 3218).

use std::borrow::Cow;

use openssl::cms::CmsContentInfo;
use openssl::nid::Nid;

use crate::policy::CmsLimits;
use crate::{Certificate, PrivateKey, ffi};

/// Why a message could not be decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecryptFailure {
    /// None of the stored keys belongs to a recipient.
    NoKey,
    /// A key was tried and the content did not come out (any reason).
    Failed,
    /// The key of a recipient is stored but cannot be opened.
    KeyUnavailable {
        /// The fingerprint of its certificate.
        fingerprint: String,
        /// Why, in words.
        reason: String,
    },
    /// The CMS structure is not an encrypted message.
    Malformed(String),
}

/// The receiving side's private keys: the certificates that have one, and
/// a way to open a key when, and only when, a message names its
/// certificate. A key that cannot be opened fails only the messages
/// addressed to it.
pub trait Keys {
    /// The certificates that have a private key.
    fn certificates(&self) -> Vec<&Certificate>;
    /// Runs `use_key` with the opened key of `cert`, or says why the key
    /// cannot be opened.
    fn with_key(
        &self,
        cert: &Certificate,
        use_key: &mut dyn FnMut(&PrivateKey),
    ) -> Result<(), String>;
}

impl Keys for [(&Certificate, &PrivateKey)] {
    fn certificates(&self) -> Vec<&Certificate> {
        self.iter().map(|(c, _)| *c).collect()
    }
    fn with_key(
        &self,
        cert: &Certificate,
        use_key: &mut dyn FnMut(&PrivateKey),
    ) -> Result<(), String> {
        let (_, key) = self
            .iter()
            .find(|(c, _)| c.fingerprint() == cert.fingerprint())
            .ok_or_else(|| "no such key".to_string())?;
        use_key(key);
        Ok(())
    }
}

impl<const N: usize> Keys for [(&Certificate, &PrivateKey); N] {
    fn certificates(&self) -> Vec<&Certificate> {
        self[..].certificates()
    }
    fn with_key(
        &self,
        cert: &Certificate,
        use_key: &mut dyn FnMut(&PrivateKey),
    ) -> Result<(), String> {
        self[..].with_key(cert, use_key)
    }
}

/// Decrypts `der` with a key whose certificate a RecipientInfo names (by
/// issuer and serial number, or by subject key identifier). No other key
/// is tried: a key is used only for the messages addressed to it.
pub fn decrypt(der: &[u8], keys: &dyn Keys, limits: &CmsLimits) -> Result<Vec<u8>, DecryptFailure> {
    // Count the recipients (and carried certificates) before OpenSSL parses.
    crate::shape::enveloped(der, limits).map_err(DecryptFailure::Malformed)?;
    // OpenSSL parses the envelope without its encrypted content, which it
    // then reads where it lies (see `der::take_encrypted_content`).
    let (parsed, content) = match crate::der::take_encrypted_content(der) {
        Some((stripped, content)) => (Cow::Owned(stripped), Some(content)),
        None => (Cow::Borrowed(der), None),
    };
    let cms = CmsContentInfo::from_der(&parsed)
        .map_err(|e| DecryptFailure::Malformed(crate::cert::first_reason(&e)))?;
    drop(parsed);
    let kind = ffi::content_type(&cms);
    if kind != Nid::PKCS7_ENVELOPED && kind.as_raw() != NID_ID_SMIME_CT_AUTHENVELOPEDDATA {
        return Err(DecryptFailure::Malformed(
            "the S/MIME part is not an encrypted message".into(),
        ));
    }
    // One try for each key the message names, and any failure there is the
    // one uniform failure. A damaged key transport block also gives
    // OpenSSL's random content key (its defence against Bleichenbacher), so
    // only a MIME entity counts: otherwise CBC padding passing by chance
    // (1 time in 256) would answer "decrypted" with garbage.
    let mut matched = false;
    let mut unavailable = None;
    for cert in keys.certificates() {
        if !ffi::is_recipient(&cms, cert.x509()) {
            continue;
        }
        matched = true;
        let mut plain = None;
        let opened = keys.with_key(cert, &mut |key| {
            if let Ok(p) = ffi::decrypt(&cms, key.pkey(), cert.x509(), content.as_deref())
                && looks_like_entity(&p)
            {
                plain = Some(p);
            }
        });
        match (opened, plain) {
            (_, Some(plain)) => return Ok(plain),
            (Err(reason), None) => {
                unavailable.get_or_insert(DecryptFailure::KeyUnavailable {
                    fingerprint: cert.fingerprint().to_string(),
                    reason,
                });
            }
            (Ok(()), None) => {}
        }
    }
    let _ = openssl::error::ErrorStack::get();
    Err(match (matched, unavailable) {
        (false, _) => DecryptFailure::NoKey,
        (true, Some(unavailable)) => unavailable,
        (true, None) => DecryptFailure::Failed,
    })
}

fn looks_like_entity(plain: &[u8]) -> bool {
    let (header, _) = crate::mime::split_header_body(plain);
    crate::mime::fields(header)
        .iter()
        .any(|f| f.name.eq_ignore_ascii_case("content-type"))
}

/// `NID_id_smime_ct_authEnvelopedData` (not in the `openssl` crate's list).
pub(crate) const NID_ID_SMIME_CT_AUTHENVELOPEDDATA: i32 = 1059;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::der::{self, encode};
    use crate::encrypt::{ContentCipher, EncryptOptions, encrypt_into};
    use openssl::cms::CmsContentInfo;

    fn alice() -> (Certificate, PrivateKey) {
        let read = |name| std::fs::read(testpki::Pki::committed().path(name)).unwrap();
        let cert = crate::bundle::parse(&read(testpki::files::ALICE), None)
            .unwrap()
            .certificates
            .remove(0);
        let key = crate::bundle::parse(&read(testpki::files::ALICE_KEY), None)
            .unwrap()
            .keys
            .remove(0);
        (cert, key)
    }

    /// The DER inside an `application/pkcs7-mime` entity.
    fn der_of(entity: &[u8]) -> Vec<u8> {
        let (_, body) = crate::mime::split_header_body(entity);
        crate::mime::decode_base64_lines(body).unwrap()
    }

    /// An entity of exactly `len` bytes (at least 40).
    fn entity(len: usize) -> Vec<u8> {
        let mut out = b"Content-Type: text/plain\r\n\r\n".to_vec();
        let mut i = 0u32;
        while out.len() < len {
            out.push(b"abcdefghij\r\n"[(i % 12) as usize]);
            i += 1;
        }
        out
    }

    #[test]
    fn content_in_pieces_and_across_chunks_comes_back_whole() {
        let (cert, key) = alice();
        let keys = [(&cert, &key)];
        let limits = CmsLimits::default();
        // Around the 16 KiB chunks of the encryption and the AES block.
        for len in [
            40,
            47,
            48,
            49,
            16_383,
            16_384,
            16_385,
            3 * 16_384 + 5,
            100_000,
        ] {
            let content = entity(len);
            for split in [0, 1, 17, len / 2, len - 1, len] {
                for oaep in [false, true] {
                    let options = EncryptOptions {
                        cipher: ContentCipher::Aes256Cbc,
                        rsa_oaep: oaep,
                    };
                    let pieces = [&content[..split], &content[split..]];
                    let mut out = b"To: b@example.org\r\n".to_vec();
                    encrypt_into(&pieces, &[&cert], options, &mut out).unwrap();
                    assert!(out.starts_with(b"To: b@example.org\r\nMIME-Version: 1.0\r\n"));
                    let der = der_of(&out[19..]);
                    // OpenSSL, reading the whole envelope, finds DER.
                    let cms = CmsContentInfo::from_der(&der).unwrap();
                    assert_eq!(cms.to_der().unwrap(), der, "{len} {split} DER");
                    let plain = cms.decrypt(key.pkey(), &cert.x509().to_owned()).unwrap();
                    assert!(plain == content, "{len} {split} {oaep}");
                    // The envelope without its content, which is read apart.
                    let (stripped, ciphertext) = der::take_encrypted_content(&der).unwrap();
                    assert_eq!(&der[der.len() - ciphertext.len()..], &ciphertext[..]);
                    assert!(stripped.len() + ciphertext.len() < der.len());
                    assert!(decrypt(&der, &keys, &limits).unwrap() == content);
                }
            }
        }
    }

    /// The same envelope in BER as streaming encoders write it: indefinite
    /// lengths, and the encrypted content in pieces.
    fn as_ber(der: &[u8], piece: usize) -> Vec<u8> {
        let indefinite = |tag: u8, parts: &[&[u8]]| {
            let mut out = vec![tag, 0x80];
            for p in parts {
                out.extend_from_slice(p);
            }
            out.extend_from_slice(&[0, 0]);
            out
        };
        let (info, _) = der::read(der, 0).unwrap();
        let [oid, explicit] = &der::children(info.contents, 1).unwrap()[..] else {
            panic!("a ContentInfo")
        };
        let (enveloped, _) = der::read(explicit.contents, 2).unwrap();
        let fields = der::children(enveloped.contents, 3).unwrap();
        let eci = der::children(fields[2].contents, 4).unwrap();
        let pieces: Vec<u8> = eci[2]
            .contents
            .chunks(piece)
            .flat_map(|c| encode(0x04, c))
            .collect();
        let eci = indefinite(
            0x30,
            &[eci[0].whole, eci[1].whole, &indefinite(0xa0, &[&pieces])],
        );
        let enveloped = indefinite(0x30, &[fields[0].whole, fields[1].whole, &eci]);
        indefinite(0x30, &[oid.whole, &indefinite(0xa0, &[&enveloped])])
    }

    #[test]
    fn content_sent_in_pieces_of_ber_is_read_apart_too() {
        let (cert, key) = alice();
        let keys = [(&cert, &key)];
        let content = entity(40_000);
        let mut out = Vec::new();
        encrypt_into(&[&content], &[&cert], EncryptOptions::default(), &mut out).unwrap();
        let der = der_of(&out);
        for piece in [1000, 4096, 40_000] {
            let ber = as_ber(&der, piece);
            assert_ne!(ber, der);
            let (_, ciphertext) = der::take_encrypted_content(&ber).unwrap();
            assert!(matches!(ciphertext, std::borrow::Cow::Owned(_)));
            assert!(decrypt(&ber, &keys, &CmsLimits::default()).unwrap() == content);
        }
        // Signed data has no encrypted content to take.
        assert!(der::take_encrypted_content(b"\x30\x03\x06\x01\x00").is_none());
    }
}
