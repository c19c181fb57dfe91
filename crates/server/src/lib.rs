//! The smimed HTTP service: a JSON API under `/api/v1` that a helpdesk's
//! backend calls (security options, outgoing, incoming, retry) and that
//! admins use to manage certificates, keys, groups and settings. Bearer
//! tokens carry a role (`admin` or `agent`). Every action is one call into
//! the application core (`smimed_engine`), which runs CPU-heavy S/MIME
//! work on the blocking pool so the async workers stay free.

#![forbid(unsafe_code)]

mod admin;
mod auth;
mod error;
mod mail;
mod metrics;
mod openapi;
mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use smimed_engine::Engine;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use auth::Caller;
pub use error::{ApiError, ApiResult};

/// Process-level settings of the service (flags, environment, TOML file).
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Largest message accepted by `/outgoing` and `/incoming`, bytes.
    pub max_message_bytes: usize,
    /// Largest certificate or key upload, bytes.
    pub max_upload_bytes: usize,
    /// How often the retention task runs.
    pub retention_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_message_bytes: 25 * 1024 * 1024,
            max_upload_bytes: 5 * 1024 * 1024,
            retention_interval: Duration::from_secs(3600),
        }
    }
}

/// Shared by every request.
#[derive(Clone)]
pub struct AppState {
    engine: Arc<Engine>,
    metrics: Arc<metrics::Metrics>,
}

impl AppState {
    /// State over an engine.
    pub fn new(engine: Arc<Engine>) -> Self {
        AppState {
            engine,
            metrics: Arc::new(metrics::Metrics::default()),
        }
    }
}

/// The whole HTTP surface.
pub fn router(state: AppState, config: &Config) -> Router {
    let admin = Router::new()
        .route(
            "/settings",
            get(admin::get_settings).put(admin::put_settings),
        )
        .route(
            "/certificates",
            get(admin::list_certificates).post(admin::import_certificates),
        )
        .route(
            "/certificates/{id}",
            get(admin::get_certificate).delete(admin::delete_certificate),
        )
        .route(
            "/certificates/{id}/download",
            get(admin::download_certificate),
        )
        .route(
            "/certificates/{id}/private-key",
            axum::routing::delete(admin::delete_private_key),
        )
        .route(
            "/certificates/{id}/private-key/download",
            get(admin::download_private_key),
        )
        .route("/private-keys", post(admin::import_private_keys))
        .route("/groups", get(admin::list_groups))
        .route(
            "/groups/{name}",
            get(admin::get_group)
                .put(admin::put_group)
                .delete(admin::delete_group),
        )
        .route("/logs", get(admin::logs))
        .route("/audit", get(admin::audit))
        .layer(DefaultBodyLimit::max(config.max_upload_bytes));
    let mail = Router::new()
        .route("/security-options", post(mail::security_options))
        .route("/outgoing", post(mail::outgoing))
        .route("/incoming", post(mail::incoming))
        .route("/incoming/{id}", get(mail::get_incoming))
        .route("/incoming/{id}/retry", post(mail::retry_incoming))
        .layer(DefaultBodyLimit::max(config.max_message_bytes));
    Router::new()
        .nest("/api/v1", admin.merge(mail))
        .merge(web::routes(config))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics::render))
        .fallback(|| async { ApiError::not_found("no such route") })
        .with_state(state)
        .layer(axum::middleware::map_response(web::security_headers))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            let id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_string();
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.engine.health().await {
        Ok(()) => (StatusCode::OK, "ok").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

/// Runs the service until SIGTERM or Ctrl-C, finishing in-flight requests.
/// `ready` gets the bound address (useful with port 0) once connections
/// are accepted.
pub async fn serve(
    engine: Arc<Engine>,
    config: Config,
    ready: impl FnOnce(std::net::SocketAddr),
) -> std::io::Result<()> {
    let state = AppState::new(engine.clone());
    let app = router(state, &config);
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let local = listener.local_addr()?;
    tracing::info!(listen = %local, "smimed is serving");
    ready(local);
    tokio::spawn(retention(engine, config.retention_interval));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
}

/// Deletes logs and kept messages older than the retention setting.
async fn retention(engine: Arc<Engine>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match engine.expire().await {
            Ok(n) if n > 0 => tracing::info!(deleted = n, "retention"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retention failed"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
