//! Bearer tokens and roles. Every `/api/v1` route except the OpenAPI
//! document takes a [`Caller`]; admin-only handlers call [`Caller::admin`].

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use smimed_store::Role;

use crate::AppState;
use crate::error::ApiError;

/// The authenticated token behind a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Token name (for the logs).
    pub name: String,
    /// Its role.
    pub role: Role,
}

impl Caller {
    /// 403 unless the caller is an admin.
    pub fn admin(&self) -> Result<(), ApiError> {
        if self.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this needs an admin token",
            ))
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
        let info = state
            .engine
            .store()
            .authenticate(token)
            .await?
            .ok_or_else(|| unauthorized("unknown or revoked token"))?;
        Ok(Caller {
            name: info.name,
            role: info.role,
        })
    }
}
