//! Certificates in the store: import a whole file or nothing, list with
//! issues, find by ID prefix or email address, delete.

use std::collections::HashSet;

use openssl::hash::{MessageDigest, hash};
use serde::Serialize;
use smime::{Bundle, Certificate, Issue, PrivateKey};
use sqlx::{AssertSqlSafe, Row};

use crate::lists::{self, ListRow};
use crate::{Error, Result, Store, placeholders};

/// Rows per multi-row INSERT: enough to make bulk imports cheap, few enough
/// that sqlx's per-parameter name lookup (linear in the statement's
/// parameters) stays small.
const BATCH: usize = 100;

/// A stored certificate with what the store adds to it.
#[derive(Debug, Clone)]
pub struct StoredCertificate {
    /// The certificate.
    pub certificate: Certificate,
    /// A private key for it is stored.
    pub has_private_key: bool,
    /// Its issues now, including "issuer not in the store".
    pub issues: Vec<Issue>,
    /// Why its stored private key could not be opened when a message
    /// needed it (issue `key_unusable`), until it opens again.
    pub key_problem: Option<String>,
    /// Learned from signed mail (trusted only through its CA).
    pub learned: bool,
}

/// The API and `cert list --json` form: the fields the docs promise.
impl Serialize for StoredCertificate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        view(
            self.certificate.info(),
            self.has_private_key,
            &self.issues,
            self.key_problem.as_deref(),
            self.learned,
        )
        .serialize(s)
    }
}

/// What a certificate looks like in the API and `cert list --json`, for a
/// [`StoredCertificate`] and a [`ListedCertificate`](crate::ListedCertificate) alike.
#[derive(Serialize)]
pub(crate) struct View<'a> {
    fingerprint: &'a str,
    subject: &'a str,
    issuer: &'a str,
    serial: &'a str,
    email_addresses: &'a [String],
    not_before: String,
    not_after: String,
    kind: smime::Kind,
    usage: &'static str,
    key_algorithm: &'a str,
    has_private_key: bool,
    issues: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_problem: Option<&'a str>,
    learned: bool,
}

pub(crate) fn view<'a>(
    info: &'a smime::CertInfo,
    has_private_key: bool,
    issues: &[Issue],
    key_problem: Option<&'a str>,
    learned: bool,
) -> View<'a> {
    View {
        fingerprint: &info.fingerprint,
        subject: &info.subject,
        issuer: &info.issuer,
        serial: &info.serial,
        email_addresses: &info.email_addresses,
        not_before: smime::rfc3339(info.not_before),
        not_after: smime::rfc3339(info.not_after),
        kind: info.kind,
        usage: info.usage.as_str(),
        key_algorithm: &info.key_algorithm,
        has_private_key,
        issues: issues
            .iter()
            .map(Issue::code)
            .chain(key_problem.map(|_| "key_unusable"))
            .collect(),
        key_problem,
        learned,
    }
}

/// A stored certificate for an address, as the engine selects among them.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The certificate.
    pub certificate: Certificate,
    /// A private key for it is stored.
    pub has_private_key: bool,
    /// It is self-signed, or a stored certificate issued it.
    pub issuer_known: bool,
    /// Learned from signed mail: trusted only through its CA, never as
    /// itself.
    pub learned: bool,
    /// Why a stored CRL revokes it: then it is never used.
    pub revoked: Option<String>,
}

/// What happened to one item of an imported file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// Newly stored.
    Imported,
    /// Was stored already; not an error.
    AlreadyPresent,
    /// Refused; the reason says why. Nothing from the file was stored.
    Rejected,
    /// Fine itself, but not stored because something else in the file was rejected.
    NotImported,
}

/// One certificate of an import.
#[derive(Debug, Clone, Serialize)]
pub struct CertOutcome {
    /// SHA-256 fingerprint.
    pub fingerprint: String,
    /// Subject DN.
    pub subject: String,
    /// Email addresses.
    pub email_addresses: Vec<String>,
    /// What happened.
    pub outcome: Outcome,
    /// Why, when rejected or not imported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Its problems (codes as in the certificate list), apart from a
    /// missing issuer: a certificate that cannot serve S/MIME is stored with
    /// them and never used for what it cannot do.
    pub issues: Vec<&'static str>,
}

/// One private key of an import.
#[derive(Debug, Clone, Serialize)]
pub struct KeyOutcome {
    /// Fingerprints of the certificates the key belongs to.
    pub certificates: Vec<String>,
    /// Whether the stored key needs a passphrase.
    pub protected: bool,
    /// What happened.
    pub outcome: Outcome,
    /// Why, when rejected or not imported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Where an import comes from: what it is audited as, and how far its
/// certificates are trusted.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Origin<'a> {
    /// An admin's file: every certificate trusted as itself.
    Admin,
    /// Learned from mail through a stored CA: trusted only through it.
    Learned,
    /// A pending certificate (this fingerprint) an admin accepted.
    Accepted(&'a str),
}

/// The answer to an import: per certificate and per key.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    /// True when the file was stored (all of it); false when nothing was.
    pub stored: bool,
    /// Per certificate, in file order.
    pub certificates: Vec<CertOutcome>,
    /// Per private key, in file order.
    pub private_keys: Vec<KeyOutcome>,
}

impl Store {
    /// Stores a parsed file whole, or nothing of it, with an audit entry by
    /// `actor` for every certificate and key it adds, in the same
    /// transaction. `passphrase` is the one that opened the file's protected
    /// keys; it is sealed next to them so that they can be used and given
    /// back as uploaded.
    pub async fn import(
        &self,
        bundle: Bundle,
        passphrase: Option<&str>,
        progress: &(dyn Fn(usize) + Send + Sync),
        actor: &str,
    ) -> Result<ImportReport> {
        self.import_from(bundle, passphrase, progress, actor, Origin::Admin)
            .await
    }

    /// Stores a signer's certificate learned from mail that a stored CA
    /// vouched for: a contact trusted only through that CA (audited
    /// `certificate.learn`). Whether it was new.
    pub async fn learn_contact(&self, cert: Certificate, actor: &str) -> Result<bool> {
        let bundle = Bundle {
            certificates: vec![cert],
            keys: Vec::new(),
        };
        let report = self
            .import_from(bundle, None, &|_| {}, actor, Origin::Learned)
            .await?;
        Ok(report
            .certificates
            .first()
            .is_some_and(|c| c.outcome == Outcome::Imported))
    }

    /// [`Store::import`], from where `origin` says.
    pub(crate) async fn import_from(
        &self,
        bundle: Bundle,
        passphrase: Option<&str>,
        progress: &(dyn Fn(usize) + Send + Sync),
        actor: &str,
        origin: Origin<'_>,
    ) -> Result<ImportReport> {
        let learned = matches!(origin, Origin::Learned);
        let mut seen = HashSet::new();
        let certs: Vec<Certificate> = bundle
            .certificates
            .into_iter()
            .filter(|c| seen.insert(c.fingerprint().to_string()))
            .collect();
        let mut report = ImportReport::default();
        let mut rejected = false;
        let now = smime::now();
        for cert in &certs {
            let reason = cert.rejection();
            rejected |= reason.is_some();
            report.certificates.push(CertOutcome {
                fingerprint: cert.fingerprint().to_string(),
                subject: cert.info().subject.clone(),
                email_addresses: cert.info().email_addresses.clone(),
                outcome: if reason.is_some() {
                    Outcome::Rejected
                } else {
                    Outcome::Imported
                },
                reason,
                issues: cert
                    .info()
                    .issues(now, true)
                    .iter()
                    .map(Issue::code)
                    .collect(),
            });
        }

        // Each key goes to every certificate with its public key: those in
        // the file and those already stored (a renewed certificate may keep
        // its key).
        let mut keys = Vec::new();
        for key in &bundle.keys {
            let spki = spki_sha256_of_key(key)?;
            let mut owners: Vec<String> = certs
                .iter()
                .filter(|c| key.matches(c))
                .map(|c| c.fingerprint().to_string())
                .collect();
            let stored: Vec<String> =
                sqlx::query_scalar("SELECT fingerprint FROM certificates WHERE spki_sha256 = $1")
                    .bind(spki)
                    .fetch_all(&self.pool)
                    .await?;
            for fp in stored {
                if !owners.contains(&fp) {
                    owners.push(fp);
                }
            }
            let reason = owners.is_empty().then(|| {
                "no certificate with this key's public key is stored or in the file: import the certificate first".to_string()
            });
            rejected |= reason.is_some();
            report.private_keys.push(KeyOutcome {
                certificates: owners.clone(),
                protected: key.is_protected(),
                outcome: if reason.is_some() {
                    Outcome::Rejected
                } else {
                    Outcome::Imported
                },
                reason,
            });
            keys.push((key, owners));
        }

        if rejected {
            let skip = |outcome: &mut Outcome, reason: &mut Option<String>| {
                if *outcome == Outcome::Imported {
                    *outcome = Outcome::NotImported;
                    *reason =
                        Some("not stored, because something else in the file was rejected".into());
                }
            };
            for c in &mut report.certificates {
                skip(&mut c.outcome, &mut c.reason);
            }
            for k in &mut report.private_keys {
                skip(&mut k.outcome, &mut k.reason);
            }
            return Ok(report);
        }

        let mut tx = self.begin_write().await?;
        lists::lock_certificates(&mut tx, self.backend).await?;
        if let Origin::Accepted(fp) = origin {
            // Another admin decided meanwhile: nothing is stored.
            let waiting = sqlx::query(
                "DELETE FROM pending_certificates WHERE fingerprint = $1 AND NOT rejected",
            )
            .bind(fp.to_string())
            .execute(&mut *tx)
            .await?;
            if waiting.rows_affected() == 0 {
                return Err(Error::NoPending(fp.to_string()));
            }
        }
        // Whether each has its issuer: in the file or stored already.
        let refs: Vec<&Certificate> = certs.iter().collect();
        let issuer_known = lists::issuers_known(&mut tx, &refs, &refs).await?;
        let mut inserted = HashSet::new();
        let mut done = 0;
        for (n, chunk) in certs.chunks(BATCH).enumerate() {
            let sql = format!(
                "INSERT INTO certificates (fingerprint, der, subject, spki_sha256, \
                 subject_name_sha256, issuer_name_sha256, is_ca, not_before, not_after, created_at, \
                 learned) \
                 VALUES {} ON CONFLICT (fingerprint) DO NOTHING RETURNING fingerprint",
                placeholders(chunk.len(), 11)
            );
            let mut query = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql));
            for cert in chunk {
                let info = cert.info();
                query = query
                    .bind(info.fingerprint.clone())
                    .bind(cert.der().to_vec())
                    .bind(info.subject.clone())
                    .bind(spki_sha256(cert)?)
                    .bind(sha256_hex(&cert.subject_name_der()?)?)
                    .bind(sha256_hex(&cert.issuer_name_der()?)?)
                    .bind(info.kind == smime::Kind::Ca)
                    .bind(info.not_before)
                    .bind(info.not_after)
                    .bind(now)
                    .bind(learned);
            }
            inserted.extend(query.fetch_all(&mut *tx).await?);
            // Stored now, so no longer waiting; and an admin's word makes
            // a learned one trusted as itself.
            let admin = ["UPDATE certificates SET learned = FALSE WHERE learned AND"];
            let statements = ["DELETE FROM pending_certificates WHERE"]
                .into_iter()
                .chain(admin.into_iter().filter(|_| !learned));
            for table in statements {
                let sql = format!(
                    "{table} fingerprint IN ({})",
                    (1..=chunk.len())
                        .map(|i| format!("${i}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                let mut query = sqlx::query(AssertSqlSafe(sql));
                for cert in chunk {
                    query = query.bind(cert.fingerprint().to_string());
                }
                query.execute(&mut *tx).await?;
            }

            let rows: Vec<_> = chunk
                .iter()
                .zip(&issuer_known[n * BATCH..])
                .filter(|(c, _)| inserted.contains(c.fingerprint()))
                .map(|(c, known)| (ListRow::of(c), *known, now))
                .collect();
            lists::write_rows(&mut tx, &rows).await?;

            let emails: Vec<(&str, &str)> = chunk
                .iter()
                .filter(|c| inserted.contains(c.fingerprint()))
                .flat_map(|c| {
                    c.info()
                        .email_addresses
                        .iter()
                        .map(move |e| (e.as_str(), c.fingerprint()))
                })
                .collect();
            for rows in emails.chunks(BATCH) {
                let sql = format!(
                    "INSERT INTO certificate_emails (email, fingerprint) VALUES {} \
                     ON CONFLICT DO NOTHING",
                    placeholders(rows.len(), 2)
                );
                let mut query = sqlx::query(AssertSqlSafe(sql));
                for (email, fp) in rows {
                    query = query.bind(email.to_string()).bind(fp.to_string());
                }
                query.execute(&mut *tx).await?;
            }
            done += chunk.len();
            progress(done);
        }

        // What the new certificates issued among those stored before.
        let new: Vec<&Certificate> = certs
            .iter()
            .filter(|c| inserted.contains(c.fingerprint()))
            .collect();
        lists::issuers_arrived(&mut tx, &new).await?;

        for (i, (key, owners)) in keys.iter().enumerate() {
            let mut any_new = false;
            for fp in owners {
                let sealed_key = self.master.seal(key.original(), &key_context(fp))?;
                let sealed_pass = match (key.is_protected(), passphrase) {
                    (true, Some(pass)) => {
                        Some(self.master.seal(pass.as_bytes(), &passphrase_context(fp))?)
                    }
                    _ => None,
                };
                let result = sqlx::query(
                    "INSERT INTO private_keys (fingerprint, sealed_key, sealed_passphrase, created_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (fingerprint) DO NOTHING",
                )
                .bind(fp.clone())
                .bind(sealed_key)
                .bind(sealed_pass)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                any_new |= result.rows_affected() > 0;
            }
            if !any_new {
                report.private_keys[i].outcome = Outcome::AlreadyPresent;
            }
        }
        for c in &mut report.certificates {
            if !inserted.contains(&c.fingerprint) {
                c.outcome = Outcome::AlreadyPresent;
            }
        }
        self.audit_import(&mut tx, &report, actor, origin).await?;
        tx.commit().await?;
        report.stored = true;
        Ok(report)
    }

    /// One audit entry per certificate and key an import added, in rows of
    /// [`BATCH`].
    async fn audit_import(
        &self,
        tx: &mut crate::Tx,
        report: &ImportReport,
        actor: &str,
        origin: Origin<'_>,
    ) -> Result<()> {
        let action = match origin {
            Origin::Admin => "certificate.import",
            Origin::Learned => "certificate.learn",
            Origin::Accepted(_) => "certificate.accept",
        };
        let certs = report
            .certificates
            .iter()
            .filter(|c| c.outcome == Outcome::Imported)
            .map(|c| (action, c.fingerprint.clone(), c.subject.clone()));
        let keys = report
            .private_keys
            .iter()
            .filter(|k| k.outcome == Outcome::Imported)
            .map(|k| {
                (
                    "private_key.import",
                    k.certificates.join(","),
                    String::new(),
                )
            });
        let entries: Vec<(&str, String, String)> = certs.chain(keys).collect();
        let now = smime::now();
        for rows in entries.chunks(BATCH) {
            let sql = format!(
                "INSERT INTO audit_log (at, token_name, action, subject, detail) VALUES {}",
                placeholders(rows.len(), 5)
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for (action, subject, detail) in rows {
                query = query
                    .bind(now)
                    .bind(actor.to_string())
                    .bind(action.to_string())
                    .bind(subject.clone())
                    .bind(detail.clone());
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Every certificate, parsed, with its key indicator and current
    /// issues, by subject. Lists use [`Store::certificates_page`], which
    /// parses nothing; this is for tools and tests that want the
    /// certificates themselves.
    pub async fn list_certificates(&self) -> Result<Vec<StoredCertificate>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "{SELECT_STORED} ORDER BY c.subject, c.fingerprint"
        )))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let der: Vec<u8> = row.try_get(0)?;
            out.push(
                self.stored(Certificate::from_der(&der)?, known(row)?)
                    .await?,
            );
        }
        Ok(out)
    }

    /// The certificate whose fingerprint is `id` or starts with it
    /// (at least 8 hex characters).
    pub async fn find_certificate(&self, id: &str) -> Result<StoredCertificate> {
        let fingerprint = self.resolve_id(id).await?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "{SELECT_STORED} WHERE c.fingerprint = $1"
        )))
        .bind(fingerprint.clone())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::NotFound(fingerprint))?;
        self.stored_from_row(&row).await
    }

    /// Certificates that carry `email` (compared case-insensitively).
    pub async fn certificates_for_email(&self, email: &str) -> Result<Vec<StoredCertificate>> {
        let mut out = Vec::new();
        for (certificate, known) in self.keyed_for_email(email).await? {
            out.push(self.stored(certificate, known).await?);
        }
        Ok(out)
    }

    /// Certificates for `email` with their key indicator and whether their
    /// issuer is stored: what the engine selects from.
    pub async fn candidates_for_email(&self, email: &str) -> Result<Vec<Candidate>> {
        let mut out = Vec::new();
        for (certificate, known) in self.keyed_for_email(email).await? {
            let issuer_known = match known.issuer_known {
                Some(known) => known,
                None => self.issuer_known(&certificate).await?,
            };
            out.push(Candidate {
                certificate,
                has_private_key: known.has_key,
                issuer_known,
                learned: known.learned,
                revoked: known.revoked,
            });
        }
        Ok(out)
    }

    /// The SHA-256 fingerprints of every stored certificate that is trusted
    /// as itself when it signs: all but those learned from mail.
    pub async fn fingerprints(&self) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT fingerprint FROM certificates WHERE NOT learned")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Certificates for `email` with what the store knows of them.
    async fn keyed_for_email(&self, email: &str) -> Result<Vec<(Certificate, Known)>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "{SELECT_STORED} JOIN certificate_emails e ON e.fingerprint = c.fingerprint \
             WHERE e.email = $1"
        )))
        .bind(email.trim().to_ascii_lowercase())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let der: Vec<u8> = row.try_get(0)?;
                Ok((Certificate::from_der_cached(&der)?, known(row)?))
            })
            .collect()
    }

    /// Every certificate that has a stored private key, in one query.
    pub async fn certificates_with_keys(&self) -> Result<Vec<Certificate>> {
        let ders: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT c.der FROM certificates c JOIN private_keys k ON k.fingerprint = c.fingerprint \
             ORDER BY c.fingerprint",
        )
        .fetch_all(&self.pool)
        .await?;
        ders.iter()
            .map(|der| Ok(Certificate::from_der_cached(der)?))
            .collect()
    }

    /// Deletes a certificate and its private key, audited as `actor`.
    /// Returns whether a key was deleted with it.
    pub async fn delete_certificate(&self, fingerprint: &str, actor: &str) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        lists::lock_certificates(&mut tx, self.backend).await?;
        let subject_name: Option<String> = sqlx::query_scalar(
            "SELECT subject_name_sha256 FROM certificates WHERE fingerprint = $1",
        )
        .bind(fingerprint.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(subject_name) = subject_name else {
            return Err(Error::NotFound(fingerprint.to_string()));
        };
        // Named in the audit entry: once deleted, nothing else remembers it.
        let shown: Option<String> =
            sqlx::query_scalar("SELECT subject FROM certificate_list WHERE fingerprint = $1")
                .bind(fingerprint.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        let keys = sqlx::query("DELETE FROM private_keys WHERE fingerprint = $1")
            .bind(fingerprint.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM certificate_emails WHERE fingerprint = $1")
            .bind(fingerprint.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM certificate_list WHERE fingerprint = $1")
            .bind(fingerprint.to_string())
            .execute(&mut *tx)
            .await?;
        let certs = sqlx::query("DELETE FROM certificates WHERE fingerprint = $1")
            .bind(fingerprint.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if certs == 0 {
            return Err(Error::NotFound(fingerprint.to_string()));
        }
        // What it issued may have lost its issuer.
        lists::issuer_left(&mut tx, &subject_name).await?;
        let detail = match (shown.unwrap_or_default(), keys > 0) {
            (subject, true) => format!("{subject}, with its private key"),
            (subject, false) => subject,
        };
        crate::audit(&mut tx, actor, "certificate.delete", fingerprint, &detail).await?;
        tx.commit().await?;
        Ok(keys > 0)
    }

    /// The full fingerprint for an ID or unique prefix.
    pub async fn resolve_id(&self, id: &str) -> Result<String> {
        let id = id.trim().to_ascii_lowercase();
        if id.len() < 8 || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::InvalidId(id));
        }
        let matches: Vec<String> = sqlx::query_scalar(
            "SELECT fingerprint FROM certificates WHERE fingerprint LIKE $1 ORDER BY fingerprint",
        )
        .bind(format!("{id}%"))
        .fetch_all(&self.pool)
        .await?;
        match matches.len() {
            0 => Err(Error::NotFound(id)),
            1 => Ok(matches.into_iter().next().unwrap_or_default()),
            count => Err(Error::AmbiguousId { prefix: id, count }),
        }
    }

    async fn stored_from_row(&self, row: &sqlx::any::AnyRow) -> Result<StoredCertificate> {
        let der: Vec<u8> = row.try_get(0)?;
        self.stored(Certificate::from_der_cached(&der)?, known(row)?)
            .await
    }

    /// A certificate with its issues now, "issuer not in the store"
    /// included (`issuer_known` from its list row; looked up when it has
    /// none yet).
    async fn stored(&self, certificate: Certificate, known: Known) -> Result<StoredCertificate> {
        let issuer_known = match known.issuer_known {
            Some(known) => known,
            None => self.issuer_known(&certificate).await?,
        };
        let mut issues = certificate.info().issues(smime::now(), issuer_known);
        issues.extend(known.revoked.map(Issue::Revoked));
        Ok(StoredCertificate {
            issues,
            certificate,
            has_private_key: known.has_key,
            key_problem: known.key_problem,
            learned: known.learned,
        })
    }

    /// Every stored CA certificate: the trust anchors.
    pub async fn ca_certificates(&self) -> Result<Vec<Certificate>> {
        let ders: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT der FROM certificates WHERE is_ca = $1")
                .bind(true)
                .fetch_all(&self.pool)
                .await?;
        ders.iter()
            .map(|der| Ok(Certificate::from_der_cached(der)?))
            .collect()
    }

    /// The stored issuers of `cert`, nearest first, up to a self-signed root
    /// (at most 8): the chain to send with a signature.
    pub async fn issuer_chain(&self, cert: &Certificate) -> Result<Vec<Certificate>> {
        let mut chain: Vec<Certificate> = Vec::new();
        let mut current = cert.clone();
        while chain.len() < 8 && !current.info().self_signed {
            let Some(issuer) = self.find_issuer(&current).await? else {
                break;
            };
            if chain
                .iter()
                .any(|c| c.fingerprint() == issuer.fingerprint())
            {
                break;
            }
            chain.push(issuer.clone());
            current = issuer;
        }
        Ok(chain)
    }

    /// Self-signed, or a stored certificate issued it.
    async fn issuer_known(&self, cert: &Certificate) -> Result<bool> {
        Ok(cert.info().self_signed || self.find_issuer(cert).await?.is_some())
    }

    async fn find_issuer(&self, cert: &Certificate) -> Result<Option<Certificate>> {
        let candidates: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT der FROM certificates WHERE subject_name_sha256 = $1")
                .bind(sha256_hex(&cert.issuer_name_der()?)?)
                .fetch_all(&self.pool)
                .await?;
        for der in candidates {
            let candidate = Certificate::from_der_cached(&der)?;
            if cert.is_issued_by(&candidate) {
                return Ok(Some(candidate));
            }
        }
        Ok(None)
    }
}

/// The certificate (DER), whether it has a key, that key's problem,
/// whether its issuer is known, whether it was learned from mail, and why a
/// stored CRL revokes it.
const SELECT_STORED: &str = "SELECT c.der, k.fingerprint, p.problem, l.issuer_known, \
     CASE WHEN c.learned THEN 1 ELSE 0 END, r.reason \
     FROM certificates c \
     LEFT JOIN private_keys k ON k.fingerprint = c.fingerprint \
     LEFT JOIN key_problems p ON p.fingerprint = c.fingerprint \
     LEFT JOIN certificate_list l ON l.fingerprint = c.fingerprint \
     LEFT JOIN revoked_certificates r ON r.fingerprint = c.fingerprint";

/// What the store knows of a certificate beside the certificate itself: a
/// row of [`SELECT_STORED`].
struct Known {
    /// A private key is stored.
    has_key: bool,
    /// Why that key would not open, if it would not.
    key_problem: Option<String>,
    /// From its list row; `None` for a certificate without one (only
    /// while the store opens).
    issuer_known: Option<bool>,
    /// Learned from signed mail.
    learned: bool,
    /// Why a stored CRL revokes it.
    revoked: Option<String>,
}

fn known(row: &sqlx::any::AnyRow) -> Result<Known> {
    let key: Option<String> = row.try_get(1)?;
    Ok(Known {
        has_key: key.is_some(),
        key_problem: row.try_get(2)?,
        issuer_known: row.try_get::<Option<i64>, _>(3)?.map(|v| v != 0),
        learned: row.try_get::<i64, _>(4)? != 0,
        revoked: row.try_get(5)?,
    })
}

pub(crate) fn key_context(fingerprint: &str) -> String {
    format!("smimed private key {fingerprint}")
}

pub(crate) fn passphrase_context(fingerprint: &str) -> String {
    format!("smimed passphrase {fingerprint}")
}

pub(crate) fn sha256_hex(data: &[u8]) -> Result<String> {
    Ok(smime::cert::hex(&hash(MessageDigest::sha256(), data)?))
}

fn spki_sha256(cert: &Certificate) -> Result<String> {
    sha256_hex(&cert.spki_der()?)
}

fn spki_sha256_of_key(key: &PrivateKey) -> Result<String> {
    sha256_hex(&key.pkey().public_key_to_der()?)
}
