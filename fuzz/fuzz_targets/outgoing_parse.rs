//! The outgoing side: `mime::split_message` (header split, canonical
//! CRLF, 7-bit transfer encodings) on any input, then sign, encrypt and
//! sign+encrypt with the test keys, and the result read back by the
//! incoming side, which must decrypt it and verify the signature.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use smime::encrypt::{ContentCipher, EncryptOptions};
use smime::incoming::{DecryptCode, Layer, process};
use smime::sign::{Signer, sign};
use smime::verify::SignCode;

fuzz_target!(|data: &[u8]| {
    let _ = smime::mime::split_header_body(data);
    let Ok(split) = smime::mime::split_message(data) else {
        return;
    };
    let pki = &*common::PKI;
    let (alice, alice_key) = pki.alice();
    let (bob, _) = pki.bob();
    let signed = sign(
        &split.entity,
        &Signer {
            certificate: alice,
            key: alice_key,
            chain: pki.chain(),
        },
    )
    .expect("signing never fails on a split message");
    // The cipher follows the input, so both kinds are exercised.
    let cipher = if data.len().is_multiple_of(2) {
        ContentCipher::Aes256Cbc
    } else {
        ContentCipher::Aes256Gcm
    };
    let options = EncryptOptions {
        cipher,
        rsa_oaep: data.len().is_multiple_of(3),
    };
    let encrypted = smime::encrypt::encrypt(&signed, &[alice, bob], options)
        .expect("encryption never fails on a signed entity");

    let mut message = split.outer.clone();
    message.extend_from_slice(&encrypted);
    let keys = pki.keys();
    let ctx = pki.context(&keys);
    let processed = process(&message, &ctx).expect("our own message is a message");
    let report = &processed.report;
    let layers = &report.layers;
    assert!(
        matches!(layers.first(), Some(Layer::Encrypted(r)) if r.code == DecryptCode::Decrypted),
        "{report:?}"
    );
    // The From of a fuzzed message need not be alice: the signature itself
    // must be good.
    assert!(
        matches!(layers.get(1), Some(Layer::Signed { result, .. })
            if matches!(result.code, SignCode::Verified | SignCode::SignerNotSender)),
        "{report:?}"
    );
    // An entity that is itself S/MIME is peeled further; otherwise the
    // readable message ends with exactly the entity that was signed.
    if layers.len() == 2 {
        assert!(
            processed.message.ends_with(&split.entity),
            "the readable message ends with the entity that was signed"
        );
    }
});
