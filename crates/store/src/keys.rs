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

/// A stored key as the database holds it: sealed. Opening it needs only
/// the master key, no I/O, so the engine fetches it first and opens it
/// with the CPU work of a message.
#[derive(Clone)]
pub struct SealedKey {
    /// The fingerprint of its certificate.
    pub fingerprint: String,
    sealed_key: Vec<u8>,
    sealed_passphrase: Option<Vec<u8>>,
}

impl std::fmt::Debug for SealedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedKey")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// The sealed key of certificate `fingerprint`.
    pub async fn sealed_key(&self, fingerprint: &str) -> Result<SealedKey> {
        let row = sqlx::query(
            "SELECT sealed_key, sealed_passphrase FROM private_keys WHERE fingerprint = $1",
        )
        .bind(fingerprint.to_string())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| Error::NoPrivateKey(fingerprint.to_string()))?;
        Ok(SealedKey {
            fingerprint: fingerprint.to_string(),
            sealed_key: row.try_get(0)?,
            sealed_passphrase: row.try_get(1)?,
        })
    }

    /// Every stored key, sealed.
    pub async fn sealed_keys(&self) -> Result<Vec<SealedKey>> {
        let rows = sqlx::query(
            "SELECT fingerprint, sealed_key, sealed_passphrase FROM private_keys ORDER BY fingerprint",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SealedKey {
                    fingerprint: row.try_get(0)?,
                    sealed_key: row.try_get(1)?,
                    sealed_passphrase: row.try_get(2)?,
                })
            })
            .collect()
    }

    /// A sealed key unsealed: as uploaded (a protected key stays
    /// protected) plus its passphrase. No I/O.
    pub fn unseal(&self, sealed: &SealedKey) -> Result<UnsealedKey> {
        let fingerprint = &sealed.fingerprint;
        let original = self
            .master
            .open(&sealed.sealed_key, &key_context(fingerprint))?;
        let passphrase = match &sealed.sealed_passphrase {
            Some(sealed) => {
                let bytes = self.master.open(sealed, &passphrase_context(fingerprint))?;
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

    /// A sealed key opened for signing or decrypting. No I/O; CPU work
    /// (a protected key derives its key from the passphrase).
    pub fn open_key(&self, sealed: &SealedKey) -> Result<PrivateKey> {
        let key = self.unseal(sealed)?;
        Ok(PrivateKey::load(
            &key.original,
            key.passphrase.as_ref().map(|p| p.as_str()),
        )?)
    }

    /// The key of certificate `fingerprint`, unsealed.
    pub async fn unseal_key(&self, fingerprint: &str) -> Result<UnsealedKey> {
        self.unseal(&self.sealed_key(fingerprint).await?)
    }

    /// The key of certificate `fingerprint`, opened for signing or decrypting.
    pub async fn load_key(&self, fingerprint: &str) -> Result<PrivateKey> {
        self.open_key(&self.sealed_key(fingerprint).await?)
    }

    /// Records that the key of `fingerprint` could not be opened (shown as
    /// an issue of its certificate until it opens again).
    pub async fn set_key_problem(&self, fingerprint: &str, problem: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO key_problems (fingerprint, problem, at) VALUES ($1, $2, $3) \
             ON CONFLICT (fingerprint) DO UPDATE SET problem = excluded.problem, at = excluded.at",
        )
        .bind(fingerprint.to_string())
        .bind(problem.to_string())
        .bind(smime::now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets a key's problem: it opened.
    pub async fn clear_key_problem(&self, fingerprint: &str) -> Result<()> {
        sqlx::query("DELETE FROM key_problems WHERE fingerprint = $1")
            .bind(fingerprint.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Fingerprints of the certificates that have a stored key.
    pub async fn private_key_fingerprints(&self) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT fingerprint FROM private_keys ORDER BY fingerprint")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// The key of certificate `fingerprint` as uploaded, for an admin's
    /// download: audited as `actor` (`private_key.download`) before it is
    /// handed out.
    pub async fn download_key(&self, fingerprint: &str, actor: &str) -> Result<UnsealedKey> {
        let key = self.unseal_key(fingerprint).await?;
        let detail = if key.passphrase.is_some() {
            "protected"
        } else {
            ""
        };
        let mut tx = self.begin_write().await?;
        crate::audit(&mut tx, actor, "private_key.download", fingerprint, detail).await?;
        tx.commit().await?;
        Ok(key)
    }

    /// Deletes the key of certificate `fingerprint`, audited as `actor`; the
    /// certificate stays.
    pub async fn delete_key(&self, fingerprint: &str, actor: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let deleted = sqlx::query("DELETE FROM private_keys WHERE fingerprint = $1")
            .bind(fingerprint.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(Error::NoPrivateKey(fingerprint.to_string()));
        }
        crate::audit(&mut tx, actor, "private_key.delete", fingerprint, "").await?;
        tx.commit().await?;
        Ok(())
    }
}
