//! The service in-process on a fresh SQLite store, shared by the API, web
//! and security tests.
#![allow(dead_code)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use smimed_engine::Engine;
use smimed_server::{AppState, Config, router};
use smimed_store::{MasterKey, Role, Store};
use tower::ServiceExt;

/// The router over a new store with an admin token (`root`) and an agent
/// token (`desk`).
pub struct Service {
    pub app: axum::Router,
    pub engine: Arc<Engine>,
    /// The same store, for tests that set it up or look into it directly.
    pub store: Store,
    pub admin: String,
    pub agent: String,
    /// The store's database URL, for tests that look at the rows.
    pub url: String,
    pub dir: tempfile::TempDir,
}

pub async fn service() -> Service {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("db").display());
    let store = Store::open(&url, MasterKey::from_bytes([9; 32]))
        .await
        .unwrap();
    let admin = store
        .create_token("root", Role::Admin, "test")
        .await
        .unwrap();
    let agent = store
        .create_token("desk", Role::Agent, "test")
        .await
        .unwrap();
    let engine = Arc::new(Engine::new(store.clone(), 8));
    Service {
        app: router(AppState::new(engine.clone()), &Config::default()),
        engine,
        store,
        admin,
        agent,
        url,
        dir,
    }
}

impl Service {
    /// One request through the router, with `token` as a bearer token and
    /// `content_type` unless empty: the status and the body.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Vec<u8>) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if !content_type.is_empty() {
            req = req.header("content-type", content_type);
        }
        let resp = self
            .app
            .clone()
            .oneshot(req.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, bytes.to_vec())
    }

    /// A request with `token`; the status and the JSON body (null if none).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let (status, bytes) = self
            .request(method, path, Some(token), content_type, body)
            .await;
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// [`Service::call`] with the admin token.
    pub async fn admin(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        self.call(method, path, &self.admin, content_type, body)
            .await
    }

    /// `POST /api/v1/incoming` as the agent.
    pub async fn incoming(&self, message: Vec<u8>) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            "/api/v1/incoming",
            &self.agent,
            "message/rfc822",
            message,
        )
        .await
    }

    /// `POST /api/v1/outgoing?{query}` as the agent.
    pub async fn outgoing(&self, query: &str, message: Vec<u8>) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            &format!("/api/v1/outgoing?{query}"),
            &self.agent,
            "message/rfc822",
            message,
        )
        .await
    }

    /// Imports files of the committed test PKI as the admin: keys through
    /// `/private-keys`, everything else through `/certificates`.
    pub async fn import_fixtures(&self, names: &[&str]) {
        for name in names {
            let path = if name.contains("key") {
                "/api/v1/private-keys"
            } else {
                "/api/v1/certificates"
            };
            let file = std::fs::read(testpki::Pki::committed().path(name)).unwrap();
            let (status, body) = self.admin(Method::POST, path, "", file).await;
            assert_eq!(status, StatusCode::OK, "{name}: {body}");
        }
    }

    /// Switches S/MIME on and makes `group` send as `email`.
    pub async fn enable_with_group(&self, group: &str, email: &str) {
        for (method, path, body) in [
            (
                Method::PUT,
                "/api/v1/settings".to_string(),
                serde_json::json!({"enabled": true}),
            ),
            (
                Method::PUT,
                format!("/api/v1/groups/{group}"),
                serde_json::json!({"email": email}),
            ),
        ] {
            let body = body.to_string().into_bytes();
            let (status, answer) = self.admin(method, &path, "application/json", body).await;
            assert_eq!(status, StatusCode::OK, "{path}: {answer}");
        }
    }
}
