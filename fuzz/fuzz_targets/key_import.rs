//! Private key import: every key form (PKCS#1, SEC1, PKCS#8, encrypted
//! PKCS#8, legacy encrypted PEM, DER, PKCS#12) through `bundle::parse`,
//! matching to certificates, loading a key as the store keeps it, and
//! signing with a key that matches a certificate (the digest follows the
//! key: its type, curve and size).

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use smime::sign::{Signer, sign};
use smime::{Certificate, PrivateKey};

/// Signs a small entity with `key` as `cert`: the digest is chosen from the
/// key's type, curve and size. An error is fine (only RSA and EC keys
/// sign); a panic is not.
fn sign_with(key: &PrivateKey, cert: &Certificate) {
    let _ = sign(
        b"Content-Type: text/plain\r\n\r\nx\r\n",
        &Signer {
            certificate: cert,
            key,
            chain: &[],
        },
    );
}

fuzz_target!(|data: &[u8]| {
    // A stored key is opened with `PrivateKey::load`.
    for pass in [None, Some(common::PASSPHRASES[0])] {
        if let Ok(key) = PrivateKey::load(data, pass) {
            let _ = format!("{key:?}");
        }
    }
    common::parse_upload(data, |bundle, passphrase| {
        for key in &bundle.keys {
            common::check_key_reloads(key, passphrase);
            for cert in common::PKI.certificates.iter().chain(&bundle.certificates) {
                if key.matches(cert) {
                    sign_with(key, cert);
                }
            }
        }
    });
});
