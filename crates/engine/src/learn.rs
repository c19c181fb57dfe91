//! Certificates from signed mail: a signer a stored CA vouches for becomes
//! a contact (trusted only through that CA), so the next reply can be
//! encrypted; a valid signature by the sender without such a path puts its
//! certificate among the pending, for an admin who checks the fingerprint
//! out of band. Mail never adds trust by itself.

use serde::Serialize;
use smime::Certificate;
use smime::incoming::{Layer, Processed};
use smime::verify::Learn;
use smimed_store::PendingCertificate;

use crate::{Actor, Engine, Result};

/// One page of the pending certificates.
#[derive(Debug, Clone, Serialize)]
pub struct PendingPage {
    /// How many wait in all.
    pub total: i64,
    /// This page, most recently seen first.
    pub items: Vec<PendingCertificate>,
}

/// The outcome of accepting a pending certificate.
#[derive(Debug, Clone, Serialize)]
pub struct Acceptance {
    /// The certificate's fingerprint, now a stored contact.
    pub fingerprint: String,
    /// The kept messages it signed, checked again: each id with its new
    /// signature result code.
    pub retried: Vec<Retried>,
}

/// A kept message checked again after an acceptance.
#[derive(Debug, Clone, Serialize)]
pub struct Retried {
    /// The kept message's id.
    pub id: String,
    /// The outer signature's result code now (`verified`, ...).
    pub sign: Option<&'static str>,
}

/// What one processed message offers: contacts and pending certificates.
pub(crate) struct Offered {
    contacts: Vec<Certificate>,
    /// With the From address each signed for.
    pending: Vec<(Certificate, String)>,
}

impl Engine {
    /// Stores the contacts `processed` offers and names them in its report;
    /// returns the pending certificates, to be linked to the kept message
    /// once it has an id (see [`Engine::wait_for_decision`]). Nothing when
    /// `learn_certificates` is off.
    pub(crate) async fn learn(
        &self,
        actor: &Actor,
        learning: bool,
        processed: &mut Processed,
    ) -> Result<Offered> {
        let mut offered = Offered {
            contacts: Vec::new(),
            pending: Vec::new(),
        };
        if !learning {
            return Ok(offered);
        }
        for layer in &processed.report.layers {
            if let Layer::Signed { result, .. } = layer {
                match &result.learn {
                    Some(Learn::Contact(der)) => {
                        offered.contacts.push(Certificate::from_der_cached(der)?)
                    }
                    Some(Learn::Pending {
                        certificate,
                        sender,
                    }) => offered
                        .pending
                        .push((Certificate::from_der_cached(certificate)?, sender.clone())),
                    _ => {}
                }
            }
        }
        for cert in &offered.contacts {
            if self.store.learn_contact(cert.clone(), actor.name()).await? {
                processed
                    .report
                    .learned
                    .push(cert.fingerprint().to_string());
            }
        }
        let mut waiting = Vec::new();
        for (cert, sender) in offered.pending.drain(..) {
            if !self.store.rejected(cert.fingerprint()).await? {
                waiting.push((cert, sender));
            }
        }
        processed.report.pending = waiting
            .iter()
            .map(|(c, _)| c.fingerprint().to_string())
            .collect();
        offered.pending = waiting;
        Ok(offered)
    }

    /// Puts the offered pending certificates among those waiting, linked
    /// to the kept message `id` (retried when one is accepted).
    pub(crate) async fn wait_for_decision(&self, offered: &Offered, id: &str) -> Result<()> {
        for (cert, sender) in &offered.pending {
            self.store.add_pending(cert, sender, id).await?;
        }
        Ok(())
    }

    /// The certificates waiting for a decision, most recently seen first
    /// (admins).
    pub async fn pending_certificates(
        &self,
        actor: &Actor,
        page: usize,
        per_page: usize,
    ) -> Result<PendingPage> {
        actor.admin()?;
        let per_page = per_page.clamp(1, 1000) as i64;
        // A page number from a query string may be any usize.
        let page = i64::try_from(page.max(1)).unwrap_or(i64::MAX);
        let offset = (page - 1).saturating_mul(per_page);
        let (items, total) = self.store.pending_certificates(per_page, offset).await?;
        Ok(PendingPage { total, items })
    }

    /// One waiting certificate, by its whole fingerprint (admins).
    pub async fn pending_certificate(
        &self,
        actor: &Actor,
        fingerprint: &str,
    ) -> Result<PendingCertificate> {
        actor.admin()?;
        let fingerprint = whole_fingerprint(fingerprint)?;
        Ok(self.store.pending_certificate(&fingerprint).await?)
    }

    /// Stores a pending certificate as a contact, audited, then checks the
    /// kept messages it signed again (admins).
    pub async fn accept_pending(&self, actor: &Actor, fingerprint: &str) -> Result<Acceptance> {
        actor.admin()?;
        let fingerprint = whole_fingerprint(fingerprint)?;
        let accepted = self
            .store
            .accept_pending(&fingerprint, actor.name())
            .await?;
        let mut retried = Vec::new();
        for id in &accepted.messages {
            match self.retry(actor, id).await {
                Ok(received) => retried.push(Retried {
                    id: id.clone(),
                    sign: received.processed.report.sign.map(|s| s.code.as_str()),
                }),
                // Pruned from the kept ones meanwhile: nothing to retry.
                Err(crate::Error::Store(smimed_store::Error::NoMessage(_))) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Acceptance {
            fingerprint: accepted.certificate.fingerprint().to_string(),
            retried,
        })
    }

    /// Rejects a pending certificate: never used, not offered again while
    /// remembered; audited (admins).
    pub async fn reject_pending(&self, actor: &Actor, fingerprint: &str) -> Result<String> {
        actor.admin()?;
        let fingerprint = whole_fingerprint(fingerprint)?;
        self.store
            .reject_pending(&fingerprint, actor.name())
            .await?;
        Ok(fingerprint)
    }
}

/// A fingerprint as people read it aloud and compare it without losing
/// their place: `ab12cd…` as 16 groups of four, `AB12`, `CD…`.
pub fn fingerprint_groups(fingerprint: &str) -> Vec<String> {
    fingerprint
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).to_ascii_uppercase())
        .collect()
}

/// A decision names the whole SHA-256 fingerprint (64 hex digits, any case,
/// colons and blanks allowed as read aloud): no prefix can pick another.
fn whole_fingerprint(text: &str) -> Result<String> {
    let hex: String = text
        .chars()
        .filter(|c| !matches!(c, ':' | ' '))
        .collect::<String>()
        .to_ascii_lowercase();
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(hex)
    } else {
        Err(crate::Error::Invalid(format!(
            "\"{text}\" is not a whole SHA-256 fingerprint (64 hex digits)"
        )))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_a_whole_fingerprint_names_a_pending_certificate() {
        let fp = "AB".repeat(32);
        assert_eq!(super::whole_fingerprint(&fp).unwrap(), "ab".repeat(32));
        let spaced = fp
            .as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(super::whole_fingerprint(&spaced).unwrap(), "ab".repeat(32));
        assert!(super::whole_fingerprint(&fp[..63]).is_err());
        assert!(super::whole_fingerprint(&format!("{}g", &fp[..63])).is_err());
        let groups = super::fingerprint_groups(&"0a1b".repeat(16));
        assert_eq!(groups.len(), 16);
        assert!(groups.iter().all(|g| g == "0A1B"));
    }
}
