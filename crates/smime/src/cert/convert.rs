//! Conversions the crate shares: ASN.1 time to Unix seconds, bytes to
//! lowercase hex, an OpenSSL error stack to its most useful reason.

use openssl::asn1::{Asn1Time, Asn1TimeRef};

use crate::Result;

/// Unix seconds of an ASN.1 time.
pub fn unix_time(t: &Asn1TimeRef) -> Result<i64> {
    let epoch = Asn1Time::from_unix(0)?;
    let diff = epoch.diff(t)?;
    Ok(i64::from(diff.days) * 86_400 + i64::from(diff.secs))
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The most useful line of an OpenSSL error stack, for messages.
pub(crate) fn first_reason(e: &openssl::error::ErrorStack) -> String {
    e.errors()
        .iter()
        .find_map(|err| err.reason().map(str::to_string))
        .unwrap_or_else(|| "not valid DER".to_string())
}
