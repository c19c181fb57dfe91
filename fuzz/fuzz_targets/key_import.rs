//! Private key import: every key form (PKCS#1, SEC1, PKCS#8, encrypted
//! PKCS#8, legacy encrypted PEM, DER, PKCS#12) through `bundle::parse`,
//! matching to certificates, and loading a key as the store keeps it.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use smime::PrivateKey;

fuzz_target!(|data: &[u8]| {
    // A stored key is opened with `PrivateKey::load`.
    for pass in [None, Some(common::PASSPHRASES[0])] {
        if let Ok(key) = PrivateKey::load(data, pass) {
            let _ = format!("{key:?}");
            let _ = smime::sign::digest_for(&key);
        }
    }
    common::parse_upload(data, |bundle, passphrase| {
        for key in &bundle.keys {
            common::check_key_reloads(key, passphrase);
            let _ = smime::sign::digest_for(key);
            for cert in &common::PKI.certificates {
                let _ = key.matches(cert);
            }
            for cert in &bundle.certificates {
                let _ = key.matches(cert);
            }
        }
    });
});
