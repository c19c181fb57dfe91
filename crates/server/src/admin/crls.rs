//! Certificate revocation lists: import (signed by a stored CA, current,
//! newer than the stored one) and list.

use axum::Json;
use axum::extract::{Request, State};
use smimed_engine::{CrlImported, StoredCrl};

use crate::error::ApiResult;
use crate::{AppState, Caller};

/// The largest request `/crls` reads: a CRL at its bound, pasted in JSON or
/// a form. Beyond, 413 before anything is read.
pub(crate) const MAX_CRL_REQUEST: usize = smime::crl::MAX_CRL_BYTES + 64 * 1024;

#[utoipa::path(post, path = "/api/v1/crls", summary = "Import a CRL (PEM or DER): JSON {data}, multipart (file) or the raw file; accepted only when a stored CA signed it, it is current and newer than the stored one (admin)", request_body(content = String, description = "PEM text as JSON {\"data\"}, a multipart form (file), or the raw PEM/DER bytes", content_type = "application/octet-stream"), responses((status = 200, description = "the CRL stored, with the stored certificates it revokes"), (status = 400, description = "not newer than the stored one"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role"), (status = 413, description = "over 10 MiB"), (status = 422, description = "not a CRL, not signed by a stored CA, forged, or out of date")), security(("bearer" = [])))]
pub(crate) async fn import_crl(
    State(state): State<AppState>,
    caller: Caller,
    req: Request,
) -> ApiResult<Json<CrlImported>> {
    caller.admin()?;
    let (data, _) = super::upload(&state, req).await?;
    Ok(Json(
        state
            .engine
            .import_crl(&caller.actor, data.to_vec(), "import")
            .await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/crls", summary = "The stored CRLs, one per CA (admin)", responses((status = 200, description = "CRLs"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn list_crls(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<StoredCrl>>> {
    Ok(Json(state.engine.crls(&caller.actor).await?))
}
