//! A bounded cache of opened private keys: unsealing and decrypting a
//! protected key (PBKDF2) costs far more than a signature, so it is done
//! once per key, not once per message.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use smime::PrivateKey;

/// Keys by certificate fingerprint, with their insertion order.
type Entries = (HashMap<String, Arc<PrivateKey>>, VecDeque<String>);

/// Least recently inserted entries go first when the cache is full.
pub(crate) struct KeyCache {
    capacity: usize,
    inner: Mutex<Entries>,
}

impl KeyCache {
    pub(crate) fn new(capacity: usize) -> Self {
        KeyCache {
            capacity: capacity.max(1),
            inner: Mutex::new((HashMap::new(), VecDeque::new())),
        }
    }

    pub(crate) fn get(&self, fingerprint: &str) -> Option<Arc<PrivateKey>> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.0.get(fingerprint).cloned()
    }

    pub(crate) fn insert(&self, fingerprint: &str, key: Arc<PrivateKey>) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (map, order) = &mut *inner;
        if map.insert(fingerprint.to_string(), key).is_none() {
            order.push_back(fingerprint.to_string());
        }
        while map.len() > self.capacity {
            match order.pop_front() {
                Some(old) => {
                    map.remove(&old);
                }
                None => break,
            }
        }
    }

    /// Forgets a key (deleted from the store).
    pub(crate) fn remove(&self, fingerprint: &str) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (map, order) = &mut *inner;
        if map.remove(fingerprint).is_some() {
            order.retain(|f| f != fingerprint);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).0.len()
    }
}
