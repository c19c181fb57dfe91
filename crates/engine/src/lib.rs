//! The smimed application core: every action a front end offers (the HTTP
//! API, the web page, the CLI, and the SMTP gateway) is one
//! function here, given an [`Actor`]. Each checks the actor's role and its
//! input, writes, and audits in one transaction; front ends only parse and
//! render.
//!
//! Mail follows one shape: fetch everything a message needs from the store
//! (remembered per store generation, see `memo`), compute with the pure
//! `smime` functions ([`smime::outgoing::protect`],
//! [`smime::incoming::process`]) on the compute threads, then write the
//! result (operation log, kept message) once.

#![forbid(unsafe_code)]

mod actor;
mod address;
mod cache;
mod certificates;
mod crls;
mod error;
mod groups;
mod incoming;
mod learn;
mod logs;
mod memo;
mod oplog;
mod outgoing;
mod pool;
mod relay;
mod settings;
mod tokens;

use std::sync::Arc;

use smime::PrivateKey;
use smimed_store::{SealedKey, Store};

use memo::{Memo, View};

pub use actor::Actor;
pub use address::{parse_address, parse_list};
pub use certificates::{CertificateFilter, CertificatePage, Download, ImportKind};
pub use crls::CrlImported;
pub use error::{Error, Result};
pub use groups::GroupPatch;
pub use incoming::Received;
pub use learn::{Acceptance, PendingPage, Retried, fingerprint_groups};
pub use outgoing::{MAX_ADDRESSES, Outgoing, OutgoingRequest, Sender, recipients_of};
pub use relay::Copy;
pub use settings::{
    DEFAULT_KEEP_INCOMING_MIB, DEFAULT_RETENTION_DAYS, SETTING_CIPHER, SETTING_KEEP_INCOMING,
    SETTING_REJECT_SHA1, SETTING_RETENTION, SETTING_RSA_OAEP, Settings, SettingsPatch,
};
pub use smimed_store::{
    AuditEntry, AuditQuery, CertificateSort, Expiring, Group, ImportReport, ListedCertificate,
    Operation, PendingCertificate, Role, Status, StoredCertificate, StoredCrl, StoredIncoming,
    TokenInfo, Watched,
};
pub use tokens::Session;

/// The largest header section a message may have, in bytes. Real mail
/// stays far below (Postfix cuts headers at 100 KiB); beyond this a message
/// is refused before any work is done on it and nothing is kept.
pub const MAX_HEADER_BYTES: usize = 256 * 1024;

/// The core; cheap to share behind an `Arc`.
pub struct Engine {
    store: Store,
    keys: Keyring,
    memo: Memo,
    /// Messages being processed now, and how many may be.
    busy: Arc<tokio::sync::Semaphore>,
    max_messages: usize,
    /// The threads for the messages' CPU work, started with the first.
    pool: std::sync::OnceLock<pool::Pool>,
    oplog: oplog::OpLog,
    /// Bytes of incoming messages kept since the kept ones were last
    /// summed against their budget.
    kept_since_prune: std::sync::atomic::AtomicU64,
}

/// How many messages are processed at once unless configured.
pub const DEFAULT_MAX_MESSAGES: usize = 32;

/// Opens stored keys for a computation, remembering them: owned, so it can
/// go to a compute thread.
#[derive(Clone)]
struct Keyring {
    store: Store,
    cache: Arc<cache::KeyCache>,
}

impl Keyring {
    /// A key from the cache, or opened from its sealed form (CPU work: call
    /// it from a computation).
    fn open(&self, sealed: &SealedKey) -> std::result::Result<Arc<PrivateKey>, String> {
        if let Some(key) = self.cache.get(&sealed.fingerprint) {
            return Ok(key);
        }
        let key = Arc::new(self.store.open_key(sealed).map_err(|e| e.to_string())?);
        self.cache.insert(&sealed.fingerprint, key.clone());
        Ok(key)
    }

    /// Whether the key of `fingerprint` is open in the cache.
    fn is_open(&self, fingerprint: &str) -> bool {
        self.cache.get(fingerprint).is_some()
    }

    fn forget(&self, fingerprint: &str) {
        self.cache.remove(fingerprint);
    }
}

impl Engine {
    /// An engine over `store`, with a cache of `key_cache_size` opened keys.
    pub fn new(store: Store, key_cache_size: usize) -> Self {
        Engine {
            keys: Keyring {
                store: store.clone(),
                cache: Arc::new(cache::KeyCache::new(key_cache_size)),
            },
            oplog: oplog::OpLog::Direct(store.clone()),
            kept_since_prune: std::sync::atomic::AtomicU64::new(u64::MAX / 2),
            store,
            memo: Memo::default(),
            busy: Arc::new(tokio::sync::Semaphore::new(DEFAULT_MAX_MESSAGES)),
            max_messages: DEFAULT_MAX_MESSAGES,
            pool: std::sync::OnceLock::new(),
        }
    }

    /// At most `n` messages (outgoing and incoming together) are processed
    /// at once; beyond, [`Error::Busy`] at once instead of a queue that
    /// grows with every caller.
    pub fn with_message_limit(mut self, n: usize) -> Self {
        let n = n.max(1);
        self.busy = Arc::new(tokio::sync::Semaphore::new(n));
        self.max_messages = n;
        self
    }

    /// A place for one more message, or `Busy`.
    fn admit(&self) -> Result<tokio::sync::OwnedSemaphorePermit> {
        self.busy
            .clone()
            .try_acquire_owned()
            .map_err(|_| Error::Busy(self.max_messages))
    }

    /// Takes `n` of the places for messages at once, or `Busy`: for a front
    /// end that must refuse before it receives a message (the SMTP gateway
    /// before DATA), and for tests of the bound. The places come back when
    /// the permit is dropped.
    pub fn hold_message_slots(&self, n: usize) -> Result<tokio::sync::OwnedSemaphorePermit> {
        self.busy
            .clone()
            .try_acquire_many_owned(u32::try_from(n).unwrap_or(u32::MAX))
            .map_err(|_| Error::Busy(self.max_messages))
    }

    /// The store as a message starting now sees it.
    async fn view(&self) -> Result<View<'_>> {
        View::new(&self.store, &self.memo).await
    }

    /// The store as `actor`'s message sees it: at the generation its token
    /// was checked at, if that was a moment ago (one generation query per
    /// request, not two), else read now.
    async fn view_for(&self, actor: &Actor) -> Result<View<'_>> {
        match actor.fresh_generation() {
            Some(generation) => Ok(View::at(&self.store, &self.memo, generation)),
            None => self.view().await,
        }
    }

    /// Runs CPU work (OpenSSL, parsing) on the blocking pool, so that the
    /// async threads keep serving.
    async fn compute<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| Error::Internal(format!("a computation failed: {e}")))
    }

    /// [`Engine::compute`] for a message's work: on one compute thread per
    /// core (see `pool`). Imports, whose key derivation may take seconds,
    /// stay on the blocking pool and never hold the mail up.
    async fn compute_message<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        self.pool
            .get_or_init(|| {
                pool::Pool::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
            })
            .run(work)
            .await
    }

    /// How many keys the cache holds (for tests and metrics).
    pub fn cached_keys(&self) -> usize {
        self.keys.cache.len()
    }

    /// How many store lookups are remembered (for tests).
    pub fn remembered_lookups(&self) -> usize {
        self.memo.len()
    }
}

/// Refuses a message whose header section is larger than [`MAX_HEADER_BYTES`].
fn check_header_size(raw: &[u8]) -> Result<()> {
    let (header, _) = smime::mime::split_header_body(raw);
    if header.len() > MAX_HEADER_BYTES {
        return Err(Error::TooLarge(format!(
            "the message's header section is {} bytes; at most {} KiB are accepted",
            header.len(),
            MAX_HEADER_BYTES / 1024
        )));
    }
    Ok(())
}
