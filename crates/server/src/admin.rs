//! Admin routes: settings, certificates, private keys, groups, logs. Every
//! change and every key download is written to the audit log.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use smime::encrypt::ContentCipher;
use smimed_engine::{SETTING_CIPHER, SETTING_REJECT_SHA1, SETTING_RSA_OAEP};
use smimed_store::Group;
use zeroize::Zeroizing;

use crate::error::{ApiError, ApiResult, Body};
use crate::{AppState, Caller};

/// Setting name of the log retention in days.
pub(crate) const SETTING_RETENTION: &str = "log_retention_days";
/// Logs and kept messages live this long unless set otherwise.
pub(crate) const DEFAULT_RETENTION_DAYS: i64 = 30;

/// A passphrase: zeroed on drop, never printed by `Debug`.
pub(crate) struct Secret(pub(crate) Zeroizing<String>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

async fn settings_json(state: &AppState) -> ApiResult<serde_json::Value> {
    let store = state.engine.store();
    let settings = store.settings().await?;
    let encryption = smimed_engine::encryption_settings(&settings);
    let retention = settings
        .get(SETTING_RETENTION)
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_RETENTION_DAYS);
    Ok(serde_json::json!({
        "enabled": smimed_store::enabled_in(&settings),
        "cipher": encryption.cipher.as_str(),
        "rsa_oaep": encryption.rsa_oaep,
        "reject_sha1": smimed_engine::policy(&settings, 0).reject_sha1,
        "log_retention_days": retention,
    }))
}

#[utoipa::path(get, path = "/api/v1/settings", summary = "Read the settings (admin)", responses((status = 200, description = "settings"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn get_settings(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<serde_json::Value>> {
    caller.admin()?;
    Ok(Json(settings_json(&state).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SettingsPatch {
    enabled: Option<bool>,
    cipher: Option<String>,
    rsa_oaep: Option<bool>,
    reject_sha1: Option<bool>,
    log_retention_days: Option<i64>,
}

#[utoipa::path(put, path = "/api/v1/settings", summary = "Change any subset of the settings (admin)", request_body = SettingsPatch, responses((status = 200, description = "settings"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn put_settings(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body,
) -> ApiResult<Json<serde_json::Value>> {
    caller.admin()?;
    let patch: SettingsPatch = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("settings: {e}")))?;
    // Check everything first, then write it all in one transaction: a
    // refused patch changes nothing, and a crash halfway changes nothing.
    let mut changes: Vec<(&str, String)> = Vec::new();
    if let Some(cipher) = &patch.cipher {
        let c = ContentCipher::parse(cipher).ok_or_else(|| {
            ApiError::bad_request(format!(
                "cipher \"{cipher}\": use aes-256-cbc or aes-256-gcm"
            ))
        })?;
        changes.push((SETTING_CIPHER, c.as_str().to_string()));
    }
    if let Some(days) = patch.log_retention_days {
        if !(1..=3650).contains(&days) {
            return Err(ApiError::bad_request(
                "log_retention_days must be between 1 and 3650",
            ));
        }
        changes.push((SETTING_RETENTION, days.to_string()));
    }
    if let Some(on) = patch.rsa_oaep {
        changes.push((SETTING_RSA_OAEP, on.to_string()));
    }
    if let Some(on) = patch.reject_sha1 {
        changes.push((SETTING_REJECT_SHA1, on.to_string()));
    }
    if let Some(on) = patch.enabled {
        changes.push(("enabled", on.to_string()));
    }
    let store = state.engine.store();
    if !changes.is_empty() {
        let changes: Vec<(&str, &str)> = changes.iter().map(|(n, v)| (*n, v.as_str())).collect();
        store.set_settings(&changes).await?;
    }
    let now = settings_json(&state).await?;
    store
        .audit(
            &caller.name,
            "settings.update",
            "settings",
            &String::from_utf8_lossy(&body),
        )
        .await?;
    Ok(Json(now))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub(crate) struct CertFilter {
    email: Option<String>,
    has_key: Option<bool>,
    kind: Option<String>,
    has_issues: Option<bool>,
    page: Option<usize>,
    per_page: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/certificates", summary = "List certificates with filters and pagination (admin)", params(CertFilter), responses((status = 200, description = "certificates page"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn list_certificates(
    State(state): State<AppState>,
    caller: Caller,
    Query(f): Query<CertFilter>,
) -> ApiResult<Json<serde_json::Value>> {
    caller.admin()?;
    let store = state.engine.store();
    let all = match &f.email {
        Some(email) => store.certificates_for_email(email).await?,
        None => store.list_certificates().await?,
    };
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
    let items: Vec<_> = all
        .into_iter()
        .filter(|c| f.has_key.is_none_or(|k| c.has_private_key == k))
        .filter(|c| kind.is_none_or(|k| c.certificate.info().kind == k))
        .filter(|c| f.has_issues.is_none_or(|i| c.issues.is_empty() != i))
        .collect();
    let per_page = f.per_page.unwrap_or(100).clamp(1, 1000);
    let page = f.page.unwrap_or(1).max(1);
    let total = items.len();
    let items: Vec<_> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    Ok(Json(
        serde_json::json!({"total": total, "page": page, "per_page": per_page, "items": items}),
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
            .map_err(|e| ApiError::new(e.status(), "bad_request", e.body_text()))?;
        let (mut data, mut pass) = (None, None);
        while let Some(field) = form
            .next_field()
            .await
            .map_err(|e| ApiError::new(e.status(), "bad_request", e.body_text()))?
        {
            let name = field.name().unwrap_or("").to_string();
            let bytes = field
                .bytes()
                .await
                .map_err(|e| ApiError::new(e.status(), "bad_request", e.body_text()))?;
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
        .map_err(|e| ApiError::new(e.status(), "too_large_or_unreadable", e.body_text()))?;
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
    want_keys: bool,
) -> ApiResult<Response> {
    let (data, pass) = upload(&state, req).await?;
    let report = import_bundle(&state, &caller, &data, pass.map(|p| p.0), want_keys).await?;
    if !report.stored {
        let body = serde_json::json!({
            "error": {"code": "rejected", "message": "nothing was stored: see the report for the reason"},
            "report": report,
        });
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response());
    }
    Ok(Json(report).into_response())
}

/// Parses an upload and stores it whole or not at all, auditing what was
/// stored. `want_keys`: the upload is a private-key upload and must hold one.
pub(crate) async fn import_bundle(
    state: &AppState,
    caller: &Caller,
    data: &[u8],
    pass: Option<Zeroizing<String>>,
    want_keys: bool,
) -> ApiResult<smimed_store::ImportReport> {
    let pass = pass.as_ref().map(|p| p.as_str());
    let bundle = smime::bundle::parse(data, pass)?;
    if want_keys && bundle.keys.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            "the upload holds no private key",
        ));
    }
    if !want_keys && bundle.certificates.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            "the upload holds no certificate",
        ));
    }
    let store = state.engine.store();
    let report = store.import(bundle, pass, &|_| {}).await?;
    if !report.stored {
        return Ok(report);
    }
    for c in report
        .certificates
        .iter()
        .filter(|c| c.outcome == smimed_store::Outcome::Imported)
    {
        store
            .audit(
                &caller.name,
                "certificate.import",
                &c.fingerprint,
                &c.subject,
            )
            .await?;
    }
    for k in report
        .private_keys
        .iter()
        .filter(|k| k.outcome == smimed_store::Outcome::Imported)
    {
        store
            .audit(
                &caller.name,
                "private_key.import",
                &k.certificates.join(","),
                "",
            )
            .await?;
    }
    Ok(report)
}

#[utoipa::path(post, path = "/api/v1/certificates", summary = "Import certificates: JSON {data, passphrase}, multipart (file, passphrase) or the raw file (admin)", request_body(content = String, description = "PEM text as JSON {\"data\", \"passphrase\"}, a multipart form (file, passphrase), or the raw PEM/DER/PKCS#7/PKCS#12 bytes", content_type = "application/octet-stream"), responses((status = 200, description = "import report"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn import_certificates(
    State(state): State<AppState>,
    caller: Caller,
    req: Request,
) -> ApiResult<Response> {
    caller.admin()?;
    import(state, caller, req, false).await
}

#[utoipa::path(post, path = "/api/v1/private-keys", summary = "Import private keys, matched to stored certificates (admin)", request_body(content = String, description = "PEM text as JSON {\"data\", \"passphrase\"}, a multipart form (file, passphrase), or the raw PEM/DER/PKCS#7/PKCS#12 bytes", content_type = "application/octet-stream"), responses((status = 200, description = "import report"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn import_private_keys(
    State(state): State<AppState>,
    caller: Caller,
    req: Request,
) -> ApiResult<Response> {
    caller.admin()?;
    import(state, caller, req, true).await
}

#[utoipa::path(get, path = "/api/v1/certificates/{id}", summary = "One certificate (admin)", params(("id" = String, Path)), responses((status = 200, description = "certificate"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn get_certificate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<smimed_store::StoredCertificate>> {
    caller.admin()?;
    Ok(Json(state.engine.store().find_certificate(&id).await?))
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
    caller.admin()?;
    certificate_file(&state, &id, f.format.as_deref().unwrap_or("pem")).await
}

/// A stored certificate as a download, PEM or DER.
pub(crate) async fn certificate_file(
    state: &AppState,
    id: &str,
    format: &str,
) -> ApiResult<Response> {
    let cert = state.engine.store().find_certificate(id).await?.certificate;
    let short = &cert.fingerprint()[..16];
    let (body, mime, ext) = match format {
        "pem" => (cert.to_pem()?, "application/x-pem-file", "pem"),
        "der" => (cert.der().to_vec(), "application/pkix-cert", "cer"),
        other => {
            return Err(ApiError::bad_request(format!(
                "format \"{other}\": use pem or der"
            )));
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, mime.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{short}.{ext}\""),
            ),
        ],
        body,
    )
        .into_response())
}

#[utoipa::path(delete, path = "/api/v1/certificates/{id}", summary = "Delete a certificate and its private key (admin)", params(("id" = String, Path)), responses((status = 200, description = "deleted"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn delete_certificate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    caller.admin()?;
    let (fp, had_key) = remove_certificate(&state, &caller, &id).await?;
    Ok(Json(
        serde_json::json!({"deleted": fp, "private_key_deleted": had_key}),
    ))
}

/// Deletes a certificate and its key, audited. Returns the fingerprint and
/// whether a key went too.
pub(crate) async fn remove_certificate(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> ApiResult<(String, bool)> {
    let store = state.engine.store();
    let fp = store.resolve_id(id).await?;
    let had_key = store.delete_certificate(&fp).await?;
    store
        .audit(
            &caller.name,
            "certificate.delete",
            &fp,
            if had_key { "with its private key" } else { "" },
        )
        .await?;
    Ok((fp, had_key))
}

#[utoipa::path(get, path = "/api/v1/certificates/{id}/private-key/download", summary = "Download a private key as uploaded; audited (admin)", params(("id" = String, Path)), responses((status = 200, description = "key file"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn download_private_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.admin()?;
    private_key_file(&state, &caller, &id).await
}

/// A stored private key as uploaded, audited.
pub(crate) async fn private_key_file(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> ApiResult<Response> {
    let store = state.engine.store();
    let fp = store.resolve_id(id).await?;
    let key = store.unseal_key(&fp).await?;
    store
        .audit(
            &caller.name,
            "private_key.download",
            &fp,
            if key.passphrase.is_some() {
                "protected"
            } else {
                ""
            },
        )
        .await?;
    let pem = key.original.starts_with(b"-----BEGIN");
    let (mime, ext) = if pem {
        ("application/x-pem-file", "key.pem")
    } else {
        ("application/octet-stream", "key.der")
    };
    Ok((
        [
            (header::CONTENT_TYPE, mime.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}.{ext}\"", &fp[..16]),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        key.original.to_vec(),
    )
        .into_response())
}

#[utoipa::path(delete, path = "/api/v1/certificates/{id}/private-key", summary = "Delete a private key; the certificate stays (admin)", params(("id" = String, Path)), responses((status = 200, description = "deleted"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn delete_private_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    caller.admin()?;
    let fp = remove_private_key(&state, &caller, &id).await?;
    Ok(Json(serde_json::json!({"deleted_private_key_of": fp})))
}

/// Deletes a private key (the certificate stays), audited.
pub(crate) async fn remove_private_key(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> ApiResult<String> {
    let store = state.engine.store();
    let fp = store.resolve_id(id).await?;
    store.delete_key(&fp).await?;
    store
        .audit(&caller.name, "private_key.delete", &fp, "")
        .await?;
    Ok(fp)
}

#[utoipa::path(get, path = "/api/v1/groups", summary = "List groups (admin)", responses((status = 200, description = "groups"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn list_groups(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<Group>>> {
    caller.admin()?;
    Ok(Json(state.engine.store().groups().await?))
}

#[utoipa::path(get, path = "/api/v1/groups/{name}", summary = "One group (admin)", params(("name" = String, Path)), responses((status = 200, description = "group"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn get_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Group>> {
    caller.admin()?;
    Ok(Json(state.engine.store().group(&name).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GroupBody {
    email: String,
    default_sign: Option<bool>,
    default_encrypt: Option<bool>,
}

#[utoipa::path(put, path = "/api/v1/groups/{name}", summary = "Create or replace a group (admin)", params(("name" = String, Path)), request_body = GroupBody, responses((status = 200, description = "group"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn put_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Body(body): Body,
) -> ApiResult<Json<Group>> {
    caller.admin()?;
    let b: GroupBody =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("group: {e}")))?;
    let group = Group {
        name: name.clone(),
        email: b.email,
        default_sign: b.default_sign,
        default_encrypt: b.default_encrypt,
    };
    save_group(&state, &caller, &group, &String::from_utf8_lossy(&body)).await?;
    Ok(Json(state.engine.store().group(&name).await?))
}

/// Creates or replaces a group after checking it, audited.
pub(crate) async fn save_group(
    state: &AppState,
    caller: &Caller,
    group: &Group,
    detail: &str,
) -> ApiResult<()> {
    let email = group.email.trim();
    let valid_email = email.split_once('@').is_some_and(|(l, d)| {
        !l.is_empty() && d.contains('.') && !email.contains(char::is_whitespace)
    });
    if group.name.trim().is_empty() || !valid_email {
        return Err(ApiError::bad_request(format!(
            "a group needs a name and a sending address like support@example.com (got \"{}\")",
            group.email
        )));
    }
    let store = state.engine.store();
    store.set_group(group).await?;
    store
        .audit(&caller.name, "group.update", &group.name, detail)
        .await?;
    Ok(())
}

#[utoipa::path(delete, path = "/api/v1/groups/{name}", summary = "Delete a group (admin)", params(("name" = String, Path)), responses((status = 200, description = "deleted"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn delete_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    caller.admin()?;
    remove_group(&state, &caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a group, audited.
pub(crate) async fn remove_group(state: &AppState, caller: &Caller, name: &str) -> ApiResult<()> {
    let store = state.engine.store();
    store.delete_group(name).await?;
    store.audit(&caller.name, "group.delete", name, "").await?;
    Ok(())
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
    caller.admin()?;
    Ok(Json(
        state
            .engine
            .store()
            .operations(
                p.limit.unwrap_or(100).clamp(1, 1000),
                p.offset.unwrap_or(0).max(0),
            )
            .await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/audit", summary = "Audit log, newest first (admin)", params(Page), responses((status = 200, description = "audit entries"), (status = 400, description = "bad input"), (status = 401, description = "no valid token"), (status = 403, description = "wrong role")), security(("bearer" = [])))]
pub(crate) async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<Page>,
) -> ApiResult<Json<Vec<smimed_store::AuditEntry>>> {
    caller.admin()?;
    Ok(Json(
        state
            .engine
            .store()
            .audit_entries(
                p.limit.unwrap_or(100).clamp(1, 1000),
                p.offset.unwrap_or(0).max(0),
            )
            .await?,
    ))
}
