//! Path validation for signers: a signer is trusted when it chains, for the
//! S/MIME signing purpose, to a stored CA certificate, or is itself stored.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use openssl::sha::Sha256;
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::{X509VerifyFlags, X509VerifyParam};
use openssl::x509::{X509, X509PurposeId, X509Ref, X509StoreContext, X509VerifyResult};

use crate::{Certificate, Result};

/// The trust anchors of one check: stored CAs and stored senders' certificates.
pub struct TrustStore {
    anchors: Vec<X509>,
    /// SHA-256 over the anchors' fingerprints: which trust a cached
    /// validation was made under.
    id: [u8; 32],
}

impl TrustStore {
    /// Trusts exactly these certificates (and what the CAs among them issued).
    pub fn new<'a>(anchors: impl IntoIterator<Item = &'a Certificate>) -> Self {
        let mut id = Sha256::new();
        let anchors = anchors
            .into_iter()
            .map(|c| {
                id.update(c.fingerprint().as_bytes());
                c.x509().to_owned()
            })
            .collect();
        TrustStore {
            anchors,
            id: id.finish(),
        }
    }

    /// The anchors, for finding a signer whose certificate the message lacks.
    pub fn certificates(&self) -> &[X509] {
        &self.anchors
    }

    /// Validates `signer` at time `at` (Unix seconds), with `untrusted`
    /// certificates (those the message carries) to build the path.
    ///
    /// A path found valid is remembered for the process with the time span
    /// in which all of its certificates are valid: the same signer, carried
    /// certificates and anchors at a time inside that span give the same
    /// answer (there are no revocation lists), without the two or three
    /// signature checks of a fresh validation.
    pub fn validate(
        &self,
        signer: &X509Ref,
        untrusted: &[X509],
        at: i64,
    ) -> Result<X509VerifyResult> {
        let key = self.cache_key(signer, untrusted)?;
        if valid_paths()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .is_some_and(|&(from, until)| (from..=until).contains(&at))
        {
            return Ok(X509VerifyResult::OK);
        }
        let mut builder = X509StoreBuilder::new()?;
        for anchor in &self.anchors {
            // Duplicates are harmless; OpenSSL reports them as errors.
            let _ = builder.add_cert(anchor.clone());
        }
        let mut param = X509VerifyParam::new()?;
        param.set_purpose(X509PurposeId::SMIME_SIGN)?;
        // A stored end-entity or intermediate certificate is an anchor on its own.
        param.set_flags(X509VerifyFlags::PARTIAL_CHAIN)?;
        param.set_time(at as _);
        builder.set_param(&param)?;
        let store = builder.build();
        let mut chain = Stack::new()?;
        for cert in untrusted {
            chain.push(cert.clone())?;
        }
        let mut ctx = X509StoreContext::new()?;
        let (result, span) = ctx.init(&store, signer, &chain, |c| {
            c.verify_cert()?;
            let span = c.chain().and_then(|path| validity_span(path.iter()));
            Ok((c.error(), span))
        })?;
        // verify_cert leaves errors on the queue for failed paths.
        let _ = openssl::error::ErrorStack::get();
        if let (X509VerifyResult::OK, Some(span)) = (result, span) {
            let mut paths = valid_paths().lock().unwrap_or_else(|e| e.into_inner());
            if paths.len() >= VALID_PATHS {
                paths.clear();
            }
            paths.insert(key, span);
        }
        Ok(result)
    }

    /// What a validation depends on besides the time: the anchors, the
    /// signer and the certificates offered to build the path.
    fn cache_key(&self, signer: &X509Ref, untrusted: &[X509]) -> Result<[u8; 32]> {
        let mut key = Sha256::new();
        key.update(&self.id);
        for cert in std::iter::once(signer).chain(untrusted.iter().map(|c| &**c)) {
            let der = cert.to_der()?;
            key.update(&(der.len() as u64).to_be_bytes());
            key.update(&der);
        }
        Ok(key.finish())
    }
}

/// How many valid paths are remembered; beyond, the memory starts over.
const VALID_PATHS: usize = 1024;

/// Validated paths: cache key → the span (Unix seconds, inclusive) in which
/// every certificate of the path is valid.
type ValidPaths = Mutex<HashMap<[u8; 32], (i64, i64)>>;

fn valid_paths() -> &'static ValidPaths {
    static PATHS: OnceLock<ValidPaths> = OnceLock::new();
    PATHS.get_or_init(Default::default)
}

/// The latest notBefore and the earliest notAfter of a path.
fn validity_span<'a>(path: impl Iterator<Item = &'a X509Ref>) -> Option<(i64, i64)> {
    let mut span = (i64::MIN, i64::MAX);
    for cert in path {
        let from = crate::cert::unix_time(cert.not_before()).ok()?;
        let until = crate::cert::unix_time(cert.not_after()).ok()?;
        span = (span.0.max(from), span.1.min(until));
    }
    Some(span)
}
