//! Certificate import: format detection (PEM, DER, PKCS#7, PKCS#12) and
//! every parser behind `smime::bundle::parse`, then what the store and the
//! API do with each certificate (classification, issues, JSON, PEM, the
//! identity by DER).

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use smime::Certificate;

fn check(cert: &Certificate) {
    let info = cert.info();
    serde_json::to_vec(info).expect("CertInfo serialises");
    let now = common::PKI.now;
    for known in [false, true] {
        for issue in info.issues(now, known) {
            let _ = (issue.code(), issue.to_string());
        }
    }
    let _ = info.is_valid_at(now);
    let _ = cert.rejection();
    let _ = (
        cert.spki_der(),
        cert.subject_name_der(),
        cert.issuer_name_der(),
    );
    let _ = cert.public_key();
    // The identity: the DER gives back the same certificate.
    let again = Certificate::from_der(cert.der()).expect("a certificate's own DER parses");
    assert_eq!(again.fingerprint(), cert.fingerprint());
    let pem = cert.to_pem().expect("PEM encoding");
    let reparsed = smime::bundle::parse(&pem, None).expect("a certificate's own PEM parses");
    assert_eq!(reparsed.certificates.len(), 1);
    assert_eq!(reparsed.certificates[0].fingerprint(), cert.fingerprint());
    for other in &common::PKI.certificates {
        let _ = cert.is_issued_by(other);
        let _ = other.is_issued_by(cert);
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = Certificate::from_der(data);
    common::parse_upload(data, |bundle, passphrase| {
        for cert in &bundle.certificates {
            check(cert);
        }
        for key in &bundle.keys {
            common::check_key_reloads(key, passphrase);
        }
    });
});
