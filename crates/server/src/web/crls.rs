//! The CRLs on the S/MIME page: the stored ones, and a paste or upload of
//! another; the same core functions as `/api/v1/crls`.

use askama::Template;
use axum::extract::{Request, State};
use axum::response::{Html, IntoResponse, Response};

use super::{Session, UiResult, datetime, render};
use crate::AppState;
use crate::admin;

#[derive(Template)]
#[template(path = "crls.html")]
struct Crls {
    fetch: bool,
    rows: Vec<Row>,
}

struct Row {
    issuer: String,
    this_update: String,
    next_update: String,
    stale: bool,
    entries: i64,
    revoked: i64,
    source: String,
}

#[derive(Template)]
#[template(
    source = r#"<p class="alert ok" role="status">{{ text }}</p>"#,
    ext = "html"
)]
struct Notice {
    text: String,
}

pub(crate) async fn fragment(state: &AppState, s: &Session) -> UiResult<Html<String>> {
    let now = smime::now();
    let rows = state
        .engine
        .crls(&s.caller.actor)
        .await?
        .into_iter()
        .map(|c| Row {
            issuer: c.issuer,
            this_update: datetime(c.this_update),
            next_update: c.next_update.map(datetime).unwrap_or_else(|| "—".into()),
            stale: c.next_update.is_some_and(|n| n < now),
            entries: c.entries,
            revoked: c.revoked_stored,
            source: c.source,
        })
        .collect();
    let fetch = state.engine.settings(&s.caller.actor).await?.crl_fetch;
    Ok(render(&Crls { fetch, rows }))
}

pub(crate) async fn list(State(state): State<AppState>, s: Session) -> UiResult<Html<String>> {
    fragment(&state, &s).await
}

/// A pasted or uploaded CRL: what was stored, or the reason nothing was
/// (in the dialog, as a refused certificate upload); on success the list
/// and the certificate table (it shows `revoked`) reload.
pub(crate) async fn import(
    State(state): State<AppState>,
    s: Session,
    req: Request,
) -> UiResult<Response> {
    s.admin()?;
    let (data, _) = admin::upload(&state, req).await?;
    let done = state
        .engine
        .import_crl(&s.caller.actor, data.to_vec(), "import")
        .await?;
    let n = done.revoked.len();
    let text = format!(
        "Stored the CRL of {} ({} entries){}; {n} stored certificate{} revoked.",
        done.issuer,
        done.entries,
        if done.replaced {
            ", replacing the older one"
        } else {
            ""
        },
        if n == 1 { " is" } else { "s are" }
    );
    let html = render(&Notice { text });
    Ok(([("hx-trigger", "certs-changed, crls-changed")], html).into_response())
}
