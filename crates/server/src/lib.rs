//! The smimed HTTP service: a JSON API under `/api/v1` that a helpdesk's
//! backend calls (security options, outgoing, incoming, retry) and that
//! admins use to manage certificates, keys, groups and settings. Bearer
//! tokens carry a role (`admin` or `agent`). Every action is one call into
//! the application core (`smimed_engine`), which runs CPU-heavy S/MIME
//! work on the blocking pool so the async workers stay free.

#![forbid(unsafe_code)]

mod admin;
mod auth;
pub mod crl_fetch;
mod error;
mod gateway;
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
pub use gateway::GatewayConfig;

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
    /// How often due CRLs are fetched (while `crl_fetch` is on).
    pub crl_fetch_interval: Duration,
    /// Connections served at once; more wait in the listen queue.
    pub max_connections: usize,
    /// Time a client has to send a request's header (also the idle time of
    /// a kept-alive connection between requests).
    pub header_timeout: Duration,
    /// Time a request's body may stall between two pieces.
    pub body_timeout: Duration,
    /// The SMTP gateway (off unless a listener is set).
    pub smtp: GatewayConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_message_bytes: 25 * 1024 * 1024,
            max_upload_bytes: 5 * 1024 * 1024,
            retention_interval: Duration::from_secs(3600),
            crl_fetch_interval: Duration::from_secs(300),
            max_connections: 512,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            smtp: GatewayConfig::default(),
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
        .route("/pending-certificates", get(admin::list_pending))
        .route(
            "/pending-certificates/{fingerprint}/accept",
            post(admin::accept_pending),
        )
        .route(
            "/pending-certificates/{fingerprint}/reject",
            post(admin::reject_pending),
        )
        .route("/groups", get(admin::list_groups))
        .route(
            "/groups/{name}",
            get(admin::get_group)
                .put(admin::put_group)
                .delete(admin::delete_group),
        )
        .route("/logs", get(admin::logs))
        .route("/audit", get(admin::audit))
        .route("/status", get(admin::status))
        .layer(DefaultBodyLimit::max(config.max_upload_bytes));
    let crls = Router::new()
        .route("/crls", get(admin::list_crls).post(admin::import_crl))
        .layer(DefaultBodyLimit::max(admin::MAX_CRL_REQUEST));
    let mail = Router::new()
        .route("/security-options", post(mail::security_options))
        .route("/outgoing", post(mail::outgoing))
        .route("/incoming", post(mail::incoming))
        .route("/incoming/{id}", get(mail::get_incoming))
        .route("/incoming/{id}/retry", post(mail::retry_incoming))
        .layer(DefaultBodyLimit::max(config.max_message_bytes));
    Router::new()
        .nest("/api/v1", admin.merge(crls).merge(mail))
        .merge(web::routes(config))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics::render))
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
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
        .layer(axum::middleware::map_request(sanitize_request_id))
}

/// A client's `x-request-id` is kept only when it looks like an id (1 to
/// 128 letters, digits, `-`, `_`, `.`, `:`); anything else (line breaks,
/// quotes, log-looking text) is dropped and a new id is made, so a client
/// cannot write into the service's log lines.
async fn sanitize_request_id(mut request: axum::extract::Request) -> axum::extract::Request {
    let valid = |v: &axum::http::HeaderValue| {
        let v = v.as_bytes();
        (1..=128).contains(&v.len())
            && v.iter()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
    };
    if request
        .headers()
        .get("x-request-id")
        .is_some_and(|v| !valid(v))
    {
        request.headers_mut().remove("x-request-id");
    }
    request
}

async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.engine.health().await {
        Ok(()) => (StatusCode::OK, "ok").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unhealthy",
                "the store cannot be written (full disk, read-only file system or lost database); see the service log",
            )
            .into_response()
        }
    }
}

/// Runs the service until SIGTERM or Ctrl-C, finishing in-flight requests.
/// `ready` gets the bound address (useful with port 0) once connections
/// are accepted.
///
/// Connections are bounded: at most `max_connections` are served at once
/// (the next ones wait in the kernel's listen queue), a client has
/// `header_timeout` to send each request's header and the body may not
/// stall longer than `body_timeout`, so idle or trickling connections
/// (slowloris) cannot hold the service.
pub async fn serve(
    engine: Arc<Engine>,
    config: Config,
    ready: impl FnOnce(std::net::SocketAddr),
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;

    let state = AppState::new(engine.clone());
    let app = router(state, &config).layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
        config.body_timeout,
    ));
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let local = listener.local_addr()?;
    // The SMTP listeners are up before the service says it is ready.
    let (stop_smtp, stop) = tokio::sync::watch::channel(false);
    let smtp = gateway::start(engine.clone(), &config.smtp, stop, |_, _| {}).await?;
    tracing::info!(listen = %local, "smimed is serving");
    ready(local);
    tokio::spawn(retention(engine.clone(), config.retention_interval));
    tokio::spawn(crl_fetch::run(
        engine.clone(),
        config.crl_fetch_interval,
        crl_fetch::FetchLimits::default(),
    ));

    let slots = Arc::new(tokio::sync::Semaphore::new(config.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown_signal());
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait, go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(config.header_timeout);
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
            drop(slot);
        });
    }
    drop(listener);
    // SMTP: no new transaction (421), those in flight finish.
    let _ = stop_smtp.send(true);
    graceful.shutdown().await;
    for listener in smtp {
        let _ = listener.await;
    }
    // Every request is answered; what they logged is written before exit.
    engine.flush_log().await;
    Ok(())
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
