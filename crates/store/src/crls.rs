//! Certificate revocation lists: one per stored CA that signed it, and the
//! stored certificates each revokes, written together.

use serde::Serialize;
use smime::Certificate;
use sqlx::Row;

use crate::{Result, Store, placeholders};

/// A stored CRL, as lists show it.
#[derive(Debug, Clone, Serialize)]
pub struct StoredCrl {
    /// The fingerprint of the stored CA that signed it.
    pub ca_fingerprint: String,
    /// The issuer's name.
    pub issuer: String,
    /// thisUpdate, Unix seconds.
    pub this_update: i64,
    /// nextUpdate, Unix seconds, when given.
    pub next_update: Option<i64>,
    /// The CRL number, hex, when given.
    pub number: Option<String>,
    /// Revoked entries in the CRL.
    pub entries: i64,
    /// Stored certificates it revokes.
    pub revoked_stored: i64,
    /// `import`, or the URL it was fetched from.
    pub source: String,
    /// When it was stored, Unix seconds.
    pub stored_at: i64,
}

/// What identifies the stored CRLs without reading them: per CA, its
/// fingerprint, the CRL's thisUpdate, number and entries, and when it was
/// stored (Unix microseconds).
pub type CrlKey = (String, i64, Option<String>, i64, i64);

/// A CRL to store: what lists show of it, its bytes, and what it revokes.
#[derive(Debug, Clone)]
pub struct NewCrl {
    /// The fingerprint of the stored CA that signed it.
    pub ca_fingerprint: String,
    /// The issuer's name.
    pub issuer: String,
    /// The CRL, DER.
    pub der: Vec<u8>,
    /// thisUpdate.
    pub this_update: i64,
    /// nextUpdate.
    pub next_update: Option<i64>,
    /// CRL number, hex.
    pub number: Option<String>,
    /// Revoked entries.
    pub entries: i64,
    /// `import` or the URL.
    pub source: String,
    /// The stored certificates it revokes: fingerprint, revocation time,
    /// why (in words).
    pub revoked: Vec<Revoked>,
}

/// A stored certificate a CRL revokes.
#[derive(Debug, Clone)]
pub struct Revoked {
    /// Its fingerprint.
    pub fingerprint: String,
    /// When it was revoked, Unix seconds.
    pub at: i64,
    /// The revocation in words (certificate, date, CRL).
    pub reason: String,
}

/// Rows per multi-row INSERT.
const BATCH: usize = 100;

impl Store {
    /// Stores `crl` in place of the CA's older one, with the stored
    /// certificates it revokes in place of the older one's, audited
    /// `crl.import` by `actor`, in one transaction.
    pub async fn put_crl(&self, crl: &NewCrl, actor: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO crls (ca_fingerprint, issuer, der, this_update, next_update, number, \
             entries, source, stored_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (ca_fingerprint) DO UPDATE SET issuer = $2, der = $3, \
             this_update = $4, next_update = $5, number = $6, entries = $7, source = $8, \
             stored_at = $9",
        )
        .bind(crl.ca_fingerprint.clone())
        .bind(crl.issuer.clone())
        .bind(crl.der.clone())
        .bind(crl.this_update)
        .bind(crl.next_update)
        .bind(crl.number.clone())
        .bind(crl.entries)
        .bind(crl.source.clone())
        .bind(crate::kept::received_us())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM revoked_certificates WHERE ca_fingerprint = $1")
            .bind(crl.ca_fingerprint.clone())
            .execute(&mut *tx)
            .await?;
        insert_revoked(&mut tx, &crl.ca_fingerprint, &crl.revoked).await?;
        let detail = format!(
            "{}; thisUpdate {}; {} entries, {} stored certificates revoked; from {}",
            crl.issuer,
            smime::rfc3339(crl.this_update),
            crl.entries,
            crl.revoked.len(),
            crl.source
        );
        crate::audit(&mut tx, actor, "crl.import", &crl.ca_fingerprint, &detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks stored certificates revoked by the stored CRL of the CA
    /// `ca_fingerprint` (a certificate that arrived after its CRL).
    pub async fn add_revoked(&self, ca_fingerprint: &str, revoked: &[Revoked]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        insert_revoked(&mut tx, ca_fingerprint, revoked).await?;
        tx.commit().await?;
        Ok(())
    }

    /// What identifies each stored CRL, by CA: a change of any CRL changes
    /// this list.
    pub async fn crl_keys(&self) -> Result<Vec<CrlKey>> {
        let rows = sqlx::query(
            "SELECT ca_fingerprint, this_update, number, entries, stored_at FROM crls \
             ORDER BY ca_fingerprint",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    r.try_get(1)?,
                    r.try_get(2)?,
                    r.try_get(3)?,
                    r.try_get(4)?,
                ))
            })
            .collect()
    }

    /// Every stored CRL: the signing CA's fingerprint and the DER.
    pub async fn crl_ders(&self) -> Result<Vec<(String, Vec<u8>)>> {
        let rows = sqlx::query("SELECT ca_fingerprint, der FROM crls ORDER BY ca_fingerprint")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Every stored CRL, by issuer.
    pub async fn crls(&self) -> Result<Vec<StoredCrl>> {
        let rows = sqlx::query(
            "SELECT c.ca_fingerprint, c.issuer, c.this_update, c.next_update, c.number, \
             c.entries, c.source, c.stored_at, \
             (SELECT COUNT(*) FROM revoked_certificates r WHERE r.ca_fingerprint = c.ca_fingerprint) \
             FROM crls c ORDER BY c.issuer, c.ca_fingerprint",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredCrl {
                    ca_fingerprint: r.try_get(0)?,
                    issuer: r.try_get(1)?,
                    this_update: r.try_get(2)?,
                    next_update: r.try_get(3)?,
                    number: r.try_get(4)?,
                    entries: r.try_get(5)?,
                    source: r.try_get(6)?,
                    stored_at: r.try_get::<i64, _>(7)? / 1_000_000,
                    revoked_stored: r.try_get(8)?,
                })
            })
            .collect()
    }

    /// The `per_issuer` most recently stored certificates of each issuer
    /// that is a stored CA (intermediate CAs among them; a root issues
    /// itself and names no CRL of its own): their distribution points name
    /// the CRLs worth fetching, those a stored CA signs. A few per issuer,
    /// not all: a CA names the same points in what it issues, and a new
    /// point shows in what it issued last.
    pub async fn recent_per_stored_issuer(&self, per_issuer: i64) -> Result<Vec<Certificate>> {
        let ders: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT der FROM (SELECT c.der, ROW_NUMBER() OVER \
             (PARTITION BY c.issuer_name_sha256 ORDER BY c.created_at DESC, c.fingerprint) AS n \
             FROM certificates c \
             WHERE c.issuer_name_sha256 <> c.subject_name_sha256 \
             AND c.issuer_name_sha256 IN \
             (SELECT subject_name_sha256 FROM certificates WHERE is_ca = $1)) recent \
             WHERE n <= $2",
        )
        .bind(true)
        .bind(per_issuer)
        .fetch_all(&self.pool)
        .await?;
        ders.iter()
            .map(|der| Ok(Certificate::from_der_cached(der)?))
            .collect()
    }

    /// The fingerprints and serial numbers (lowercase hex) of the stored
    /// certificates whose issuer name is `ca`'s subject: those a CRL of
    /// `ca` may revoke. Narrow rows, no certificate read: a CA may have
    /// issued 100,000 of them.
    pub async fn issued_serials(&self, ca: &Certificate) -> Result<Vec<(String, String)>> {
        let name = crate::certificates::sha256_hex(&ca.subject_name_der()?)?;
        let rows = sqlx::query(
            "SELECT c.fingerprint, l.serial FROM certificates c \
             JOIN certificate_list l ON l.fingerprint = c.fingerprint \
             WHERE c.issuer_name_sha256 = $1 AND c.fingerprint <> $2",
        )
        .bind(name)
        .bind(ca.fingerprint().to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// The stored certificates with these fingerprints (those missing are
    /// left out).
    pub async fn certificates_in(&self, fingerprints: &[String]) -> Result<Vec<Certificate>> {
        let mut out = Vec::with_capacity(fingerprints.len());
        for chunk in fingerprints.chunks(BATCH) {
            let list = (1..=chunk.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!("SELECT der FROM certificates WHERE fingerprint IN ({list})");
            let mut query = sqlx::query_scalar::<_, Vec<u8>>(sqlx::AssertSqlSafe(sql));
            for fp in chunk {
                query = query.bind(fp.clone());
            }
            for der in query.fetch_all(&self.pool).await? {
                out.push(Certificate::from_der_cached(&der)?);
            }
        }
        Ok(out)
    }
}

async fn insert_revoked(tx: &mut crate::Tx, ca: &str, revoked: &[Revoked]) -> Result<()> {
    for rows in revoked.chunks(BATCH) {
        let sql = format!(
            "INSERT INTO revoked_certificates (fingerprint, ca_fingerprint, revoked_at, reason) \
             VALUES {} ON CONFLICT (fingerprint) DO UPDATE SET ca_fingerprint = excluded.ca_fingerprint, \
             revoked_at = excluded.revoked_at, reason = excluded.reason",
            placeholders(rows.len(), 4)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for r in rows {
            query = query
                .bind(r.fingerprint.clone())
                .bind(ca.to_string())
                .bind(r.at)
                .bind(r.reason.clone());
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}
