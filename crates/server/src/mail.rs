//! Agent routes: the composer's security options, outgoing and incoming
//! mail, and retry of a kept incoming message. The core does the work and
//! logs each operation; here requests are parsed, answers rendered, and
//! operations counted for the metrics.

use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use smime::encrypt::ContentCipher;
use smime::incoming::Processed;
use smimed_engine::{OutgoingRequest, Received, Sender};

use crate::error::{ApiError, ApiResult, Body, Path, Query};
use crate::{AppState, Caller};

pub(crate) fn sender(group: Option<String>, from: Option<String>) -> ApiResult<Sender> {
    match (group, from) {
        (Some(g), None) => Ok(Sender::Group(g)),
        (None, Some(f)) => Ok(Sender::Address(f)),
        _ => Err(ApiError::bad_request(
            "give exactly one of \"group\" and \"from\"",
        )),
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/json"))
}

fn b64_decode(field: &str, data: &str) -> ApiResult<Vec<u8>> {
    use base64::Engine;
    let compact: String = data.split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| ApiError::bad_request(format!("\"{field}\" is not valid base64")))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OptionsBody {
    group: Option<String>,
    from: Option<String>,
    #[serde(default)]
    to: Vec<String>,
    #[serde(default)]
    cc: Vec<String>,
}

#[utoipa::path(post, path = "/api/v1/security-options", summary = "What the composer can do for a sender and recipients", request_body = OptionsBody, responses((status = 200, description = "options"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn security_options(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body,
) -> ApiResult<Json<smime::options::SecurityOptions>> {
    let b: OptionsBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("security options: {e}")))?;
    let who = sender(b.group, b.from)?;
    let recipients: Vec<String> = b.to.into_iter().chain(b.cc).collect();
    Ok(Json(
        state
            .engine
            .security_options(&caller.actor, &who, &recipients)
            .await?,
    ))
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct OutgoingParams {
    group: Option<String>,
    from: Option<String>,
    sign: Option<bool>,
    encrypt: Option<bool>,
    cipher: Option<String>,
    rsa_oaep: Option<bool>,
    /// JSON requests only: the message, base64.
    message: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/outgoing", summary = "Sign and/or encrypt an outgoing message (fail closed: 422)", params(OutgoingParams), request_body(content = String, description = "message/rfc822, or JSON with the message in base64", content_type = "message/rfc822"), responses((status = 200, description = "message to send"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn outgoing(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<OutgoingParams>,
    headers: HeaderMap,
    Body(body): Body,
) -> ApiResult<Response> {
    let json = is_json(&headers);
    let (params, raw) = if json {
        let p: OutgoingParams = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("outgoing: {e}")))?;
        let raw = b64_decode("message", p.message.as_deref().unwrap_or(""))?;
        (p, raw)
    } else {
        (query, Vec::from(body))
    };
    let who = sender(params.group, params.from)?;
    let cipher = match params.cipher.as_deref() {
        None => None,
        Some(c) => Some(ContentCipher::parse(c).ok_or_else(|| {
            ApiError::bad_request(format!("cipher \"{c}\": use aes-256-cbc or aes-256-gcm"))
        })?),
    };
    let request = OutgoingRequest {
        sign: params.sign,
        encrypt: params.encrypt,
        cipher,
        rsa_oaep: params.rsa_oaep,
        recipients: None,
    };
    let out = run_outgoing(&state, &caller, raw, who, request).await?;
    if json {
        Ok(Json(serde_json::json!({
            "message": b64_encode(&out.message),
            "signed": out.signed,
            "encrypted": out.encrypted,
            "notes": out.notes,
        }))
        .into_response())
    } else {
        Ok(([(header::CONTENT_TYPE, "message/rfc822")], out.message).into_response())
    }
}

/// Signs and/or encrypts through the core, counting each operation and
/// each refusal.
pub(crate) async fn run_outgoing(
    state: &AppState,
    caller: &Caller,
    raw: Vec<u8>,
    who: Sender,
    request: OutgoingRequest,
) -> ApiResult<smimed_engine::Outgoing> {
    let started = Instant::now();
    let result = state
        .engine
        .outgoing(&caller.actor, raw, &who, &request)
        .await;
    state.metrics.latency("outgoing", started.elapsed());
    match &result {
        Ok(out) => {
            for (done, operation) in [(out.signed, "sign"), (out.encrypted, "encrypt")] {
                if done {
                    state.metrics.operation(operation, "success");
                }
            }
        }
        Err(smimed_engine::Error::NotPossible { operation, .. }) => {
            state.metrics.operation(operation, "failure");
        }
        Err(_) => {}
    }
    Ok(result?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IncomingBody {
    message: String,
}

#[utoipa::path(post, path = "/api/v1/incoming", summary = "Decrypt and verify an incoming message; kept for retry", request_body(content = String, description = "message/rfc822, or JSON with the message in base64", content_type = "message/rfc822"), responses((status = 200, description = "id, report, readable message"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn incoming(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Body(body): Body,
) -> ApiResult<Response> {
    let raw = if is_json(&headers) {
        let b: IncomingBody = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("incoming: {e}")))?;
        b64_decode("message", &b.message)?
    } else {
        Vec::from(body)
    };
    let received = receive(&state, &caller, raw).await?;
    Ok(answer(&received.id, &received.processed))
}

/// Processes an incoming message through the core (which keeps it for
/// retry and logs it), counting each layer.
pub(crate) async fn receive(
    state: &AppState,
    caller: &Caller,
    raw: Vec<u8>,
) -> ApiResult<Received> {
    let started = Instant::now();
    let received = state.engine.incoming(&caller.actor, raw).await?;
    state.metrics.latency("incoming", started.elapsed());
    count_layers(state, &received.processed);
    Ok(received)
}

fn count_layers(state: &AppState, processed: &Processed) {
    for layer in &processed.report.layers {
        let status = if layer.success() {
            "success"
        } else {
            "failure"
        };
        state.metrics.operation(layer.operation(), status);
    }
}

#[utoipa::path(post, path = "/api/v1/incoming/{id}/retry", summary = "Process a kept message again with the current certificates and keys", params(("id" = String, Path)), responses((status = 200, description = "id, report, readable message"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn retry_incoming(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let received = reprocess(&state, &caller, &id).await?;
    Ok(answer(&received.id, &received.processed))
}

/// Processes a kept message again with today's certificates and keys.
pub(crate) async fn reprocess(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Received> {
    let received = state.engine.retry(&caller.actor, id).await?;
    count_layers(state, &received.processed);
    Ok(received)
}

#[utoipa::path(get, path = "/api/v1/incoming/{id}", summary = "A kept incoming message and its last report", params(("id" = String, Path)), responses((status = 200, description = "kept message"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn get_incoming(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let kept = state.engine.kept(&caller.actor, &id).await?;
    let report: serde_json::Value = serde_json::from_str(&kept.report).unwrap_or_default();
    Ok(Json(serde_json::json!({
        "id": kept.id,
        "report": report,
        "raw": b64_encode(&kept.raw),
        "created_at": smime::rfc3339(kept.created_at),
    })))
}

pub(crate) fn b64_encode(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn answer(id: &str, processed: &Processed) -> Response {
    Json(serde_json::json!({
        "id": id,
        "report": processed.report,
        "message": b64_encode(&processed.message),
    }))
    .into_response()
}
