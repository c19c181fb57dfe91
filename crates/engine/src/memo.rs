//! The engine's store lookups, remembered for as long as the store's
//! generation stays the same. Every change to certificates, keys, settings
//! or groups moves the generation on, on any instance (database triggers,
//! store migration 0005), and the engine reads it once per message: a
//! message sees exactly what a fresh set of queries would have shown when it
//! started, for one query instead of about nine, and without parsing the
//! certificates again.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use smime::trust::Fingerprints;
use smime::{Certificate, CrlSet};
use smimed_store::{Candidate, Group, SealedKey, TokenInfo};

use crate::Result;

/// How many lookups are kept for one generation; beyond, the memory starts
/// over (a helpdesk writing to many new addresses between two changes).
const MAX_ENTRIES: usize = 4096;

/// What was looked up.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    Group(String),
    /// Every group.
    Groups,
    /// The fingerprints of every stored certificate.
    Fingerprints,
    Settings,
    /// Certificates for one address, with their key indicator.
    Candidates(String),
    /// The stored issuers of the certificate with this fingerprint.
    Chain(String),
    /// The CA certificates.
    Anchors,
    /// The certificates that have a private key.
    Keyed,
    /// Every stored key, sealed.
    Sealed,
    /// The API token with this secret hash (only found ones are kept).
    Token(String),
    /// How many certificates are stored.
    CertificateCount,
    /// The stored CRLs, each checked against its CA.
    Crls,
}

/// What was found.
#[derive(Clone)]
pub(crate) enum Value {
    Group(Group),
    Groups(Arc<Vec<Group>>),
    Settings(Arc<HashMap<String, String>>),
    Candidates(Arc<Vec<Candidate>>),
    Certificates(Arc<Vec<Certificate>>),
    Fingerprints(Arc<Fingerprints>),
    Sealed(Arc<Vec<SealedKey>>),
    Token(TokenInfo),
    Count(usize),
    Crls(Arc<CrlSet>),
}

/// A type that can be remembered as a [`Value`].
pub(crate) trait Remembered: Clone {
    fn into_value(self) -> Value;
    fn from_value(value: Value) -> Option<Self>;
}

macro_rules! remembered {
    ($type:ty, $variant:ident) => {
        impl Remembered for $type {
            fn into_value(self) -> Value {
                Value::$variant(self)
            }
            fn from_value(value: Value) -> Option<Self> {
                match value {
                    Value::$variant(v) => Some(v),
                    _ => None,
                }
            }
        }
    };
}

remembered!(Group, Group);
remembered!(Arc<Vec<Group>>, Groups);
remembered!(Arc<HashMap<String, String>>, Settings);
remembered!(Arc<Vec<Candidate>>, Candidates);
remembered!(Arc<Vec<Certificate>>, Certificates);
remembered!(Arc<Fingerprints>, Fingerprints);
remembered!(Arc<Vec<SealedKey>>, Sealed);
remembered!(usize, Count);
remembered!(Arc<CrlSet>, Crls);

#[derive(Default)]
pub(crate) struct Memo {
    inner: Mutex<Inner>,
    /// The parsed CRLs and what they were read from: kept across
    /// generations, since a generation moves with every certificate stored
    /// (a learned contact among them) while CRLs, which may take a tenth
    /// of a second to parse, change rarely. One reader rebuilds at a time.
    crls: tokio::sync::Mutex<Option<(Vec<smimed_store::CrlKey>, Arc<CrlSet>)>>,
}

#[derive(Default)]
struct Inner {
    generation: Option<i64>,
    entries: HashMap<Key, Value>,
}

impl Memo {
    /// The value of `key` at `generation`: remembered, or loaded and
    /// remembered. A value loaded under another generation than the one
    /// remembered replaces the whole memory (the generation only ever
    /// moves on, except when a database is restored; either way what was
    /// remembered is not valid for this message).
    pub(crate) async fn remember<T: Remembered>(
        &self,
        generation: i64,
        key: Key,
        load: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        if let Some(value) = self.get(generation, &key).and_then(T::from_value) {
            return Ok(value);
        }
        let value = load.await?;
        self.put(generation, key, value.clone().into_value());
        Ok(value)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, generation: i64, key: &Key) -> Option<Value> {
        let inner = self.lock();
        if inner.generation != Some(generation) {
            return None;
        }
        inner.entries.get(key).cloned()
    }

    fn put(&self, generation: i64, key: Key, value: Value) {
        let mut inner = self.lock();
        if inner.generation != Some(generation) || inner.entries.len() >= MAX_ENTRIES {
            inner.generation = Some(generation);
            inner.entries.clear();
        }
        inner.entries.insert(key, value);
    }

    /// How many lookups are remembered (for tests).
    pub(crate) fn len(&self) -> usize {
        self.lock().entries.len()
    }
}

/// The store as one message sees it: every lookup at the generation read
/// when the message started.
pub(crate) struct View<'a> {
    store: &'a smimed_store::Store,
    memo: &'a Memo,
    generation: i64,
}

impl<'a> View<'a> {
    /// Reads the generation: the one query every message makes.
    pub(crate) async fn new(store: &'a smimed_store::Store, memo: &'a Memo) -> Result<View<'a>> {
        Ok(View {
            store,
            memo,
            generation: store.generation().await?,
        })
    }

    /// The view at `generation`, read by the same request moments ago.
    pub(crate) fn at(store: &'a smimed_store::Store, memo: &'a Memo, generation: i64) -> View<'a> {
        View {
            store,
            memo,
            generation,
        }
    }

    pub(crate) fn generation(&self) -> i64 {
        self.generation
    }

    pub(crate) async fn group(&self, name: &str) -> Result<Group> {
        let load = async { Ok(self.store.group(name).await?) };
        self.memo
            .remember(self.generation, Key::Group(name.to_string()), load)
            .await
    }

    pub(crate) async fn groups(&self) -> Result<Arc<Vec<Group>>> {
        let load = async { Ok(Arc::new(self.store.groups().await?)) };
        self.memo.remember(self.generation, Key::Groups, load).await
    }

    /// Every stored certificate's fingerprint: about 100 bytes each, read
    /// once per store generation.
    pub(crate) async fn fingerprints(&self) -> Result<Arc<Fingerprints>> {
        let load = async {
            let all = self.store.fingerprints().await?;
            Ok(Arc::new(Fingerprints::from_hex(
                all.iter().map(String::as_str),
            )))
        };
        self.memo
            .remember(self.generation, Key::Fingerprints, load)
            .await
    }

    pub(crate) async fn settings(&self) -> Result<Arc<HashMap<String, String>>> {
        let load = async { Ok(Arc::new(self.store.settings().await?)) };
        self.memo
            .remember(self.generation, Key::Settings, load)
            .await
    }

    /// Whether S/MIME processing is on.
    pub(crate) async fn enabled(&self) -> Result<bool> {
        Ok(smimed_store::enabled_in(&*self.settings().await?))
    }

    pub(crate) async fn candidates(&self, email: &str) -> Result<Arc<Vec<Candidate>>> {
        let load = async { Ok(Arc::new(self.store.candidates_for_email(email).await?)) };
        self.memo
            .remember(self.generation, Key::Candidates(email.to_string()), load)
            .await
    }

    pub(crate) async fn issuer_chain(&self, cert: &Certificate) -> Result<Arc<Vec<Certificate>>> {
        let load = async { Ok(Arc::new(self.store.issuer_chain(cert).await?)) };
        let key = Key::Chain(cert.fingerprint().to_string());
        self.memo.remember(self.generation, key, load).await
    }

    /// The stored CRLs, each re-checked against its stored CA (parsed on
    /// the blocking pool: a CRL may hold a million entries).
    pub(crate) async fn crls(&self) -> Result<Arc<CrlSet>> {
        let load = async {
            let mut held = self.memo.crls.lock().await;
            let keys = self.store.crl_keys().await?;
            if let Some((read, set)) = held.as_ref()
                && *read == keys
            {
                return Ok(set.clone());
            }
            let set = if keys.is_empty() {
                Arc::new(CrlSet::new())
            } else {
                let ders = self.store.crl_ders().await?;
                let cas = self.ca_certificates().await?;
                let set = tokio::task::spawn_blocking(move || crate::crls::set_of(&ders, &cas))
                    .await
                    .map_err(|e| crate::Error::Internal(format!("reading the CRLs failed: {e}")))?;
                Arc::new(set)
            };
            *held = Some((keys, set.clone()));
            Ok(set)
        };
        self.memo.remember(self.generation, Key::Crls, load).await
    }

    pub(crate) async fn ca_certificates(&self) -> Result<Arc<Vec<Certificate>>> {
        let load = async { Ok(Arc::new(self.store.ca_certificates().await?)) };
        self.memo
            .remember(self.generation, Key::Anchors, load)
            .await
    }

    /// Every stored key, sealed (opening one needs only the master key).
    pub(crate) async fn sealed_keys(&self) -> Result<Arc<Vec<SealedKey>>> {
        let load = async { Ok(Arc::new(self.store.sealed_keys().await?)) };
        self.memo.remember(self.generation, Key::Sealed, load).await
    }

    /// The sealed key of one certificate.
    pub(crate) async fn sealed_key(&self, fingerprint: &str) -> Result<SealedKey> {
        self.sealed_keys()
            .await?
            .iter()
            .find(|s| s.fingerprint == fingerprint)
            .cloned()
            .ok_or_else(|| smimed_store::Error::NoPrivateKey(fingerprint.to_string()).into())
    }

    /// The token whose secret hashes to `hash`. Unknown hashes are asked
    /// of the store each time and never kept, so guesses cannot fill or
    /// flush the memory.
    pub(crate) async fn token(&self, hash: &str) -> Result<Option<TokenInfo>> {
        let key = Key::Token(hash.to_string());
        if let Some(Value::Token(token)) = self.memo.get(self.generation, &key) {
            return Ok(Some(token));
        }
        let found = self.store.token_by_hash(hash).await?;
        if let Some(token) = &found {
            self.memo
                .put(self.generation, key, Value::Token(token.clone()));
        }
        Ok(found)
    }

    /// How many certificates are stored (the web table asks per keystroke).
    pub(crate) async fn certificate_count(&self) -> Result<usize> {
        let load = async { Ok(self.store.certificate_count().await?) };
        self.memo
            .remember(self.generation, Key::CertificateCount, load)
            .await
    }

    pub(crate) async fn certificates_with_keys(&self) -> Result<Arc<Vec<Certificate>>> {
        let load = async { Ok(Arc::new(self.store.certificates_with_keys().await?)) };
        self.memo.remember(self.generation, Key::Keyed, load).await
    }
}
