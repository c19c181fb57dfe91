//! Private keys: parse every form an admin may paste or upload, match a key
//! to its certificate, and keep the key exactly as uploaded, so that a
//! protected key is given back protected.

use openssl::pkey::{PKey, PKeyRef, Private};
use openssl::symm::Cipher;
use zeroize::Zeroizing;

use crate::pem::Block;
use crate::policy::{KdfBudget, KdfLimits};
use crate::{Certificate, Error, Result};

/// A private key, opened, together with the bytes to give back on export.
pub struct PrivateKey {
    pkey: PKey<Private>,
    original: Zeroizing<Vec<u8>>,
    protected: bool,
}

impl PrivateKey {
    /// Opens a key as stored (one PEM block or DER), e.g. to sign with it.
    pub fn load(original: &[u8], passphrase: Option<&str>) -> Result<Self> {
        crate::init();
        if crate::pem::is_pem(original) {
            let text = std::str::from_utf8(original).map_err(|_| Error::Unreadable)?;
            let blocks = crate::pem::scan(text)?;
            let block = blocks
                .iter()
                .find(|b| is_key_label(b.label))
                .ok_or(Error::Unreadable)?;
            from_pem_block(block, passphrase, &KdfBudget::new(KdfLimits::default()))
        } else {
            from_der(original, passphrase, &KdfBudget::new(KdfLimits::default()))?
                .ok_or(Error::Unreadable)
        }
    }

    /// The opened key.
    pub fn pkey(&self) -> &PKeyRef<Private> {
        &self.pkey
    }
    /// The bytes to give back on download: as uploaded, or for a key that
    /// came out of a PKCS#12 file, PKCS#8 PEM under the same passphrase.
    pub fn original(&self) -> &[u8] {
        &self.original
    }
    /// Whether [`Self::original`] needs a passphrase.
    pub fn is_protected(&self) -> bool {
        self.protected
    }
    /// True when `cert` carries this key's public half.
    pub fn matches(&self, cert: &Certificate) -> bool {
        cert.x509()
            .public_key()
            .map(|public| public.public_eq(&self.pkey))
            .unwrap_or(false)
    }

    /// A key taken out of a PKCS#12 file, re-encoded for storage.
    pub(crate) fn from_pkcs12(pkey: PKey<Private>, passphrase: &str) -> Result<Self> {
        let protected = !passphrase.is_empty();
        let pem = if protected {
            pkey.private_key_to_pem_pkcs8_passphrase(Cipher::aes_256_cbc(), passphrase.as_bytes())?
        } else {
            pkey.private_key_to_pem_pkcs8()?
        };
        Ok(PrivateKey {
            pkey,
            original: Zeroizing::new(pem),
            protected,
        })
    }
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateKey")
            .field("bits", &self.pkey.bits())
            .field("protected", &self.protected)
            .finish_non_exhaustive()
    }
}

pub(crate) fn is_key_label(label: &str) -> bool {
    matches!(
        label,
        "PRIVATE KEY" | "ENCRYPTED PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY"
    )
}

/// Opens one PEM key block: PKCS#1, SEC1, PKCS#8, encrypted PKCS#8 or
/// legacy `Proc-Type: 4,ENCRYPTED`.
pub(crate) fn from_pem_block(
    block: &Block<'_>,
    passphrase: Option<&str>,
    kdf: &KdfBudget,
) -> Result<PrivateKey> {
    let protected = block.label == "ENCRYPTED PRIVATE KEY" || block.has_headers;
    let what = || format!("the private key in {}", block.describe());
    if protected && passphrase.is_none() {
        return Err(Error::PassphraseRequired { what: what() });
    }
    if block.label == "ENCRYPTED PRIVATE KEY" {
        crate::bundle::check_pkcs8_iterations(&block.der()?, &block.describe(), kdf)?;
    }
    let pkey = if protected {
        PKey::private_key_from_pem_passphrase(
            block.text.as_bytes(),
            passphrase.unwrap_or_default().as_bytes(),
        )
        .map_err(|_| Error::WrongPassphrase { what: what() })?
    } else {
        // Fails cleanly on corrupted base64 before OpenSSL sees it.
        block.der()?;
        PKey::private_key_from_pem(block.text.as_bytes()).map_err(|e| Error::Malformed {
            item: block.describe(),
            reason: crate::cert::first_reason(&e),
        })?
    };
    Ok(PrivateKey {
        pkey,
        original: Zeroizing::new(block.text.as_bytes().to_vec()),
        protected,
    })
}

/// Opens a DER key (PKCS#8, encrypted PKCS#8, PKCS#1, SEC1). `Ok(None)`
/// means "this is no key", so that format detection can go on.
pub(crate) fn from_der(
    der: &[u8],
    passphrase: Option<&str>,
    kdf: &KdfBudget,
) -> Result<Option<PrivateKey>> {
    let keep = |pkey, protected| {
        Ok(Some(PrivateKey {
            pkey,
            original: Zeroizing::new(der.to_vec()),
            protected,
        }))
    };
    if let Ok(pkey) = PKey::private_key_from_der(der) {
        return keep(pkey, false);
    }
    crate::bundle::check_pkcs8_iterations(der, "the DER private key", kdf)?;
    // An encrypted PKCS#8 asks for its passphrase through the callback;
    // that tells "protected" apart from "not a key at all".
    let mut asked = false;
    let opened = PKey::private_key_from_pkcs8_callback(der, |buf| {
        asked = true;
        let pass = passphrase.unwrap_or_default().as_bytes();
        let n = pass.len().min(buf.len());
        buf[..n].copy_from_slice(&pass[..n]);
        Ok(n)
    });
    match (opened, asked, passphrase) {
        (Ok(pkey), _, _) => keep(pkey, true),
        (Err(_), true, None) => Err(Error::PassphraseRequired {
            what: "the DER private key".into(),
        }),
        (Err(_), true, Some(_)) => Err(Error::WrongPassphrase {
            what: "the DER private key".into(),
        }),
        (Err(_), false, _) => Ok(None),
    }
}
