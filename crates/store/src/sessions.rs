//! Sessions of the admin web page. The browser holds a random secret in an
//! HttpOnly cookie; the database holds its SHA-256, the token it was opened
//! with and the CSRF token of its forms. Revoking the token ends its
//! sessions, because every lookup joins the token table.

use sqlx::Row;

use crate::tokens::{random_hex, token_hash};
use crate::{Result, Role, Store};

/// A signed-in browser.
#[derive(Debug, Clone)]
pub struct WebSession {
    /// The API token it was opened with.
    pub token_name: String,
    /// That token's role.
    pub role: Role,
    /// The secret every changing request must echo.
    pub csrf: String,
    /// Unix seconds.
    pub expires_at: i64,
}

impl Store {
    /// Opens a session for a token; returns the cookie secret.
    pub async fn create_session(&self, token_name: &str, lifetime_secs: i64) -> Result<String> {
        let secret = random_hex(32)?;
        let now = smime::now();
        sqlx::query(
            "INSERT INTO web_sessions (id_sha256, token_name, csrf, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash(&secret)?)
        .bind(token_name.to_string())
        .bind(random_hex(32)?)
        .bind(now)
        .bind(now + lifetime_secs)
        .execute(&self.pool)
        .await?;
        Ok(secret)
    }

    /// The live session behind a cookie secret: not expired, and its token
    /// not revoked.
    pub async fn session(&self, secret: &str) -> Result<Option<WebSession>> {
        let row = sqlx::query(
            "SELECT s.token_name, t.role, s.csrf, s.expires_at FROM web_sessions s \
             JOIN api_tokens t ON t.name = s.token_name \
             WHERE s.id_sha256 = $1 AND s.expires_at > $2",
        )
        .bind(token_hash(secret)?)
        .bind(smime::now())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let role: String = row.try_get(1)?;
        Ok(Some(WebSession {
            token_name: row.try_get(0)?,
            role: Role::parse(&role).unwrap_or(Role::Agent),
            csrf: row.try_get(2)?,
            expires_at: row.try_get(3)?,
        }))
    }

    /// Signs a browser out. Unknown secrets are not an error.
    pub async fn delete_session(&self, secret: &str) -> Result<()> {
        sqlx::query("DELETE FROM web_sessions WHERE id_sha256 = $1")
            .bind(token_hash(secret)?)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets expired sessions and those of revoked tokens.
    pub async fn expire_sessions(&self) -> Result<u64> {
        Ok(sqlx::query(
            "DELETE FROM web_sessions WHERE expires_at <= $1 \
             OR token_name NOT IN (SELECT name FROM api_tokens)",
        )
        .bind(smime::now())
        .execute(&self.pool)
        .await?
        .rows_affected())
    }
}
