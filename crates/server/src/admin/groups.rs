//! Groups: the sending address and the composer's defaults.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use smimed_engine::{Group, GroupPatch};

use crate::error::{ApiError, ApiResult, Body, Path};
use crate::{AppState, Caller};

#[utoipa::path(get, path = "/api/v1/groups", summary = "List groups (admin)", responses((status = 200, description = "groups"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn list_groups(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<Group>>> {
    Ok(Json(state.engine.groups(&caller.actor).await?))
}

#[utoipa::path(get, path = "/api/v1/groups/{name}", summary = "One group (admin)", params(("name" = String, Path)), responses((status = 200, description = "group"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn get_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Group>> {
    Ok(Json(state.engine.group(&caller.actor, &name).await?))
}

/// The group change, for the OpenAPI document: absent fields keep their
/// value; a new group needs `email`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct GroupBody {
    email: Option<String>,
    default_sign: Option<bool>,
    default_encrypt: Option<bool>,
}

#[utoipa::path(put, path = "/api/v1/groups/{name}", summary = "Create a group, or change the given fields of one (admin)", params(("name" = String, Path)), request_body = GroupBody, responses((status = 200, description = "group"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn put_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Body(body): Body,
) -> ApiResult<Json<Group>> {
    caller.admin()?;
    let patch: GroupPatch =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("group: {e}")))?;
    Ok(Json(
        state.engine.put_group(&caller.actor, &name, &patch).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/groups/{name}", summary = "Delete a group (admin)", params(("name" = String, Path)), responses((status = 200, description = "deleted"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn delete_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    state.engine.delete_group(&caller.actor, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
