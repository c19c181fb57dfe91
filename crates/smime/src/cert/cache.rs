//! Parsed certificates kept for the process, so that the certificates each
//! message needs again are not parsed again.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use super::Certificate;
use crate::Result;

/// How many certificates [`Certificate::from_der_cached`] keeps parsed.
pub const PARSED_CACHE: usize = 1024;
/// The largest encoding [`Certificate::from_der_cached`] keeps.
pub const PARSED_CACHE_MAX_DER: usize = 16 * 1024;

impl Certificate {
    /// [`Certificate::from_der`], remembered for the process: parsing costs
    /// 100–150 µs under OpenSSL 3.0 (its provider decoders), a lookup about
    /// 1 µs, and a certificate's bytes always parse to the same result.
    /// For the certificates each message needs again (signers, recipients,
    /// chains, trust anchors); bulk imports use `from_der`. At most
    /// [`PARSED_CACHE`] entries; beyond, the memory starts over. Encodings
    /// over [`PARSED_CACHE_MAX_DER`] bytes (real certificates have 1–3 KiB;
    /// a hostile message may carry megabytes) are parsed but not kept, so
    /// the cache stays under about 32 MiB whatever arrives.
    pub fn from_der_cached(der: &[u8]) -> Result<Self> {
        static CACHE: OnceLock<Mutex<HashMap<Vec<u8>, Certificate>>> = OnceLock::new();
        if der.len() > PARSED_CACHE_MAX_DER {
            return Self::from_der(der);
        }
        let cache = CACHE.get_or_init(Default::default);
        let lock = || cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cert) = lock().get(der) {
            return Ok(cert.clone());
        }
        let cert = Self::from_der(der)?;
        let mut map = lock();
        if map.len() >= PARSED_CACHE {
            map.clear();
        }
        map.insert(der.to_vec(), cert.clone());
        Ok(cert)
    }
}
