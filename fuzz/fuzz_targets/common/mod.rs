//! What every target shares: the test PKI (tests/data/pki) and the
//! Thunderbird test CA and Bob's key, parsed once per process, and checks
//! that a key parsed at import opens again from what the store keeps.

#![allow(dead_code)]

use std::sync::LazyLock;

use smime::trust::TrustStore;
use smime::{Certificate, Policy, PrivateKey};

/// Passphrases of the test data: the PKI's keys and PKCS#12 files, and the
/// Thunderbird corpus' PKCS#12 files.
pub const PASSPHRASES: [&str; 4] = ["alice-secret", "bob-secret", "p12-secret", "nss"];

macro_rules! pki {
    ($name:literal) => {
        include_bytes!(concat!("../../../tests/data/pki/", $name)).as_slice()
    };
}
macro_rules! tb {
    ($name:literal) => {
        include_bytes!(concat!("../../../tests/data/thunderbird/", $name)).as_slice()
    };
}

/// How many (certificate, key) pairs the receiving side has: alice, bob,
/// carol and the Thunderbird corpus' Bob.
pub const KEYS: usize = 4;

/// Certificates with their keys, and the trust anchors, of the receiving side.
pub struct Pki {
    /// (certificate, key) pairs that decrypt.
    pub pairs: Vec<(Certificate, PrivateKey)>,
    /// Every certificate the fixture knows (for key matching).
    pub certificates: Vec<Certificate>,
    /// Root, intermediate and the Thunderbird test CA: CAs, so anchors.
    pub trust: TrustStore,
    /// A fixed "now" for the whole run.
    pub now: i64,
    /// The default rules at `now`.
    pub policy: Policy,
}

impl Pki {
    /// The pairs as `incoming::Context` wants them: an array, which is
    /// `smime::decrypt::Keys` (a slice, unsized, cannot be `&dyn Keys`).
    pub fn keys(&self) -> [(&Certificate, &PrivateKey); KEYS] {
        std::array::from_fn(|i| {
            let (c, k) = &self.pairs[i];
            (c, k)
        })
    }
    /// Alice's certificate and key (RSA 2048).
    pub fn alice(&self) -> (&Certificate, &PrivateKey) {
        let (c, k) = &self.pairs[0];
        (c, k)
    }
    /// Bob's certificate and key (EC P-256).
    pub fn bob(&self) -> (&Certificate, &PrivateKey) {
        let (c, k) = &self.pairs[1];
        (c, k)
    }
    /// The intermediate CA, to send along with a signature.
    pub fn chain(&self) -> &[Certificate] {
        &self.certificates[..1]
    }
    /// The receiving side as `incoming::process` wants it.
    pub fn context<'a>(
        &'a self,
        keys: &'a [(&'a Certificate, &'a PrivateKey); KEYS],
    ) -> smime::incoming::Context<'a> {
        smime::incoming::Context {
            keys,
            trust: &self.trust,
            policy: &self.policy,
        }
    }
}

fn one(input: &[u8], passphrase: Option<&str>) -> smime::Bundle {
    smime::bundle::parse(input, passphrase).expect("test data parses")
}

fn pair(cert: &[u8], key: &[u8]) -> (Certificate, PrivateKey) {
    (
        one(cert, None).certificates.remove(0),
        one(key, None).keys.remove(0),
    )
}

pub static PKI: LazyLock<Pki> = LazyLock::new(|| {
    let mut pairs = vec![
        pair(pki!("alice.pem"), pki!("alice.key.pem")),
        pair(pki!("bob.pem"), pki!("bob.key.pem")),
        pair(pki!("carol.pem"), pki!("carol.key.pem")),
    ];
    let tb_bob = one(tb!("Bob.p12"), Some("nss"));
    let tb_bob_cert = tb_bob
        .certificates
        .iter()
        .find(|c| c.info().kind == smime::Kind::EndEntity)
        .expect("Bob.p12 has Bob's certificate")
        .clone();
    pairs.push((tb_bob_cert, tb_bob.keys.into_iter().next().unwrap()));
    assert_eq!(pairs.len(), KEYS);

    let mut anchors = one(pki!("chain.pem"), None).certificates;
    anchors.extend(one(tb!("TestCA.pem"), None).certificates);
    let trust = TrustStore::new(anchors.iter());
    let mut certificates: Vec<Certificate> = one(pki!("intermediate.pem"), None).certificates;
    certificates.extend(anchors);
    certificates.extend(pairs.iter().map(|(c, _)| c.clone()));
    let now = smime::now();
    Pki {
        pairs,
        certificates,
        trust,
        now,
        policy: Policy::at(now),
    }
});

/// A key that import accepted must open again from what the store keeps
/// (`original`, plus the passphrase only when `is_protected`), and be the
/// same key.
pub fn check_key_reloads(key: &PrivateKey, passphrase: Option<&str>) {
    let pass = if key.is_protected() {
        Some(passphrase.unwrap_or_default())
    } else {
        None
    };
    let again = PrivateKey::load(key.original(), pass).unwrap_or_else(|e| {
        panic!(
            "a key accepted at import does not open from its stored form: {e}\nstored: {:?}",
            String::from_utf8_lossy(key.original())
        )
    });
    assert!(
        again.pkey().public_eq(key.pkey()),
        "the stored form opens to another key"
    );
}

/// Parses `data` as an upload: without a passphrase, and when that asks
/// for one, with each passphrase of the test data.
pub fn parse_upload(data: &[u8], each: impl Fn(&smime::Bundle, Option<&str>)) {
    match smime::bundle::parse(data, None) {
        Ok(bundle) => each(&bundle, None),
        Err(smime::Error::PassphraseRequired { .. }) => {
            for pass in PASSPHRASES {
                if let Ok(bundle) = smime::bundle::parse(data, Some(pass)) {
                    each(&bundle, Some(pass));
                }
            }
        }
        Err(_) => {}
    }
}
