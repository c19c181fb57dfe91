//! Certificate revocation lists: imported by an admin or fetched from the
//! distribution points stored certificates name, accepted only when a
//! stored CA signed them, a newer one replacing the older. What they
//! revoke is written beside them, so that lists show `revoked` and
//! outgoing mail never encrypts to a revoked certificate; incoming
//! signatures are checked against them (`revoked`).

use serde::Serialize;
use smime::{Certificate, Crl, CrlSet};
use smimed_store::{NewCrl, Revoked, StoredCrl};

use crate::{Actor, Engine, Error, Result};

/// What an import of a CRL did.
#[derive(Debug, Clone, Serialize)]
pub struct CrlImported {
    /// The fingerprint of the stored CA that signed it.
    pub ca_fingerprint: String,
    /// The issuer's name.
    pub issuer: String,
    /// thisUpdate, RFC 3339.
    pub this_update: String,
    /// nextUpdate, RFC 3339, when given.
    pub next_update: Option<String>,
    /// The same in Unix seconds (when to fetch it again).
    #[serde(skip)]
    pub next_update_at: Option<i64>,
    /// Revoked entries in the CRL.
    pub entries: usize,
    /// The stored certificates it revokes.
    pub revoked: Vec<String>,
    /// It replaced an older CRL of the same CA.
    pub replaced: bool,
}

impl Engine {
    /// Imports a CRL (PEM or DER) from an admin (`source` "import") or a
    /// fetch (the URL): accepted only when a stored CA signed it and it is
    /// current, refused when not newer than the one stored; written with
    /// the stored certificates it revokes and an audit entry.
    pub async fn import_crl(
        &self,
        actor: &Actor,
        data: Vec<u8>,
        source: &str,
    ) -> Result<CrlImported> {
        actor.admin()?;
        if data.len() > smime::crl::MAX_CRL_BYTES {
            return Err(Error::TooLarge(format!(
                "the CRL is {} bytes; at most {} bytes (10 MiB) are accepted, so it was not read",
                data.len(),
                smime::crl::MAX_CRL_BYTES
            )));
        }
        let cas = self.store.ca_certificates().await?;
        let stored = self.store.crl_ders().await?;
        let now = smime::now();
        // Parsing, the signature and the comparison with every stored
        // certificate the CA issued are CPU work.
        let (crl, ca, replaced) = self
            .compute(move || -> Result<_> {
                let crl = Crl::parse(&data)?;
                let ca = crl.verify_issuer(&cas, now)?.clone();
                // A stored CRL that no longer parses is replaced, not in
                // the way.
                let older = stored
                    .iter()
                    .find(|(fp, _)| fp == ca.fingerprint())
                    .and_then(|(_, der)| Crl::from_der(der).ok());
                if let Some(older) = &older
                    && !crl.supersedes(older)
                {
                    return Err(Error::Invalid(format!(
                        "this CRL of {} (thisUpdate {}) is not newer than the one stored (thisUpdate {}): nothing changed",
                        crl.issuer(),
                        smime::rfc3339(crl.this_update()),
                        smime::rfc3339(older.this_update())
                    )));
                }
                Ok((crl, ca, older.is_some()))
            })
            .await??;
        // Which stored certificates it may revoke: first by serial number
        // from narrow rows (a lookup each in the CRL's sorted entries),
        // then only those are read and checked against the CA's key.
        let issued = self.store.issued_serials(&ca).await?;
        let (crl, listed) = self
            .compute(move || {
                let listed: Vec<String> = issued
                    .into_iter()
                    .filter(|(_, serial)| crl.lists_serial(serial))
                    .map(|(fp, _)| fp)
                    .collect();
                (crl, listed)
            })
            .await?;
        let listed = self.store.certificates_in(&listed).await?;
        let source = source.to_string();
        let new = self
            .compute(move || -> Result<_> {
                let new = NewCrl {
                    ca_fingerprint: ca.fingerprint().to_string(),
                    issuer: crl.issuer().to_string(),
                    der: crl.der().to_vec(),
                    this_update: crl.this_update(),
                    next_update: crl.next_update(),
                    number: crl.number_hex(),
                    entries: crl.revoked_count() as i64,
                    source,
                    revoked: Vec::new(),
                };
                let mut set = CrlSet::new();
                set.insert(crl, &ca)?;
                Ok(NewCrl {
                    revoked: revoked_among(&set, &listed, now),
                    ..new
                })
            })
            .await??;
        self.store.put_crl(&new, actor.name()).await?;
        Ok(CrlImported {
            ca_fingerprint: new.ca_fingerprint,
            issuer: new.issuer,
            this_update: smime::rfc3339(new.this_update),
            next_update: new.next_update.map(smime::rfc3339),
            next_update_at: new.next_update,
            entries: new.entries as usize,
            revoked: new.revoked.into_iter().map(|r| r.fingerprint).collect(),
            replaced,
        })
    }

    /// The HTTP URLs of the CRLs worth fetching, at most `limit`: the
    /// distribution points of the few most recently stored certificates of
    /// each issuer that is a stored CA (only a stored CA's CRL is
    /// accepted).
    pub async fn crl_sources(&self, limit: usize) -> Result<Vec<String>> {
        let certs = self.store.recent_per_stored_issuer(4).await?;
        let mut urls: Vec<String> = Vec::new();
        for cert in &certs {
            for url in smime::crl::distribution_points(cert) {
                if url.starts_with("http://") && !urls.contains(&url) && urls.len() < limit {
                    urls.push(url);
                }
            }
        }
        Ok(urls)
    }

    /// The stored CRLs (admins).
    pub async fn crls(&self, actor: &Actor) -> Result<Vec<StoredCrl>> {
        actor.admin()?;
        Ok(self.store.crls().await?)
    }

    /// Marks the newly stored `certificates` that a stored CRL revokes
    /// (a certificate that arrives after its CRL).
    pub(crate) async fn mark_revoked(&self, certificates: Vec<Certificate>) -> Result<()> {
        let view = self.view().await?;
        let set = view.crls().await?;
        if set.is_empty() || certificates.is_empty() {
            return Ok(());
        }
        let now = smime::now();
        let revoked = self
            .compute(move || {
                certificates
                    .iter()
                    .filter_map(|c| {
                        let r = set.revocation(c, now)?;
                        let revoked = Revoked {
                            fingerprint: c.fingerprint().to_string(),
                            at: r.at,
                            reason: r.reason,
                        };
                        Some((r.ca_fingerprint, revoked))
                    })
                    .collect::<Vec<_>>()
            })
            .await?;
        for (ca, r) in revoked {
            self.store
                .add_revoked(&ca, std::slice::from_ref(&r))
                .await?;
        }
        Ok(())
    }
}

/// Which of `issued` the CRLs in `set` revoke at `now`.
fn revoked_among(set: &CrlSet, issued: &[Certificate], now: i64) -> Vec<Revoked> {
    issued
        .iter()
        .filter_map(|c| {
            let r = set.revocation(c, now)?;
            Some(Revoked {
                fingerprint: c.fingerprint().to_string(),
                at: r.at,
                reason: r.reason,
            })
        })
        .collect()
}

/// The set of the stored CRLs (`(CA fingerprint, DER)`), each accepted only
/// when its stored CA still signs it; a CRL whose CA went is left out.
pub(crate) fn set_of(ders: &[(String, Vec<u8>)], cas: &[Certificate]) -> CrlSet {
    let mut set = CrlSet::new();
    for (ca_fp, der) in ders {
        let Some(ca) = cas.iter().find(|c| c.fingerprint() == ca_fp) else {
            continue;
        };
        match Crl::from_der(der) {
            Ok(crl) => {
                if let Err(e) = set.insert(crl, ca) {
                    tracing::warn!(ca = %ca_fp, error = %e, "a stored CRL is not accepted");
                }
            }
            Err(e) => tracing::warn!(ca = %ca_fp, error = %e, "a stored CRL does not parse"),
        }
    }
    set
}
