//! Agent routes: the composer's security options, outgoing and incoming
//! mail, and retry of a kept incoming message. Each S/MIME operation is
//! written to the operation log and counted in the metrics.

use std::time::Instant;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mail_parser::MessageParser;
use serde::Deserialize;
use smime::encrypt::ContentCipher;
use smime::incoming::Processed;
use smimed_engine::{OutgoingRequest, Sender};
use smimed_store::Operation;

use crate::error::{ApiError, ApiResult, Body};
use crate::{AppState, Caller, offload};

/// The largest header section a message may have, in bytes. Real mail
/// stays far below (Postfix cuts headers at 100 KiB); beyond this a message
/// is refused before any work is done on it and nothing is kept.
pub(crate) const MAX_HEADER_BYTES: usize = 256 * 1024;

/// Refuses a message whose header section is larger than [`MAX_HEADER_BYTES`].
fn check_header_size(raw: &[u8]) -> ApiResult<()> {
    let (header, _) = smime::mime::split_header_body(raw);
    if header.len() > MAX_HEADER_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "the message's header section is {} bytes; at most {} KiB are accepted",
                header.len(),
                MAX_HEADER_BYTES / 1024
            ),
        ));
    }
    Ok(())
}

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
    let compact: String = data.split_whitespace().collect();
    openssl::base64::decode_block(&compact)
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
    _caller: Caller,
    Body(body): Body,
) -> ApiResult<Json<smime::options::SecurityOptions>> {
    let b: OptionsBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("security options: {e}")))?;
    let who = sender(b.group, b.from)?;
    let recipients: Vec<String> = b.to.into_iter().chain(b.cc).collect();
    Ok(Json(
        state.engine.security_options(&who, &recipients).await?,
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
        (query, body.to_vec())
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
    };
    let out = run_outgoing(&state, &caller, raw, who, request).await?;
    if json {
        Ok(Json(serde_json::json!({
            "message": openssl::base64::encode_block(&out.message),
            "signed": out.signed,
            "encrypted": out.encrypted,
            "notes": out.notes,
        }))
        .into_response())
    } else {
        Ok(([(header::CONTENT_TYPE, "message/rfc822")], out.message).into_response())
    }
}

/// Signs and/or encrypts on the blocking pool, logging each operation and
/// each refusal.
pub(crate) async fn run_outgoing(
    state: &AppState,
    caller: &Caller,
    raw: Vec<u8>,
    who: Sender,
    request: OutgoingRequest,
) -> ApiResult<smimed_engine::Outgoing> {
    check_header_size(&raw)?;
    let started = Instant::now();
    let engine = state.engine.clone();
    let input = raw.clone();
    let result = offload(async move { engine.outgoing(&input, &who, &request).await }).await?;
    state.metrics.latency("outgoing", started.elapsed());
    let env = envelope(&raw);
    let log = |operation: &str, status: &str, detail: String| Operation {
        direction: "outgoing".into(),
        operation: operation.into(),
        status: status.into(),
        from: env.0.clone(),
        to: env.1.clone(),
        message_id: env.2.clone(),
        detail,
        token_name: caller.name.clone(),
        ..Default::default()
    };
    let store = state.engine.store();
    let out = match result {
        Ok(out) => out,
        Err(e) => {
            if let smimed_engine::Error::NotPossible { operation, message } = &e {
                store
                    .log_operation(&log(operation, "failure", message.clone()))
                    .await?;
                state.metrics.operation(operation, "failure");
            }
            return Err(e.into());
        }
    };
    for (done, operation) in [(out.signed, "sign"), (out.encrypted, "encrypt")] {
        if done {
            store
                .log_operation(&log(operation, "success", String::new()))
                .await?;
            state.metrics.operation(operation, "success");
        }
    }
    Ok(out)
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
        body.to_vec()
    };
    let (id, processed) = receive(&state, &caller, raw).await?;
    Ok(answer(&id, &processed))
}

/// Processes an incoming message and keeps it for retry; returns its id.
pub(crate) async fn receive(
    state: &AppState,
    caller: &Caller,
    raw: Vec<u8>,
) -> ApiResult<(String, Processed)> {
    check_header_size(&raw)?;
    let processed = process(state, caller, raw.clone()).await?;
    let id = state
        .engine
        .store()
        .save_incoming(&raw, &report_json(&processed)?)
        .await?;
    Ok((id, processed))
}

fn report_json(processed: &Processed) -> ApiResult<String> {
    serde_json::to_string(&processed.report)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))
}

#[utoipa::path(post, path = "/api/v1/incoming/{id}/retry", summary = "Process a kept message again with the current certificates and keys", params(("id" = String, Path)), responses((status = 200, description = "id, report, readable message"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn retry_incoming(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(answer(&id, &reprocess(&state, &caller, &id).await?))
}

/// Processes a kept message again with today's certificates and keys.
pub(crate) async fn reprocess(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Processed> {
    let kept = state.engine.store().incoming_message(id).await?;
    let processed = process(state, caller, kept.raw).await?;
    state
        .engine
        .store()
        .update_incoming_report(id, &report_json(&processed)?)
        .await?;
    Ok(processed)
}

#[utoipa::path(get, path = "/api/v1/incoming/{id}", summary = "A kept incoming message and its last report", params(("id" = String, Path)), responses((status = 200, description = "kept message"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn get_incoming(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let kept = state.engine.store().incoming_message(&id).await?;
    let report: serde_json::Value = serde_json::from_str(&kept.report).unwrap_or_default();
    Ok(Json(serde_json::json!({
        "id": kept.id,
        "report": report,
        "raw": openssl::base64::encode_block(&kept.raw),
        "created_at": smime::rfc3339(kept.created_at),
    })))
}

fn answer(id: &str, processed: &Processed) -> Response {
    Json(serde_json::json!({
        "id": id,
        "report": processed.report,
        "message": openssl::base64::encode_block(&processed.message),
    }))
    .into_response()
}

/// Runs the engine on the blocking pool and logs every layer's result.
async fn process(state: &AppState, caller: &Caller, raw: Vec<u8>) -> ApiResult<Processed> {
    let started = Instant::now();
    let engine = state.engine.clone();
    let input = raw.clone();
    let processed = offload(async move { engine.incoming(&input).await }).await??;
    state.metrics.latency("incoming", started.elapsed());
    let env = envelope(&raw);
    for layer in &processed.report.layers {
        let (operation, success, detail) = (
            layer.operation(),
            layer.success(),
            layer.comment().to_string(),
        );
        let status = if success { "success" } else { "failure" };
        state.metrics.operation(operation, status);
        state
            .engine
            .store()
            .log_operation(&Operation {
                direction: "incoming".into(),
                operation: operation.into(),
                status: status.into(),
                from: env.0.clone(),
                to: env.1.clone(),
                message_id: env.2.clone(),
                detail,
                token_name: caller.name.clone(),
                ..Default::default()
            })
            .await?;
    }
    Ok(processed)
}

/// From, To+Cc, Message-ID of a message, for the log.
fn envelope(raw: &[u8]) -> (String, String, String) {
    let Some(m) = MessageParser::default().parse_headers(raw) else {
        return Default::default();
    };
    let addrs = |a: Option<&mail_parser::Address<'_>>| -> Vec<String> {
        a.map(|a| {
            a.iter()
                .filter_map(|x| x.address().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
    };
    let from = addrs(m.from()).join(", ");
    let to: Vec<String> = addrs(m.to()).into_iter().chain(addrs(m.cc())).collect();
    (
        from,
        to.join(", "),
        m.message_id().unwrap_or_default().to_string(),
    )
}
