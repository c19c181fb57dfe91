//! Signer certificates from signed mail that no stored CA vouches for: kept
//! aside, untrusted and unused, until an admin accepts or rejects them.
//! Bounded, so that a flood of signed spam cannot fill the store.

use serde::Serialize;
use smime::Certificate;
use sqlx::Row;

use crate::certificates::Origin;
use crate::{Error, Result, Store};

/// Pending certificates kept per sender address; the least recently seen
/// go first beyond it (a sender rarely has more than a new and an old one).
pub const MAX_PENDING_PER_SENDER: i64 = 4;
/// Pending and rejected certificates kept in all; the least recently seen
/// go first beyond it.
pub const MAX_PENDING: i64 = 1000;
/// Kept messages remembered per pending certificate, retried on accepting
/// it; the oldest are forgotten beyond it.
pub const MAX_PENDING_MESSAGES: i64 = 20;

/// A certificate waiting for an admin's decision.
#[derive(Debug, Clone, Serialize)]
pub struct PendingCertificate {
    /// SHA-256 fingerprint, lowercase hex: what the admin compares with
    /// the sender out of band.
    pub fingerprint: String,
    /// Subject DN.
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// The certificate's addresses.
    pub email_addresses: Vec<String>,
    /// The From address it signed for.
    pub sender: String,
    /// Validity end, RFC 3339.
    pub not_after: String,
    /// First and last signed message received, Unix seconds.
    pub first_seen: i64,
    /// Last signed message received, Unix seconds.
    pub last_seen: i64,
    /// Signed messages received.
    pub messages_seen: i64,
    /// Of those, the kept ones that accepting retries.
    pub messages_kept: i64,
}

/// What accepting a pending certificate did.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The certificate, now a contact.
    pub certificate: Certificate,
    /// The kept messages it signed, oldest first: to retry.
    pub messages: Vec<String>,
}

impl Store {
    /// Puts a signer's certificate among the pending (or notes another
    /// message from one pending already), linked to the kept message
    /// `incoming_id`. Returns whether it waits: not when it is stored or
    /// was rejected.
    pub async fn add_pending(
        &self,
        cert: &Certificate,
        sender: &str,
        incoming_id: &str,
    ) -> Result<bool> {
        let fp = cert.fingerprint().to_string();
        // Microseconds, increasing within the process: the bounds drop the
        // least recently seen, and a flood arrives within one second.
        let now = crate::kept::received_us();
        let mut tx = self.begin_write().await?;
        let stored: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM certificates WHERE fingerprint = $1")
                .bind(fp.clone())
                .fetch_optional(&mut *tx)
                .await?;
        if stored.is_some() {
            return Ok(false);
        }
        let rejected: Option<i64> = sqlx::query_scalar(
            "SELECT CASE WHEN rejected THEN 1 ELSE 0 END FROM pending_certificates \
             WHERE fingerprint = $1",
        )
        .bind(fp.clone())
        .fetch_optional(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO pending_certificates \
             (fingerprint, der, subject, email, rejected, first_seen, last_seen, seen) \
             VALUES ($1, $2, $3, $4, FALSE, $5, $5, 1) \
             ON CONFLICT (fingerprint) DO UPDATE SET last_seen = $5, \
             seen = pending_certificates.seen + 1",
        )
        .bind(fp.clone())
        .bind(cert.der().to_vec())
        .bind(cert.info().subject.clone())
        .bind(sender.to_ascii_lowercase())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if rejected == Some(1) {
            tx.commit().await?;
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO pending_messages (fingerprint, incoming_id, at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(fp.clone())
        .bind(incoming_id.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        // The bounds: each a DELETE of what lies beyond the newest N, read
        // from an index.
        sqlx::query(
            "DELETE FROM pending_messages WHERE fingerprint = $1 AND incoming_id NOT IN \
             (SELECT incoming_id FROM pending_messages WHERE fingerprint = $1 \
              ORDER BY at DESC, incoming_id DESC LIMIT $2)",
        )
        .bind(fp.clone())
        .bind(MAX_PENDING_MESSAGES)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM pending_certificates WHERE email = $1 AND fingerprint NOT IN \
             (SELECT fingerprint FROM pending_certificates WHERE email = $1 \
              ORDER BY last_seen DESC, fingerprint DESC LIMIT $2)",
        )
        .bind(sender.to_ascii_lowercase())
        .bind(MAX_PENDING_PER_SENDER)
        .execute(&mut *tx)
        .await?;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pending_certificates")
            .fetch_one(&mut *tx)
            .await?;
        if count > MAX_PENDING {
            sqlx::query(
                "DELETE FROM pending_certificates WHERE fingerprint IN \
                 (SELECT fingerprint FROM pending_certificates \
                  ORDER BY last_seen ASC, fingerprint ASC LIMIT $1)",
            )
            .bind(count - MAX_PENDING)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Whether an admin rejected this certificate (and it is remembered).
    pub async fn rejected(&self, fingerprint: &str) -> Result<bool> {
        let rejected: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM pending_certificates WHERE fingerprint = $1 AND rejected",
        )
        .bind(fingerprint.to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(rejected.is_some())
    }

    /// The certificates waiting for a decision, most recently seen first:
    /// one page and how many wait in all.
    pub async fn pending_certificates(
        &self,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<PendingCertificate>, i64)> {
        let total: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM pending_certificates WHERE NOT rejected")
                .fetch_one(&self.pool)
                .await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT_PENDING} ORDER BY p.last_seen DESC, p.fingerprint DESC LIMIT $1 OFFSET $2"
        )))
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(pending_row).collect::<Result<_>>()?;
        Ok((items, total))
    }

    /// One pending certificate by its whole fingerprint.
    pub async fn pending_certificate(&self, fingerprint: &str) -> Result<PendingCertificate> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT_PENDING} AND p.fingerprint = $1"
        )))
        .bind(fingerprint.to_ascii_lowercase())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| Error::NoPending(fingerprint.to_string()))?;
        pending_row(&row)
    }

    /// Stores a pending certificate as a contact trusted as itself, audited
    /// `certificate.accept` in the same transaction; returns it and the
    /// kept messages it signed.
    pub async fn accept_pending(&self, fingerprint: &str, actor: &str) -> Result<Accepted> {
        let fingerprint = fingerprint.to_ascii_lowercase();
        let der: Vec<u8> = sqlx::query_scalar(
            "SELECT der FROM pending_certificates WHERE fingerprint = $1 AND NOT rejected",
        )
        .bind(fingerprint.clone())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| Error::NoPending(fingerprint.clone()))?;
        let messages: Vec<String> = sqlx::query_scalar(
            "SELECT incoming_id FROM pending_messages WHERE fingerprint = $1 \
             ORDER BY at, incoming_id",
        )
        .bind(fingerprint.clone())
        .fetch_all(&self.pool)
        .await?;
        let certificate = Certificate::from_der(&der)?;
        // The import ends the wait (the row goes, with its links) in its
        // transaction; a second accept at the same moment finds nothing.
        let bundle = smime::Bundle {
            certificates: vec![certificate.clone()],
            keys: Vec::new(),
        };
        let report = self
            .import_from(bundle, None, &|_| {}, actor, Origin::Accepted(&fingerprint))
            .await?;
        if !report.stored {
            let why = report
                .certificates
                .first()
                .and_then(|c| c.reason.clone())
                .unwrap_or_default();
            return Err(Error::Refused(format!(
                "the certificate cannot be stored: {why}"
            )));
        }
        Ok(Accepted {
            certificate,
            messages,
        })
    }

    /// Marks a pending certificate rejected (it is not offered again while
    /// remembered), audited `certificate.reject` in the same transaction.
    pub async fn reject_pending(&self, fingerprint: &str, actor: &str) -> Result<()> {
        let fingerprint = fingerprint.to_ascii_lowercase();
        let mut tx = self.begin_write().await?;
        let subject: String = sqlx::query_scalar(
            "UPDATE pending_certificates SET rejected = TRUE \
             WHERE fingerprint = $1 AND NOT rejected RETURNING subject",
        )
        .bind(fingerprint.clone())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| Error::NoPending(fingerprint.clone()))?;
        sqlx::query("DELETE FROM pending_messages WHERE fingerprint = $1")
            .bind(fingerprint.clone())
            .execute(&mut *tx)
            .await?;
        crate::audit(&mut tx, actor, "certificate.reject", &fingerprint, &subject).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The waiting certificates with what a list shows of them: read by
/// [`pending_row`].
const SELECT_PENDING: &str = "SELECT p.der, p.email, p.first_seen, p.last_seen, p.seen, \
     (SELECT COUNT(*) FROM pending_messages m WHERE m.fingerprint = p.fingerprint) \
     FROM pending_certificates p WHERE NOT p.rejected";

fn pending_row(row: &sqlx::any::AnyRow) -> Result<PendingCertificate> {
    let der: Vec<u8> = row.try_get(0)?;
    let cert = Certificate::from_der_cached(&der)?;
    let info = cert.info();
    Ok(PendingCertificate {
        fingerprint: info.fingerprint.clone(),
        subject: info.subject.clone(),
        issuer: info.issuer.clone(),
        email_addresses: info.email_addresses.clone(),
        sender: row.try_get(1)?,
        not_after: smime::rfc3339(info.not_after),
        first_seen: row.try_get::<i64, _>(2)? / 1_000_000,
        last_seen: row.try_get::<i64, _>(3)? / 1_000_000,
        messages_seen: row.try_get(4)?,
        messages_kept: row.try_get(5)?,
    })
}
