//! The admin's S/MIME page: the switch, certificates and private keys,
//! group defaults, and the logs. Each part is a fragment that htmx reloads
//! on its own; changes go through the same functions as the JSON API, so
//! they are checked and audited the same way.

use askama::Template;
use axum::extract::{Form, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use smimed_engine::{
    CertificateFilter, CertificateSort, GroupPatch, ImportKind, ImportReport, ListedCertificate,
    SettingsPatch,
};
use smimed_store::{Group, Outcome};

use super::{Chrome, Session, UiError, UiResult, datetime, render};
use crate::AppState;
use crate::admin;
use crate::error::ApiError;

// --- the page -------------------------------------------------------------------

#[derive(Template)]
#[template(path = "smime.html")]
struct Page {
    chrome: Chrome,
    /// Own certificates that expire within the warning window or have
    /// expired: (expired, text).
    expiring: Vec<(bool, String)>,
    switch: String,
    certs: String,
    pending: String,
    crls: String,
    groups: String,
    logs: String,
}

pub(crate) async fn page(State(state): State<AppState>, s: Session) -> UiResult<Response> {
    if s.admin().is_err() {
        return Ok(Redirect::to("/compose").into_response());
    }
    let expiring = state
        .engine
        .expiring(&s.caller.actor)
        .await?
        .into_iter()
        .map(|e| {
            let who = format!("{} ({})", e.subject, e.emails.join(", "));
            if e.days_left < 0 {
                (true, format!("Your certificate {who} has expired: mail from it can no longer be signed. Import its successor."))
            } else {
                (false, format!("Your certificate {who} expires in {} day(s), on {}. Import its successor in time.", e.days_left, &datetime(e.not_after)[..10]))
            }
        })
        .collect();
    let page = Page {
        chrome: s.chrome("smime"),
        expiring,
        switch: render(&Switch {
            enabled: state.engine.settings(&s.caller.actor).await?.enabled,
        })
        .0,
        certs: certs_table(&state, &s, &Filter::default()).await?.0,
        pending: super::pending::fragment(&state, &s, String::new()).await?.0,
        crls: super::crls::fragment(&state, &s).await?.0,
        groups: groups_fragment(&state, &s, "", "", &[], Typed::default())
            .await?
            .0,
        logs: super::logs::fragment(&state, &s, &super::logs::LogQuery::default())
            .await?
            .0,
    };
    Ok(render(&page).into_response())
}

// --- the switch -------------------------------------------------------------------

#[derive(Template)]
#[template(path = "switch.html")]
struct Switch {
    enabled: bool,
}

#[derive(Deserialize)]
pub(crate) struct SwitchForm {
    enabled: Option<String>,
}

pub(crate) async fn set_enabled(
    State(state): State<AppState>,
    s: Session,
    Form(form): Form<SwitchForm>,
) -> UiResult<Html<String>> {
    let patch = SettingsPatch {
        enabled: Some(form.enabled.is_some()),
        ..SettingsPatch::default()
    };
    let now = state
        .engine
        .update_settings(&s.caller.actor, &patch)
        .await?;
    Ok(render(&Switch {
        enabled: now.enabled,
    }))
}

// --- certificates ---------------------------------------------------------------

/// One table row, ready to print.
struct CertRow {
    fingerprint: String,
    short: String,
    emails: String,
    subject: String,
    kind: &'static str,
    usage: &'static str,
    not_before: String,
    not_after: String,
    has_key: bool,
    /// (css class, words)
    badges: Vec<(&'static str, &'static str)>,
    /// For a CA: how many stored certificates it issued.
    issued: Option<usize>,
    /// Its private key downloads in clear (asks for confirmation).
    key_in_clear: bool,
    /// Its key's certificate names no group address nor a group's domain:
    /// private keys are for the organisation's own addresses.
    foreign_key: bool,
}

impl CertRow {
    fn new(c: &ListedCertificate) -> Self {
        let info = &c.info;
        let kind = match (info.kind, c.has_private_key) {
            (smime::Kind::Ca, _) => "CA",
            (_, true) => "Own",
            _ if c.learned => "Contact, from signed mail",
            _ => "Contact",
        };
        let usage = match info.usage {
            _ if info.kind == smime::Kind::Ca => "issues certificates",
            smime::cert::Usage::Both => "signature, encryption",
            smime::cert::Usage::Signature => "signature",
            smime::cert::Usage::Encryption => "encryption",
            smime::cert::Usage::None => "none",
        };
        let badges = c
            .issues
            .iter()
            .map(|i| match i.code() {
                "expired" => ("bad", "expired"),
                "not_yet_valid" => ("bad", "not yet valid"),
                "expires_soon" => ("warn", "expires soon"),
                "no_email_address" => ("warn", "no email address"),
                "not_usable_for_smime" => ("bad", "not usable for S/MIME"),
                "weak_key" => ("bad", "weak key"),
                "sha1_signature" => ("warn", "SHA-1 signature"),
                "issuer_not_in_store" => ("warn", "issuer missing"),
                "v1_root" => ("warn", "v1 root"),
                "revoked" => ("bad", "revoked"),
                _ => ("warn", "issue"),
            })
            .collect();
        CertRow {
            fingerprint: info.fingerprint.clone(),
            short: info.fingerprint[..16].to_string(),
            emails: info.email_addresses.join(", "),
            subject: info.subject.clone(),
            kind,
            usage,
            not_before: datetime(info.not_before)[..10].to_string(),
            not_after: datetime(info.not_after)[..10].to_string(),
            has_key: c.has_private_key,
            badges,
            issued: None,
            key_in_clear: false,
            foreign_key: false,
        }
    }
}

/// Whether any of `emails` is a group's address or in a group address's
/// domain: the organisation's own.
fn ours(emails: &[String], groups: &[Group]) -> bool {
    let domain = |a: &str| a.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase());
    emails.iter().any(|e| {
        let e = e.to_ascii_lowercase();
        groups
            .iter()
            .any(|g| g.email == e || (domain(&g.email).is_some() && domain(&g.email) == domain(&e)))
    })
}

/// Rows per page of the table.
const TABLE_ROWS: usize = 50;

/// A filter's matches are counted up to this many (or to the end of the
/// page asked for, if further); beyond, the table says "more than" (a count
/// of a dense match at 100,000 certificates would cost more than the
/// keystroke that asked for it).
const TABLE_COUNT: usize = 1_000;

#[derive(Template)]
#[template(path = "certs_table.html")]
struct CertsTable<'a> {
    rows: Vec<CertRow>,
    /// How many match the filter, as shown ("More than 1000").
    matching: String,
    filter: &'a str,
    total: usize,
    /// The order, by its name (kept by the filter, paging and deletions).
    sort: &'static str,
    /// The columns one can sort by: (order name, header, aria-sort value).
    headers: Vec<(&'static str, &'static str, &'static str)>,
    page: usize,
    /// The rows shown, from and to (1-based).
    first: usize,
    last: usize,
    /// A next page exists.
    next: bool,
    /// What was just done, e.g. "Deleted the certificate …".
    notice: String,
}

/// What the table shows: the text filter, the kind, the order, the page.
/// Every part is carried by the filter, the column headers, the pager and
/// the delete buttons, so that no action loses the others.
#[derive(Deserialize, Default)]
pub(crate) struct Filter {
    email: Option<String>,
    kind: Option<String>,
    sort: Option<String>,
    page: Option<String>,
}

impl Filter {
    /// The engine's filter and the order, or what is wrong with the query.
    fn parse(&self) -> Result<(CertificateFilter, CertificateSort, usize), UiError> {
        let text = self.email.as_deref().unwrap_or("").trim();
        let mut filter = CertificateFilter {
            search: Some(text.to_string()).filter(|f| !f.is_empty()),
            ..CertificateFilter::default()
        };
        match self.kind.as_deref().unwrap_or("") {
            "" => {}
            "own" => filter.has_key = Some(true),
            "ca" => filter.kind = Some(smime::Kind::Ca),
            "contact" => {
                filter.kind = Some(smime::Kind::EndEntity);
                filter.has_key = Some(false);
            }
            "issues" => filter.has_issues = Some(true),
            other => {
                return Err(UiError::bad(format!(
                    "unknown kind of certificate “{other}”: own, ca, contact or issues"
                )));
            }
        }
        let sort = match self.sort.as_deref().unwrap_or("") {
            "" => CertificateSort::OwnFirst,
            name => CertificateSort::parse(name).ok_or_else(|| {
                UiError::bad(format!(
                    "unknown order “{name}”: own_first, address, subject or not_after"
                ))
            })?,
        };
        let page = match self.page.as_deref().unwrap_or("") {
            "" => 1,
            n => n
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| UiError::bad(format!("page “{n}” is not a number from 1")))?,
        };
        Ok((filter, sort, page))
    }
}

/// The table as `f` asks for it.
async fn certs_table(state: &AppState, s: &Session, f: &Filter) -> UiResult<Html<String>> {
    certs_table_with(state, s, f, String::new()).await
}

/// The table with a line saying what was just done (a deletion).
async fn certs_table_with(
    state: &AppState,
    s: &Session,
    f: &Filter,
    notice: String,
) -> UiResult<Html<String>> {
    let actor = &s.caller.actor;
    let (mut search, sort, asked) = f.parse()?;
    search.sort = sort;
    let filtered = search.search.is_some()
        || search.kind.is_some()
        || search.has_key.is_some()
        || search.has_issues.is_some();
    // Without a filter the total is known: count only what tells whether
    // this page has rows (a count of 1,000 rows per page view would make
    // the page slower with every certificate stored).
    let page_end = asked.saturating_mul(TABLE_ROWS);
    let count_to = if filtered {
        TABLE_COUNT.max(page_end)
    } else {
        page_end
    };
    search.count_up_to = Some(count_to);
    let total = state.engine.certificate_count(actor).await?;
    let mut page = state
        .engine
        .certificates(actor, &search, asked, TABLE_ROWS)
        .await?;
    // Without a filter the matches are all certificates, counted exactly
    // (and remembered per store generation).
    if !filtered {
        page.total = total;
    }
    // A page past the end (its last rows were just deleted): the last one.
    if page.items.is_empty() && page.total > 0 && (!filtered || page.total <= count_to) {
        let last = page.total.div_ceil(TABLE_ROWS);
        let known = page.total;
        page = state
            .engine
            .certificates(actor, &search, last, TABLE_ROWS)
            .await?;
        page.total = known;
    }
    let first = (page.page - 1) * TABLE_ROWS + 1;
    let shown = page.items.len();
    let headers = [
        (CertificateSort::Address, "Email addresses"),
        (CertificateSort::Subject, "Subject"),
        (CertificateSort::NotAfter, "Expires"),
    ]
    .into_iter()
    .map(|(order, label)| {
        let aria = if order == sort { "ascending" } else { "none" };
        (order.as_str(), label, aria)
    })
    .collect();
    Ok(render(&CertsTable {
        matching: if filtered && page.total > count_to {
            format!("More than {count_to}")
        } else {
            page.total.to_string()
        },
        rows: {
            let mut rows: Vec<CertRow> = page.items.iter().map(CertRow::new).collect();
            let groups = state.engine.groups(actor).await?;
            let fingerprints = |pick: fn(&ListedCertificate) -> bool| -> Vec<String> {
                page.items
                    .iter()
                    .filter(|c| pick(c))
                    .map(|c| c.info.fingerprint.clone())
                    .collect()
            };
            let (issued, clear) = state
                .engine
                .page_facts(
                    actor,
                    &fingerprints(|c| c.info.kind == smime::Kind::Ca),
                    &fingerprints(|c| c.has_private_key),
                )
                .await?;
            for (row, item) in rows.iter_mut().zip(&page.items) {
                row.issued = issued.get(&row.fingerprint).copied();
                if item.has_private_key {
                    row.key_in_clear = clear.contains(&row.fingerprint);
                    row.foreign_key = !ours(&item.info.email_addresses, &groups);
                }
            }
            rows
        },
        filter: f.email.as_deref().unwrap_or("").trim(),
        total,
        sort: sort.as_str(),
        headers,
        page: page.page,
        first,
        last: first + shown.saturating_sub(1),
        next: page.page * TABLE_ROWS < page.total,
        notice,
    }))
}

pub(crate) async fn certificates(
    State(state): State<AppState>,
    s: Session,
    Query(f): Query<Filter>,
) -> UiResult<Html<String>> {
    certs_table(&state, &s, &f).await
}

/// One line of an import's result.
struct ResultLine {
    class: &'static str,
    label: &'static str,
    text: String,
    reason: String,
}

#[derive(Template)]
#[template(path = "import_result.html")]
struct ImportResult {
    stored: bool,
    lines: Vec<ResultLine>,
}

fn outcome(o: Outcome) -> (&'static str, &'static str) {
    match o {
        Outcome::Imported => ("ok", "imported"),
        Outcome::AlreadyPresent => ("info", "already present"),
        Outcome::Rejected => ("bad", "rejected"),
        Outcome::NotImported => ("warn", "not imported"),
        _ => ("warn", "other"),
    }
}

fn import_result(report: &ImportReport) -> Response {
    let mut lines: Vec<ResultLine> = report
        .certificates
        .iter()
        .map(|c| {
            let (class, label) = outcome(c.outcome);
            let emails = if c.email_addresses.is_empty() {
                String::new()
            } else {
                format!(" <{}>", c.email_addresses.join(", "))
            };
            ResultLine {
                class,
                label,
                text: format!("Certificate {}{emails}", c.subject),
                reason: match (&c.reason, c.issues.is_empty()) {
                    (Some(reason), _) => reason.clone(),
                    (None, false) => format!("issues: {}", c.issues.join(", ")),
                    (None, true) => String::new(),
                },
            }
        })
        .collect();
    lines.extend(report.private_keys.iter().map(|k| {
        let (class, label) = outcome(k.outcome);
        let of = k
            .certificates
            .iter()
            .map(|f| &f[..16])
            .collect::<Vec<_>>()
            .join(", ");
        ResultLine {
            class,
            label,
            text: if of.is_empty() {
                "Private key".to_string()
            } else {
                format!("Private key for certificate {of}")
            },
            reason: k.reason.clone().unwrap_or_default(),
        }
    }));
    let html = render(&ImportResult {
        stored: report.stored,
        lines,
    });
    if report.stored {
        ([("hx-trigger", "certs-changed")], html).into_response()
    } else {
        (StatusCode::UNPROCESSABLE_ENTITY, html).into_response()
    }
}

async fn import(state: AppState, s: Session, req: Request, kind: ImportKind) -> UiResult<Response> {
    s.admin()?;
    let (data, pass) = admin::upload(&state, req).await?;
    let report = state
        .engine
        .import(&s.caller.actor, data, pass.map(|p| p.0), kind, &|_| {})
        .await?;
    Ok(import_result(&report))
}

pub(crate) async fn import_certificates(
    State(state): State<AppState>,
    s: Session,
    req: Request,
) -> UiResult<Response> {
    import(state, s, req, ImportKind::Certificates).await
}

pub(crate) async fn import_keys(
    State(state): State<AppState>,
    s: Session,
    req: Request,
) -> UiResult<Response> {
    import(state, s, req, ImportKind::PrivateKeys).await
}

pub(crate) async fn download_certificate(
    State(state): State<AppState>,
    s: Session,
    Path(fp): Path<String>,
) -> UiResult<Response> {
    let file = state
        .engine
        .certificate_file(&s.caller.actor, &fp, false)
        .await?;
    Ok(admin::download(file))
}

pub(crate) async fn download_key(
    State(state): State<AppState>,
    s: Session,
    Path(fp): Path<String>,
) -> UiResult<Response> {
    let file = state.engine.private_key_file(&s.caller.actor, &fp).await?;
    Ok(admin::download(file))
}

/// The subject of the certificate `id`, to say what a deletion removed.
async fn subject_of(state: &AppState, s: &Session, id: &str) -> UiResult<String> {
    let stored = state.engine.certificate(&s.caller.actor, id).await?;
    Ok(stored.certificate.info().subject.clone())
}

pub(crate) async fn delete_certificate(
    State(state): State<AppState>,
    s: Session,
    Path(fp): Path<String>,
    Form(f): Form<Filter>,
) -> UiResult<Html<String>> {
    let subject = subject_of(&state, &s, &fp).await?;
    let (_, had_key) = state
        .engine
        .delete_certificate(&s.caller.actor, &fp)
        .await?;
    let notice = format!(
        "Deleted the certificate {subject}{}.",
        if had_key { " and its private key" } else { "" }
    );
    certs_table_with(&state, &s, &f, notice).await
}

pub(crate) async fn delete_key(
    State(state): State<AppState>,
    s: Session,
    Path(fp): Path<String>,
    Form(f): Form<Filter>,
) -> UiResult<Html<String>> {
    let subject = subject_of(&state, &s, &fp).await?;
    state
        .engine
        .delete_private_key(&s.caller.actor, &fp)
        .await?;
    let notice = format!("Deleted the private key of {subject}; the certificate stays.");
    certs_table_with(&state, &s, &f, notice).await
}

// --- groups -----------------------------------------------------------------------

#[derive(Template)]
#[template(path = "groups.html")]
struct Groups<'a> {
    groups: Vec<GroupRow>,
    message: &'a str,
    error: &'a str,
    /// What was typed into "Add a group", kept when the add was refused.
    new_name: &'a str,
    new_email: &'a str,
}

/// A group and what its defaults can do now: sign (a certificate with a
/// key for its address), encrypt to itself, each with the reason when not.
struct GroupRow {
    group: Group,
    sign: (bool, String),
    encrypt: (bool, String),
    /// This row was changed by the save just made.
    saved: bool,
}

/// What "Add a group" held, for a re-render after a refusal.
#[derive(Default, Clone, Copy)]
struct Typed<'a> {
    name: &'a str,
    email: &'a str,
}

async fn groups_fragment(
    state: &AppState,
    s: &Session,
    message: &str,
    error: &str,
    saved: &[String],
    typed: Typed<'_>,
) -> UiResult<Html<String>> {
    let actor = &s.caller.actor;
    let mut groups = Vec::new();
    for group in state.engine.groups(actor).await? {
        // The composer's own question, for the group writing to itself.
        let options = state
            .engine
            .security_options(
                actor,
                &smimed_engine::Sender::Group(group.name.clone()),
                std::slice::from_ref(&group.email),
            )
            .await?;
        groups.push(GroupRow {
            saved: saved.contains(&group.name),
            sign: (options.sign.possible, options.sign.message),
            encrypt: (options.encryption.possible, options.encryption.message),
            group,
        });
    }
    Ok(render(&Groups {
        groups,
        message,
        error,
        new_name: typed.name,
        new_email: typed.email,
    }))
}

pub(crate) async fn groups(State(state): State<AppState>, s: Session) -> UiResult<Html<String>> {
    groups_fragment(&state, &s, "", "", &[], Typed::default()).await
}

/// The defaults table: `orig_N`, `name_N`, `email_N`, `sign_N`, `encrypt_N`
/// per row. Renamed groups are saved under the new name and the old one goes.
pub(crate) async fn save_groups(
    State(state): State<AppState>,
    s: Session,
    Form(fields): Form<Vec<(String, String)>>,
) -> UiResult<Response> {
    s.admin()?;
    let field = |key: String| {
        fields
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.trim().to_string())
    };
    let mut rows = Vec::new();
    for i in 0.. {
        let Some(orig) = field(format!("orig_{i}")) else {
            break;
        };
        let name = field(format!("name_{i}")).unwrap_or_else(|| orig.clone());
        let patch = GroupPatch {
            email: Some(field(format!("email_{i}")).unwrap_or_default()),
            default_sign: Some(field(format!("sign_{i}")).is_some()),
            default_encrypt: Some(field(format!("encrypt_{i}")).is_some()),
        };
        rows.push((orig, name, patch));
    }
    let mut error = String::new();
    let mut saved = Vec::new();
    let actor = &s.caller.actor;
    let before = state.engine.groups(actor).await?;
    for (orig, name, patch) in &rows {
        let unchanged = orig == name
            && before.iter().any(|g| {
                g.name == *orig
                    && Some(&g.email) == patch.email.as_ref()
                    && g.default_sign.unwrap_or(true) == patch.default_sign.unwrap_or(true)
                    && g.default_encrypt.unwrap_or(true) == patch.default_encrypt.unwrap_or(true)
            });
        if unchanged {
            continue;
        }
        if let Err(e) = state.engine.put_group(actor, name, patch).await {
            error = format!("{name}: {}", ApiError::from(e).message);
            break;
        }
        if orig != name {
            state.engine.delete_group(actor, orig).await?;
        }
        saved.push(name.clone());
    }
    let (message, status) = match (error.is_empty(), saved.is_empty()) {
        (true, true) => ("Nothing changed.", StatusCode::OK),
        (true, false) => ("", StatusCode::OK),
        (false, _) => ("", StatusCode::UNPROCESSABLE_ENTITY),
    };
    let html = groups_fragment(&state, &s, message, &error, &saved, Typed::default()).await?;
    Ok((status, html).into_response())
}

#[derive(Deserialize)]
pub(crate) struct NewGroup {
    name: String,
    email: String,
}

pub(crate) async fn add_group(
    State(state): State<AppState>,
    s: Session,
    Form(form): Form<NewGroup>,
) -> UiResult<Response> {
    let actor = &s.caller.actor;
    let name = form.name.trim().to_string();
    let typed = Typed {
        name: form.name.trim(),
        email: form.email.trim(),
    };
    if state.engine.group(actor, &name).await.is_ok() {
        let e = format!("a group called \"{name}\" exists already");
        let html = groups_fragment(&state, &s, "", &e, &[], typed).await?;
        return Ok((StatusCode::CONFLICT, html).into_response());
    }
    let patch = GroupPatch {
        email: Some(form.email.trim().to_string()),
        ..GroupPatch::default()
    };
    if let Err(e) = state.engine.put_group(actor, &name, &patch).await {
        let e = ApiError::from(e);
        let html = groups_fragment(&state, &s, "", &e.message, &[], typed).await?;
        return Ok((e.status, html).into_response());
    }
    let done = format!("Group \"{name}\" added.");
    Ok(
        groups_fragment(&state, &s, &done, "", &[], Typed::default())
            .await?
            .into_response(),
    )
}

pub(crate) async fn delete_group(
    State(state): State<AppState>,
    s: Session,
    Path(name): Path<String>,
) -> UiResult<Html<String>> {
    state.engine.delete_group(&s.caller.actor, &name).await?;
    let done = format!("Group \"{name}\" deleted.");
    groups_fragment(&state, &s, &done, "", &[], Typed::default()).await
}
