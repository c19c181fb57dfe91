//! Certificates and private keys: list, import (pasted, uploaded or raw),
//! download, delete.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use smimed_engine::{CertificateFilter, CertificatePage, Download, ImportKind};
use smimed_store::CertificateSort;
use zeroize::Zeroizing;

use crate::error::{ApiError, ApiResult, Path, Query, unreadable_body};
use crate::{AppState, Caller};

/// A passphrase: zeroed on drop, never printed by `Debug`.
pub(crate) struct Secret(pub(crate) Zeroizing<String>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
pub(crate) struct CertFilter {
    /// Only certificates with an address containing this text (any case).
    email: Option<String>,
    /// Only certificates with this text (any case) in an address or the subject.
    q: Option<String>,
    has_key: Option<bool>,
    /// `ca` or `end_entity`.
    kind: Option<String>,
    has_issues: Option<bool>,
    /// `subject` (the default), `not_after` (soonest first) or `imported` (newest first).
    sort: Option<String>,
    page: Option<usize>,
    per_page: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/certificates", summary = "List certificates with filters and pagination (admin)", params(CertFilter), responses((status = 200, description = "certificates page"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn list_certificates(
    State(state): State<AppState>,
    caller: Caller,
    Query(f): Query<CertFilter>,
) -> ApiResult<Json<CertificatePage>> {
    caller.admin()?;
    let kind = match f.kind.as_deref() {
        None => None,
        Some("ca") => Some(smime::Kind::Ca),
        Some("end_entity") => Some(smime::Kind::EndEntity),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "kind \"{other}\": use ca or end_entity"
            )));
        }
    };
    let sort = match f.sort.as_deref() {
        None => CertificateSort::default(),
        Some(name) => CertificateSort::parse(name).ok_or_else(|| {
            ApiError::bad_request(format!(
                "sort \"{name}\": use subject, not_after or imported"
            ))
        })?,
    };
    let filter = CertificateFilter {
        email: f.email,
        has_key: f.has_key,
        kind,
        has_issues: f.has_issues,
        search: f.q,
        sort,
        count_up_to: None,
    };
    let page = f.page.unwrap_or(1);
    let per_page = f.per_page.unwrap_or(100).clamp(1, 1000);
    Ok(Json(
        state
            .engine
            .certificates(&caller.actor, &filter, page, per_page)
            .await?,
    ))
}

/// An upload: pasted JSON `{"data", "passphrase"}`, a multipart form
/// (`file` or `data`, and `passphrase`), or the raw file as the body. The
/// file may be a private key: the copy returned is zeroed when dropped (the
/// request's own buffers belong to hyper and are not).
pub(crate) async fn upload(
    state: &AppState,
    req: Request,
) -> ApiResult<(Zeroizing<Vec<u8>>, Option<Secret>)> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        let mut form = Multipart::from_request(req, state)
            .await
            .map_err(|e| unreadable_body(e.status(), e.body_text(), &e))?;
        let (mut data, mut pass) = (None, None);
        while let Some(field) = form
            .next_field()
            .await
            .map_err(|e| unreadable_body(e.status(), e.body_text(), &e))?
        {
            let name = field.name().unwrap_or("").to_string();
            let bytes = field
                .bytes()
                .await
                .map_err(|e| unreadable_body(e.status(), e.body_text(), &e))?;
            match name.as_str() {
                "file" | "data" if !bytes.is_empty() => data = Some(Zeroizing::new(bytes.to_vec())),
                "passphrase" if !bytes.is_empty() => {
                    pass = Some(Secret(Zeroizing::new(
                        String::from_utf8(bytes.to_vec())
                            .map_err(|_| ApiError::bad_request("the passphrase is not UTF-8"))?,
                    )))
                }
                _ => {}
            }
        }
        let data = data.ok_or_else(|| {
            ApiError::bad_request("the form has no file (field \"file\" or \"data\")")
        })?;
        return Ok((data, pass));
    }
    let body = Bytes::from_request(req, state)
        .await
        .map_err(|e| unreadable_body(e.status(), e.body_text(), &e))?;
    if content_type.starts_with("application/json") {
        #[derive(Deserialize)]
        struct Pasted {
            data: String,
            passphrase: Option<String>,
        }
        let pasted: Pasted = serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!(
                "expected {{\"data\": \"...\", \"passphrase\": \"...\"}}: {e}"
            ))
        })?;
        return Ok((
            Zeroizing::new(pasted.data.into_bytes()),
            pasted
                .passphrase
                .filter(|p| !p.is_empty())
                .map(|p| Secret(Zeroizing::new(p))),
        ));
    }
    Ok((Zeroizing::new(body.to_vec()), None))
}

async fn import(
    state: AppState,
    caller: Caller,
    req: Request,
    kind: ImportKind,
) -> ApiResult<Response> {
    let (data, pass) = upload(&state, req).await?;
    let report = state
        .engine
        .import(&caller.actor, data, pass.map(|p| p.0), kind, &|_| {})
        .await?;
    if !report.stored {
        let body = serde_json::json!({
            "error": {"code": "rejected", "message": "nothing was stored: see the report for the reason"},
            "report": report,
        });
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response());
    }
    Ok(Json(report).into_response())
}

#[utoipa::path(post, path = "/api/v1/certificates", summary = "Import certificates: JSON {data, passphrase}, multipart (file, passphrase) or the raw file (admin)", request_body(content = String, description = "PEM text as JSON {\"data\", \"passphrase\"}, a multipart form (file, passphrase), or the raw PEM/DER/PKCS#7/PKCS#12 bytes", content_type = "application/octet-stream"), responses((status = 200, description = "import report"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn import_certificates(
    State(state): State<AppState>,
    caller: Caller,
    req: Request,
) -> ApiResult<Response> {
    caller.admin()?;
    import(state, caller, req, ImportKind::Certificates).await
}

#[utoipa::path(post, path = "/api/v1/private-keys", summary = "Import private keys, matched to stored certificates (admin)", request_body(content = String, description = "PEM text as JSON {\"data\", \"passphrase\"}, a multipart form (file, passphrase), or the raw PEM/DER/PKCS#7/PKCS#12 bytes", content_type = "application/octet-stream"), responses((status = 200, description = "import report"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn import_private_keys(
    State(state): State<AppState>,
    caller: Caller,
    req: Request,
) -> ApiResult<Response> {
    caller.admin()?;
    import(state, caller, req, ImportKind::PrivateKeys).await
}

#[utoipa::path(get, path = "/api/v1/certificates/{id}", summary = "One certificate (admin)", params(("id" = String, Path)), responses((status = 200, description = "certificate"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn get_certificate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<smimed_store::StoredCertificate>> {
    Ok(Json(state.engine.certificate(&caller.actor, &id).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub(crate) struct Format {
    format: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/certificates/{id}/download", summary = "Download a certificate, PEM or DER (admin)", params(("id" = String, Path), Format), responses((status = 200, description = "certificate file"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn download_certificate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(f): Query<Format>,
) -> ApiResult<Response> {
    let der = match f.format.as_deref().unwrap_or("pem") {
        "pem" => false,
        "der" => true,
        other => {
            return Err(ApiError::bad_request(format!(
                "format \"{other}\": use pem or der"
            )));
        }
    };
    let file = state
        .engine
        .certificate_file(&caller.actor, &id, der)
        .await?;
    Ok(download(file))
}

/// A file from the core as a download.
pub(crate) fn download(file: Download) -> Response {
    (
        [
            (header::CONTENT_TYPE, file.media_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", file.file_name),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        file.bytes.to_vec(),
    )
        .into_response()
}

#[utoipa::path(delete, path = "/api/v1/certificates/{id}", summary = "Delete a certificate and its private key (admin)", params(("id" = String, Path)), responses((status = 200, description = "deleted"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn delete_certificate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let (fp, had_key) = state.engine.delete_certificate(&caller.actor, &id).await?;
    Ok(Json(
        serde_json::json!({"deleted": fp, "private_key_deleted": had_key}),
    ))
}

#[utoipa::path(get, path = "/api/v1/certificates/{id}/private-key/download", summary = "Download a private key as uploaded; audited (admin)", params(("id" = String, Path)), responses((status = 200, description = "key file"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn download_private_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(download(
        state.engine.private_key_file(&caller.actor, &id).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/certificates/{id}/private-key", summary = "Delete a private key; the certificate stays (admin)", params(("id" = String, Path)), responses((status = 200, description = "deleted"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn delete_private_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let fp = state.engine.delete_private_key(&caller.actor, &id).await?;
    Ok(Json(serde_json::json!({"deleted_private_key_of": fp})))
}
