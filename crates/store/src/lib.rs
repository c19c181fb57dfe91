//! Persistence for smimed: one schema for SQLite (embedded default) and
//! PostgreSQL (several instances, one site), private keys and passphrases
//! sealed at rest under a master key kept outside the database.
//!
//! SQL is one portable subset with `$N` placeholders run through sqlx's
//! `Any` driver; each backend has its own migrations folder.

#![forbid(unsafe_code)]

mod certificates;
mod error;
mod groups;
mod kept;
mod keys;
mod logs;
mod seal;
mod sessions;
mod tokens;

use std::path::{Path, PathBuf};

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};

pub use certificates::{
    Candidate, CertOutcome, ImportReport, KeyOutcome, Outcome, StoredCertificate,
};
pub use error::{Error, Result};
pub use groups::Group;
pub use kept::StoredIncoming;
pub use keys::{SealedKey, UnsealedKey};
pub use logs::{AuditEntry, Operation};
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
}

impl Store {
    /// Opens (creating if needed) the data dir, master key and database.
    pub async fn open_location(location: &Location) -> Result<Store> {
        create_private_dir(&location.data_dir).map_err(|e| Error::MasterKey {
            path: location.data_dir.display().to_string(),
            reason: format!("cannot create the data directory: {e}"),
        })?;
        let master = match &location.master_key_file {
            Some(path) => MasterKey::load(path)?,
            None => MasterKey::load_or_create(&location.data_dir.join("master.key"))?,
        };
        let url = match &location.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                location.data_dir.join("smimed.db").display()
            ),
        };
        Store::open(&url, master).await
    }

    /// Opens the database at `url` and brings its schema up to date.
    pub async fn open(url: &str, master: MasterKey) -> Result<Store> {
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
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(16)
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
                    })
            }
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
        Ok(Store {
            pool,
            backend,
            master: std::sync::Arc::new(master),
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
        Ok(
            sqlx::query_scalar("SELECT value FROM store_generation WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
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

    /// Cheap database check for `/healthz`.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// What `smimed status` shows.
    pub async fn status(&self) -> Result<Status> {
        let certs = self.list_certificates().await?;
        Ok(Status {
            enabled: self.enabled().await?,
            certificates: certs.len(),
            ca_certificates: certs
                .iter()
                .filter(|c| c.certificate.info().kind == smime::Kind::Ca)
                .count(),
            private_keys: certs.iter().filter(|c| c.has_private_key).count(),
            certificates_with_issues: certs.iter().filter(|c| !c.issues.is_empty()).count(),
        })
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
