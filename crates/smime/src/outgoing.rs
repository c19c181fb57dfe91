//! Outgoing mail: sign, then encrypt, the entity of a message, with its
//! outer header fields left outside. The twin of [`crate::incoming::process`]:
//! a pure function, given every certificate and key it needs.

use crate::encrypt::EncryptOptions;
use crate::sign::Signer;
use crate::{Certificate, Result, encrypt, mime, sign};

/// What to do to one message.
pub struct Protection<'a> {
    /// Sign with this certificate, key and chain.
    pub sign: Option<Signer<'a>>,
    /// Encrypt to these certificates, with these algorithms.
    pub encrypt: Option<(&'a [&'a Certificate], EncryptOptions)>,
}

/// The message with its entity signed and/or encrypted (sign first), made
/// canonical and 7-bit safe; the outer header fields stay outside.
pub fn protect(raw: &[u8], protection: &Protection<'_>) -> Result<Vec<u8>> {
    let split = mime::split_message(raw)?;
    let mut entity = split.entity;
    if let Some(signer) = &protection.sign {
        entity = sign::sign(&entity, signer)?;
    }
    if let Some((to, options)) = &protection.encrypt {
        entity = encrypt::encrypt(&entity, to, *options)?;
    }
    let mut message = split.outer;
    message.extend_from_slice(&entity);
    Ok(message)
}
