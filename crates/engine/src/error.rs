//! The engine's error type.

/// What stops the engine from producing a message or a report.
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
