//! Secrets at rest: private keys and passphrases are sealed with
//! AES-256-GCM under a master key that never enters the database, so a
//! dump alone reveals no key.

use std::io::Write;
use std::path::Path;

use openssl::symm::{Cipher, decrypt_aead, encrypt_aead};
use zeroize::Zeroizing;

use crate::{Error, Result};

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// The 32-byte master key.
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl MasterKey {
    /// Reads the key from `path`, creating it (mode 0600, 32 random bytes)
    /// when it does not exist. Safe against two processes starting at once:
    /// the file appears whole or not at all.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        let err = |reason: String| Error::MasterKey {
            path: path.display().to_string(),
            reason,
        };
        if !path.exists() {
            let mut key = Zeroizing::new([0u8; 32]);
            openssl::rand::rand_bytes(key.as_mut())?;
            let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
            let mut file = private_file(&tmp).map_err(|e| err(e.to_string()))?;
            file.write_all(key.as_ref())
                .and_then(|()| file.sync_all())
                .map_err(|e| err(e.to_string()))?;
            // A hard link fails if another process won the race; then its key counts.
            let linked = std::fs::hard_link(&tmp, path);
            let _ = std::fs::remove_file(&tmp);
            if let Err(e) = linked
                && e.kind() != std::io::ErrorKind::AlreadyExists
            {
                return Err(err(e.to_string()));
            }
        }
        Self::load(path)
    }

    /// A new random key.
    pub fn generate() -> Result<Self> {
        let mut key = Zeroizing::new([0u8; 32]);
        openssl::rand::rand_bytes(key.as_mut())?;
        Ok(MasterKey(key))
    }

    /// Writes the key to `path`, a file that must not exist yet (mode
    /// 0600), and syncs it to disk.
    pub fn write_new(&self, path: &Path) -> Result<()> {
        let err = |e: std::io::Error| Error::MasterKey {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        let mut file = private_file(path).map_err(err)?;
        file.write_all(self.0.as_ref())
            .and_then(|()| file.sync_all())
            .map_err(err)
    }

    /// Reads an existing key file: exactly 32 bytes.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| Error::MasterKey {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?);
        if bytes.len() != 32 {
            return Err(Error::MasterKey {
                path: path.display().to_string(),
                reason: format!("must hold exactly 32 bytes, holds {}", bytes.len()),
            });
        }
        // Copied straight into its zeroed home, not through a stack value.
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&bytes);
        Ok(MasterKey(key))
    }

    /// A key from raw bytes (tests, or a key handed over by a secret manager).
    pub fn from_bytes(key: [u8; 32]) -> Self {
        MasterKey(Zeroizing::new(key))
    }

    /// Seals `plain`; `context` binds the result to where it is stored, so a
    /// sealed value copied to another row does not open.
    pub fn seal(&self, plain: &[u8], context: &str) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        openssl::rand::rand_bytes(&mut nonce)?;
        let mut tag = [0u8; TAG_LEN];
        let cipher = Cipher::aes_256_gcm();
        let ct = encrypt_aead(
            cipher,
            self.0.as_ref(),
            Some(&nonce),
            context.as_bytes(),
            plain,
            &mut tag,
        )?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len() + TAG_LEN);
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Opens what [`Self::seal`] sealed with the same `context`.
    pub fn open(&self, sealed: &[u8], context: &str) -> Result<Zeroizing<Vec<u8>>> {
        if sealed.len() < 1 + NONCE_LEN + TAG_LEN || sealed[0] != VERSION {
            return Err(Error::Unseal);
        }
        let (nonce, rest) = sealed[1..].split_at(NONCE_LEN);
        let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
        decrypt_aead(
            Cipher::aes_256_gcm(),
            self.0.as_ref(),
            Some(nonce),
            context.as_bytes(),
            ct,
            tag,
        )
        .map(Zeroizing::new)
        .map_err(|_| Error::Unseal)
    }
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trip_and_context_binding() {
        let key = MasterKey::from_bytes([7; 32]);
        let sealed = key.seal(b"secret", "key abc").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(key.open(&sealed, "key abc").unwrap().as_slice(), b"secret");
        assert!(matches!(key.open(&sealed, "key abd"), Err(Error::Unseal)));
        let other = MasterKey::from_bytes([8; 32]);
        assert!(matches!(other.open(&sealed, "key abc"), Err(Error::Unseal)));
        let mut tampered = sealed.clone();
        tampered[14] ^= 1;
        assert!(matches!(key.open(&tampered, "key abc"), Err(Error::Unseal)));
    }

    #[cfg(unix)]
    #[test]
    fn created_master_key_is_private_and_stable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let a = MasterKey::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(a.0.as_ref(), b.0.as_ref());
        std::fs::write(&path, b"short").unwrap();
        assert!(matches!(
            MasterKey::load(&path),
            Err(Error::MasterKey { .. })
        ));
    }
}
