//! Incoming message processing: MIME splitting, every S/MIME layer
//! (decryption with the test keys, verification against the test CAs),
//! the readable message and the JSON report.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use smime::incoming::{Layer, disabled_report, is_smime, process};

fuzz_target!(|data: &[u8]| {
    let pki = &*common::PKI;
    let keys = pki.keys();
    let ctx = pki.context(&keys);
    let _ = is_smime(data);
    let _ = smime::incoming::senders(data);
    serde_json::to_vec(&disabled_report(data)).expect("report serialises");
    if let Ok(processed) = process(data, &ctx) {
        let report = &processed.report;
        serde_json::to_vec(report).expect("report serialises");
        assert!(
            report.layers.len() <= pki.policy.max_layers + 1,
            "{report:?}"
        );
        assert_eq!(
            report.encrypted,
            report
                .layers
                .iter()
                .any(|l| matches!(l, Layer::Encrypted(_))),
            "{report:?}"
        );
        if report.kind.is_none() {
            assert!(report.layers.is_empty(), "{report:?}");
        }
    }
});
