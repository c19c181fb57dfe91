//! Bearer tokens. Every `/api/v1` route except the OpenAPI document takes
//! a [`Caller`]: the core's [`Actor`] behind the token. The core checks
//! roles itself; [`Caller::admin`] only answers an agent on an admin route
//! with 403 before its input is read.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use smimed_engine::{Actor, Role};

use crate::AppState;
use crate::error::ApiError;

/// The authenticated token behind a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who, for the core.
    pub actor: Actor,
}

impl Caller {
    /// 403 unless the caller is an admin.
    pub fn admin(&self) -> Result<(), ApiError> {
        if self.actor.role() == Role::Admin {
            Ok(())
        } else {
            Err(smimed_engine::Error::Forbidden.into())
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m);
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| unauthorized("missing bearer token"))?;
        let token = header
            .strip_prefix("Bearer ")
            .ok_or_else(|| unauthorized("use Authorization: Bearer TOKEN"))?
            .trim();
        let actor = state
            .engine
            .authenticate(token)
            .await?
            .ok_or_else(|| unauthorized("unknown or revoked token"))?;
        Ok(Caller { actor })
    }
}
