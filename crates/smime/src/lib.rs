//! The S/MIME domain of smimed: certificates, private keys, trust, and
//! signing, encryption, decryption and verification of MIME messages.
//! One file per verb: `sign`, `encrypt`, `decrypt`, `verify`; `incoming`
//! peels the layers of a received message; `crl` reads revocation lists.
//!
//! This crate does no I/O: it turns bytes into checked values and back.
//! All `unsafe` code lives in the private `ffi` module.

#![deny(unsafe_code)]

pub mod bundle;
pub mod cert;
pub mod crl;
pub mod decrypt;
mod der;
pub mod encrypt;
mod error;
#[allow(unsafe_code)]
mod ffi;
pub mod incoming;
pub mod key;
pub mod mime;
pub mod options;
pub mod outgoing;
mod pem;
pub mod policy;
mod shape;
pub mod sign;
pub mod trust;
pub mod verify;

pub use bundle::Bundle;
pub use cert::{CertInfo, Certificate, Issue, Kind, Usage};
pub use crl::{Crl, CrlSet, Revocation};
pub use error::{Error, Result};
pub use key::PrivateKey;
pub use policy::Policy;

/// Makes OpenSSL's `legacy` provider available next to the default one, so
/// that old PKCS#12 files (RC2-40, 3DES) open. Idempotent and cheap; every
/// parser that may need it calls it.
pub fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Keep the fallback (default) provider; a missing legacy module only
        // means legacy files fail later with a clear message.
        if let Ok(provider) = openssl::provider::Provider::try_load(None, "legacy", true) {
            // Loaded for the life of the process.
            std::mem::forget(provider);
        }
    });
}

/// Current time in Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// RFC 3339 UTC form of Unix seconds, e.g. `2031-01-26T14:38:35Z`.
pub fn rfc3339(unix: i64) -> String {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn cached_parses_answer_as_fresh_ones_and_errors_are_not_kept() {
        let pem = std::fs::read(testpki::Pki::committed().path(testpki::files::ALICE)).unwrap();
        let der = openssl::x509::X509::from_pem(&pem)
            .unwrap()
            .to_der()
            .unwrap();
        let fresh = crate::Certificate::from_der(&der).unwrap();
        for _ in 0..2 {
            let cached = crate::Certificate::from_der_cached(&der).unwrap();
            assert_eq!(cached.der(), fresh.der());
            assert_eq!(cached.info(), fresh.info());
        }
        // Too large to keep: parsed each time, with the same answer.
        let mut padded = der.clone();
        padded.resize(crate::cert::PARSED_CACHE_MAX_DER + 1, 0);
        let big = crate::Certificate::from_der_cached(&padded).unwrap();
        assert_eq!(
            big.der(),
            fresh.der(),
            "trailing bytes are not the certificate"
        );
        let mut broken = der.clone();
        broken.truncate(der.len() / 2);
        for _ in 0..2 {
            assert!(crate::Certificate::from_der_cached(&broken).is_err());
        }
    }

    #[test]
    fn rfc3339_known_points() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_927_204_715), "2031-01-26T14:38:35Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::rfc3339(-1), "1969-12-31T23:59:59Z");
    }
}
