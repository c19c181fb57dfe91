//! The one error type of the `smime` crate.

/// Everything that can go wrong in the S/MIME domain.
///
/// Messages are written for the admin who pasted or uploaded the input:
/// they say what is wrong and, where it helps, what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is empty (or only white space).
    #[error("the input is empty")]
    Empty,
    /// The input is in none of the formats smimed reads.
    #[error("the input is not a certificate or private key in PEM, DER, PKCS#7 or PKCS#12 form")]
    Unreadable,
    /// One PEM block, DER object or bundle member could not be parsed.
    #[error("{item}: {reason}")]
    Malformed {
        /// Which part of the input, e.g. "PEM block 2 (line 31, CERTIFICATE)".
        item: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The input is protected and no passphrase was given.
    #[error("{what} is protected by a passphrase, and none was given")]
    PassphraseRequired {
        /// What is protected, e.g. "the PKCS#12 file".
        what: String,
    },
    /// The passphrase given does not open the input.
    #[error("wrong passphrase for {what}")]
    WrongPassphrase {
        /// What could not be opened, e.g. "the PKCS#12 file".
        what: String,
    },
    /// A key uses an algorithm smimed does not support.
    #[error("unsupported key: {0}")]
    UnsupportedKey(String),
    /// Encryption was asked for with no recipient certificate: nobody could read it.
    #[error("encryption needs at least one recipient certificate")]
    NoRecipients,
    /// A certificate revocation list was refused: too large, unreadable,
    /// not signed by a stored CA, or out of date.
    #[error(transparent)]
    Crl(#[from] crate::crl::CrlError),
    /// An error from OpenSSL that has no better description.
    #[error("OpenSSL: {0}")]
    OpenSsl(openssl::error::ErrorStack),
}

// Not `#[from]`: the stack is in the message, so it is not also a source.
impl From<openssl::error::ErrorStack> for Error {
    fn from(e: openssl::error::ErrorStack) -> Self {
        Error::OpenSsl(e)
    }
}

/// Result alias for the `smime` crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
