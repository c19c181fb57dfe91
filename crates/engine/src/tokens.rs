//! API tokens and web sessions: who may ask, and the audit of who did.

use smimed_store::{Role, TokenInfo};

use crate::{Actor, Engine, Error, Result};

/// A signed-in browser, as a front end needs it.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who: the token the session was opened with.
    pub actor: Actor,
    /// The secret every changing request must echo.
    pub csrf: String,
}

impl Engine {
    /// The actor behind an API token's secret, if the token exists.
    /// Checked against what is remembered for the store's current
    /// generation (tokens move it on), so a request costs one query, not
    /// a token lookup as well.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<Actor>> {
        let hash = smimed_store::token_hash(secret)?;
        let view = self.view().await?;
        Ok(view
            .token(&hash)
            .await?
            .map(|t| Actor::token(t.name, t.role).seen_at(view.generation())))
    }

    /// Every token, without secrets (admins).
    pub async fn tokens(&self, actor: &Actor) -> Result<Vec<TokenInfo>> {
        actor.admin()?;
        Ok(self.store.tokens().await?)
    }

    /// Creates a token; returns its secret, shown once (admins).
    pub async fn create_token(&self, actor: &Actor, name: &str, role: Role) -> Result<String> {
        actor.admin()?;
        let name = name.trim();
        if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
            return Err(Error::Invalid(
                "a token needs a name of 1 to 100 printable characters".into(),
            ));
        }
        Ok(self.store.create_token(name, role, actor.name()).await?)
    }

    /// Revokes a token; its web sessions end with it (admins).
    pub async fn revoke_token(&self, actor: &Actor, name: &str) -> Result<()> {
        actor.admin()?;
        Ok(self.store.revoke_token(name, actor.name()).await?)
    }

    /// On a store without tokens, creates the admin token `admin` and
    /// returns its secret (the first start). Another instance starting at
    /// the same moment may win the race; then its token stands.
    pub async fn first_admin_token(&self) -> Result<Option<String>> {
        if !self.store.tokens().await?.is_empty() {
            return Ok(None);
        }
        match self
            .store
            .create_token("admin", Role::Admin, Actor::service().name())
            .await
        {
            Ok(secret) => Ok(Some(secret)),
            Err(smimed_store::Error::TokenExists(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Opens a web session for the token whose secret is given; returns
    /// the cookie secret, or `None` for an unknown token. Audited.
    pub async fn sign_in(&self, secret: &str, lifetime_secs: i64) -> Result<Option<String>> {
        let Some(actor) = self.authenticate(secret).await? else {
            // The token itself is never written anywhere.
            self.store
                .audit("-", "web.sign_in_failed", "", "unknown or revoked token")
                .await?;
            return Ok(None);
        };
        let cookie = self
            .store
            .create_session(actor.name(), lifetime_secs)
            .await?;
        self.store
            .audit(actor.name(), "web.sign_in", actor.name(), "")
            .await?;
        Ok(Some(cookie))
    }

    /// The live session behind a cookie secret.
    pub async fn session(&self, cookie: &str) -> Result<Option<Session>> {
        Ok(self.store.session(cookie).await?.map(|s| Session {
            actor: Actor::token(s.token_name, s.role),
            csrf: s.csrf,
        }))
    }

    /// Ends a web session; unknown secrets are not an error.
    pub async fn sign_out(&self, cookie: &str) -> Result<()> {
        Ok(self.store.delete_session(cookie).await?)
    }
}
