//! Incoming messages kept for retry: the raw bytes and the last report.

use sqlx::Row;

use crate::tokens::random_hex;
use crate::{Error, Result, Store};

/// An incoming message kept for retry.
#[derive(Debug, Clone)]
pub struct StoredIncoming {
    /// Random id.
    pub id: String,
    /// The message as received.
    pub raw: Vec<u8>,
    /// The last report, JSON.
    pub report: String,
    /// Unix seconds.
    pub created_at: i64,
}

impl Store {
    /// Keeps an incoming message and its report; returns its new id.
    pub async fn save_incoming(&self, raw: &[u8], report: &str) -> Result<String> {
        let id = random_hex(16)?;
        let now = smime::now();
        sqlx::query(
            "INSERT INTO incoming_messages (id, raw, report, created_at, updated_at, size, received_us) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id.clone())
        .bind(raw.to_vec())
        .bind(report.to_string())
        .bind(now)
        .bind(now)
        .bind(raw.len() as i64)
        .bind(received_us())
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    /// Drops the oldest kept messages until the rest fit in `budget` bytes;
    /// returns how many went.
    pub async fn prune_incoming(&self, budget: i64) -> Result<u64> {
        let total: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM incoming_messages",
        )
        .fetch_one(&self.pool)
        .await?;
        if total <= budget {
            return Ok(0);
        }
        Ok(sqlx::query(
            "DELETE FROM incoming_messages WHERE id IN (SELECT id FROM (\
             SELECT id, SUM(size) OVER (ORDER BY received_us DESC, id DESC) AS newer \
             FROM incoming_messages) t WHERE newer > $1)",
        )
        .bind(budget)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Replaces the report of a kept message after a retry by `actor`,
    /// audited (`incoming.retry`).
    pub async fn update_incoming_report(&self, id: &str, report: &str, actor: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let n =
            sqlx::query("UPDATE incoming_messages SET report = $1, updated_at = $2 WHERE id = $3")
                .bind(report.to_string())
                .bind(smime::now())
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if n == 0 {
            return Err(Error::NoMessage(id.to_string()));
        }
        crate::audit(&mut tx, actor, "incoming.retry", id, "").await?;
        tx.commit().await?;
        Ok(())
    }

    /// A kept incoming message.
    pub async fn incoming_message(&self, id: &str) -> Result<StoredIncoming> {
        let row =
            sqlx::query("SELECT id, raw, report, created_at FROM incoming_messages WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?
                .ok_or_else(|| Error::NoMessage(id.to_string()))?;
        Ok(StoredIncoming {
            id: row.try_get(0)?,
            raw: row.try_get(1)?,
            report: row.try_get(2)?,
            created_at: row.try_get(3)?,
        })
    }
}

/// Microseconds since the Unix epoch, never less than the last value this
/// process handed out: the order kept messages were received in.
pub(crate) fn received_us() -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let previous = LAST.fetch_max(now, Ordering::Relaxed);
    if previous >= now {
        LAST.fetch_add(1, Ordering::Relaxed) + 1
    } else {
        now
    }
}
