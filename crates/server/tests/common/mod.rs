//! The service in-process on a fresh SQLite store, shared by the API, web
//! and security tests.
#![allow(dead_code)]

use std::sync::Arc;

use smimed_engine::Engine;
use smimed_server::{AppState, Config, router};
use smimed_store::{MasterKey, Role, Store};

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
