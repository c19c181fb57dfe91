//! The S/MIME page's logs: the operation log, and the audit log in words a
//! person reads ("S/MIME switched on", the certificate's subject beside its
//! fingerprint, a group's new defaults), filtered by who, what and when,
//! and paged over the whole history.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Html;
use serde::Deserialize;
use smimed_engine::{AuditEntry, AuditQuery};

use super::{Session, UiError, UiResult, datetime, render};
use crate::AppState;
use crate::error::ApiError;

/// Rows per page of either log.
const LOG_ROWS: usize = 50;

/// The audit page's choice of actions: (value, label). A value ending in a
/// dot is a family (every `certificate.*`).
const ACTIONS: [(&str, &str); 11] = [
    ("web.sign_in_failed", "Failed sign-ins"),
    ("web.sign_in", "Sign-ins"),
    ("settings.update", "Settings"),
    ("certificate.", "Certificates"),
    ("private_key.", "Private keys"),
    ("crl.", "Revocation lists"),
    ("group.", "Groups"),
    ("token.", "Tokens"),
    ("incoming.retry", "Retries of incoming mail"),
    ("master_key.rotate", "Master key"),
    ("", "All actions"),
];

/// One log line, both kinds.
struct LogRow {
    id: i64,
    at: String,
    what: String,
    status: String,
    who: String,
    summary: String,
}

#[derive(Template)]
#[template(path = "logs.html")]
struct Logs<'a> {
    tab: &'a str,
    rows: Vec<LogRow>,
    /// Only the table (a refresh or a new page), not the tabs and filters.
    table_only: bool,
    q: &'a LogQuery,
    actions: &'static [(&'static str, &'static str)],
    page: usize,
    next: bool,
}

/// What the logs show: the tab, the audit filters, the page. Dates are
/// days (UTC), `to` included.
#[derive(Deserialize, Default)]
pub(crate) struct LogQuery {
    tab: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    from: Option<String>,
    to: Option<String>,
    page: Option<String>,
    /// `table`: only the table.
    part: Option<String>,
}

impl LogQuery {
    fn text(value: &Option<String>) -> &str {
        value.as_deref().map(str::trim).unwrap_or("")
    }
    fn actor(&self) -> &str {
        Self::text(&self.actor)
    }
    fn action(&self) -> &str {
        Self::text(&self.action)
    }
    fn from(&self) -> &str {
        Self::text(&self.from)
    }
    fn to(&self) -> &str {
        Self::text(&self.to)
    }

    fn audit(&self) -> bool {
        self.tab.as_deref() == Some("audit")
    }

    fn page(&self) -> Result<usize, UiError> {
        match Self::text(&self.page) {
            "" => Ok(1),
            n => n
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=1_000_000).contains(n))
                .ok_or_else(|| UiError::bad(format!("page “{n}” is not a number from 1"))),
        }
    }

    /// The store's query for this page of the audit log.
    fn audit_query(&self, page: usize) -> Result<AuditQuery, UiError> {
        let action = self.action();
        if !action.is_empty() && !ACTIONS.iter().any(|(value, _)| *value == action) {
            return Err(UiError::bad(format!("unknown action “{action}”")));
        }
        Ok(AuditQuery {
            actor: Some(self.actor().to_string()).filter(|a| !a.is_empty()),
            action: Some(action.to_string()).filter(|a| !a.is_empty()),
            since: day("from", self.from())?,
            until: day("to", self.to())?.map(|t| t + 86_400),
            limit: LOG_ROWS as i64 + 1,
            offset: ((page - 1) * LOG_ROWS) as i64,
        })
    }
}

/// The start (Unix seconds, UTC) of day `text` (YYYY-MM-DD), if given.
fn day(name: &str, text: &str) -> Result<Option<i64>, UiError> {
    if text.is_empty() {
        return Ok(None);
    }
    let bad = || {
        UiError::bad(format!(
            "the “{name}” date “{text}” is not a day like 2026-12-31"
        ))
    };
    let parts: Vec<&str> = text.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    let (y, m, d): (i64, i64, i64) = match (y.parse(), m.parse(), d.parse()) {
        (Ok(y), Ok(m), Ok(d))
            if (1970..=9999).contains(&y) && (1..=12).contains(&m) && (1..=31).contains(&d) =>
        {
            (y, m, d)
        }
        _ => return Err(bad()),
    };
    // Days from the civil date (H. Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Ok(Some((era * 146_097 + doe - 719_468) * 86_400))
}

/// Whether `text` is a certificate fingerprint (SHA-256, hex).
fn is_fingerprint(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The fingerprints an audit entry names.
fn fingerprints(a: &AuditEntry) -> impl Iterator<Item = &str> {
    a.subject.split(',').filter(|f| is_fingerprint(f))
}

/// A certificate named by its subject when it is known, with the start of
/// its fingerprint.
fn certificate(fingerprint: &str, subject: Option<&str>) -> String {
    let short = &fingerprint[..fingerprint.len().min(16)];
    match subject.filter(|s| !s.is_empty()) {
        Some(subject) => format!("{subject} ({short}…)"),
        None => format!("{short}…"),
    }
}

fn on_off(value: bool, on: &str, off: &str) -> String {
    if value { on } else { off }.to_string()
}

/// What a settings change did, from its detail (the JSON of the change, or
/// `true`/`false` for the S/MIME switch of early versions).
fn settings_words(detail: &str) -> Vec<String> {
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_str::<serde_json::Value>(detail)
    else {
        return vec![detail.to_string()];
    };
    // In the order of the settings form, not the JSON's.
    const ORDER: [&str; 10] = [
        "enabled",
        "cipher",
        "rsa_oaep",
        "reject_sha1",
        "log_retention_days",
        "keep_incoming_mib",
        "expiry_warning_days",
        "learn_certificates",
        "require_crl",
        "crl_fetch",
    ];
    let rank = |name: &str| ORDER.iter().position(|n| *n == name).unwrap_or(ORDER.len());
    let mut set: Vec<(&String, &serde_json::Value)> =
        fields.iter().filter(|(_, v)| !v.is_null()).collect();
    set.sort_by_key(|(name, _)| rank(name));
    set.into_iter()
        .map(|(name, v)| match (name.as_str(), v) {
            ("enabled", serde_json::Value::Bool(b)) => {
                on_off(*b, "S/MIME switched on", "S/MIME switched off")
            }
            ("cipher", v) => format!("cipher {}", v.as_str().unwrap_or_default()),
            ("rsa_oaep", serde_json::Value::Bool(b)) => on_off(*b, "RSA-OAEP on", "RSA-OAEP off"),
            ("reject_sha1", serde_json::Value::Bool(b)) => {
                on_off(*b, "SHA-1 signatures refused", "SHA-1 signatures accepted")
            }
            ("log_retention_days", v) => format!("logs kept {v} days"),
            ("keep_incoming_mib", v) => format!("incoming mail kept up to {v} MiB"),
            ("expiry_warning_days", v) => format!("expiry warned of {v} days ahead"),
            ("learn_certificates", serde_json::Value::Bool(b)) => on_off(
                *b,
                "certificates learned from signed mail",
                "certificates not learned from signed mail",
            ),
            ("require_crl", serde_json::Value::Bool(b)) => {
                on_off(*b, "current CRLs required", "current CRLs not required")
            }
            ("crl_fetch", serde_json::Value::Bool(b)) => {
                on_off(*b, "CRLs fetched", "CRLs not fetched")
            }
            (name, v) => format!("{name} {v}"),
        })
        .collect()
}

/// A group's saved values, from the detail (the JSON of the change).
fn group_words(name: &str, detail: &str) -> String {
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_str::<serde_json::Value>(detail)
    else {
        return name.to_string();
    };
    let mut words = vec![name.to_string()];
    for field in ["email", "default_sign", "default_encrypt"] {
        let Some(value) = fields.get(field) else {
            continue;
        };
        match (field, value) {
            ("email", serde_json::Value::String(email)) => words.push(format!("address {email}")),
            ("default_sign", serde_json::Value::Bool(b)) => {
                words.push(on_off(*b, "signs by default", "does not sign by default"))
            }
            ("default_encrypt", serde_json::Value::Bool(b)) => words.push(on_off(
                *b,
                "encrypts by default",
                "does not encrypt by default",
            )),
            _ => {}
        }
    }
    words.join("; ")
}

/// An audit entry in words: what happened, and to what.
fn audit_words(a: &AuditEntry, subjects: &HashMap<String, String>) -> (String, String) {
    let named = || {
        fingerprints(a)
            .map(|f| certificate(f, subjects.get(f).map(String::as_str)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let with_detail = |text: String| {
        if a.detail.is_empty() {
            text
        } else {
            format!("{text}: {}", a.detail)
        }
    };
    match a.action.as_str() {
        "web.sign_in" => ("Signed in".into(), with_detail(String::new())),
        "web.sign_in_failed" => ("Sign-in refused".into(), a.detail.clone()),
        "settings.update" => {
            let words = settings_words(&a.detail);
            match words.as_slice() {
                [one] if one.starts_with("S/MIME switched") => (one.clone(), String::new()),
                _ => ("Settings changed".into(), words.join("; ")),
            }
        }
        "certificate.import" => (
            "Certificate added".into(),
            certificate(&a.subject, Some(&a.detail)),
        ),
        "certificate.learn" => (
            "Certificate learned from signed mail".into(),
            certificate(&a.subject, Some(&a.detail)),
        ),
        "certificate.accept" => (
            "Pending certificate accepted".into(),
            certificate(&a.subject, Some(&a.detail)),
        ),
        "certificate.reject" => (
            "Pending certificate rejected".into(),
            certificate(&a.subject, Some(&a.detail)),
        ),
        "crl.import" => ("CRL stored".into(), a.detail.clone()),
        "certificate.delete" => {
            // The detail names the subject (and "with its private key")
            // since issue 16; earlier entries only the fingerprint.
            let text = match a.detail.as_str() {
                "" | "with its private key" => with_detail(certificate(
                    &a.subject,
                    subjects.get(&a.subject).map(String::as_str),
                )),
                detail => certificate(&a.subject, Some(detail)),
            };
            ("Certificate deleted".into(), text)
        }
        "private_key.import" => ("Private key added".into(), named()),
        "private_key.delete" => ("Private key deleted".into(), named()),
        "private_key.download" => ("Private key downloaded".into(), with_detail(named())),
        "group.update" => ("Group saved".into(), group_words(&a.subject, &a.detail)),
        "group.delete" => ("Group deleted".into(), a.subject.clone()),
        "token.create" => ("Token created".into(), with_detail(a.subject.clone())),
        "token.revoke" => ("Token revoked".into(), a.subject.clone()),
        "incoming.retry" => ("Incoming message retried".into(), a.subject.clone()),
        "master_key.rotate" => ("Master key rotated".into(), a.detail.clone()),
        other => (other.to_string(), with_detail(a.subject.clone())),
    }
}

/// Who did it, for people: the failed sign-ins have no token.
fn who(token_name: &str) -> String {
    match token_name {
        "-" => "unknown token".into(),
        name => name.into(),
    }
}

/// The logs as `q` asks for them.
pub(crate) async fn fragment(
    state: &AppState,
    s: &Session,
    q: &LogQuery,
) -> UiResult<Html<String>> {
    let actor = &s.caller.actor;
    let page = q.page()?;
    let mut rows: Vec<LogRow> = if q.audit() {
        let entries = state
            .engine
            .audit_search(actor, &q.audit_query(page)?)
            .await?;
        let mut wanted: Vec<String> = entries
            .iter()
            .flat_map(|a| fingerprints(a).map(str::to_string))
            .collect();
        wanted.sort();
        wanted.dedup();
        let subjects = state.engine.certificate_subjects(actor, &wanted).await?;
        entries
            .iter()
            .map(|a| {
                let (what, summary) = audit_words(a, &subjects);
                LogRow {
                    id: a.id,
                    at: datetime(a.at),
                    what,
                    status: String::new(),
                    who: who(&a.token_name),
                    summary,
                }
            })
            .collect()
    } else {
        state
            .engine
            .operations(actor, LOG_ROWS as i64 + 1, ((page - 1) * LOG_ROWS) as i64)
            .await?
            .into_iter()
            .map(|o| LogRow {
                id: o.id,
                at: datetime(o.at),
                what: format!("{} {}", o.direction, o.operation),
                status: o.status,
                who: o.from,
                summary: o.detail,
            })
            .collect()
    };
    let next = rows.len() > LOG_ROWS;
    rows.truncate(LOG_ROWS);
    Ok(render(&Logs {
        tab: if q.audit() { "audit" } else { "ops" },
        rows,
        table_only: q.part.as_deref() == Some("table"),
        q,
        actions: &ACTIONS,
        page,
        next,
    }))
}

pub(crate) async fn logs(
    State(state): State<AppState>,
    s: Session,
    Query(q): Query<LogQuery>,
) -> UiResult<Html<String>> {
    fragment(&state, &s, &q).await
}

#[derive(Template)]
#[template(path = "log_detail.html")]
struct LogDetail {
    title: String,
    fields: Vec<(&'static str, String)>,
}

pub(crate) async fn log_detail(
    State(state): State<AppState>,
    s: Session,
    Path((kind, id)): Path<(String, i64)>,
) -> UiResult<Html<String>> {
    let actor = &s.caller.actor;
    let gone = || ApiError::not_found(format!("log entry {id} is gone (logs expire)"));
    let detail = match kind.as_str() {
        "ops" => {
            let o = state.engine.operation(actor, id).await?.ok_or_else(gone)?;
            LogDetail {
                title: format!("{} {}: {}", o.direction, o.operation, o.status),
                fields: vec![
                    ("Time (UTC)", datetime(o.at)),
                    ("From", o.from),
                    ("To", o.to),
                    ("Message-ID", o.message_id),
                    ("Detail", o.detail),
                    ("Token", o.token_name),
                ],
            }
        }
        "audit" => {
            let a = state
                .engine
                .audit_entry(actor, id)
                .await?
                .ok_or_else(gone)?;
            let wanted: Vec<String> = fingerprints(&a).map(str::to_string).collect();
            let subjects = state.engine.certificate_subjects(actor, &wanted).await?;
            let (what, summary) = audit_words(&a, &subjects);
            LogDetail {
                title: what,
                fields: vec![
                    ("Time (UTC)", datetime(a.at)),
                    ("By", who(&a.token_name)),
                    ("What", summary),
                    ("Action", a.action),
                    ("Subject", a.subject),
                    ("Detail", a.detail),
                ],
            }
        }
        _ => return Err(ApiError::not_found("no such log").into()),
    };
    Ok(render(&detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_midnights_and_bad_dates_are_named() {
        assert_eq!(day("from", "1970-01-01").ok().flatten(), Some(0));
        assert_eq!(
            day("from", "2026-12-02").ok().flatten(),
            Some(1_796_169_600)
        );
        assert_eq!(day("from", "2000-03-01").ok().flatten(), Some(951_868_800));
        assert_eq!(day("from", "").ok().flatten(), None);
        for bad in ["2026-13-01", "yesterday", "2026-12", "1969-12-31"] {
            assert!(day("from", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn audit_entries_read_as_words() {
        let entry = |action: &str, subject: &str, detail: &str| AuditEntry {
            action: action.into(),
            subject: subject.into(),
            detail: detail.into(),
            ..AuditEntry::default()
        };
        let fp = "ab".repeat(32);
        let subjects = HashMap::from([(fp.clone(), "CN=Alice".to_string())]);
        let words = |a: AuditEntry| audit_words(&a, &subjects);
        assert_eq!(
            words(entry(
                "settings.update",
                "settings",
                r#"{"enabled":true,"cipher":null}"#
            )),
            ("S/MIME switched on".into(), String::new())
        );
        assert_eq!(
            words(entry("settings.update", "settings", "false")).1,
            "false"
        );
        assert_eq!(
            words(entry(
                "settings.update",
                "settings",
                r#"{"cipher":"aes-256-gcm","reject_sha1":true}"#
            )),
            (
                "Settings changed".into(),
                "cipher aes-256-gcm; SHA-1 signatures refused".into()
            )
        );
        assert_eq!(
            words(entry(
                "settings.update",
                "settings",
                r#"{"learn_certificates":false,"expiry_warning_days":14}"#
            ))
            .1,
            "expiry warned of 14 days ahead; certificates not learned from signed mail"
        );
        for (action, said) in [
            ("certificate.learn", "Certificate learned from signed mail"),
            ("certificate.accept", "Pending certificate accepted"),
            ("certificate.reject", "Pending certificate rejected"),
        ] {
            assert_eq!(
                words(entry(action, &fp, "CN=Carol")),
                (said.into(), "CN=Carol (abababababababab…)".into())
            );
        }
        assert_eq!(
            words(entry("private_key.import", &fp, "")),
            (
                "Private key added".into(),
                "CN=Alice (abababababababab…)".into()
            )
        );
        assert_eq!(
            words(entry(
                "certificate.delete",
                &"cd".repeat(32),
                "CN=Bob, with its private key"
            ))
            .1,
            "CN=Bob, with its private key (cdcdcdcdcdcdcdcd…)"
        );
        assert_eq!(
            words(entry(
                "group.update",
                "Support",
                r#"{"email":"help@example.org","default_sign":true,"default_encrypt":false}"#
            ))
            .1,
            "Support; address help@example.org; signs by default; does not encrypt by default"
        );
        assert_eq!(
            words(entry("web.sign_in_failed", "", "unknown or revoked token")).0,
            "Sign-in refused"
        );
    }
}
