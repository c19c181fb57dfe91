//! Private keys in the store: given back as uploaded, opened for use,
//! deleted. Every read unseals; nothing here logs or caches plaintext.

use smime::PrivateKey;
use sqlx::Row;
use zeroize::Zeroizing;

use crate::certificates::{key_context, passphrase_context};
use crate::{Error, Result, Store};

/// A stored key with its passphrase, both unsealed.
pub struct UnsealedKey {
    /// The key exactly as it will be downloaded.
    pub original: Zeroizing<Vec<u8>>,
    /// The passphrase that opens it, when it is protected.
    pub passphrase: Option<Zeroizing<String>>,
}

impl Store {
    /// The key of certificate `fingerprint`, unsealed: as uploaded (a
    /// protected key stays protected) plus its passphrase.
    pub async fn unseal_key(&self, fingerprint: &str) -> Result<UnsealedKey> {
        let row = sqlx::query(
            "SELECT sealed_key, sealed_passphrase FROM private_keys WHERE fingerprint = $1",
        )
        .bind(fingerprint.to_string())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| Error::NoPrivateKey(fingerprint.to_string()))?;
        let sealed_key: Vec<u8> = row.try_get(0)?;
        let sealed_pass: Option<Vec<u8>> = row.try_get(1)?;
        let original = self.master.open(&sealed_key, &key_context(fingerprint))?;
        let passphrase = match sealed_pass {
            Some(sealed) => {
                let bytes = self
                    .master
                    .open(&sealed, &passphrase_context(fingerprint))?;
                let text = std::str::from_utf8(&bytes).map_err(|_| Error::Unseal)?;
                Some(Zeroizing::new(text.to_string()))
            }
            None => None,
        };
        Ok(UnsealedKey {
            original,
            passphrase,
        })
    }

    /// The key of certificate `fingerprint`, opened for signing or decrypting.
    pub async fn load_key(&self, fingerprint: &str) -> Result<PrivateKey> {
        let key = self.unseal_key(fingerprint).await?;
        Ok(PrivateKey::load(
            &key.original,
            key.passphrase.as_ref().map(|p| p.as_str()),
        )?)
    }

    /// Fingerprints of the certificates that have a stored key.
    pub async fn private_key_fingerprints(&self) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT fingerprint FROM private_keys ORDER BY fingerprint")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Deletes the key of certificate `fingerprint`; the certificate stays.
    pub async fn delete_key(&self, fingerprint: &str) -> Result<()> {
        let deleted = sqlx::query("DELETE FROM private_keys WHERE fingerprint = $1")
            .bind(fingerprint.to_string())
            .execute(&self.pool)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(Error::NoPrivateKey(fingerprint.to_string()));
        }
        Ok(())
    }
}
