//! What the SMTP gateway has forwarded, so that Postfix's retry of a
//! delivery smimed already handed on is not forwarded twice.

use crate::{Result, Store};

/// How long a forwarded copy is remembered: longer than Postfix keeps a
/// message in its queue (`maximal_queue_lifetime`, 5 days by default).
pub const RELAYED_KEEP_SECS: i64 = 7 * 24 * 3600;

impl Store {
    /// Whether the copy `key` was forwarded already.
    pub async fn was_relayed(&self, key: &str) -> Result<bool> {
        Ok(sqlx::query("SELECT 1 FROM relayed WHERE key = $1")
            .bind(key.to_string())
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    /// Remembers that the copy `key` was forwarded (again is not an error).
    pub async fn mark_relayed(&self, key: &str) -> Result<()> {
        sqlx::query("INSERT INTO relayed (key, at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key.to_string())
            .bind(smime::now())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets copies forwarded more than [`RELAYED_KEEP_SECS`] ago.
    pub async fn expire_relayed(&self) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM relayed WHERE at < $1")
            .bind(smime::now() - RELAYED_KEEP_SECS)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}
