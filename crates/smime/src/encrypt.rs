//! Encryption: CMS EnvelopedData (AES-CBC) or AuthEnvelopedData (AES-GCM)
//! to every recipient, wrapped as `application/pkcs7-mime` (RFC 8551 §3.3).

use openssl::cipher_ctx::CipherCtx;
use openssl::encrypt::Encrypter;
use openssl::hash::MessageDigest;
use openssl::pkey::{Id, PKey, Public};
use openssl::rand::rand_bytes;
use openssl::rsa::Padding;
use openssl::symm::Cipher;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::der::{self, constructed, encode};
use crate::{Certificate, Error, Result, ffi, mime};

/// Content encryption algorithm.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContentCipher {
    /// AES-256-CBC in EnvelopedData: read by every client. The default.
    #[default]
    Aes256Cbc,
    /// AES-256-GCM in AuthEnvelopedData (RFC 5083): authenticated, newer clients only.
    Aes256Gcm,
}

impl ContentCipher {
    /// `aes-256-cbc` or `aes-256-gcm`.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentCipher::Aes256Cbc => "aes-256-cbc",
            ContentCipher::Aes256Gcm => "aes-256-gcm",
        }
    }

    /// Parses `aes-256-cbc` / `aes-256-gcm`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "aes-256-cbc" => Some(ContentCipher::Aes256Cbc),
            "aes-256-gcm" => Some(ContentCipher::Aes256Gcm),
            _ => None,
        }
    }
}

/// How to encrypt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EncryptOptions {
    /// Content cipher.
    pub cipher: ContentCipher,
    /// RSA-OAEP (SHA-256) key transport instead of PKCS#1 v1.5 for RSA recipients.
    pub rsa_oaep: bool,
}

/// Encrypts a canonical entity to `recipients` and returns the
/// `application/pkcs7-mime` entity, headers included.
pub fn encrypt(
    entity: &[u8],
    recipients: &[&Certificate],
    options: EncryptOptions,
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    encrypt_into(&[entity], recipients, options, &mut out)?;
    Ok(out)
}

/// [`encrypt`] of the entity made of `pieces`, appended to `out`. The
/// default envelope (AES-256-CBC to RSA recipients) is written as it is
/// encrypted, a chunk at a time, straight into its base64 lines: neither
/// the entity nor the DER is ever held whole.
pub(crate) fn encrypt_into(
    pieces: &[&[u8]],
    recipients: &[&Certificate],
    options: EncryptOptions,
    out: &mut Vec<u8>,
) -> Result<()> {
    if recipients.is_empty() {
        return Err(Error::NoRecipients);
    }
    let keys = recipients
        .iter()
        .map(|c| Ok((*c, c.public_key()?)))
        .collect::<Result<Vec<_>>>()?;
    let rsa_only = keys.iter().all(|(_, k)| k.id() == Id::RSA);
    match options.cipher {
        ContentCipher::Aes256Cbc if rsa_only => {
            let header = mime::pkcs7_mime_header("enveloped-data");
            let start = out.len();
            out.extend_from_slice(header.as_bytes());
            if let Err(e) = enveloped_data(pieces, &keys, options.rsa_oaep, out) {
                out.truncate(start);
                return Err(e);
            }
        }
        // Key agreement (EC recipients) and AuthEnvelopedData are left to
        // OpenSSL's CMS encoder.
        cipher => {
            let certs: Vec<_> = recipients.iter().map(|c| c.x509().to_owned()).collect();
            let (cipher, smime_type) = match cipher {
                ContentCipher::Aes256Cbc => (Cipher::aes_256_cbc(), "enveloped-data"),
                ContentCipher::Aes256Gcm => (Cipher::aes_256_gcm(), "authEnveloped-data"),
            };
            let entity = pieces.concat();
            let der = ffi::encrypt(&certs, &entity, cipher, options.rsa_oaep)?.to_der()?;
            drop(entity);
            out.reserve(mime::Base64Lines::encoded_len(der.len()) + 256);
            out.extend_from_slice(mime::pkcs7_mime_header(smime_type).as_bytes());
            mime::push_base64_lines(out, &der);
        }
    }
    Ok(())
}

/// `2.16.840.1.101.3.4.1.42` id-aes256-CBC.
const OID_AES256_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a];
/// `1.2.840.113549.1.1.7` id-RSAES-OAEP.
const OID_RSAES_OAEP: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x07];
/// `1.2.840.113549.1.1.8` id-mgf1.
const OID_MGF1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08];
/// `2.16.840.1.101.3.4.2.1` id-sha256.
const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];

/// The DER `ContentInfo` of an EnvelopedData (RFC 5652 §6) of the
/// concatenation of `content` under a fresh AES-256-CBC key, transported
/// to each RSA recipient, appended to `out` in base64 lines.
///
/// Written here rather than by OpenSSL's CMS encoder for the same reason
/// as the SignedData in [`crate::sign`]: the shape is fixed (version 0,
/// one key transport recipient info per certificate, named by issuer and
/// serial number) and the encoder's ASN.1 templates cost several times the
/// AES encryption of a 4 KiB message. Its lengths follow from the
/// content's length, so the DER is written in order while the content is
/// encrypted.
fn enveloped_data(
    content: &[&[u8]],
    recipients: &[(&Certificate, PKey<Public>)],
    oaep: bool,
    out: &mut Vec<u8>,
) -> Result<()> {
    let mut key = Zeroizing::new([0u8; 32]);
    let mut iv = [0u8; 16];
    rand_bytes(key.as_mut())?;
    rand_bytes(&mut iv)?;
    let key_encryption = if oaep {
        let sha256 = der::algorithm(OID_SHA256, None);
        der::algorithm(
            OID_RSAES_OAEP,
            Some(&constructed(
                0x30,
                &[
                    &encode(0xa0, &sha256),
                    &encode(0xa1, &der::algorithm(OID_MGF1, Some(&sha256))),
                ],
            )),
        )
    } else {
        der::rsa_encryption()
    };
    let mut infos = Vec::with_capacity(recipients.len());
    for (cert, public) in recipients {
        let mut encrypter = Encrypter::new(public)?;
        if oaep {
            encrypter.set_rsa_padding(Padding::PKCS1_OAEP)?;
            encrypter.set_rsa_oaep_md(MessageDigest::sha256())?;
            encrypter.set_rsa_mgf1_md(MessageDigest::sha256())?;
        } else {
            encrypter.set_rsa_padding(Padding::PKCS1)?;
        }
        let mut wrapped = vec![0; encrypter.encrypt_len(key.as_ref())?];
        let len = encrypter.encrypt(key.as_ref(), &mut wrapped)?;
        wrapped.truncate(len);
        let rid = der::issuer_and_serial(cert.der()).ok_or_else(|| Error::Malformed {
            item: format!("the recipient certificate {}", cert.fingerprint()),
            reason: "its issuer or serial number cannot be read".into(),
        })?;
        infos.push(constructed(
            0x30,
            &[
                &[0x02, 0x01, 0x00], // version 0: issuerAndSerialNumber
                &rid,
                &key_encryption,
                &encode(0x04, &wrapped),
            ],
        ));
    }
    // PKCS#7 padding always adds 1 to 16 bytes.
    let plain_len: usize = content.iter().map(|p| p.len()).sum();
    let cipher_len = (plain_len / 16 + 1) * 16;
    // EncryptedContentInfo: contentType, the algorithm with its IV, and
    // encryptedContent [0] IMPLICIT OCTET STRING, whose octets follow.
    let eci_start = [
        encode(0x06, der::OID_DATA),
        der::algorithm(OID_AES256_CBC, Some(&encode(0x04, &iv))),
        der::header(0x80, cipher_len),
    ]
    .concat();
    let eci_len = eci_start.len() + cipher_len;
    let eci_header = der::header(0x30, eci_len);
    // version 0: key transport only, no attributes
    let env_start = [vec![0x02, 0x01, 0x00], der::set_of(0x31, infos)].concat();
    let env_len = env_start.len() + eci_header.len() + eci_len;
    let env_header = der::header(0x30, env_len);
    let explicit_len = env_header.len() + env_len;
    let explicit_header = der::header(0xa0, explicit_len);
    let oid = encode(0x06, der::OID_ENVELOPED_DATA);
    let info_len = oid.len() + explicit_header.len() + explicit_len;
    let prefix = [
        der::header(0x30, info_len),
        oid,
        explicit_header,
        env_header,
        env_start,
        eci_header,
        eci_start,
    ]
    .concat();

    let total = prefix.len() + cipher_len;
    out.reserve(mime::Base64Lines::encoded_len(total));
    let mut lines = mime::Base64Lines::new(out);
    lines.write(&prefix);
    let mut ctx = CipherCtx::new()?;
    ctx.encrypt_init(Some(aes_256_cbc()), Some(key.as_ref()), Some(&iv))?;
    const CHUNK: usize = 16 * 1024;
    let mut buf = Zeroizing::new(vec![0u8; CHUNK + 16]);
    let mut written = 0;
    for piece in content {
        for chunk in piece.chunks(CHUNK) {
            let n = ctx.cipher_update(chunk, Some(&mut buf))?;
            lines.write(&buf[..n]);
            written += n;
        }
    }
    let n = ctx.cipher_final(&mut buf)?;
    lines.write(&buf[..n]);
    lines.finish();
    if written + n != cipher_len {
        return Err(Error::Malformed {
            item: "the encrypted content".into(),
            reason: format!(
                "AES-256-CBC gave {} bytes, not the {cipher_len} announced",
                written + n
            ),
        });
    }
    Ok(())
}

/// AES-256-CBC, fetched from the provider once: fetching it again for
/// every message (what the legacy `EVP_aes_256_cbc` does) is a lookup
/// per call.
fn aes_256_cbc() -> &'static openssl::cipher::CipherRef {
    static FETCHED: OnceLock<Option<openssl::cipher::Cipher>> = OnceLock::new();
    match FETCHED.get_or_init(|| openssl::cipher::Cipher::fetch(None, "AES-256-CBC", None).ok()) {
        Some(cipher) => cipher,
        None => openssl::cipher::Cipher::aes_256_cbc(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::der::tests::oid;

    #[test]
    fn no_recipients_is_an_error_not_an_unreadable_message() {
        for cipher in [ContentCipher::Aes256Cbc, ContentCipher::Aes256Gcm] {
            let options = EncryptOptions {
                cipher,
                rsa_oaep: false,
            };
            let result = encrypt(b"Content-Type: text/plain\r\n\r\nx\r\n", &[], options);
            assert!(matches!(result, Err(Error::NoRecipients)), "{cipher:?}");
        }
    }

    #[test]
    fn object_identifiers_are_the_named_ones() {
        assert_eq!(OID_AES256_CBC, oid("2.16.840.1.101.3.4.1.42"));
        assert_eq!(OID_RSAES_OAEP, oid("1.2.840.113549.1.1.7"));
        assert_eq!(OID_MGF1, oid("1.2.840.113549.1.1.8"));
        assert_eq!(OID_SHA256, oid("2.16.840.1.101.3.4.2.1"));
    }
}
