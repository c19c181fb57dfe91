//! Certificates and private keys as admins manage them: import a file
//! whole or not at all, list, download, delete. Parsing (and a protected
//! file's key derivation) runs on the blocking pool.

use serde::Serialize;
use smimed_store::{
    CertificateQuery, CertificateSort, ImportReport, ListedCertificate, Status, StoredCertificate,
    Watched,
};
use zeroize::Zeroizing;

use crate::{Actor, Engine, Error, Result};

/// What an upload is meant to bring. Both store everything else the file
/// holds too; the kind only says what it must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    /// At least one certificate (`cert import`, `POST /certificates`).
    Certificates,
    /// At least one private key (`key import`, `POST /private-keys`).
    PrivateKeys,
}

/// The longest text a list searches for: longer than any address (254),
/// and a search costs in proportion to it (trigrams, substring scans).
pub const MAX_SEARCH_CHARS: usize = 256;

/// Which certificates a list shows, and in which order.
#[derive(Debug, Clone, Default)]
pub struct CertificateFilter {
    /// Only those with an address containing this text (any case).
    pub email: Option<String>,
    /// Only those with (or without) a private key.
    pub has_key: Option<bool>,
    /// Only CAs, or only end entities.
    pub kind: Option<smime::Kind>,
    /// Only those with (or without) issues (`key_unusable` included).
    pub has_issues: Option<bool>,
    /// Only those with this text (any case) in an address or the subject.
    pub search: Option<String>,
    /// The order (by subject unless said).
    pub sort: CertificateSort,
    /// Count matches only up to this many and one more ("more than N");
    /// `None` counts them all.
    pub count_up_to: Option<usize>,
}

/// One page of a list.
#[derive(Debug, Clone, Serialize)]
pub struct CertificatePage {
    /// How many match the filter.
    pub total: usize,
    /// This page, from 1.
    pub page: usize,
    /// Rows per page.
    pub per_page: usize,
    /// The rows.
    pub items: Vec<ListedCertificate>,
}

/// A file to hand out: its bytes, a file name and a media type.
#[derive(Debug)]
pub struct Download {
    /// The content; zeroed when dropped (it may be a private key).
    pub bytes: Zeroizing<Vec<u8>>,
    /// A file name (the fingerprint's first 16 characters).
    pub file_name: String,
    /// The media type.
    pub media_type: &'static str,
    /// A private key that is protected by its upload passphrase.
    pub protected: bool,
}

impl Engine {
    /// Parses an uploaded or pasted file and stores it whole or not at all,
    /// with an audit entry per stored item in the same transaction
    /// (admins). `progress` gets the number of certificates written so far.
    pub async fn import(
        &self,
        actor: &Actor,
        data: Zeroizing<Vec<u8>>,
        passphrase: Option<Zeroizing<String>>,
        kind: ImportKind,
        progress: &(dyn Fn(usize) + Send + Sync),
    ) -> Result<ImportReport> {
        actor.admin()?;
        let pass = passphrase.clone();
        let kdf = crate::settings::policy(&self.store.settings().await?, smime::now()).kdf;
        let bundle = self
            .compute(move || {
                smime::bundle::parse_with(&data, pass.as_ref().map(|p| p.as_str()), &kdf)
            })
            .await??;
        match kind {
            ImportKind::Certificates if bundle.certificates.is_empty() => {
                return Err(Error::Unusable(
                    "the upload holds no certificate (for a private key, import it as a key)"
                        .into(),
                ));
            }
            ImportKind::PrivateKeys if bundle.keys.is_empty() => {
                return Err(Error::Unusable(
                    "the upload holds no private key (for certificates, import them as certificates)"
                        .into(),
                ));
            }
            _ => {}
        }
        let pass = passphrase.as_ref().map(|p| p.as_str());
        let certificates = bundle.certificates.clone();
        let report = self
            .store
            .import(bundle, pass, progress, actor.name())
            .await?;
        if report.stored {
            // A certificate that arrives after its CA's CRL.
            let new: std::collections::HashSet<&str> = report
                .certificates
                .iter()
                .filter(|c| c.outcome == smimed_store::Outcome::Imported)
                .map(|c| c.fingerprint.as_str())
                .collect();
            let new = certificates
                .into_iter()
                .filter(|c| new.contains(c.fingerprint()))
                .collect();
            self.mark_revoked(new).await?;
        }
        Ok(report)
    }

    /// The certificates that match `filter`, one page of `per_page` (admins):
    /// filtered, counted, sorted and paged by the store in SQL, from rows
    /// that hold what a list shows (nothing is parsed).
    pub async fn certificates(
        &self,
        actor: &Actor,
        filter: &CertificateFilter,
        page: usize,
        per_page: usize,
    ) -> Result<CertificatePage> {
        actor.admin()?;
        for (name, text) in [("email", &filter.email), ("search", &filter.search)] {
            let n = text.as_deref().map_or(0, |t| t.chars().count());
            if n > MAX_SEARCH_CHARS {
                return Err(Error::Invalid(format!(
                    "{name} text of {n} characters; at most {MAX_SEARCH_CHARS} are searched for"
                )));
            }
        }
        let per_page = per_page.max(1);
        let page = page.max(1);
        let query = CertificateQuery {
            email: filter.email.clone(),
            search: filter.search.clone(),
            kind: filter.kind,
            has_key: filter.has_key,
            has_issues: filter.has_issues,
            sort: filter.sort,
            page,
            per_page,
            now: smime::now(),
            count_up_to: filter.count_up_to,
        };
        let list = self.store.certificates_page(&query).await?;
        Ok(CertificatePage {
            total: list.total,
            page,
            per_page,
            items: list.items,
        })
    }

    /// One certificate by fingerprint or unique prefix (admins).
    pub async fn certificate(&self, actor: &Actor, id: &str) -> Result<StoredCertificate> {
        actor.admin()?;
        Ok(self.store.find_certificate(id).await?)
    }

    /// A certificate as a file, PEM or DER (admins).
    pub async fn certificate_file(&self, actor: &Actor, id: &str, der: bool) -> Result<Download> {
        let cert = self.certificate(actor, id).await?.certificate;
        let short = &cert.fingerprint()[..16];
        let (bytes, media_type, ext) = if der {
            (cert.der().to_vec(), "application/pkix-cert", "cer")
        } else {
            (cert.to_pem()?, "application/x-pem-file", "pem")
        };
        Ok(Download {
            bytes: Zeroizing::new(bytes),
            file_name: format!("{short}.{ext}"),
            media_type,
            protected: false,
        })
    }

    /// Deletes a certificate and its private key, audited (admins).
    /// Returns the fingerprint and whether a key went too.
    pub async fn delete_certificate(&self, actor: &Actor, id: &str) -> Result<(String, bool)> {
        actor.admin()?;
        let fp = self.store.resolve_id(id).await?;
        let had_key = self.store.delete_certificate(&fp, actor.name()).await?;
        self.keys.forget(&fp);
        Ok((fp, had_key))
    }

    /// A private key exactly as uploaded (a protected key stays protected),
    /// audited before it is handed out (admins).
    pub async fn private_key_file(&self, actor: &Actor, id: &str) -> Result<Download> {
        actor.admin()?;
        let fp = self.store.resolve_id(id).await?;
        let key = self.store.download_key(&fp, actor.name()).await?;
        let pem = key.original.starts_with(b"-----BEGIN");
        let (media_type, ext) = if pem {
            ("application/x-pem-file", "key.pem")
        } else {
            ("application/octet-stream", "key.der")
        };
        Ok(Download {
            protected: key.passphrase.is_some(),
            bytes: key.original,
            file_name: format!("{}.{ext}", &fp[..16]),
            media_type,
        })
    }

    /// Deletes a private key, audited; the certificate stays (admins).
    /// Returns the certificate's fingerprint.
    pub async fn delete_private_key(&self, actor: &Actor, id: &str) -> Result<String> {
        actor.admin()?;
        let fp = self.store.resolve_id(id).await?;
        self.store.delete_key(&fp, actor.name()).await?;
        self.keys.forget(&fp);
        Ok(fp)
    }

    /// Re-seals every stored key under a new master key written to
    /// `key_path` (the old one kept as `.old`), audited (admins). Every other
    /// instance on the same database must be stopped meanwhile.
    pub async fn rotate_master_key(
        &self,
        actor: &Actor,
        key_path: &std::path::Path,
    ) -> Result<usize> {
        actor.admin()?;
        Ok(self.store.rotate_master_key(key_path, actor.name()).await?)
    }

    /// How many certificates are stored (admins): remembered per store
    /// generation, so a page that shows it per keystroke does not count.
    pub async fn certificate_count(&self, actor: &Actor) -> Result<usize> {
        actor.admin()?;
        self.view_for(actor).await?.certificate_count().await
    }

    /// Beside a page of the certificate table (admins): how many stored
    /// certificates each of the CAs `cas` issued (what a deletion leaves
    /// without their issuer), and which of `keyed` download in clear.
    pub async fn page_facts(
        &self,
        actor: &Actor,
        cas: &[String],
        keyed: &[String],
    ) -> Result<(
        std::collections::HashMap<String, usize>,
        std::collections::HashSet<String>,
    )> {
        actor.admin()?;
        Ok(self.store.page_facts(cas, keyed).await?)
    }

    /// The own certificates and CAs with their expiry, for `/metrics`
    /// (what any monitoring may read: certificates, never keys).
    pub async fn watched_certificates(&self) -> Result<Vec<Watched>> {
        Ok(self.store.watched_certificates().await?)
    }

    /// The own certificates that expire within the warning window
    /// (`expiry_warning_days`) or have expired, soonest first (admins).
    pub async fn expiring(&self, actor: &Actor) -> Result<Vec<smimed_store::Expiring>> {
        actor.admin()?;
        let days = crate::settings::expiry_warning_days(&self.store.settings().await?);
        Ok(self.store.expiring(days).await?)
    }

    /// What `smimed status` shows (admins).
    pub async fn status(&self, actor: &Actor) -> Result<Status> {
        actor.admin()?;
        let days = crate::settings::expiry_warning_days(&self.store.settings().await?);
        Ok(self.store.status(days).await?)
    }
}
