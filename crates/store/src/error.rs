//! The one error type of the store.

/// What can go wrong when storing or reading.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No certificate has this fingerprint or prefix.
    #[error("no certificate matches \"{0}\"")]
    NotFound(String),
    /// The prefix matches more than one certificate.
    #[error("\"{prefix}\" matches {count} certificates; give more characters of the fingerprint")]
    AmbiguousId {
        /// The prefix given.
        prefix: String,
        /// How many certificates it matches (at least 2).
        count: usize,
    },
    /// The ID is not hex or shorter than 8 characters.
    #[error(
        "\"{0}\" is not a certificate ID: give at least 8 hex characters of the SHA-256 fingerprint"
    )]
    InvalidId(String),
    /// No group has this name.
    #[error("no group is called \"{0}\"")]
    NoGroup(String),
    /// A token with this name exists already.
    #[error("a token called \"{0}\" exists already")]
    TokenExists(String),
    /// No token has this name.
    #[error("no token is called \"{0}\"")]
    NoToken(String),
    /// No certificate with this fingerprint waits for a decision.
    #[error("no pending certificate has fingerprint \"{0}\"")]
    NoPending(String),
    /// What was asked cannot be stored; the text says why.
    #[error("{0}")]
    Refused(String),
    /// No kept incoming message has this id.
    #[error("no incoming message has id \"{0}\"")]
    NoMessage(String),
    /// The certificate has no private key.
    #[error("certificate {0} has no private key")]
    NoPrivateKey(String),
    /// A sealed value does not open under the master key (wrong master key
    /// or tampered database).
    #[error("a sealed secret could not be opened: wrong master key, or the database was altered")]
    Unseal,
    /// The master key file is unusable.
    #[error("master key file {path}: {reason}")]
    MasterKey {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The master key file is missing although the store holds keys sealed
    /// under it: a new key would make them unusable, so none is made.
    #[error(
        "master key file {path} is missing, but the store holds {keys} private key(s) sealed under it: \
         restore the file (or name it with --master-key-file / SMIMED_MASTER_KEY_FILE); \
         smimed will not make a new key, which would lock those keys away for good"
    )]
    MasterKeyMissing {
        /// The file.
        path: String,
        /// How many sealed keys the store holds.
        keys: i64,
    },
    /// The master key does not open the keys the store holds.
    #[error(
        "master key file {path} does not open the private keys this store holds: \
         it is not the key they were sealed with"
    )]
    WrongMasterKey {
        /// The file.
        path: String,
    },
    /// The database URL names no supported backend.
    #[error("unsupported database URL \"{0}\": use sqlite://PATH or postgres://...")]
    UnsupportedDatabase(String),
    /// An error from the database.
    #[error("database: {0}")]
    Database(sqlx::Error),
    /// Schema migration failed.
    #[error("database migration: {0}")]
    Migrate(sqlx::migrate::MigrateError),
    /// Stored data that no longer parses.
    #[error("stored data is damaged: {0}")]
    Smime(smime::Error),
    /// An OpenSSL failure while sealing.
    #[error("OpenSSL: {0}")]
    OpenSsl(openssl::error::ErrorStack),
}

// Manual `From`s: the inner error is shown in the message, so it is not
// also a `source` (that would print it twice in a chain).
macro_rules! from {
    ($($t:ty => $v:ident),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error::$v(e)
            }
        }
    )*};
}
from!(sqlx::Error => Database, sqlx::migrate::MigrateError => Migrate, smime::Error => Smime, openssl::error::ErrorStack => OpenSsl);

/// Result alias for the store.
pub type Result<T, E = Error> = std::result::Result<T, E>;
