//! Outgoing mail: the composer's question (what can be signed and
//! encrypted, what is preset) and the message itself, fail closed. Fetch
//! the plan, the signer's key, chain and settings; compute
//! [`smime::outgoing::protect`] on the blocking pool; log once.

use std::collections::{HashMap, HashSet};

use mail_parser::MessageParser;
use smime::Certificate;
use smime::encrypt::{ContentCipher, EncryptOptions};
use smime::options::{self, Candidate, Choice, SecurityOptions};
use smimed_store::Operation;

use crate::memo::View;
use crate::settings::encryption_settings;
use crate::{Actor, Engine, Error, Result, check_header_size, parse_address};

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
    /// Encrypt for exactly these addresses (an SMTP envelope) instead of
    /// the header's To, Cc and Bcc.
    pub recipients: Option<Vec<String>>,
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

/// What the store holds for one sender and recipient list.
struct Plan {
    options: SecurityOptions,
    signer: Option<Certificate>,
    recipients: Vec<Certificate>,
    own_encryption: Option<Certificate>,
}

impl Engine {
    /// The composer's question: can this sender sign, can these recipients
    /// (`addr` or `Name <addr>`) be encrypted to, and what is preset.
    pub async fn security_options(
        &self,
        actor: &Actor,
        sender: &Sender,
        recipients: &[String],
    ) -> Result<SecurityOptions> {
        check_address_count(recipients.len())?;
        let view = self.view_for(actor).await?;
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

    /// Signs and/or encrypts an outgoing message, and logs each operation
    /// and each refusal under `actor`. Fails closed: when the agent asked
    /// for an operation that is not possible, nothing is made.
    pub async fn outgoing(
        &self,
        actor: &Actor,
        raw: Vec<u8>,
        sender: &Sender,
        request: &OutgoingRequest,
    ) -> Result<Outgoing> {
        check_header_size(&raw)?;
        let _permit = self.admit()?;
        let Head {
            recipients,
            envelope,
        } = Head::parse(&raw);
        let recipients = match &request.recipients {
            Some(given) => Ok(given.clone()),
            None => recipients,
        };
        let result = self.protect(actor, raw, recipients, sender, request).await;
        let log = |operation: &str, status: &str, detail: String| Operation {
            direction: "outgoing".into(),
            operation: operation.into(),
            status: status.into(),
            detail,
            token_name: actor.name().to_string(),
            ..envelope.clone()
        };
        match &result {
            Ok(out) => {
                for (done, operation) in [(out.signed, "sign"), (out.encrypted, "encrypt")] {
                    if done {
                        self.oplog
                            .log(log(operation, "success", String::new()))
                            .await?;
                    }
                }
            }
            Err(Error::NotPossible { operation, message }) => {
                self.oplog
                    .log(log(operation, "failure", message.clone()))
                    .await?;
            }
            Err(_) => {}
        }
        result
    }

    async fn protect(
        &self,
        actor: &Actor,
        raw: Vec<u8>,
        recipients: Result<Vec<String>>,
        sender: &Sender,
        request: &OutgoingRequest,
    ) -> Result<Outgoing> {
        let view = self.view_for(actor).await?;
        let (email, ds, de) = resolve(&view, sender).await?;
        let recipients = recipients?;
        check_address_count(recipients.len())?;
        if !view.enabled().await? {
            if request.sign == Some(true) || request.encrypt == Some(true) {
                return Err(Error::Disabled);
            }
            return Ok(Outgoing {
                message: raw,
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
                message: raw,
                signed: false,
                encrypted: false,
                notes,
            });
        }

        // Fetch everything the computation needs.
        let signing = match (sign, &plan.signer) {
            (false, _) => None,
            (true, None) => {
                return Err(Error::NotPossible {
                    operation: "sign",
                    message: plan.options.sign.message.clone(),
                });
            }
            (true, Some(cert)) => {
                // The root is left out: receivers must hold it as a trust
                // anchor anyway, and each certificate sent costs every
                // OpenSSL 3.0 receiver a slow key decode (RFC 8551 §2.4.2).
                let mut chain = view.issuer_chain(cert).await?.to_vec();
                chain.retain(|c| !c.info().self_signed);
                let sealed = view.sealed_key(cert.fingerprint()).await?;
                Some((cert.clone(), chain, sealed))
            }
        };
        let encrypting = if encrypt {
            let mut to: Vec<Certificate> = plan.recipients.clone();
            to.extend(plan.own_encryption.clone());
            let mut seen = std::collections::HashSet::new();
            to.retain(|c| seen.insert(c.fingerprint().to_string()));
            Some((to, encrypt_options(request, &*view.settings().await?)))
        } else {
            None
        };

        // Compute.
        let keys = self.keys.clone();
        let outcome = self
            .compute_message(move || -> std::result::Result<Vec<u8>, ComputeError> {
                let key =
                    match &signing {
                        Some((cert, _, sealed)) => Some(keys.open(sealed).map_err(|why| {
                            ComputeError::Key(cert.fingerprint().to_string(), why)
                        })?),
                        None => None,
                    };
                let signer = signing
                    .as_ref()
                    .zip(key.as_ref())
                    .map(|((cert, chain, _), key)| smime::sign::Signer {
                        certificate: cert,
                        key,
                        chain,
                    });
                let to: Option<Vec<&Certificate>> =
                    encrypting.as_ref().map(|(to, _)| to.iter().collect());
                let protection = smime::outgoing::Protection {
                    sign: signer,
                    encrypt: to
                        .as_deref()
                        .zip(encrypting.as_ref().map(|(_, options)| *options)),
                };
                smime::outgoing::protect(&raw, &protection).map_err(ComputeError::Smime)
            })
            .await?;

        // Write (a key that would not open is remembered as its problem).
        let message = match outcome {
            Ok(message) => message,
            Err(ComputeError::Smime(e)) => return Err(e.into()),
            Err(ComputeError::Key(fingerprint, why)) => {
                self.store.set_key_problem(&fingerprint, &why).await?;
                return Err(Error::NotPossible {
                    operation: "sign",
                    message: format!(
                        "cannot sign: the stored private key of {email} cannot be opened ({why}); an admin must import it again"
                    ),
                });
            }
        };
        Ok(Outgoing {
            message,
            signed: sign,
            encrypted: encrypt,
            notes,
        })
    }
}

/// Why a computation failed.
enum ComputeError {
    /// The S/MIME work.
    Smime(smime::Error),
    /// The signer's key (fingerprint) would not open; why.
    Key(String, String),
}

/// The most recipients one request may name: each costs a store lookup.
pub const MAX_ADDRESSES: usize = 1000;

pub(crate) fn check_address_count(n: usize) -> Result<()> {
    if n > MAX_ADDRESSES {
        return Err(Error::TooLarge(format!(
            "{n} recipient addresses; at most {MAX_ADDRESSES} are accepted in one request"
        )));
    }
    Ok(())
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
    let mut seen = HashSet::new();
    let mut unique: Vec<String> = Vec::new();
    for r in recipients {
        let r = r.trim().to_ascii_lowercase();
        if !r.is_empty() && seen.insert(r.clone()) {
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
            revoked: c.revoked.as_deref(),
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
    Head::parse(raw).recipients
}

/// What the engine reads from a message's header, parsed once: the
/// recipients it looks certificates up for, and what the operation log
/// records.
pub(crate) struct Head {
    /// To, Cc and Bcc addresses, lowercase, each once; `NotAMessage` when
    /// the header cannot be read.
    pub(crate) recipients: Result<Vec<String>>,
    /// From, To+Cc and Message-ID, for the operation log.
    pub(crate) envelope: Operation,
}

impl Head {
    pub(crate) fn parse(raw: &[u8]) -> Head {
        let Some(m) = MessageParser::default().parse_headers(raw) else {
            return Head {
                recipients: Err(Error::NotAMessage),
                envelope: Operation::default(),
            };
        };
        let mut seen = HashSet::new();
        let mut recipients = Vec::new();
        for field in [m.to(), m.cc(), m.bcc()].into_iter().flatten() {
            for addr in field.iter() {
                if let Some(email) = addr.address() {
                    let email = email.trim().to_ascii_lowercase();
                    if seen.insert(email.clone()) {
                        recipients.push(email);
                    }
                }
            }
        }
        let addrs = |a: Option<&mail_parser::Address<'_>>| -> Vec<String> {
            a.map(|a| {
                a.iter()
                    .filter_map(|x| x.address().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
        };
        let to: Vec<String> = addrs(m.to()).into_iter().chain(addrs(m.cc())).collect();
        Head {
            recipients: Ok(recipients),
            envelope: Operation {
                from: addrs(m.from()).join(", "),
                to: to.join(", "),
                message_id: m.message_id().unwrap_or_default().to_string(),
                ..Operation::default()
            },
        }
    }
}

/// From, To+Cc and Message-ID of a message, for the operation log.
pub(crate) fn envelope(raw: &[u8]) -> Operation {
    Head::parse(raw).envelope
}
