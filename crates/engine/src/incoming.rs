//! Incoming mail: fetch what trust and decryption need (CAs, the author's
//! certificates, every stored fingerprint, the sealed keys, the policy),
//! compute [`smime::incoming::process`] on the blocking pool, opening only
//! the keys a recipient info names, then keep the message and log each
//! layer once. Retry runs the same on the kept message. Both keep what the
//! signatures offer (see `learn`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use smime::decrypt::Keys;
use smime::incoming::{Context, Processed};
use smime::trust::TrustStore;
use smime::{Certificate, PrivateKey};
use smimed_store::{Operation, SealedKey, StoredIncoming};

use crate::memo::View;
use crate::outgoing::envelope;
use crate::settings::policy;
use crate::{Actor, Engine, Keyring, Result, check_header_size};

/// A processed incoming message and the id it is kept under for retry.
pub struct Received {
    /// The kept message's id.
    pub id: String,
    /// The report and the readable message.
    pub processed: Processed,
}

impl Engine {
    /// Decrypts and verifies an incoming message with the current keys and
    /// certificates, keeps it for retry, and logs every layer under
    /// `actor`.
    pub async fn incoming(&self, actor: &Actor, raw: Vec<u8>) -> Result<Received> {
        check_header_size(&raw)?;
        let _permit = self.admit()?;
        let view = self.view_for(actor).await?;
        // Shared with the computation, not copied: a message's memory is
        // its size, its readable content and what OpenSSL needs.
        let raw = Arc::new(raw);
        let mut processed = self.process(&view, Arc::clone(&raw)).await?;
        let learning = crate::settings::learns(&*view.settings().await?);
        let offered = self.learn(actor, learning, &mut processed).await?;
        let id = self
            .store
            .save_incoming(&raw, &report_json(&processed)?)
            .await?;
        self.wait_for_decision(&offered, &id).await?;
        self.keep_within_budget(&view, raw.len()).await?;
        self.log_layers(actor, &raw, &processed).await?;
        Ok(Received { id, processed })
    }

    /// Processes a kept message again with today's certificates and keys
    /// (after a missing one was added); the new report replaces the old,
    /// audited.
    pub async fn retry(&self, actor: &Actor, id: &str) -> Result<Received> {
        let _permit = self.admit()?;
        let raw = Arc::new(self.store.incoming_message(id).await?.raw);
        let view = self.view().await?;
        let mut processed = self.process(&view, Arc::clone(&raw)).await?;
        let learning = crate::settings::learns(&*view.settings().await?);
        let offered = self.learn(actor, learning, &mut processed).await?;
        self.store
            .update_incoming_report(id, &report_json(&processed)?, actor.name())
            .await?;
        self.wait_for_decision(&offered, id).await?;
        self.log_layers(actor, &raw, &processed).await?;
        Ok(Received {
            id: id.to_string(),
            processed,
        })
    }

    /// Drops the oldest kept messages beyond `keep_incoming_mib`. The sum
    /// is taken once every 1/64 of the budget received here, not per
    /// message: between two, the budget can be passed by at most that much
    /// (per instance).
    async fn keep_within_budget(&self, view: &View<'_>, received: usize) -> Result<()> {
        use std::sync::atomic::Ordering;
        let settings = view.settings().await?;
        let budget = crate::Settings::from_rows(&settings).keep_incoming_mib << 20;
        let since = self
            .kept_since_prune
            .fetch_add(received as u64, Ordering::Relaxed)
            + received as u64;
        if since >= (budget as u64 / 64).max(1) {
            self.kept_since_prune.store(0, Ordering::Relaxed);
            self.store.prune_incoming(budget).await?;
        }
        Ok(())
    }

    /// A kept message and its last report.
    pub async fn kept(&self, _actor: &Actor, id: &str) -> Result<StoredIncoming> {
        Ok(self.store.incoming_message(id).await?)
    }

    /// Fetch, compute, and record the keys that would not open (or opened
    /// again).
    async fn process(&self, view: &View<'_>, raw: Arc<Vec<u8>>) -> Result<Processed> {
        if !view.enabled().await? {
            smime::incoming::senders(&raw)?;
            return Ok(Processed {
                report: smime::incoming::disabled_report(&raw),
                message: raw.to_vec(),
            });
        }
        let senders = smime::incoming::senders(&raw)?;
        // The CAs vouch for what they issued; the author's own stored
        // certificates are at hand for a signature that does not carry its
        // signer's; every stored certificate is trusted as itself.
        let mut stored = view.ca_certificates().await?.to_vec();
        let mut learned = Vec::new();
        for address in senders.from.iter().chain(&senders.sender) {
            for c in view.candidates(address).await?.iter() {
                // Learned from mail: trusted only through its CA.
                match c.learned {
                    true => learned.push(c.certificate.clone()),
                    false => stored.push(c.certificate.clone()),
                }
            }
        }
        let fingerprints = view.fingerprints().await?;
        let crls = view.crls().await?;
        let keyed = view.certificates_with_keys().await?;
        let sealed = view.sealed_keys().await?;
        let policy = policy(&*view.settings().await?, smime::now());
        let keyring = self.keys.clone();

        let (processed, failed, opened) = self
            .compute_message(move || -> Result<_> {
                let keys = MessageKeys::new(&keyed, &sealed, keyring);
                let trust = TrustStore::new(stored.iter())
                    .with_known(&learned)
                    .with_stored(fingerprints)
                    .with_crls(crls);
                let ctx = Context {
                    keys: &keys,
                    trust: &trust,
                    policy: &policy,
                };
                let processed = smime::incoming::process(&raw, &ctx)?;
                Ok((processed, keys.failed.take(), keys.opened.take()))
            })
            .await??;
        for (fingerprint, why) in failed {
            self.store.set_key_problem(&fingerprint, &why).await?;
        }
        for fingerprint in opened {
            self.store.clear_key_problem(&fingerprint).await?;
        }
        Ok(processed)
    }

    async fn log_layers(&self, actor: &Actor, raw: &[u8], processed: &Processed) -> Result<()> {
        let envelope = envelope(raw);
        for layer in &processed.report.layers {
            let status = if layer.success() {
                "success"
            } else {
                "failure"
            };
            self.oplog
                .log(Operation {
                    direction: "incoming".into(),
                    operation: layer.operation().into(),
                    status: status.into(),
                    detail: layer.comment().to_string(),
                    token_name: actor.name().to_string(),
                    ..envelope.clone()
                })
                .await?;
        }
        Ok(())
    }
}

fn report_json(processed: &Processed) -> Result<String> {
    serde_json::to_string(&processed.report).map_err(|e| crate::Error::Internal(e.to_string()))
}

/// The stored keys for one message: opened (or taken from the cache) only
/// when a recipient info names their certificate; which failed and which
/// were opened afresh is noted for the store.
struct MessageKeys<'a> {
    certificates: &'a [Certificate],
    sealed: HashMap<&'a str, &'a SealedKey>,
    keyring: Keyring,
    failed: RefCell<Vec<(String, String)>>,
    opened: RefCell<Vec<String>>,
}

impl<'a> MessageKeys<'a> {
    fn new(certificates: &'a [Certificate], sealed: &'a [SealedKey], keyring: Keyring) -> Self {
        MessageKeys {
            certificates,
            sealed: sealed.iter().map(|s| (s.fingerprint.as_str(), s)).collect(),
            keyring,
            failed: RefCell::default(),
            opened: RefCell::default(),
        }
    }
}

impl Keys for MessageKeys<'_> {
    fn certificates(&self) -> Vec<&Certificate> {
        self.certificates.iter().collect()
    }

    fn with_key(
        &self,
        cert: &Certificate,
        use_key: &mut dyn FnMut(&PrivateKey),
    ) -> std::result::Result<(), String> {
        let fingerprint = cert.fingerprint();
        let sealed = self
            .sealed
            .get(fingerprint)
            .ok_or_else(|| "the key was deleted".to_string())?;
        let was_open = self.keyring.is_open(fingerprint);
        match self.keyring.open(sealed) {
            Ok(key) => {
                if !was_open {
                    self.opened.borrow_mut().push(fingerprint.to_string());
                }
                use_key(&Arc::clone(&key));
                Ok(())
            }
            Err(why) => {
                self.failed
                    .borrow_mut()
                    .push((fingerprint.to_string(), why.clone()));
                Err(why)
            }
        }
    }
}
