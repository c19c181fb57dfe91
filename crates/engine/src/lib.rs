//! The smimed mail engine: answers the composer's question (what can be
//! signed and encrypted), processes outgoing mail (fail closed) and incoming
//! mail (every layer, with a report). It joins the pure `smime` domain to
//! the `store`; the CLI and the HTTP service both call it.

#![forbid(unsafe_code)]

mod address;
mod cache;
mod error;
mod memo;

use std::collections::HashMap;
use std::sync::Arc;

use mail_parser::MessageParser;
use smime::encrypt::{ContentCipher, EncryptOptions};
use smime::incoming::{Context, Processed};
use smime::options::{self, Candidate, Choice, SecurityOptions};
use smime::trust::TrustStore;
use smime::{Certificate, PrivateKey};
use smimed_store::Store;

use memo::{Memo, View};

pub use address::{parse_address, parse_list};
pub use error::{Error, Result};

/// Setting names for the outgoing defaults.
pub const SETTING_CIPHER: &str = "cipher";
/// RSA-OAEP on (`true`) or off.
pub const SETTING_RSA_OAEP: &str = "rsa_oaep";
/// SHA-1 signatures refused (`true`) or accepted with a warning.
pub const SETTING_REJECT_SHA1: &str = "reject_sha1";

/// Who sends: a group, by name or by its address. Mail is only ever sent
/// (and signed) as a group's address, with the group's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    /// A group by name.
    Group(String),
    /// A group by its address (`addr` or `Name <addr>`).
    Address(String),
}

/// What the agent asked for one outgoing message. `None` takes the default.
#[derive(Debug, Clone, Default)]
pub struct OutgoingRequest {
    /// Sign: yes, no, or the group's default where possible.
    pub sign: Option<bool>,
    /// Encrypt: yes, no, or the group's default where possible.
    pub encrypt: Option<bool>,
    /// Content cipher; default: the `cipher` setting (AES-256-CBC).
    pub cipher: Option<ContentCipher>,
    /// RSA-OAEP; default: the `rsa_oaep` setting (off).
    pub rsa_oaep: Option<bool>,
}

/// An outgoing message ready to send.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The message.
    pub message: Vec<u8>,
    /// It was signed.
    pub signed: bool,
    /// It was encrypted.
    pub encrypted: bool,
    /// Things the caller should tell the agent (S/MIME is off, a group
    /// default that could not be honoured).
    pub notes: Vec<String>,
}

/// The engine; cheap to share behind an `Arc`.
pub struct Engine {
    store: Store,
    keys: cache::KeyCache,
    memo: Memo,
}

/// What the store holds for one sender and recipient list.
struct Plan {
    options: SecurityOptions,
    signer: Option<Certificate>,
    recipients: Vec<Certificate>,
    own_encryption: Option<Certificate>,
}

impl Engine {
    /// An engine over `store`, with a key cache of `key_cache_size` entries.
    pub fn new(store: Store, key_cache_size: usize) -> Self {
        Engine {
            store,
            keys: cache::KeyCache::new(key_cache_size),
            memo: Memo::default(),
        }
    }

    /// The store behind the engine.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The composer's question: can this sender sign, can these recipients
    /// be encrypted to, and what is preset.
    pub async fn security_options(
        &self,
        sender: &Sender,
        recipients: &[String],
    ) -> Result<SecurityOptions> {
        let view = self.view().await?;
        let (email, ds, de) = resolve(&view, sender).await?;
        let recipients = recipients
            .iter()
            .map(|r| parse_address(r))
            .collect::<Result<Vec<_>>>()?;
        if !view.enabled().await? {
            return Ok(options::disabled());
        }
        Ok(plan_for(&view, &email, ds, de, &recipients).await?.options)
    }

    /// Signs and/or encrypts an outgoing message. Fails closed: when the
    /// agent asked for an operation that is not possible, nothing is made.
    pub async fn outgoing(
        &self,
        raw: &[u8],
        sender: &Sender,
        request: &OutgoingRequest,
    ) -> Result<Outgoing> {
        let view = self.view().await?;
        let (email, ds, de) = resolve(&view, sender).await?;
        let recipients = recipients_of(raw)?;
        if !view.enabled().await? {
            if request.sign == Some(true) || request.encrypt == Some(true) {
                return Err(Error::Disabled);
            }
            return Ok(Outgoing {
                message: raw.to_vec(),
                signed: false,
                encrypted: false,
                notes: vec!["S/MIME is disabled: the message was passed through unchanged".into()],
            });
        }
        let plan = plan_for(&view, &email, ds, de, &recipients).await?;
        let sign = decide("sign", request.sign, &plan.options.sign)?;
        let encrypt = decide("encrypt", request.encrypt, &plan.options.encryption)?;
        // A default the group asks for but that is not possible now is not
        // applied; say so, so the agent is never left to assume it was.
        let mut notes = Vec::new();
        for (asked, default, choice, what) in [
            (request.sign, ds, &plan.options.sign, "sign"),
            (request.encrypt, de, &plan.options.encryption, "encrypt"),
        ] {
            if asked.is_none() && default.unwrap_or(true) && !choice.possible {
                notes.push(format!(
                    "the group's default is to {what}, but the message was not {what}ed: {}",
                    choice.message
                ));
            }
        }
        if !sign && !encrypt {
            return Ok(Outgoing {
                message: raw.to_vec(),
                signed: false,
                encrypted: false,
                notes,
            });
        }

        let split = smime::mime::split_message(raw)?;
        let mut entity = split.entity;
        if sign {
            let cert = plan.signer.as_ref().ok_or_else(|| Error::NotPossible {
                operation: "sign",
                message: plan.options.sign.message.clone(),
            })?;
            let key = self.key(cert.fingerprint()).await?;
            // The root is left out: receivers must hold it as a trust anchor
            // anyway, and each certificate sent costs every OpenSSL 3.0
            // receiver a slow key decode (RFC 8551 §2.4.2 allows omitting it).
            let mut chain = view.issuer_chain(cert).await?.to_vec();
            chain.retain(|c| !c.info().self_signed);
            entity = smime::sign::sign(
                &entity,
                &smime::sign::Signer {
                    certificate: cert,
                    key: &key,
                    chain: &chain,
                },
            )?;
        }
        if encrypt {
            let mut to: Vec<&Certificate> = plan.recipients.iter().collect();
            if let Some(own) = &plan.own_encryption {
                to.push(own);
            }
            to.dedup_by(|a, b| a.fingerprint() == b.fingerprint());
            let options = encrypt_options(request, &*view.settings().await?);
            entity = smime::encrypt::encrypt(&entity, &to, options)?;
        }
        let mut message = split.outer;
        message.extend_from_slice(&entity);
        Ok(Outgoing {
            message,
            signed: sign,
            encrypted: encrypt,
            notes,
        })
    }

    /// Decrypts and verifies an incoming message with the current keys and
    /// certificates. Calling it again on the same raw message is the retry
    /// after a missing certificate or key was imported.
    pub async fn incoming(&self, raw: &[u8]) -> Result<Processed> {
        let view = self.view().await?;
        if !view.enabled().await? {
            smime::incoming::senders(raw)?;
            return Ok(Processed {
                report: smime::incoming::disabled_report(raw),
                message: raw.to_vec(),
            });
        }
        let senders = smime::incoming::senders(raw)?;
        let mut owned: Vec<(Certificate, Arc<PrivateKey>)> = Vec::new();
        for cert in view.certificates_with_keys().await?.iter() {
            let key = self.key(cert.fingerprint()).await?;
            owned.push((cert.clone(), key));
        }
        let keys: Vec<(&Certificate, &PrivateKey)> =
            owned.iter().map(|(c, k)| (c, k.as_ref())).collect();
        // The CAs vouch for what they issued; the author's own stored
        // certificates are at hand for a signature that does not carry its
        // signer's; every stored certificate is trusted as itself.
        let mut stored = view.ca_certificates().await?.to_vec();
        for address in senders.from.iter().chain(&senders.sender) {
            stored.extend(
                view.candidates(address)
                    .await?
                    .iter()
                    .map(|c| c.certificate.clone()),
            );
        }
        let trust = TrustStore::new(stored.iter()).with_stored(view.fingerprints().await?);
        let policy = policy(&*view.settings().await?, smime::now());
        let ctx = Context {
            keys: &keys,
            trust: &trust,
            policy: &policy,
        };
        Ok(smime::incoming::process(raw, &ctx)?)
    }

    /// The store as a message starting now sees it.
    async fn view(&self) -> Result<View<'_>> {
        View::new(&self.store, &self.memo).await
    }

    async fn key(&self, fingerprint: &str) -> Result<Arc<PrivateKey>> {
        if let Some(key) = self.keys.get(fingerprint) {
            return Ok(key);
        }
        let key = Arc::new(self.store.load_key(fingerprint).await?);
        self.keys.insert(fingerprint, key.clone());
        Ok(key)
    }

    /// How many keys the cache holds (for tests and metrics).
    pub fn cached_keys(&self) -> usize {
        self.keys.len()
    }

    /// How many store lookups are remembered (for tests).
    pub fn remembered_lookups(&self) -> usize {
        self.memo.len()
    }
}

/// The sending address and the group's defaults. An address must be a
/// group's: nobody signs as an address the helpdesk does not send from.
async fn resolve(view: &View<'_>, sender: &Sender) -> Result<(String, Option<bool>, Option<bool>)> {
    let group = match sender {
        Sender::Group(name) => view.group(name).await?,
        Sender::Address(text) => {
            let address = parse_address(text)?;
            // Of several groups with one address, the first by name.
            view.groups()
                .await?
                .iter()
                .find(|g| g.email == address)
                .cloned()
                .ok_or(Error::NotAGroupAddress(address))?
        }
    };
    Ok((group.email, group.default_sign, group.default_encrypt))
}

/// The rules for incoming mail at `now`, with the admin's settings.
pub fn policy(settings: &HashMap<String, String>, now: i64) -> smime::Policy {
    let mut policy = smime::Policy::at(now);
    policy.reject_sha1 = settings.get(SETTING_REJECT_SHA1).map(String::as_str) == Some("true");
    policy
}

async fn plan_for(
    view: &View<'_>,
    sender: &str,
    default_sign: Option<bool>,
    default_encrypt: Option<bool>,
    recipients: &[String],
) -> Result<Plan> {
    let now = smime::now();
    let own = view.candidates(sender).await?;
    let own_candidates = candidates(&own);
    let signing = options::signing_certificate(&own_candidates, now);
    let sign = options::sign_choice(sender, &signing, default_sign);
    let signer = signing.ok().cloned();
    let own_encryption = options::encryption_certificate(&own_candidates, now)
        .ok()
        .cloned();

    let mut lookups = Vec::new();
    let mut unique: Vec<String> = Vec::new();
    for r in recipients {
        let r = r.trim().to_ascii_lowercase();
        if !r.is_empty() && !unique.contains(&r) {
            unique.push(r);
        }
    }
    for addr in &unique {
        lookups.push(view.candidates(addr).await?);
    }
    let selections: Vec<(String, std::result::Result<&Certificate, options::Lack>)> = unique
        .iter()
        .zip(&lookups)
        .map(|(addr, found)| {
            let c = candidates(found);
            (addr.clone(), options::encryption_certificate(&c, now))
        })
        .collect();
    let encryption = options::encryption_choice(&selections, default_encrypt);
    let chosen: Vec<Certificate> = selections
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok().map(|c| (*c).clone()))
        .collect();
    Ok(Plan {
        options: SecurityOptions { sign, encryption },
        signer,
        recipients: chosen,
        own_encryption,
    })
}

/// The admin's choice of algorithms in these settings (from
/// `Store::settings`): what outgoing mail uses unless the agent chose.
pub fn encryption_settings(settings: &HashMap<String, String>) -> EncryptOptions {
    let setting = |name| settings.get(name).map(String::as_str);
    EncryptOptions {
        cipher: setting(SETTING_CIPHER)
            .and_then(ContentCipher::parse)
            .unwrap_or_default(),
        rsa_oaep: setting(SETTING_RSA_OAEP) == Some("true"),
    }
}

/// The agent's choice of algorithms, or the admin's settings.
fn encrypt_options(
    request: &OutgoingRequest,
    settings: &HashMap<String, String>,
) -> EncryptOptions {
    let admin = encryption_settings(settings);
    EncryptOptions {
        cipher: request.cipher.unwrap_or(admin.cipher),
        rsa_oaep: request.rsa_oaep.unwrap_or(admin.rsa_oaep),
    }
}

fn candidates(stored: &[smimed_store::Candidate]) -> Vec<Candidate<'_>> {
    stored
        .iter()
        .map(|c| Candidate {
            certificate: &c.certificate,
            has_private_key: c.has_private_key,
            issuer_known: c.issuer_known,
        })
        .collect()
}

/// The agent's choice, or the default where possible; a choice that is not
/// possible is an error (fail closed).
fn decide(operation: &'static str, asked: Option<bool>, choice: &Choice) -> Result<bool> {
    match asked {
        Some(true) if !choice.possible => Err(Error::NotPossible {
            operation,
            message: choice.message.clone(),
        }),
        Some(on) => Ok(on),
        None => Ok(choice.possible && choice.default),
    }
}

/// To, Cc and Bcc addresses of a message, lowercase.
pub fn recipients_of(raw: &[u8]) -> Result<Vec<String>> {
    let message = MessageParser::default()
        .parse_headers(raw)
        .ok_or(Error::NotAMessage)?;
    let mut out = Vec::new();
    for field in [message.to(), message.cc(), message.bcc()]
        .into_iter()
        .flatten()
    {
        for addr in field.iter() {
            if let Some(email) = addr.address() {
                let email = email.trim().to_ascii_lowercase();
                if !out.contains(&email) {
                    out.push(email);
                }
            }
        }
    }
    Ok(out)
}
