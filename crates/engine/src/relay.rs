//! The SMTP gateway's outgoing action: one delivery from Postfix becomes
//! the copies that go on. Encryption covers the envelope's recipients (who
//! really receive the mail), not only To and Cc; each recipient the header
//! does not name (a Bcc) gets a copy of their own, so that nobody reads
//! their presence from another copy's recipient list. Fails closed: if any
//! copy cannot be made as asked, none is.

use std::collections::HashSet;

use smimed_store::Operation;

use crate::outgoing::{Head, check_address_count};
use crate::{Actor, Engine, Error, Outgoing, OutgoingRequest, Result, Sender, parse_address};

/// One message to hand on, and the envelope recipients it goes to.
#[derive(Debug, Clone)]
pub struct Copy {
    /// Envelope recipients of this copy.
    pub recipients: Vec<String>,
    /// The message and what was done to it.
    pub outgoing: Outgoing,
}

impl Engine {
    /// Signs and encrypts one delivery for its envelope `recipients` as
    /// the group whose address is the message's From, with the group's
    /// defaults unless `request` says otherwise. Mail from no group's
    /// address passes through unchanged (logged as `pass`), unless signing
    /// or encryption was asked for: then `NotPossible`.
    pub async fn relay_outgoing(
        &self,
        actor: &Actor,
        raw: Vec<u8>,
        recipients: &[String],
        request: &OutgoingRequest,
    ) -> Result<Vec<Copy>> {
        check_address_count(recipients.len())?;
        let head = Head::parse(&raw);
        let named: HashSet<String> = head.recipients?.into_iter().collect();
        let mut seen = HashSet::new();
        let mut visible = Vec::new();
        let mut hidden = Vec::new();
        for r in recipients {
            let r = parse_address(r)?;
            if seen.insert(r.clone()) {
                if named.contains(&r) {
                    visible.push(r);
                } else {
                    hidden.push(r);
                }
            }
        }

        let from = head.envelope.from.clone();
        if !self.is_group_address(&from).await? {
            let why = format!(
                "{} is not the address of any group",
                if from.is_empty() {
                    "the message's From"
                } else {
                    &from
                }
            );
            if let Some(operation) = asked_operation(request) {
                return Err(Error::NotPossible {
                    operation,
                    message: format!("cannot {operation}: {why}"),
                });
            }
            self.oplog
                .log(Operation {
                    direction: "outgoing".into(),
                    operation: "pass".into(),
                    status: "success".into(),
                    detail: format!("passed through unchanged: {why}"),
                    token_name: actor.name().to_string(),
                    ..head.envelope
                })
                .await?;
            return Ok(vec![Copy {
                recipients: visible.into_iter().chain(hidden).collect(),
                outgoing: Outgoing {
                    message: raw,
                    signed: false,
                    encrypted: false,
                    notes: vec![format!("passed through unchanged: {why}")],
                },
            }]);
        }

        let mut groups: Vec<Vec<String>> = Vec::new();
        if !visible.is_empty() {
            groups.push(visible);
        }
        groups.extend(hidden.into_iter().map(|h| vec![h]));
        let sender = Sender::Address(from);
        let mut copies = Vec::with_capacity(groups.len());
        for to in groups {
            let request = OutgoingRequest {
                recipients: Some(to.clone()),
                ..request.clone()
            };
            let outgoing = self.outgoing(actor, raw.clone(), &sender, &request).await?;
            copies.push(Copy {
                recipients: to,
                outgoing,
            });
        }
        Ok(copies)
    }

    /// Whether the gateway forwarded the copy `key` already (a Postfix
    /// retry after smimed stopped between its forward and its answer).
    pub async fn was_relayed(&self, key: &str) -> Result<bool> {
        Ok(self.store.was_relayed(key).await?)
    }

    /// Remembers that the gateway forwarded the copy `key`.
    pub async fn mark_relayed(&self, key: &str) -> Result<()> {
        Ok(self.store.mark_relayed(key).await?)
    }

    /// Whether `address` (one address, lowercase) is a group's.
    async fn is_group_address(&self, address: &str) -> Result<bool> {
        if address.is_empty() || address.contains(',') {
            return Ok(false);
        }
        let address = address.to_ascii_lowercase();
        let view = self.view().await?;
        Ok(view.groups().await?.iter().any(|g| g.email == address))
    }
}

/// The operation the request insists on, if any.
fn asked_operation(request: &OutgoingRequest) -> Option<&'static str> {
    if request.sign == Some(true) {
        Some("sign")
    } else if request.encrypt == Some(true) {
        Some("encrypt")
    } else {
        None
    }
}
