//! Certificates: parse, fingerprint and classify for S/MIME (RFC 8550).
//!
//! Classification is done once, at parse time, into a plain [`CertInfo`]
//! that the store, the CLI and the API can show without touching OpenSSL.
//! Only the issues that depend on the clock or on the rest of the store are
//! computed later, by [`CertInfo::issues`].
//!
//! One file per concern: `certificate` (the parsed certificate), `info`
//! (what is shown about it), `classify` (how that is read from the X.509),
//! `cache` (parsed certificates kept for the process) and `convert` (time,
//! hex and error text). Everything is re-exported here.

mod cache;
mod certificate;
mod classify;
mod convert;
mod info;

pub use cache::{PARSED_CACHE, PARSED_CACHE_MAX_DER};
pub use certificate::{Certificate, MAX_NAME_BYTES};
pub use classify::MIN_RSA_BITS;
pub(crate) use classify::name_to_string;
pub(crate) use convert::first_reason;
pub use convert::{hex, unix_time};
pub use info::{CertInfo, EXPIRY_WARNING_SECS, Issue, Kind, Usage};
