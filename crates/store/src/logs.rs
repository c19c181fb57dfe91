//! The operation log (every sign, encrypt, decrypt, verify) and the audit
//! log (every admin change), and their retention.

use serde::Serialize;
use sqlx::{AssertSqlSafe, Row};

use crate::{Result, Store};

/// Operations per multi-row INSERT of [`Store::log_operations`] at most: a
/// power of two (see there).
pub const LOG_BATCH: usize = 64;

/// One entry of the operation log.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Operation {
    /// Row id (0 when not stored yet).
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// `outgoing` or `incoming`.
    pub direction: String,
    /// `sign`, `encrypt`, `decrypt` or `verify`.
    pub operation: String,
    /// `success` or `failure`.
    pub status: String,
    /// From address.
    pub from: String,
    /// Recipients, comma-separated.
    pub to: String,
    /// Message-ID.
    pub message_id: String,
    /// A short detail (result comment).
    pub detail: String,
    /// The API token (or `cli`) that caused it.
    pub token_name: String,
}

/// Which audit entries a page shows.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only this actor's (a token's name, `cli`, `-` for failed sign-ins).
    pub actor: Option<String>,
    /// Only this action (`group.update`), or every action of a family when
    /// it ends with a dot (`certificate.`).
    pub action: Option<String>,
    /// Only from this time on (Unix seconds).
    pub since: Option<i64>,
    /// Only before this time (Unix seconds).
    pub until: Option<i64>,
    /// At most this many (1 to 1,000).
    pub limit: i64,
    /// After skipping this many.
    pub offset: i64,
}

/// A value bound to a query built at run time.
enum Bound {
    Text(String),
    Int(i64),
}

/// One entry of the audit log.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuditEntry {
    /// Row id.
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// Who.
    pub token_name: String,
    /// What, e.g. `certificate.import`.
    pub action: String,
    /// On what, e.g. a fingerprint or group name.
    pub subject: String,
    /// More.
    pub detail: String,
}

impl Store {
    /// Appends to the operation log.
    pub async fn log_operation(&self, op: &Operation) -> Result<()> {
        self.log_operations(std::slice::from_ref(op)).await
    }

    /// Writes operations in one transaction (a group commit), in INSERTs of
    /// [`LOG_BATCH`] rows and then of the powers of two below it: seven
    /// statement shapes in all, each prepared once per connection, where
    /// one shape per batch size would prepare nearly every batch anew (and
    /// push the other statements out of the cache). Each keeps its own `at` when set (the time it
    /// happened, not the time it was written).
    pub async fn log_operations(&self, ops: &[Operation]) -> Result<()> {
        if ops.is_empty() {
            return Ok(());
        }
        let now = smime::now();
        let mut tx = self.begin_write().await?;
        let mut rest = ops;
        while !rest.is_empty() {
            let n = if rest.len() >= LOG_BATCH {
                LOG_BATCH
            } else {
                1 << rest.len().ilog2()
            };
            let (rows, after) = rest.split_at(n);
            rest = after;
            let sql = format!(
                "INSERT INTO operation_log (at, direction, operation, status, from_addr, \
                 to_addrs, message_id, detail, token_name) VALUES {}",
                crate::placeholders(rows.len(), 9)
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for op in rows {
                query = query
                    .bind(if op.at > 0 { op.at } else { now })
                    .bind(op.direction.clone())
                    .bind(op.operation.clone())
                    .bind(op.status.clone())
                    .bind(op.from.clone())
                    .bind(op.to.clone())
                    .bind(op.message_id.clone())
                    .bind(op.detail.clone())
                    .bind(op.token_name.clone());
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The newest operations first.
    pub async fn operations(&self, limit: i64, offset: i64) -> Result<Vec<Operation>> {
        let rows = sqlx::query(
            "SELECT id, at, direction, operation, status, from_addr, to_addrs, message_id, detail, \
             token_name FROM operation_log ORDER BY id DESC LIMIT $1 OFFSET $2",
        )
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(operation_from_row).collect()
    }

    /// One operation by id.
    pub async fn operation(&self, id: i64) -> Result<Option<Operation>> {
        let row = sqlx::query(
            "SELECT id, at, direction, operation, status, from_addr, to_addrs, message_id, detail, \
             token_name FROM operation_log WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(operation_from_row).transpose()
    }

    /// Appends an entry to the audit log that records no change of its own
    /// (a sign-in, a refused action).
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        subject: &str,
        detail: &str,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        crate::audit(&mut tx, actor, action, subject, detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The newest audit entries first.
    pub async fn audit_entries(&self, limit: i64, offset: i64) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT id, at, token_name, action, subject, detail FROM audit_log \
             ORDER BY id DESC LIMIT $1 OFFSET $2",
        )
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(audit_from_row).collect()
    }

    /// Audit entries that match `query`, newest first.
    pub async fn audit_search(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let mut terms = Vec::new();
        let mut values: Vec<Bound> = Vec::new();
        if let Some(actor) = &query.actor {
            values.push(Bound::Text(actor.clone()));
            terms.push(format!("token_name = ${}", values.len()));
        }
        if let Some(action) = &query.action {
            if let Some(prefix) = action.strip_suffix('.') {
                // A family of actions ("certificate." for every
                // certificate.*): a range, which the index serves.
                values.push(Bound::Text(format!("{prefix}.")));
                terms.push(format!("action >= ${}", values.len()));
                values.push(Bound::Text(format!("{prefix}/")));
                terms.push(format!("action < ${}", values.len()));
            } else {
                values.push(Bound::Text(action.clone()));
                terms.push(format!("action = ${}", values.len()));
            }
        }
        if let Some(since) = query.since {
            values.push(Bound::Int(since));
            terms.push(format!("at >= ${}", values.len()));
        }
        if let Some(until) = query.until {
            values.push(Bound::Int(until));
            terms.push(format!("at < ${}", values.len()));
        }
        let filter = if terms.is_empty() {
            "1 = 1".to_string()
        } else {
            terms.join(" AND ")
        };
        let sql = format!(
            "SELECT id, at, token_name, action, subject, detail FROM audit_log WHERE {filter} \
             ORDER BY id DESC LIMIT ${} OFFSET ${}",
            values.len() + 1,
            values.len() + 2
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for value in values {
            q = match value {
                Bound::Text(t) => q.bind(t),
                Bound::Int(i) => q.bind(i),
            };
        }
        let rows = q
            .bind(query.limit.clamp(1, 1000))
            .bind(query.offset.max(0))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(audit_from_row).collect()
    }

    /// The subjects of the stored certificates among `fingerprints` (what
    /// the audit page names beside a fingerprint).
    pub async fn certificate_subjects(
        &self,
        fingerprints: &[String],
    ) -> Result<std::collections::HashMap<String, String>> {
        let mut found = std::collections::HashMap::new();
        for chunk in fingerprints.chunks(500) {
            let sql = format!(
                "SELECT fingerprint, subject FROM certificate_list WHERE fingerprint IN ({})",
                (1..=chunk.len())
                    .map(|i| format!("${i}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let mut q = sqlx::query_as::<_, (String, String)>(AssertSqlSafe(sql));
            for fingerprint in chunk {
                q = q.bind(fingerprint.clone());
            }
            found.extend(q.fetch_all(&self.pool).await?);
        }
        Ok(found)
    }

    /// One audit entry by id.
    pub async fn audit_entry(&self, id: i64) -> Result<Option<AuditEntry>> {
        let row = sqlx::query(
            "SELECT id, at, token_name, action, subject, detail FROM audit_log WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(audit_from_row).transpose()
    }

    /// Deletes log entries and kept messages older than `days` days.
    /// Returns how many rows went.
    pub async fn expire(&self, days: i64) -> Result<u64> {
        let cutoff = smime::now() - days * 86_400;
        let mut n = 0;
        for sql in [
            "DELETE FROM operation_log WHERE at < $1",
            "DELETE FROM audit_log WHERE at < $1",
            "DELETE FROM incoming_messages WHERE created_at < $1",
        ] {
            n += sqlx::query(sql)
                .bind(cutoff)
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        Ok(n + self.expire_sessions().await?)
    }
}

fn operation_from_row(r: &sqlx::any::AnyRow) -> Result<Operation> {
    Ok(Operation {
        id: r.try_get(0)?,
        at: r.try_get(1)?,
        direction: r.try_get(2)?,
        operation: r.try_get(3)?,
        status: r.try_get(4)?,
        from: r.try_get(5)?,
        to: r.try_get(6)?,
        message_id: r.try_get(7)?,
        detail: r.try_get(8)?,
        token_name: r.try_get(9)?,
    })
}

fn audit_from_row(r: &sqlx::any::AnyRow) -> Result<AuditEntry> {
    Ok(AuditEntry {
        id: r.try_get(0)?,
        at: r.try_get(1)?,
        token_name: r.try_get(2)?,
        action: r.try_get(3)?,
        subject: r.try_get(4)?,
        detail: r.try_get(5)?,
    })
}
