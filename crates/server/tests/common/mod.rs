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
    let admin = store.create_token("root", Role::Admin).await.unwrap();
    let agent = store.create_token("desk", Role::Agent).await.unwrap();
    let engine = Arc::new(Engine::new(store, 8));
    Service {
        app: router(AppState::new(engine.clone()), &Config::default()),
        engine,
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
}
