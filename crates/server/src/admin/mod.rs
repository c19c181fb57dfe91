//! Admin routes: settings, certificates, private keys, pending
//! certificates, groups, logs. Each
//! handler parses its input and renders the core's answer; the core checks
//! the role, validates, writes and audits.

mod certificates;
mod crls;
mod groups;
mod pending;

pub(crate) use certificates::*;
pub(crate) use crls::*;
pub(crate) use groups::*;
pub(crate) use pending::*;

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use smimed_engine::{Settings, SettingsPatch};

use crate::error::{ApiError, ApiResult, Body, Query};
use crate::{AppState, Caller};

#[utoipa::path(get, path = "/api/v1/settings", summary = "Read the settings (admin)", responses((status = 200, description = "settings"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn get_settings(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Settings>> {
    Ok(Json(state.engine.settings(&caller.actor).await?))
}

#[utoipa::path(put, path = "/api/v1/settings", summary = "Change any subset of the settings (admin)", request_body = SettingsBody, responses((status = 200, description = "settings"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn put_settings(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body,
) -> ApiResult<Json<Settings>> {
    caller.admin()?;
    let patch: SettingsPatch = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("settings: {e}")))?;
    Ok(Json(
        state.engine.update_settings(&caller.actor, &patch).await?,
    ))
}

/// The settings patch, for the OpenAPI document.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct SettingsBody {
    enabled: Option<bool>,
    cipher: Option<String>,
    rsa_oaep: Option<bool>,
    reject_sha1: Option<bool>,
    log_retention_days: Option<i64>,
    keep_incoming_mib: Option<i64>,
    expiry_warning_days: Option<i64>,
    learn_certificates: Option<bool>,
    require_crl: Option<bool>,
    crl_fetch: Option<bool>,
}

#[derive(Deserialize, utoipa::IntoParams)]
pub(crate) struct Page {
    limit: Option<i64>,
    offset: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/logs", summary = "Operation log, newest first (admin)", params(Page), responses((status = 200, description = "operations"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn logs(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<Page>,
) -> ApiResult<Json<Vec<smimed_store::Operation>>> {
    Ok(Json(
        state
            .engine
            .operations(&caller.actor, p.limit.unwrap_or(100), p.offset.unwrap_or(0))
            .await?,
    ))
}

/// Which audit entries: a page, and optionally who, what and when.
#[derive(Deserialize, utoipa::IntoParams)]
pub(crate) struct AuditParams {
    /// At most this many (1 to 1000, default 100).
    limit: Option<i64>,
    /// After skipping this many.
    offset: Option<i64>,
    /// Only this actor's (a token's name, `cli`, `-` for failed sign-ins).
    actor: Option<String>,
    /// Only this action (`group.update`), or a family ending in a dot (`certificate.`).
    action: Option<String>,
    /// Only from this time on (Unix seconds).
    since: Option<i64>,
    /// Only before this time (Unix seconds).
    until: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/audit", summary = "Audit log, newest first (admin)", params(AuditParams), responses((status = 200, description = "audit entries"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<AuditParams>,
) -> ApiResult<Json<Vec<smimed_store::AuditEntry>>> {
    let query = smimed_engine::AuditQuery {
        actor: p.actor,
        action: p.action,
        since: p.since,
        until: p.until,
        limit: p.limit.unwrap_or(100),
        offset: p.offset.unwrap_or(0),
    };
    Ok(Json(
        state.engine.audit_search(&caller.actor, &query).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/status", summary = "Counts, and the own certificates that expire within the warning window or have expired (admin)", responses((status = 200, description = "status"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn status(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<smimed_store::Status>> {
    Ok(Json(state.engine.status(&caller.actor).await?))
}
