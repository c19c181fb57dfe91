//! Certificate lists that filter, sort, count and page in SQL, as fast at
//! 100,000 certificates as at 1,000 (issue 14).
//!
//! Each certificate has a narrow row in `certificate_list` (migration 0010):
//! what lists filter, sort and show, without the DER. The store writes it
//! in the transaction that imports the certificate; `issuer_known` is
//! recomputed in the transaction that stores or deletes a possible issuer.
//! Substring search goes through a trigram index: SQLite's FTS5 table
//! `certificate_search` (kept by triggers), PostgreSQL's pg_trgm GIN
//! indexes (made here when the store opens, if the extension can be had).
//! Only the rows of the page asked for are parsed, to compute their
//! issues.

use std::collections::{HashMap, HashSet};

use smime::{CertInfo, Certificate, Issue, Kind, Usage};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, AssertSqlSafe, Row};

use crate::certificates::{StoredCertificate, sha256_hex};
use crate::{Backend, Result, Store, Tx};

/// The rules behind a `certificate_list` row (what `smime` classifies as a
/// certificate's kind and static issues, how text is lowercased). Rows
/// computed under another version are computed again when the store opens;
/// raise it whenever those rules change.
pub(crate) const LIST_VERSION: i64 = 1;

/// Rows per statement when certificates are looked up or updated by a list
/// of values (as `certificates::BATCH`).
const BATCH: usize = 100;

/// A search the trigram index finds this many rows for (or more) is
/// answered by scanning instead (SQLite, see `Filter::contains`).
const DENSE: usize = 2_000;

/// Certificates parsed per transaction when rows are filled in at start.
const BACKFILL_BATCH: usize = 500;

/// Serialises the transactions that write certificates on PostgreSQL, as
/// `BEGIN IMMEDIATE` does on SQLite: `issuer_known` is computed from what
/// the other certificates are, so an import and a delete must not pass each
/// other unseen. ("smimed" and 1.)
const CERTIFICATE_LOCK: i64 = 0x736d_696d_6564_0001;

/// How a list is ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertificateSort {
    /// By subject DN (bytewise), then fingerprint: the default.
    #[default]
    Subject,
    /// By expiry, soonest first, then fingerprint.
    NotAfter,
    /// By import time, newest first, then fingerprint (descending).
    Imported,
    /// Own certificates (with a private key) first, then CAs, then
    /// contacts, each by subject: the web table's default.
    OwnFirst,
    /// By the (lowercase) addresses, then fingerprint.
    Address,
}

impl CertificateSort {
    /// Every order, by its name.
    pub const ALL: [CertificateSort; 5] = [
        CertificateSort::Subject,
        CertificateSort::NotAfter,
        CertificateSort::Imported,
        CertificateSort::OwnFirst,
        CertificateSort::Address,
    ];

    /// `subject`, `not_after`, `imported`, `own_first` or `address`.
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateSort::Subject => "subject",
            CertificateSort::NotAfter => "not_after",
            CertificateSort::Imported => "imported",
            CertificateSort::OwnFirst => "own_first",
            CertificateSort::Address => "address",
        }
    }

    /// The order called `name` (as [`CertificateSort::as_str`] writes it).
    pub fn parse(name: &str) -> Option<CertificateSort> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The ORDER BY terms, on the columns of `table`.
    fn order_by(self, table: &str) -> String {
        match self {
            CertificateSort::Subject => format!("{table}.subject, {table}.fingerprint"),
            CertificateSort::NotAfter => format!("{table}.not_after, {table}.fingerprint"),
            CertificateSort::Imported => {
                format!("{table}.created_at DESC, {table}.fingerprint DESC")
            }
            CertificateSort::OwnFirst => {
                format!("{table}.role, {table}.subject, {table}.fingerprint")
            }
            CertificateSort::Address => format!("{table}.emails, {table}.fingerprint"),
        }
    }
}

/// A certificate whose expiry is watched: an own one or a CA.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Watched {
    /// SHA-256, hex.
    pub fingerprint: String,
    /// As shown.
    pub subject: String,
    /// Its addresses (lowercase).
    pub emails: Vec<String>,
    /// Unix seconds.
    pub not_after: i64,
    /// It has a private key here.
    pub own: bool,
    /// It is a CA.
    pub ca: bool,
}

/// Which certificates a list shows, in which order, which page.
#[derive(Debug, Clone)]
pub struct CertificateQuery {
    /// Only those with an address containing this text (any case).
    pub email: Option<String>,
    /// Only those with this text (any case) in an address or the subject.
    pub search: Option<String>,
    /// Only CAs, or only end entities.
    pub kind: Option<Kind>,
    /// Only those with (or without) a private key.
    pub has_key: Option<bool>,
    /// Only those with (or without) issues, `key_unusable` included.
    pub has_issues: Option<bool>,
    /// The order.
    pub sort: CertificateSort,
    /// The page, from 1 (0 counts as 1).
    pub page: usize,
    /// Rows per page (0 counts as 1).
    pub per_page: usize,
    /// The time (Unix seconds) for the time-dependent issues.
    pub now: i64,
    /// Count the matches only up to this many and one more (a list that
    /// says "more than N" need not scan all of a dense match); `None`
    /// counts them all.
    pub count_up_to: Option<usize>,
}

impl CertificateQuery {
    /// Every certificate at time `now`, by subject, on one page.
    pub fn all(now: i64) -> CertificateQuery {
        CertificateQuery {
            email: None,
            search: None,
            kind: None,
            has_key: None,
            has_issues: None,
            sort: CertificateSort::Subject,
            page: 1,
            per_page: usize::MAX,
            now,
            count_up_to: None,
        }
    }
}

/// A certificate as a list shows it: read from its list row, nothing
/// parsed. The same fields, and the same JSON, as a [`StoredCertificate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedCertificate {
    /// What the certificate is, as parsing it says.
    pub info: CertInfo,
    /// A private key for it is stored.
    pub has_private_key: bool,
    /// Its issues at the query's time, including "issuer not in the store".
    pub issues: Vec<Issue>,
    /// Why its stored private key could not be opened (issue
    /// `key_unusable`), until it opens again.
    pub key_problem: Option<String>,
    /// Learned from signed mail (trusted only through its CA).
    pub learned: bool,
}

impl From<&StoredCertificate> for ListedCertificate {
    fn from(stored: &StoredCertificate) -> ListedCertificate {
        ListedCertificate {
            info: stored.certificate.info().clone(),
            has_private_key: stored.has_private_key,
            issues: stored.issues.clone(),
            key_problem: stored.key_problem.clone(),
            learned: stored.learned,
        }
    }
}

impl serde::Serialize for ListedCertificate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        crate::certificates::view(
            &self.info,
            self.has_private_key,
            &self.issues,
            self.key_problem.as_deref(),
            self.learned,
        )
        .serialize(s)
    }
}

/// A page of a list.
#[derive(Debug, Clone)]
pub struct CertificateList {
    /// How many certificates match the filter; with
    /// [`CertificateQuery::count_up_to`] `Some(n)`, at most `n + 1`, which
    /// means more than `n`.
    pub total: usize,
    /// The page's certificates, in order.
    pub items: Vec<ListedCertificate>,
}

/// A value to bind.
enum Value {
    Int(i64),
    Text(String),
}

/// The WHERE clause of a list, with its values; `$N` placeholders are
/// numbered in the order values are added.
#[derive(Default)]
struct Filter {
    clauses: Vec<String>,
    values: Vec<Value>,
}

impl Filter {
    fn bind(&mut self, value: Value) -> String {
        self.values.push(value);
        format!("${}", self.values.len())
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            "1 = 1".into()
        } else {
            self.clauses.join(" AND ")
        }
    }

    fn query<'q>(&self, sql: String) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for value in &self.values {
            query = match value {
                Value::Int(v) => query.bind(*v),
                Value::Text(v) => query.bind(v.clone()),
            };
        }
        query
    }

    /// Rows whose `columns` (a column of `certificate_list`, or several
    /// when searching) contain `needle`, exactly (both are lowercase).
    async fn contains(
        &mut self,
        conn: &mut AnyConnection,
        backend: Backend,
        columns: &[&str],
        needle: &str,
    ) -> Result<()> {
        if needle.contains('\n') {
            // Addresses are stored one per line: such a needle is in no
            // single address.
            self.clauses.push("1 = 0".into());
            return Ok(());
        }
        let clause = match backend {
            // The trigram index answers needles of 3 characters or more
            // (shorter ones have no trigram): the rows it finds are looked
            // up, counted and sorted, which costs per row found. When it
            // finds many, scanning the narrow rows in the order asked for
            // (stopping at the page's end) and comparing text is cheaper;
            // both compare the same lowercase text exactly.
            Backend::Sqlite if needle.chars().count() >= 3 => {
                let query = format!(
                    "{{{}}} : \"{}\"",
                    columns.join(" "),
                    needle.replace('"', "\"\"")
                );
                // The rows found are kept (as a JSON array for json_each):
                // the count and the page then read them instead of
                // searching twice more.
                let found: Vec<i64> = sqlx::query_scalar(
                    "SELECT rowid FROM certificate_search \
                     WHERE certificate_search MATCH $1 LIMIT $2",
                )
                .bind(query.clone())
                .bind(DENSE as i64)
                .fetch_all(&mut *conn)
                .await?;
                if found.len() < DENSE {
                    let ids = found
                        .iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(",");
                    format!(
                        "l.id IN (SELECT value FROM json_each({}))",
                        self.bind(Value::Text(format!("[{ids}]")))
                    )
                } else {
                    self.instr(columns, needle)
                }
            }
            Backend::Sqlite => self.instr(columns, needle),
            // LIKE uses the pg_trgm indexes where they exist.
            Backend::Postgres => {
                let pattern = format!("%{}%", escape_like(needle));
                let any: Vec<String> = columns
                    .iter()
                    .map(|c| {
                        format!(
                            "l.{c} LIKE {} ESCAPE '\\'",
                            self.bind(Value::Text(pattern.clone()))
                        )
                    })
                    .collect();
                format!("({})", any.join(" OR "))
            }
        };
        self.clauses.push(clause);
        Ok(())
    }

    /// SQLite: `columns` contain `needle`, compared by `instr`.
    fn instr(&mut self, columns: &[&str], needle: &str) -> String {
        let any: Vec<String> = columns
            .iter()
            .map(|c| {
                format!(
                    "instr(l.{c}, {}) > 0",
                    self.bind(Value::Text(needle.into()))
                )
            })
            .collect();
        format!("({})", any.join(" OR "))
    }

    async fn of(
        conn: &mut AnyConnection,
        backend: Backend,
        q: &CertificateQuery,
    ) -> Result<Filter> {
        let mut f = Filter::default();
        if let Some(needle) = needle(q.email.as_deref()) {
            f.contains(conn, backend, &["emails"], &needle).await?;
        }
        if let Some(needle) = needle(q.search.as_deref()) {
            f.contains(conn, backend, &["subject_lower", "emails"], &needle)
                .await?;
        }
        if let Some(kind) = q.kind {
            let kind = f.bind(Value::Text(kind_name(kind).into()));
            f.clauses.push(format!("l.kind = {kind}"));
        }
        if let Some(has_key) = q.has_key {
            let not = if has_key { "" } else { "NOT " };
            f.clauses.push(format!(
                "{not}EXISTS (SELECT 1 FROM private_keys k WHERE k.fingerprint = l.fingerprint)"
            ));
        }
        if let Some(has_issues) = q.has_issues {
            let issues = issues_clause(&mut f, q.now);
            f.clauses.push(if has_issues {
                issues
            } else {
                format!("NOT {issues}")
            });
        }
        Ok(f)
    }
}

/// True for rows that show an issue at `now`: the time-dependent ones
/// (expired, not yet valid, expiring within `EXPIRY_WARNING_SECS`), the
/// static ones, a missing issuer, a key that would not open, and a
/// revocation by a stored CRL.
fn issues_clause(f: &mut Filter, now: i64) -> String {
    let not_before = f.bind(Value::Int(now));
    let warn = f.bind(Value::Int(
        now.saturating_add(smime::cert::EXPIRY_WARNING_SECS),
    ));
    format!(
        "(l.not_before > {not_before} OR l.not_after < {warn} OR l.static_issues <> '' \
         OR l.issuer_known = 0 \
         OR EXISTS (SELECT 1 FROM key_problems p WHERE p.fingerprint = l.fingerprint) \
         OR EXISTS (SELECT 1 FROM revoked_certificates r WHERE r.fingerprint = l.fingerprint))"
    )
}

/// A search text as compared: trimmed and lowercase; `None` when empty.
fn needle(text: Option<&str>) -> Option<String> {
    let text = text?.trim().to_lowercase();
    (!text.is_empty()).then_some(text)
}

/// `text` with LIKE's metacharacters (and the escape character) escaped by
/// a backslash.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Ca => "ca",
        Kind::EndEntity => "end_entity",
    }
}

/// The columns a [`ListedCertificate`] is read from, in the order
/// [`listed`] reads them.
const LISTED: [&str; 13] = [
    "fingerprint",
    "subject",
    "issuer",
    "serial",
    "emails",
    "not_before",
    "not_after",
    "kind",
    "usage",
    "key_algorithm",
    "self_signed",
    "issuer_known",
    "static_issues",
];

/// [`LISTED`] as columns of `table`.
fn listed_columns(table: &str) -> String {
    LISTED
        .iter()
        .map(|c| format!("{table}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A page row: [`LISTED`], then the key's fingerprint and its problem.
fn listed(row: &AnyRow, now: i64) -> Result<ListedCertificate> {
    let emails: String = row.try_get(4)?;
    let kind: String = row.try_get(7)?;
    let usage: String = row.try_get(8)?;
    let static_issues: String = row.try_get(12)?;
    let info = CertInfo {
        fingerprint: row.try_get(0)?,
        subject: row.try_get(1)?,
        issuer: row.try_get(2)?,
        serial: row.try_get(3)?,
        email_addresses: emails
            .split('\n')
            .filter(|e| !e.is_empty())
            .map(String::from)
            .collect(),
        not_before: row.try_get(5)?,
        not_after: row.try_get(6)?,
        kind: if kind == kind_name(Kind::Ca) {
            Kind::Ca
        } else {
            Kind::EndEntity
        },
        usage: [Usage::Both, Usage::Signature, Usage::Encryption]
            .into_iter()
            .find(|u| u.as_str() == usage)
            .unwrap_or(Usage::None),
        key_algorithm: row.try_get(9)?,
        self_signed: row.try_get::<i64, _>(10)? != 0,
        static_issues: static_issues.lines().filter_map(issue_from_line).collect(),
    };
    let issuer_known = row.try_get::<i64, _>(11)? != 0;
    let key: Option<String> = row.try_get(13)?;
    let mut issues = info.issues(now, issuer_known);
    if let Some(why) = row.try_get::<Option<String>, _>(15)? {
        issues.push(Issue::Revoked(why));
    }
    Ok(ListedCertificate {
        issues,
        info,
        has_private_key: key.is_some(),
        key_problem: row.try_get(14)?,
        learned: row.try_get::<i64, _>(16)? != 0,
    })
}

/// An issue as a line of `static_issues`: its code, and its reason where
/// it has one. Every variant is named, so that a new one cannot be
/// forgotten here (nor, then, `LIST_VERSION`).
fn issue_line(issue: &Issue) -> String {
    match issue {
        Issue::NotUsableForSmime(why) | Issue::WeakKey(why) | Issue::Revoked(why) => {
            format!("{}:{}", issue.code(), why.replace('\n', " "))
        }
        Issue::Expired
        | Issue::NotYetValid
        | Issue::ExpiresSoon
        | Issue::NoEmailAddress
        | Issue::Sha1Signature
        | Issue::IssuerNotInStore
        | Issue::V1Root => issue.code().into(),
    }
}

/// The issue a line of `static_issues` holds; `None` for a code these
/// rules do not know (a row from other rules is computed again at start).
fn issue_from_line(line: &str) -> Option<Issue> {
    let (code, why) = line.split_once(':').unwrap_or((line, ""));
    Some(match code {
        "expired" => Issue::Expired,
        "not_yet_valid" => Issue::NotYetValid,
        "expires_soon" => Issue::ExpiresSoon,
        "no_email_address" => Issue::NoEmailAddress,
        "not_usable_for_smime" => Issue::NotUsableForSmime(why.into()),
        "weak_key" => Issue::WeakKey(why.into()),
        "sha1_signature" => Issue::Sha1Signature,
        "issuer_not_in_store" => Issue::IssuerNotInStore,
        "v1_root" => Issue::V1Root,
        _ => return None,
    })
}

impl Store {
    /// What a page of the certificate table shows beside its rows, in two
    /// queries whatever the page size: for each CA of `cas`, how many other
    /// stored certificates name it as their issuer (their trust goes with it
    /// when it is deleted, unless another CA of that name stays); and which
    /// of `keyed` have their private key stored without a passphrase.
    pub async fn page_facts(
        &self,
        cas: &[String],
        keyed: &[String],
    ) -> Result<(HashMap<String, usize>, HashSet<String>)> {
        let mut issued = HashMap::new();
        for chunk in cas.chunks(BATCH) {
            let sql = format!(
                // Counted in the issuer-name index alone (no row read per
                // issued certificate); a self-issued CA counts itself there.
                "SELECT ca.fingerprint, \
                 (SELECT COUNT(*) FROM certificates c \
                  WHERE c.issuer_name_sha256 = ca.subject_name_sha256) \
                 - CASE WHEN ca.issuer_name_sha256 = ca.subject_name_sha256 THEN 1 ELSE 0 END \
                 FROM certificates ca WHERE ca.fingerprint IN ({})",
                in_list(1, chunk.len())
            );
            let mut query = sqlx::query_as::<_, (String, i64)>(AssertSqlSafe(sql));
            for fp in chunk {
                query = query.bind(fp.clone());
            }
            for (fp, n) in query.fetch_all(&self.pool).await? {
                issued.insert(fp, usize::try_from(n).unwrap_or(0));
            }
        }
        let mut clear = HashSet::new();
        for chunk in keyed.chunks(BATCH) {
            let sql = format!(
                "SELECT fingerprint FROM private_keys \
                 WHERE sealed_passphrase IS NULL AND fingerprint IN ({})",
                in_list(1, chunk.len())
            );
            let mut query = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql));
            for fp in chunk {
                query = query.bind(fp.clone());
            }
            clear.extend(query.fetch_all(&self.pool).await?);
        }
        Ok((issued, clear))
    }

    /// One page of the certificates that match `query`, and how many
    /// match: a count and a page, both in SQL on the narrow list rows, in
    /// one read transaction. Nothing is parsed: a row holds what the list
    /// shows.
    pub async fn certificates_page(&self, query: &CertificateQuery) -> Result<CertificateList> {
        let per_page = query.per_page.max(1);
        let offset = (query.page.max(1) - 1).saturating_mul(per_page);
        let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);

        let mut tx = self.pool.begin().await?;
        let filter = Filter::of(&mut tx, self.backend, query).await?;
        let count = match query.count_up_to {
            None => format!(
                "SELECT COUNT(*) FROM certificate_list l WHERE {}",
                filter.sql()
            ),
            Some(n) => format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM certificate_list l WHERE {} LIMIT {}) counted",
                filter.sql(),
                as_i64(n).saturating_add(1)
            ),
        };
        let total: i64 = filter.query(count).fetch_one(&mut *tx).await?.try_get(0)?;
        let mut items = Vec::new();
        if offset < usize::try_from(total).unwrap_or(usize::MAX) {
            let n = filter.values.len();
            // The page is chosen first; only its rows are joined.
            let sql = format!(
                "SELECT {}, k.fingerprint, p.problem, r.reason, \
                 CASE WHEN c.learned THEN 1 ELSE 0 END FROM \
                 (SELECT {}, l.created_at, l.role FROM certificate_list l WHERE {} \
                  ORDER BY {} LIMIT ${} OFFSET ${}) page \
                 LEFT JOIN private_keys k ON k.fingerprint = page.fingerprint \
                 LEFT JOIN key_problems p ON p.fingerprint = page.fingerprint \
                 LEFT JOIN revoked_certificates r ON r.fingerprint = page.fingerprint \
                 JOIN certificates c ON c.fingerprint = page.fingerprint \
                 ORDER BY {}",
                listed_columns("page"),
                listed_columns("l"),
                filter.sql(),
                query.sort.order_by("l"),
                n + 1,
                n + 2,
                query.sort.order_by("page"),
            );
            for row in filter
                .query(sql)
                .bind(as_i64(per_page))
                .bind(as_i64(offset))
                .fetch_all(&mut *tx)
                .await?
            {
                items.push(listed(&row, query.now)?);
            }
        }
        tx.rollback().await?;
        Ok(CertificateList {
            total: usize::try_from(total).unwrap_or(0),
            items,
        })
    }

    /// The organisation's own certificates (with a private key) and the
    /// CAs, soonest expiry first: what must not expire unnoticed (issue 17).
    /// Served by the role index; never a scan of the contacts.
    pub async fn watched_certificates(&self) -> Result<Vec<Watched>> {
        let rows = sqlx::query(
            "SELECT fingerprint, subject, emails, not_after, CAST(role AS BIGINT), kind FROM certificate_list \
             WHERE role < 2 ORDER BY not_after, fingerprint",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let emails: String = r.try_get(2)?;
                let role: i64 = r.try_get(4)?;
                let kind: String = r.try_get(5)?;
                Ok(Watched {
                    fingerprint: r.try_get(0)?,
                    subject: r.try_get(1)?,
                    emails: emails.lines().map(str::to_string).collect(),
                    not_after: r.try_get(3)?,
                    own: role == 0,
                    ca: kind == "ca",
                })
            })
            .collect()
    }

    /// How many certificates are stored.
    pub async fn certificate_count(&self) -> Result<usize> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM certificate_list")
            .fetch_one(&self.pool)
            .await?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// What `smimed status` counts, by SQL.
    pub(crate) async fn counts(&self, now: i64) -> Result<(usize, usize, usize, usize)> {
        let mut f = Filter::default();
        let issues = issues_clause(&mut f, now);
        let row = f
            .query(format!(
                "SELECT COUNT(*), \
                 COALESCE(SUM(CASE WHEN l.kind = 'ca' THEN 1 ELSE 0 END), 0), \
                 COALESCE(SUM(CASE WHEN {issues} THEN 1 ELSE 0 END), 0) \
                 FROM certificate_list l"
            ))
            .fetch_one(&self.pool)
            .await?;
        let keys: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM private_keys")
            .fetch_one(&self.pool)
            .await?;
        let n = |v: i64| usize::try_from(v).unwrap_or(0);
        Ok((
            n(row.try_get(0)?),
            n(row.try_get(1)?),
            n(keys),
            n(row.try_get(2)?),
        ))
    }
}

/// A certificate's `certificate_list` row, apart from `issuer_known` and
/// `created_at`.
pub(crate) struct ListRow {
    fingerprint: String,
    subject: String,
    subject_lower: String,
    emails: String,
    issuer: String,
    serial: String,
    kind: &'static str,
    usage: &'static str,
    key_algorithm: String,
    self_signed: bool,
    static_issues: String,
    not_before: i64,
    not_after: i64,
}

impl ListRow {
    pub(crate) fn of(cert: &Certificate) -> ListRow {
        let info = cert.info();
        ListRow {
            fingerprint: info.fingerprint.clone(),
            subject: info.subject.clone(),
            subject_lower: info.subject.to_lowercase(),
            // Lowercase already (smime), one per line.
            emails: info.email_addresses.join("\n"),
            issuer: info.issuer.clone(),
            serial: info.serial.clone(),
            kind: kind_name(info.kind),
            usage: info.usage.as_str(),
            key_algorithm: info.key_algorithm.clone(),
            self_signed: info.self_signed,
            static_issues: info
                .static_issues
                .iter()
                .map(issue_line)
                .collect::<Vec<_>>()
                .join("\n"),
            not_before: info.not_before,
            not_after: info.not_after,
        }
    }
}

/// Writes (or rewrites) the list rows of certificates: `(row, issuer
/// known, created_at)`.
pub(crate) async fn write_rows(
    conn: &mut AnyConnection,
    rows: &[(ListRow, bool, i64)],
) -> Result<()> {
    const COLS: usize = 16;
    for chunk in rows.chunks(BATCH) {
        let sql = format!(
            "INSERT INTO certificate_list (fingerprint, version, subject, subject_lower, emails, \
             issuer, serial, kind, usage, key_algorithm, self_signed, issuer_known, \
             static_issues, not_before, not_after, created_at) \
             VALUES {} ON CONFLICT (fingerprint) DO UPDATE SET version = excluded.version, \
             subject = excluded.subject, subject_lower = excluded.subject_lower, \
             emails = excluded.emails, issuer = excluded.issuer, serial = excluded.serial, \
             kind = excluded.kind, usage = excluded.usage, \
             key_algorithm = excluded.key_algorithm, self_signed = excluded.self_signed, \
             issuer_known = excluded.issuer_known, static_issues = excluded.static_issues, \
             not_before = excluded.not_before, not_after = excluded.not_after",
            crate::placeholders(chunk.len(), COLS)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (row, issuer_known, created_at) in chunk {
            query = query
                .bind(row.fingerprint.clone())
                .bind(LIST_VERSION)
                .bind(row.subject.clone())
                .bind(row.subject_lower.clone())
                .bind(row.emails.clone())
                .bind(row.issuer.clone())
                .bind(row.serial.clone())
                .bind(row.kind.to_string())
                .bind(row.usage.to_string())
                .bind(row.key_algorithm.clone())
                .bind(i16::from(row.self_signed))
                .bind(i16::from(*issuer_known))
                .bind(row.static_issues.clone())
                .bind(row.not_before)
                .bind(row.not_after)
                .bind(*created_at);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// `$from, $from+1, ...`: `n` placeholders for an IN list.
fn in_list(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// For each of `certs`: is it self-signed, or issued by a stored
/// certificate or one of `also` (same name, key identifiers and signature,
/// as [`Certificate::is_issued_by`] checks)?
pub(crate) async fn issuers_known(
    conn: &mut AnyConnection,
    certs: &[&Certificate],
    also: &[&Certificate],
) -> Result<Vec<bool>> {
    let mut known = vec![false; certs.len()];
    let mut wanted: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, cert) in certs.iter().enumerate() {
        if cert.info().self_signed {
            known[i] = true;
        } else {
            wanted
                .entry(sha256_hex(&cert.issuer_name_der()?)?)
                .or_default()
                .push(i);
        }
    }
    let mut issuers: HashMap<String, Vec<Certificate>> = HashMap::new();
    let names: Vec<&String> = wanted.keys().collect();
    for chunk in names.chunks(BATCH) {
        let sql = format!(
            "SELECT subject_name_sha256, der FROM certificates WHERE subject_name_sha256 IN ({})",
            in_list(1, chunk.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for name in chunk {
            query = query.bind((*name).clone());
        }
        for row in query.fetch_all(&mut *conn).await? {
            let der: Vec<u8> = row.try_get(1)?;
            issuers
                .entry(row.try_get(0)?)
                .or_default()
                .push(Certificate::from_der_cached(&der)?);
        }
    }
    for cert in also {
        let name = sha256_hex(&cert.subject_name_der()?)?;
        if wanted.contains_key(&name) {
            issuers.entry(name).or_default().push((*cert).clone());
        }
    }
    for (name, indexes) in &wanted {
        let Some(candidates) = issuers.get(name) else {
            continue;
        };
        for &i in indexes {
            known[i] = candidates.iter().any(|c| certs[i].is_issued_by(c));
        }
    }
    Ok(known)
}

/// After `new` certificates were stored: the stored certificates without a
/// known issuer that one of them issued have one now.
pub(crate) async fn issuers_arrived(conn: &mut AnyConnection, new: &[&Certificate]) -> Result<()> {
    let mut by_subject: HashMap<String, Vec<&Certificate>> = HashMap::new();
    for cert in new {
        by_subject
            .entry(sha256_hex(&cert.subject_name_der()?)?)
            .or_default()
            .push(cert);
    }
    let fresh: HashSet<&str> = new.iter().map(|c| c.fingerprint()).collect();
    let names: Vec<&String> = by_subject.keys().collect();
    let mut gained = Vec::new();
    for chunk in names.chunks(BATCH) {
        let sql = format!(
            "SELECT c.fingerprint, c.issuer_name_sha256, c.der FROM certificates c \
             JOIN certificate_list l ON l.fingerprint = c.fingerprint \
             WHERE l.issuer_known = 0 AND c.issuer_name_sha256 IN ({})",
            in_list(1, chunk.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for name in chunk {
            query = query.bind((*name).clone());
        }
        for row in query.fetch_all(&mut *conn).await? {
            let fingerprint: String = row.try_get(0)?;
            if fresh.contains(fingerprint.as_str()) {
                // Stored by this import, against everything it brought.
                continue;
            }
            let name: String = row.try_get(1)?;
            let der: Vec<u8> = row.try_get(2)?;
            let cert = Certificate::from_der(&der)?;
            if by_subject
                .get(&name)
                .is_some_and(|issuers| issuers.iter().any(|i| cert.is_issued_by(i)))
            {
                gained.push(fingerprint);
            }
        }
    }
    set_issuer_known(conn, &gained, true).await
}

/// After a certificate whose subject name hashes to `subject_name` was
/// deleted: the certificates it issued keep a known issuer only if another
/// stored certificate issued them too.
pub(crate) async fn issuer_left(conn: &mut AnyConnection, subject_name: &str) -> Result<()> {
    let others: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT der FROM certificates WHERE subject_name_sha256 = $1")
            .bind(subject_name.to_string())
            .fetch_all(&mut *conn)
            .await?;
    if others.is_empty() {
        sqlx::query(
            "UPDATE certificate_list SET issuer_known = 0 \
             WHERE issuer_known = 1 AND self_signed = 0 AND fingerprint IN \
             (SELECT fingerprint FROM certificates WHERE issuer_name_sha256 = $1)",
        )
        .bind(subject_name.to_string())
        .execute(&mut *conn)
        .await?;
        return Ok(());
    }
    let others = others
        .iter()
        .map(|der| Ok(Certificate::from_der_cached(der)?))
        .collect::<Result<Vec<_>>>()?;
    let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
        "SELECT c.fingerprint, c.der FROM certificates c \
         JOIN certificate_list l ON l.fingerprint = c.fingerprint \
         WHERE c.issuer_name_sha256 = $1 AND l.issuer_known = 1 AND l.self_signed = 0",
    )
    .bind(subject_name.to_string())
    .fetch_all(&mut *conn)
    .await?;
    let mut lost = Vec::new();
    for (fingerprint, der) in rows {
        let cert = Certificate::from_der(&der)?;
        if !others.iter().any(|o| cert.is_issued_by(o)) {
            lost.push(fingerprint);
        }
    }
    set_issuer_known(conn, &lost, false).await
}

async fn set_issuer_known(
    conn: &mut AnyConnection,
    fingerprints: &[String],
    known: bool,
) -> Result<()> {
    for chunk in fingerprints.chunks(BATCH) {
        let sql = format!(
            "UPDATE certificate_list SET issuer_known = $1 WHERE fingerprint IN ({})",
            in_list(2, chunk.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(i16::from(known));
        for fp in chunk {
            query = query.bind(fp.clone());
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Takes the certificate write lock for the rest of `tx` (PostgreSQL; on
/// SQLite the write transaction holds the database already).
pub(crate) async fn lock_certificates(tx: &mut Tx, backend: Backend) -> Result<()> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT 1 FROM pg_advisory_xact_lock($1)")
            .bind(CERTIFICATE_LOCK)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Run when the store opens, after the migrations: the trigram indexes on
/// PostgreSQL (best effort), and the list rows of certificates stored
/// before migration 0010 or under another [`LIST_VERSION`] (skipped at
/// once when the table says it is complete).
pub(crate) async fn prepare(pool: &AnyPool, backend: Backend) -> Result<()> {
    if backend == Backend::Postgres {
        trigram_indexes(pool).await;
    }
    let version: i64 =
        sqlx::query_scalar("SELECT version FROM certificate_list_version WHERE id = 1")
            .fetch_one(pool)
            .await?;
    if version == LIST_VERSION {
        return Ok(());
    }
    let mut after = String::new();
    loop {
        let mut tx = match backend {
            Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => pool.begin().await?,
        };
        lock_certificates(&mut tx, backend).await?;
        let found: Vec<(String, Vec<u8>, i64)> = sqlx::query_as(
            "SELECT c.fingerprint, c.der, c.created_at FROM certificates c \
             LEFT JOIN certificate_list l ON l.fingerprint = c.fingerprint \
             WHERE c.fingerprint > $1 AND (l.fingerprint IS NULL OR l.version <> $2) \
             ORDER BY c.fingerprint LIMIT $3",
        )
        .bind(after.clone())
        .bind(LIST_VERSION)
        .bind(BACKFILL_BATCH as i64)
        .fetch_all(&mut *tx)
        .await?;
        let Some((last, _, _)) = found.last() else {
            sqlx::query("UPDATE certificate_list_version SET version = $1 WHERE id = 1")
                .bind(LIST_VERSION)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(());
        };
        after = last.clone();
        let mut certs = Vec::with_capacity(found.len());
        let mut created = Vec::with_capacity(found.len());
        for (fingerprint, der, created_at) in &found {
            match Certificate::from_der(der) {
                Ok(cert) => {
                    certs.push(cert);
                    created.push(*created_at);
                }
                // It was parsed when it was imported; if a newer OpenSSL
                // refuses it, it stays out of the lists rather than keeping
                // the store from opening.
                Err(e) => tracing::warn!(
                    fingerprint,
                    "stored certificate no longer parses and is left out of the lists: {e}"
                ),
            }
        }
        let refs: Vec<&Certificate> = certs.iter().collect();
        let known = issuers_known(&mut tx, &refs, &[]).await?;
        let rows: Vec<_> = certs
            .iter()
            .zip(known)
            .zip(created)
            .map(|((cert, known), created_at)| (ListRow::of(cert), known, created_at))
            .collect();
        write_rows(&mut tx, &rows).await?;
        tx.commit().await?;
    }
}

/// pg_trgm and its GIN indexes on the searched columns, if they can be had
/// (the extension is trusted since PostgreSQL 13, so a database owner can
/// create it). Without them, searches scan the narrow rows: one warning.
async fn trigram_indexes(pool: &AnyPool) {
    const INDEXES: [&str; 2] = [
        "certificate_list_emails_trgm",
        "certificate_list_subject_trgm",
    ];
    let present: std::result::Result<i64, _> = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_indexes WHERE tablename = 'certificate_list' \
         AND indexname IN ('certificate_list_emails_trgm', 'certificate_list_subject_trgm')",
    )
    .fetch_one(pool)
    .await;
    if present.is_ok_and(|n| n == INDEXES.len() as i64) {
        return;
    }
    for statement in [
        "CREATE EXTENSION IF NOT EXISTS pg_trgm",
        "CREATE INDEX IF NOT EXISTS certificate_list_emails_trgm \
         ON certificate_list USING gin (emails gin_trgm_ops)",
        "CREATE INDEX IF NOT EXISTS certificate_list_subject_trgm \
         ON certificate_list USING gin (subject_lower gin_trgm_ops)",
    ] {
        if let Err(e) = sqlx::query(statement).execute(pool).await {
            tracing::warn!(
                "certificate search without trigram indexes (searches scan the list): \
                 {statement}: {e}"
            );
            return;
        }
    }
}
