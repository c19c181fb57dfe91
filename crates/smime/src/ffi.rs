//! The only `unsafe` code of the crate: OpenSSL calls the `openssl` crate
//! does not wrap. Each function is a thin, safe view of one C call.

use foreign_types::ForeignTypeRef;
use openssl::x509::X509Ref;

/// `X509_get_extension_flags`: `EXFLAG_*` bits (CA, self-signed, ...).
pub(crate) fn extension_flags(cert: &X509Ref) -> u32 {
    // SAFETY: `cert` is a valid X509 for the borrow; the call only reads
    // (and caches) the certificate's parsed extensions.
    unsafe { openssl_sys::X509_get_extension_flags(cert.as_ptr()) }
}

/// `X509_get_key_usage`: keyUsage bits, `u32::MAX` when the extension is absent.
pub(crate) fn key_usage(cert: &X509Ref) -> u32 {
    // SAFETY: as above.
    unsafe { openssl_sys::X509_get_key_usage(cert.as_ptr()) }
}

/// `X509_get_extended_key_usage`: `XKU_*` bits, `u32::MAX` when absent.
pub(crate) fn extended_key_usage(cert: &X509Ref) -> u32 {
    // SAFETY: as above.
    unsafe { openssl_sys::X509_get_extended_key_usage(cert.as_ptr()) }
}
