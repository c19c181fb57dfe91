//! API tokens: only their SHA-256 is stored; the secret is shown once.

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
        self.token_by_hash(&token_hash(secret)?).await
    }

    /// The token whose secret has this [`token_hash`].
    pub async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenInfo>> {
        let row =
            sqlx::query("SELECT name, role, created_at FROM api_tokens WHERE token_sha256 = $1")
                .bind(hash.to_string())
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
}

fn token_from_row(row: &sqlx::any::AnyRow) -> Result<TokenInfo> {
    let role: String = row.try_get(1)?;
    Ok(TokenInfo {
        name: row.try_get(0)?,
        role: Role::parse(&role).unwrap_or(Role::Agent),
        created_at: row.try_get(2)?,
    })
}
