//! Certificates from signed mail that wait for an admin's decision.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use smimed_engine::{Acceptance, PendingPage};

use crate::error::{ApiResult, Path, Query};
use crate::{AppState, Caller};

#[derive(Deserialize, utoipa::IntoParams)]
pub(crate) struct PendingQuery {
    /// From 1.
    page: Option<usize>,
    /// 1 to 1,000; 100 unless given.
    per_page: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/pending-certificates", summary = "Signer certificates from signed mail without a path to a stored CA, waiting for a decision, most recently seen first (admin)", params(PendingQuery), responses((status = 200, description = "pending page"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn list_pending(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<PendingQuery>,
) -> ApiResult<Json<PendingPage>> {
    let page = q.page.unwrap_or(1);
    let per_page = q.per_page.unwrap_or(100);
    Ok(Json(
        state
            .engine
            .pending_certificates(&caller.actor, page, per_page)
            .await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/pending-certificates/{fingerprint}/accept", summary = "Store a pending certificate as a contact, audited, and check the kept messages it signed again (admin)", params(("fingerprint" = String, Path, description = "the whole SHA-256 fingerprint")), responses((status = 200, description = "accepted, with the retried messages"), (status = 400, description = "not a whole fingerprint"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role"), (status = 404, description = "not pending")), security(("bearer" = [])))]
pub(crate) async fn accept_pending(
    State(state): State<AppState>,
    caller: Caller,
    Path(fingerprint): Path<String>,
) -> ApiResult<Json<Acceptance>> {
    Ok(Json(
        state
            .engine
            .accept_pending(&caller.actor, &fingerprint)
            .await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/pending-certificates/{fingerprint}/reject", summary = "Reject a pending certificate: never used, not offered again; audited (admin)", params(("fingerprint" = String, Path, description = "the whole SHA-256 fingerprint")), responses((status = 200, description = "rejected"), (status = 400, description = "not a whole fingerprint"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role"), (status = 404, description = "not pending")), security(("bearer" = [])))]
pub(crate) async fn reject_pending(
    State(state): State<AppState>,
    caller: Caller,
    Path(fingerprint): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let fp = state
        .engine
        .reject_pending(&caller.actor, &fingerprint)
        .await?;
    Ok(Json(serde_json::json!({ "rejected": fp })))
}
