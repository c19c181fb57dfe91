//! What the HTTP service keeps: API tokens (only their SHA-256), the
//! operation log, the admin audit log, and incoming messages for retry.

use openssl::hash::{MessageDigest, hash};
use serde::Serialize;
use sqlx::Row;

use crate::{Error, Result, Store};

/// A token's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything.
    Admin,
    /// Security options, outgoing and incoming only.
    Agent,
}

impl Role {
    /// `admin` or `agent`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Agent => "agent",
        }
    }
    /// Parses `admin` / `agent`.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "agent" => Some(Role::Agent),
            _ => None,
        }
    }
}

/// A token as listed (never the secret).
#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    /// Unique name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Unix seconds.
    pub created_at: i64,
}

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

/// SHA-256 of a token, hex: what the database holds.
pub fn token_hash(token: &str) -> Result<String> {
    Ok(smime::cert::hex(&hash(
        MessageDigest::sha256(),
        token.as_bytes(),
    )?))
}

/// A new random id or token body: 32 random bytes, hex.
pub fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    openssl::rand::rand_bytes(&mut buf)?;
    Ok(smime::cert::hex(&buf))
}

impl Store {
    /// Creates a token and returns its secret, which is shown once and not
    /// stored; audited as `actor`. Fails if the name is taken.
    pub async fn create_token(&self, name: &str, role: Role, actor: &str) -> Result<String> {
        let secret = format!("smimed_{}", random_hex(32)?);
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO api_tokens (name, role, token_sha256, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name.to_string())
        .bind(role.as_str())
        .bind(token_hash(&secret)?)
        .bind(smime::now())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Err(Error::TokenExists(name.to_string()));
        }
        crate::audit(&mut tx, actor, "token.create", name, role.as_str()).await?;
        tx.commit().await?;
        Ok(secret)
    }

    /// The name and role of the token whose secret is `secret`.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<TokenInfo>> {
        let row =
            sqlx::query("SELECT name, role, created_at FROM api_tokens WHERE token_sha256 = $1")
                .bind(token_hash(secret)?)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| token_from_row(&r)).transpose()
    }

    /// All tokens, without secrets.
    pub async fn tokens(&self) -> Result<Vec<TokenInfo>> {
        let rows = sqlx::query("SELECT name, role, created_at FROM api_tokens ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(token_from_row).collect()
    }

    /// Revokes (deletes) a token, audited as `actor`.
    pub async fn revoke_token(&self, name: &str, actor: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query("DELETE FROM api_tokens WHERE name = $1")
            .bind(name.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(Error::NoToken(name.to_string()));
        }
        crate::audit(&mut tx, actor, "token.revoke", name, "").await?;
        tx.commit().await?;
        Ok(())
    }

    /// Appends to the operation log.
    pub async fn log_operation(&self, op: &Operation) -> Result<()> {
        sqlx::query(
            "INSERT INTO operation_log (at, direction, operation, status, from_addr, to_addrs, \
             message_id, detail, token_name) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(smime::now())
        .bind(op.direction.clone())
        .bind(op.operation.clone())
        .bind(op.status.clone())
        .bind(op.from.clone())
        .bind(op.to.clone())
        .bind(op.message_id.clone())
        .bind(op.detail.clone())
        .bind(op.token_name.clone())
        .execute(&self.pool)
        .await?;
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

    /// Keeps an incoming message and its report; returns its new id.
    pub async fn save_incoming(&self, raw: &[u8], report: &str) -> Result<String> {
        let id = random_hex(16)?;
        let now = smime::now();
        sqlx::query(
            "INSERT INTO incoming_messages (id, raw, report, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id.clone())
        .bind(raw.to_vec())
        .bind(report.to_string())
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(id)
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

    /// Cheap database check for `/healthz`.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

fn token_from_row(row: &sqlx::any::AnyRow) -> Result<TokenInfo> {
    let role: String = row.try_get(1)?;
    Ok(TokenInfo {
        name: row.try_get(0)?,
        role: Role::parse(&role).unwrap_or(Role::Agent),
        created_at: row.try_get(2)?,
    })
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
