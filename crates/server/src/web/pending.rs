//! The certificates from signed mail that wait for an admin's decision: the
//! fingerprint set out for reading aloud over the phone, accept and reject.
//! The same core functions as `/api/v1/pending-certificates`.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Response};
use smimed_engine::{PendingCertificate, fingerprint_groups};

use super::{Session, UiResult, datetime, render};
use crate::AppState;

/// Rows shown: the most recently seen (at most 1,000 wait in all).
const SHOWN: usize = 50;

#[derive(Template)]
#[template(path = "pending.html")]
struct Pending {
    notice: String,
    total: i64,
    items: Vec<Row>,
}

struct Row {
    fingerprint: String,
    /// The fingerprint in 16 groups of four, uppercase.
    groups: Vec<String>,
    /// The same for a screen reader: groups separated by commas.
    spoken: String,
    subject: String,
    issuer: String,
    sender: String,
    not_after: String,
    last_seen: String,
    seen: i64,
    kept: i64,
}

impl Row {
    fn of(p: PendingCertificate) -> Row {
        let groups = fingerprint_groups(&p.fingerprint);
        Row {
            spoken: groups.join(", "),
            groups,
            fingerprint: p.fingerprint,
            subject: p.subject,
            issuer: p.issuer,
            sender: p.sender,
            not_after: p.not_after[..10.min(p.not_after.len())].to_string(),
            last_seen: datetime(p.last_seen),
            seen: p.messages_seen,
            kept: p.messages_kept,
        }
    }
}

pub(crate) async fn fragment(
    state: &AppState,
    s: &Session,
    notice: String,
) -> UiResult<Html<String>> {
    let page = state
        .engine
        .pending_certificates(&s.caller.actor, 1, SHOWN)
        .await?;
    Ok(render(&Pending {
        notice,
        total: page.total,
        items: page.items.into_iter().map(Row::of).collect(),
    }))
}

pub(crate) async fn list(State(state): State<AppState>, s: Session) -> UiResult<Html<String>> {
    fragment(&state, &s, String::new()).await
}

pub(crate) async fn accept(
    State(state): State<AppState>,
    s: Session,
    Path(fp): Path<String>,
) -> UiResult<Response> {
    let subject = state
        .engine
        .pending_certificate(&s.caller.actor, &fp)
        .await?
        .subject;
    let accepted = state.engine.accept_pending(&s.caller.actor, &fp).await?;
    let verified = accepted
        .retried
        .iter()
        .filter(|m| m.sign == Some("verified"))
        .count();
    let notice = match accepted.retried.len() {
        0 => format!("Accepted {subject} as a contact."),
        n => format!(
            "Accepted {subject} as a contact. {n} kept message{} checked again: {verified} verified.",
            if n == 1 { "" } else { "s" }
        ),
    };
    let html = fragment(&state, &s, notice).await?;
    // The certificate table shows the new contact.
    Ok(([("hx-trigger", "certs-changed")], html).into_response())
}

pub(crate) async fn reject(
    State(state): State<AppState>,
    s: Session,
    Path(fp): Path<String>,
) -> UiResult<Html<String>> {
    let fp = state.engine.reject_pending(&s.caller.actor, &fp).await?;
    let notice = format!(
        "Rejected the certificate {}…; it is not offered again.",
        fingerprint_groups(&fp)[..2].join(" ")
    );
    fragment(&state, &s, notice).await
}
