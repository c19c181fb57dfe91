//! Encryption: CMS EnvelopedData (AES-CBC) or AuthEnvelopedData (AES-GCM)
//! to every recipient, wrapped as `application/pkcs7-mime` (RFC 8551 §3.3).

use openssl::symm::Cipher;
use serde::{Deserialize, Serialize};

use crate::{Certificate, Result, ffi, mime};

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
    let certs: Vec<_> = recipients.iter().map(|c| c.x509().to_owned()).collect();
    let (cipher, smime_type) = match options.cipher {
        ContentCipher::Aes256Cbc => (Cipher::aes_256_cbc(), "enveloped-data"),
        ContentCipher::Aes256Gcm => (Cipher::aes_256_gcm(), "authEnveloped-data"),
    };
    let cms = ffi::encrypt(&certs, entity, cipher, options.rsa_oaep)?;
    Ok(mime::pkcs7_mime(b"", smime_type, &cms.to_der()?))
}
