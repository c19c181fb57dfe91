//! The engine's error type.

/// What stops an action of the core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Signing or encryption was asked for and cannot be done; nothing was
    /// produced (fail closed). The message names the addresses and why.
    #[error("{message}")]
    NotPossible {
        /// `sign` or `encrypt`.
        operation: &'static str,
        /// Which addresses lack what.
        message: String,
    },
    /// S/MIME is switched off and an operation was asked for.
    #[error("S/MIME is disabled; an admin can enable it (`smimed enable`)")]
    Disabled,
    /// The input is not an RFC 5322 message.
    #[error("the input is not an RFC 5322 message")]
    NotAMessage,
    /// A string given as an address is not one.
    #[error("\"{0}\" is not an email address")]
    InvalidAddress(String),
    /// The actor's role does not allow the action (an agent asking for an
    /// admin's).
    #[error("this needs an admin token")]
    Forbidden,
    /// The input is not acceptable; the text says why.
    #[error("{0}")]
    Invalid(String),
    /// The input was read but cannot be used for what was asked (a key
    /// upload without a key); the text says why.
    #[error("{0}")]
    Unusable(String),
    /// The input is larger than accepted; the text says by how much.
    #[error("{0}")]
    TooLarge(String),
    /// As many messages as allowed are being processed; try again shortly.
    #[error("busy: {0} messages are being processed already; try again in a moment")]
    Busy(usize),
    /// A fault of the service itself (a computation that did not finish).
    #[error("internal error: {0}")]
    Internal(String),
    /// Mail can only be sent as a group's address; no group has this one.
    #[error(
        "{0} is not the address of any group: mail is signed and sent only as a group's address"
    )]
    NotAGroupAddress(String),
    /// From the store (unknown group, database, sealed key).
    #[error(transparent)]
    Store(#[from] smimed_store::Error),
    /// From the S/MIME domain.
    #[error(transparent)]
    Smime(#[from] smime::Error),
}

/// Result alias for the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;
