//! The web page at `/`: admins manage S/MIME, agents preview the composer
//! and check incoming mail. Pages are rendered on the server (askama) and
//! updated in parts by htmx; templates, htmx and the stylesheet are compiled
//! into the binary, so there is no Node build. Signing in takes an API token
//! and opens a session kept in the database (so that several instances share
//! it); the cookie is HttpOnly and SameSite=Strict, and every change carries
//! the session's CSRF token.

mod admin_page;
mod agent_page;
mod crls;
mod logs;
mod pending;

use askama::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Form, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use smimed_engine::Role;

use crate::error::ApiError;
use crate::{AppState, Caller, Config};

/// The cookie that names a session.
const COOKIE: &str = "smimed_session";
/// A session lasts a working day at most.
const SESSION_SECS: i64 = 12 * 3600;

/// The page's routes. Uploads take the upload limit, messages the message limit.
pub(crate) fn routes(config: &Config) -> Router<AppState> {
    let uploads = Router::new()
        .route(
            "/ui/certificates",
            get(admin_page::certificates).post(admin_page::import_certificates),
        )
        .route("/ui/private-keys", post(admin_page::import_keys))
        .layer(DefaultBodyLimit::max(config.max_upload_bytes));
    let crl_uploads = Router::new()
        .route("/ui/crls", get(crls::list).post(crls::import))
        .layer(DefaultBodyLimit::max(crate::admin::MAX_CRL_REQUEST));
    let messages = Router::new()
        .route("/ui/compose", post(agent_page::create))
        .route("/ui/incoming", post(agent_page::incoming))
        .layer(DefaultBodyLimit::max(config.max_message_bytes));
    Router::new()
        .route("/", get(home))
        .route("/login", post(login).get(|| async { Redirect::to("/") }))
        .route("/logout", post(logout))
        .route("/smime", get(admin_page::page))
        .route("/ui/enabled", post(admin_page::set_enabled))
        .route(
            "/ui/certificates/{fp}/download",
            get(admin_page::download_certificate),
        )
        .route(
            "/ui/certificates/{fp}/private-key/download",
            get(admin_page::download_key),
        )
        .route(
            "/ui/certificates/{fp}/delete",
            post(admin_page::delete_certificate),
        )
        .route(
            "/ui/certificates/{fp}/private-key/delete",
            post(admin_page::delete_key),
        )
        .route(
            "/ui/groups",
            get(admin_page::groups).post(admin_page::save_groups),
        )
        .route("/ui/groups/new", post(admin_page::add_group))
        .route("/ui/groups/{name}/delete", post(admin_page::delete_group))
        .route("/ui/pending", get(pending::list))
        .route("/ui/pending/{fp}/accept", post(pending::accept))
        .route("/ui/pending/{fp}/reject", post(pending::reject))
        .route("/ui/logs", get(logs::logs))
        .route("/ui/logs/{kind}/{id}", get(logs::log_detail))
        .route("/compose", get(agent_page::compose))
        .route("/ui/compose/options", get(agent_page::options))
        .route("/check", get(agent_page::check))
        .route("/ui/incoming/{id}/retry", post(agent_page::retry))
        .route("/ui/incoming/retry", post(agent_page::retry_kept))
        .route("/static/{file}", get(asset))
        .merge(uploads)
        .merge(crl_uploads)
        .merge(messages)
}

/// Headers every response gets: a strict CSP (no inline script or style),
/// no framing, no sniffing, no referrer to other sites (`same-origin`, not
/// `no-referrer`, so that the browser still names our origin on POSTs),
/// and `no-store` unless the response says otherwise (the static assets):
/// after sign-out, Back must show nothing from the store, and no page,
/// fragment or key download may sit in a cache.
pub(crate) async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    let set = |h: &mut HeaderMap, name: &'static str, value: &'static str| {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(
        h,
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, "x-content-type-options", "nosniff");
    set(h, "x-frame-options", "DENY");
    set(h, "referrer-policy", "same-origin");
    set(h, "cross-origin-opener-policy", "same-origin");
    set(h, "cache-control", "no-store");
    response
}

// --- sessions ---------------------------------------------------------------

/// A signed-in browser. Taking it as an extractor signs the request in;
/// for anything but GET it also checks the origin and the CSRF header.
pub(crate) struct Session {
    caller: Caller,
    csrf: String,
}

impl Session {
    /// 403 unless an admin signed in.
    fn admin(&self) -> Result<(), UiError> {
        Ok(self.caller.admin()?)
    }
    fn chrome(&self, active: &'static str) -> Chrome {
        Chrome {
            csrf: self.csrf.clone(),
            user: self.caller.actor.name().to_string(),
            admin: self.caller.actor.role() == Role::Admin,
            active,
        }
    }
}

/// A form field carrying the CSRF token, for the two plain forms (sign out,
/// create message) that the browser posts without htmx.
#[derive(Deserialize)]
pub(crate) struct CsrfField {
    csrf: Option<String>,
}

impl Session {
    /// Signs the request in: a live session, and for anything but GET our
    /// origin and, when `csrf_in_header`, the CSRF header.
    async fn open(parts: &Parts, state: &AppState, csrf_in_header: bool) -> Result<Self, UiError> {
        let htmx = parts.headers.contains_key("hx-request");
        let changing = !matches!(parts.method, Method::GET | Method::HEAD);
        if changing {
            same_origin(&parts.headers)?;
        }
        let Some(s) = lookup(&parts.headers, state).await? else {
            return Err(UiError::SignIn { htmx });
        };
        let session = Session {
            caller: Caller { actor: s.actor },
            csrf: s.csrf,
        };
        if changing && csrf_in_header {
            let sent = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok());
            session.csrf_ok(sent)?;
        }
        Ok(session)
    }
}

/// The live session behind the request's cookie, if any.
async fn lookup(
    headers: &HeaderMap,
    state: &AppState,
) -> Result<Option<smimed_engine::Session>, UiError> {
    match cookie(headers, COOKIE) {
        Some(secret) => Ok(state.engine.session(&secret).await?),
        None => Ok(None),
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, UiError> {
        Session::open(parts, state, true).await
    }
}

/// A session for the two plain forms (sign out, create message), whose
/// CSRF token comes in the body: the handler must pass it to
/// [`Session::csrf_ok`] before doing anything.
pub(crate) struct PlainFormSession(pub(crate) Session);

impl FromRequestParts<AppState> for PlainFormSession {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, UiError> {
        Session::open(parts, state, false)
            .await
            .map(PlainFormSession)
    }
}

impl Session {
    /// Checks the CSRF token of a plain form.
    fn csrf_ok(&self, sent: Option<&str>) -> Result<(), UiError> {
        if sent.is_some_and(|t| same(t, &self.csrf)) {
            Ok(())
        } else {
            Err(UiError::csrf())
        }
    }
}

/// Constant-time comparison of two secrets.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && openssl::memcmp::eq(a.as_bytes(), b.as_bytes())
}

/// A request that changes something must come from this site: when the
/// browser names its origin, the origin's host must be ours.
fn same_origin(headers: &HeaderMap) -> Result<(), UiError> {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or(origin);
    if origin_host.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err(UiError::Api(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this request came from another site",
        )))
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Behind a TLS proxy (`X-Forwarded-Proto: https`) the cookie is Secure.
fn session_cookie(headers: &HeaderMap, value: &str, max_age: i64) -> String {
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if https { "; Secure" } else { "" }
    )
}

// --- errors -----------------------------------------------------------------

/// What a page handler answers when something is wrong: an alert that htmx
/// swaps in where the result would have gone, or a redirect to sign in.
pub(crate) enum UiError {
    /// No live session.
    SignIn { htmx: bool },
    /// Anything the API would answer as an error.
    Api(ApiError),
}

impl UiError {
    /// A query the page did not make (a hand-edited address): 400.
    pub(crate) fn bad(message: String) -> Self {
        UiError::Api(ApiError::new(StatusCode::BAD_REQUEST, "invalid", message))
    }

    fn csrf() -> Self {
        UiError::Api(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the form is stale or came from elsewhere: reload the page and try again",
        ))
    }
}

impl From<ApiError> for UiError {
    fn from(e: ApiError) -> Self {
        UiError::Api(e)
    }
}

impl From<smimed_engine::Error> for UiError {
    fn from(e: smimed_engine::Error) -> Self {
        UiError::Api(e.into())
    }
}

#[derive(Template)]
#[template(path = "alert.html")]
struct Alert<'a> {
    message: &'a str,
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        match self {
            UiError::SignIn { htmx: true } => (
                StatusCode::UNAUTHORIZED,
                [("hx-redirect", "/")],
                "sign in again",
            )
                .into_response(),
            UiError::SignIn { htmx: false } => Redirect::to("/").into_response(),
            UiError::Api(e) => {
                if e.status.is_server_error() {
                    tracing::error!(code = e.code, message = %e.message, "page request failed");
                }
                let html = render(&Alert {
                    message: &e.message,
                });
                (e.status, html).into_response()
            }
        }
    }
}

pub(crate) type UiResult<T> = Result<T, UiError>;

/// Renders a template; a template error is a bug, answered as 500.
fn render(t: &impl Template) -> Html<String> {
    match t.render() {
        Ok(html) => Html(html),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            Html("<p class=\"alert error\" role=\"alert\">internal error</p>".into())
        }
    }
}

/// What every full page shows around its content.
pub(crate) struct Chrome {
    csrf: String,
    user: String,
    admin: bool,
    active: &'static str,
}

// --- sign in and out ---------------------------------------------------------

#[derive(Template)]
#[template(path = "login.html")]
struct Login<'a> {
    error: &'a str,
}

async fn home(headers: HeaderMap, State(state): State<AppState>) -> UiResult<Response> {
    Ok(match lookup(&headers, &state).await? {
        Some(s) if s.actor.role() == Role::Admin => Redirect::to("/smime").into_response(),
        Some(_) => Redirect::to("/compose").into_response(),
        None => render(&Login { error: "" }).into_response(),
    })
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> UiResult<Response> {
    same_origin(&headers)?;
    let Some(secret) = state
        .engine
        .sign_in(form.token.trim(), SESSION_SECS)
        .await?
    else {
        tracing::info!("web sign-in refused: unknown token");
        let page = render(&Login {
            error: "This token is unknown or was revoked.",
        });
        return Ok((StatusCode::UNAUTHORIZED, page).into_response());
    };
    Ok((
        [(
            header::SET_COOKIE,
            session_cookie(&headers, &secret, SESSION_SECS),
        )],
        Redirect::to("/"),
    )
        .into_response())
}

async fn logout(
    State(state): State<AppState>,
    PlainFormSession(session): PlainFormSession,
    headers: HeaderMap,
    Form(form): Form<CsrfField>,
) -> UiResult<Response> {
    session.csrf_ok(form.csrf.as_deref())?;
    if let Some(secret) = cookie(&headers, COOKIE) {
        state.engine.sign_out(&secret).await?;
    }
    Ok((
        [(header::SET_COOKIE, session_cookie(&headers, "", 0))],
        Redirect::to("/"),
    )
        .into_response())
}

// --- static files -------------------------------------------------------------

async fn asset(Path(file): Path<String>) -> Response {
    let (body, mime): (&'static [u8], &str) = match file.as_str() {
        "htmx.min.js" => (
            include_bytes!("../../assets/htmx.min.js"),
            "text/javascript",
        ),
        "app.js" => (include_bytes!("../../assets/app.js"), "text/javascript"),
        "app.css" => (include_bytes!("../../assets/app.css"), "text/css"),
        _ => return (StatusCode::NOT_FOUND, "no such file").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, mime),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// `2026-11-27 06:52` (UTC) for tables.
fn datetime(secs: i64) -> String {
    let s = smime::rfc3339(secs);
    format!("{} {}", &s[..10], &s[11..16])
}
