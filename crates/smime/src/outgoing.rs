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
///
/// A large message is not copied on the way: an entity that is already
/// canonical is signed and encrypted where it lies in `raw`, the
/// `multipart/signed` around it is never put together, and the envelope
/// is encrypted a chunk at a time into its base64 lines. What is held
/// beyond `raw` is the result.
pub fn protect(raw: &[u8], protection: &Protection<'_>) -> Result<Vec<u8>> {
    let (outer, entity) = mime::split_entity(raw)?;
    let around;
    let mut pieces: Vec<&[u8]> = entity.pieces().to_vec();
    if let Some(signer) = &protection.sign {
        around = sign::sign_around(&pieces, signer)?;
        pieces = vec![&around.0, &entity.head, &entity.body, &around.1];
    }
    let mut message = outer;
    match &protection.encrypt {
        Some((to, options)) => encrypt::encrypt_into(&pieces, to, *options, &mut message)?,
        None => {
            message.reserve(pieces.iter().map(|p| p.len()).sum());
            for piece in pieces {
                message.extend_from_slice(piece);
            }
        }
    }
    Ok(message)
}
