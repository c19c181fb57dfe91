//! Persistence for smimed: one schema for SQLite (embedded default) and
//! PostgreSQL (several instances, one site), private keys and passphrases
//! sealed at rest under a master key kept outside the database.
//!
//! SQL is one portable subset with `$N` placeholders run through sqlx's
//! `Any` driver; each backend has its own migrations folder.

#![forbid(unsafe_code)]

mod certificates;
mod crls;
mod error;
mod groups;
mod kept;
mod keys;
mod lists;
mod logs;
mod pending;
mod relayed;
mod seal;
mod sessions;
mod tokens;

use std::path::{Path, PathBuf};

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};

pub use certificates::{
    Candidate, CertOutcome, ImportReport, KeyOutcome, Outcome, StoredCertificate,
};
pub use crls::{CrlKey, NewCrl, Revoked, StoredCrl};
pub use error::{Error, Result};
pub use groups::Group;
pub use kept::StoredIncoming;
pub use keys::{SealedKey, UnsealedKey};
pub use lists::{CertificateList, CertificateQuery, CertificateSort, ListedCertificate, Watched};
pub use logs::{AuditEntry, AuditQuery, Operation};
pub use pending::{
    Accepted, MAX_PENDING, MAX_PENDING_MESSAGES, MAX_PENDING_PER_SENDER, PendingCertificate,
};
pub use relayed::RELAYED_KEEP_SECS;
pub use seal::MasterKey;
pub use sessions::WebSession;
pub use tokens::{Role, TokenInfo, random_hex, token_hash};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The database behind a [`Store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A file in the data dir; the default.
    Sqlite,
    /// A server shared by several smimed instances.
    Postgres,
}

/// Where the store lives; every field has a default.
#[derive(Debug, Clone, Default)]
pub struct Location {
    /// Data directory; holds the SQLite database and the master key.
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`; default: SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// Master key file; default: `master.key` in `data_dir`, created on first use.
    pub master_key_file: Option<PathBuf>,
}

/// Counts shown by `smimed status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    /// Whether S/MIME processing is switched on.
    pub enabled: bool,
    /// All stored certificates, CAs included.
    pub certificates: usize,
    /// CA certificates.
    pub ca_certificates: usize,
    /// Stored private keys.
    pub private_keys: usize,
    /// Certificates with at least one issue.
    pub certificates_with_issues: usize,
    /// Own certificates (with a private key) that expire within the
    /// warning window or have expired, soonest first.
    pub expiring: Vec<Expiring>,
}

/// An own certificate that expires soon (or has expired).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Expiring {
    /// SHA-256, hex.
    pub fingerprint: String,
    /// As shown.
    pub subject: String,
    /// Its addresses.
    pub emails: Vec<String>,
    /// Unix seconds.
    pub not_after: i64,
    /// Whole days left; negative once expired.
    pub days_left: i64,
}

/// The setting that switches S/MIME processing on ("true") or off.
pub const SETTING_ENABLED: &str = "enabled";

/// Whether these settings (from [`Store::settings`]) switch S/MIME on.
pub fn enabled_in(settings: &std::collections::HashMap<String, String>) -> bool {
    settings.get(SETTING_ENABLED).map(String::as_str) == Some("true")
}

/// The certificate and key store. Cheap to clone: clones share the
/// connection pool and the master key.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    master: std::sync::Arc<MasterKey>,
    generation: std::sync::Arc<GenerationReads>,
}

/// Reads of the store generation, shared by the callers that ask at the
/// same time. A caller takes the value of a read that *started after it
/// asked* (so it never sees a generation older than a fresh query would),
/// and otherwise makes the read itself: under load, the requests that queue
/// while one read runs share the next, instead of one query each.
#[derive(Default)]
struct GenerationReads {
    /// How many reads have started.
    started: std::sync::atomic::AtomicU64,
    /// The last read that finished: its number and its value. Held while a
    /// read runs, so reads go one at a time and callers wait in order.
    last: tokio::sync::Mutex<(u64, i64)>,
}

impl Store {
    /// Opens (creating if needed) the data dir, master key and database.
    ///
    /// The master key is made only for a store that holds no sealed key:
    /// when the key file is missing but sealed keys exist, or the key does
    /// not open them, this refuses with a clear error instead of going on
    /// with keys nobody can use. A rotation that was cut short
    /// ([`Store::rotate_master_key`]) is finished or undone first.
    pub async fn open_location(location: &Location) -> Result<Store> {
        create_private_dir(&location.data_dir).map_err(|e| Error::MasterKey {
            path: location.data_dir.display().to_string(),
            reason: format!("cannot create the data directory: {e}"),
        })?;
        let url = match &location.database_url {
            Some(url) => url.clone(),
            None => {
                let file = location.data_dir.join("smimed.db");
                create_private_file(&file).map_err(|e| Error::MasterKey {
                    path: file.display().to_string(),
                    reason: format!("cannot create the database file: {e}"),
                })?;
                format!("sqlite://{}?mode=rwc", file.display())
            }
        };
        let (pool, backend) = connect(&url).await?;
        let key_path = location
            .master_key_file
            .clone()
            .unwrap_or_else(|| location.data_dir.join("master.key"));
        let sample = sealed_sample(&pool).await?;
        finish_rotation(&key_path, sample.as_ref())?;
        let master = match (key_path.exists(), &sample, &location.master_key_file) {
            (true, _, _) => MasterKey::load(&key_path)?,
            (false, Some((_, keys, _)), _) => {
                return Err(Error::MasterKeyMissing {
                    path: key_path.display().to_string(),
                    keys: *keys,
                });
            }
            (false, None, Some(_)) => MasterKey::load(&key_path)?,
            (false, None, None) => MasterKey::load_or_create(&key_path)?,
        };
        if let Some((fingerprint, _, sealed)) = &sample
            && master
                .open(sealed, &certificates::key_context(fingerprint))
                .is_err()
        {
            return Err(Error::WrongMasterKey {
                path: key_path.display().to_string(),
            });
        }
        Ok(Store {
            pool,
            backend,
            master: std::sync::Arc::new(master),
            generation: Default::default(),
        })
    }

    /// Re-seals every private key and passphrase under a new master key in
    /// one transaction (audited), then puts the new key at `key_path`; the
    /// old one stays beside it as `.old`. Returns how many keys were
    /// re-sealed. The new key is written first (as `.new`): a crash at any
    /// point leaves a store that the next start opens with the right key.
    /// Other instances sharing the database must be stopped meanwhile.
    pub async fn rotate_master_key(&self, key_path: &Path, actor: &str) -> Result<usize> {
        let new_path = with_suffix(key_path, "new");
        let _ = std::fs::remove_file(&new_path);
        let new = MasterKey::generate()?;
        new.write_new(&new_path)?;
        let mut tx = self.begin_write().await?;
        let rows: Vec<(String, Vec<u8>, Option<Vec<u8>>)> = sqlx::query_as(
            "SELECT fingerprint, sealed_key, sealed_passphrase FROM private_keys ORDER BY fingerprint",
        )
        .fetch_all(&mut *tx)
        .await?;
        for (fingerprint, sealed_key, sealed_pass) in &rows {
            let key_ctx = certificates::key_context(fingerprint);
            let key = new.seal(&self.master.open(sealed_key, &key_ctx)?, &key_ctx)?;
            let pass = match sealed_pass {
                Some(sealed) => {
                    let ctx = certificates::passphrase_context(fingerprint);
                    Some(new.seal(&self.master.open(sealed, &ctx)?, &ctx)?)
                }
                None => None,
            };
            sqlx::query(
                "UPDATE private_keys SET sealed_key = $1, sealed_passphrase = $2 WHERE fingerprint = $3",
            )
            .bind(key)
            .bind(pass)
            .bind(fingerprint.clone())
            .execute(&mut *tx)
            .await?;
        }
        let detail = format!("{} key(s) re-sealed", rows.len());
        audit(&mut tx, actor, "master_key.rotate", "master key", &detail).await?;
        tx.commit().await?;
        swap_in(key_path, &new_path)?;
        Ok(rows.len())
    }

    /// Opens the database at `url` and brings its schema up to date, with
    /// `master` as the master key (tests, or a key from a secret manager).
    pub async fn open(url: &str, master: MasterKey) -> Result<Store> {
        let (pool, backend) = connect(url).await?;
        Ok(Store {
            pool,
            backend,
            master: std::sync::Arc::new(master),
            generation: Default::default(),
        })
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether S/MIME processing is on. Off until an admin enables it.
    pub async fn enabled(&self) -> Result<bool> {
        Ok(enabled_in(&self.settings().await?))
    }

    /// Switches S/MIME processing on or off, audited as `actor`.
    pub async fn set_enabled(&self, on: bool, actor: &str) -> Result<()> {
        let value = if on { "true" } else { "false" };
        self.set_settings(&[(SETTING_ENABLED, value)], actor, value)
            .await
    }

    /// A raw setting.
    pub async fn setting(&self, name: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
                .bind(name.to_string())
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// A number that changes with every change to certificates, keys,
    /// settings or groups, on any instance (kept by triggers, migration
    /// 0005): what a cache of those is valid for.
    pub async fn generation(&self) -> Result<i64> {
        use std::sync::atomic::Ordering::SeqCst;
        let reads = &self.generation;
        let asked = reads.started.load(SeqCst);
        let mut last = reads.last.lock().await;
        if last.0 > asked {
            return Ok(last.1);
        }
        let number = reads.started.fetch_add(1, SeqCst) + 1;
        let value = sqlx::query_scalar("SELECT value FROM store_generation WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        *last = (number, value);
        Ok(value)
    }

    /// Every raw setting, in one query: for callers that need several.
    pub async fn settings(&self) -> Result<std::collections::HashMap<String, String>> {
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT name, value FROM settings")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// Sets several raw settings in one transaction with their audit entry
    /// (`settings.update` by `actor`, with `detail`): all of it or, if the
    /// process dies halfway, none.
    pub async fn set_settings(
        &self,
        values: &[(&str, &str)],
        actor: &str,
        detail: &str,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        for (name, value) in values {
            sqlx::query(
                "INSERT INTO settings (name, value) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            )
            .bind(name.to_string())
            .bind(value.to_string())
            .execute(&mut *tx)
            .await?;
        }
        audit(&mut tx, actor, "settings.update", "settings", detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Database check for `/healthz`: one small write, so a store that can
    /// be read but not written (disk full, read-only) is reported too.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query(
            "INSERT INTO health (id, at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at = excluded.at",
        )
        .bind(smime::now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// What `smimed status` shows.
    pub async fn status(&self, warning_days: i64) -> Result<Status> {
        let (certificates, ca_certificates, private_keys, certificates_with_issues) =
            self.counts(smime::now()).await?;
        let expiring = self.expiring(warning_days).await?;
        Ok(Status {
            enabled: self.enabled().await?,
            certificates,
            ca_certificates,
            private_keys,
            certificates_with_issues,
            expiring,
        })
    }

    /// Own certificates (with a private key) that expire within
    /// `warning_days` or have expired, soonest first.
    pub async fn expiring(&self, warning_days: i64) -> Result<Vec<Expiring>> {
        let now = smime::now();
        Ok(self
            .watched_certificates()
            .await?
            .into_iter()
            .filter(|w| {
                w.own && w.not_after < now.saturating_add(warning_days.saturating_mul(86_400))
            })
            .map(|w| Expiring {
                days_left: (w.not_after - now).div_euclid(86_400),
                fingerprint: w.fingerprint,
                subject: w.subject,
                emails: w.emails,
                not_after: w.not_after,
            })
            .collect())
    }

    /// Starts a transaction that holds the write lock from its first
    /// statement, so concurrent SQLite writers queue instead of deadlocking.
    async fn begin_write(&self) -> Result<Tx> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }
}

/// A write transaction.
type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// A pool on `url`, its schema brought up to date.
async fn connect(url: &str) -> Result<(AnyPool, Backend)> {
    install_default_drivers();
    let backend = if url.starts_with("sqlite:") {
        Backend::Sqlite
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Backend::Postgres
    } else {
        return Err(Error::UnsupportedDatabase(url.to_string()));
    };
    let options = match backend {
        // 16: every HTTP request makes two or three short queries
        // (token, generation, operation log), each a hand-off to the
        // connection's worker thread; with 4 connections requests
        // queued for one and the CPU idled (docs/benchmarks.md).
        // No ping before each use: a connection to a local file does not
        // drop, and the ping was a second hand-off for every query.
        Backend::Sqlite => AnyPoolOptions::new()
            .max_connections(16)
            .test_before_acquire(false)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    // Writers wait for each other instead of failing;
                    // WAL lets readers go on meanwhile.
                    conn.execute("PRAGMA busy_timeout = 30000").await?;
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    Ok(())
                })
            }),
        Backend::Postgres => AnyPoolOptions::new().max_connections(8),
    };
    let pool = options.connect(url).await?;
    let migrator = match backend {
        Backend::Sqlite => &SQLITE_MIGRATIONS,
        Backend::Postgres => &POSTGRES_MIGRATIONS,
    };
    // Two processes starting on a fresh SQLite file can race to the
    // first migration; the loser finds it applied on the second pass.
    if migrator.run(&pool).await.is_err() {
        migrator.run(&pool).await?;
    }
    lists::prepare(&pool, backend).await?;
    Ok((pool, backend))
}

/// One sealed key of the store (its fingerprint, how many there are, and
/// the sealed bytes), to check a master key against; `None` when there
/// are none.
async fn sealed_sample(pool: &AnyPool) -> Result<Option<(String, i64, Vec<u8>)>> {
    let keys: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM private_keys")
        .fetch_one(pool)
        .await?;
    if keys == 0 {
        return Ok(None);
    }
    let (fingerprint, sealed): (String, Vec<u8>) = sqlx::query_as(
        "SELECT fingerprint, sealed_key FROM private_keys ORDER BY fingerprint LIMIT 1",
    )
    .fetch_one(pool)
    .await?;
    Ok(Some((fingerprint, keys, sealed)))
}

/// `path` with `.suffix` added to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(suffix);
    path.with_file_name(name)
}

/// Puts the key at `new` in place of the one at `path` (kept as `.old`).
fn swap_in(path: &Path, new: &Path) -> Result<()> {
    let err = |e: std::io::Error| Error::MasterKey {
        path: path.display().to_string(),
        reason: format!("cannot put the new key in place: {e}"),
    };
    if path.exists() {
        std::fs::rename(path, with_suffix(path, "old")).map_err(err)?;
    }
    std::fs::rename(new, path).map_err(err)?;
    if let Some(dir) = path.parent()
        && let Ok(dir) = std::fs::File::open(dir)
    {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// A rotation cut short leaves `path.new`: if the store was re-sealed under
/// it (it opens the sample), it is put in place; otherwise it goes.
fn finish_rotation(path: &Path, sample: Option<&(String, i64, Vec<u8>)>) -> Result<()> {
    let new_path = with_suffix(path, "new");
    if !new_path.exists() {
        return Ok(());
    }
    let resealed = match (MasterKey::load(&new_path), sample) {
        (Ok(new), Some((fingerprint, _, sealed))) => new
            .open(sealed, &certificates::key_context(fingerprint))
            .is_ok(),
        _ => false,
    };
    if resealed {
        swap_in(path, &new_path)
    } else {
        let _ = std::fs::remove_file(&new_path);
        Ok(())
    }
}

/// Appends to the audit log inside `tx`: the entry stands or falls with the
/// change it records.
async fn audit(tx: &mut Tx, actor: &str, action: &str, subject: &str, detail: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (at, token_name, action, subject, detail) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(smime::now())
    .bind(actor.to_string())
    .bind(action.to_string())
    .bind(subject.to_string())
    .bind(detail.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Creates `file` empty with mode 0600 unless it exists (the SQLite
/// database: its WAL and shared-memory files take the same mode).
fn create_private_file(file: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(file) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)
}

/// `($1, $2), ($3, $4)` for `rows` rows of `cols` values.
fn placeholders(rows: usize, cols: usize) -> String {
    (0..rows)
        .map(|r| {
            let row = (1..=cols)
                .map(|c| format!("${}", r * cols + c))
                .collect::<Vec<_>>()
                .join(", ");
            format!("({row})")
        })
        .collect::<Vec<_>>()
        .join(", ")
}
