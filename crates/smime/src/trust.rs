//! Path validation for signers. A signer is trusted in exactly two ways:
//!
//! - its certificate is stored, byte for byte: it is trusted as itself,
//!   and never as an issuer of anything;
//! - it chains, for the S/MIME signing purpose, to a stored CA: a
//!   certificate with basicConstraints CA:TRUE, or an X.509 v1 self-signed
//!   root stored as a CA ([`crate::Kind::Ca`]). Every issuer on the path
//!   below the anchor must be a CA by basicConstraints too.
//!
//! OpenSSL alone would accept more: under partial-chain validation any
//! stored certificate is an anchor, and its non-strict checks let a v1
//! certificate or one whose keyUsage has keyCertSign issue. A stored
//! contact could then mint a certificate for any address.
//!
//! Revocation: given a [`CrlSet`] ([`TrustStore::with_crls`]), every
//! certificate on a path below the anchor is looked up in the CRL its
//! issuer signed, and a signer trusted as itself in its issuer's CRL when
//! one is held. A missing or out-of-date CRL is only noted, unless the
//! policy requires CRLs ([`Policy::require_crl`]).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use openssl::sha::Sha256;
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::{X509VerifyFlags, X509VerifyParam};
use openssl::x509::{X509, X509PurposeId, X509Ref, X509StoreContext, X509VerifyResult};
use openssl_sys as sys;

use crate::crl::{Crl, CrlSet};
use crate::policy::Policy;
use crate::{Certificate, Kind, Result, ffi};

/// SHA-256 fingerprints of stored certificates, each trusted as itself.
#[derive(Debug, Default, Clone)]
pub struct Fingerprints(HashSet<[u8; 32]>);

impl Fingerprints {
    /// From lowercase or uppercase hex fingerprints; others are skipped.
    pub fn from_hex<'a>(fingerprints: impl IntoIterator<Item = &'a str>) -> Self {
        Fingerprints(fingerprints.into_iter().filter_map(unhex).collect())
    }

    /// Whether `cert` is one of them.
    pub fn contains(&self, cert: &Certificate) -> bool {
        unhex(cert.fingerprint()).is_some_and(|f| self.0.contains(&f))
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// None at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn unhex(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(hex.chunks(2)) {
        let digit = |c: u8| (c as char).to_digit(16);
        *o = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(out)
}

/// What the receiving side trusts for one check.
pub struct TrustStore {
    /// Stored CAs: the anchors.
    anchors: Vec<Certificate>,
    /// Stored certificates that may sign without a path: given ones.
    stored: Fingerprints,
    /// Every other stored certificate, by fingerprint (shared, can be large).
    all_stored: Arc<Fingerprints>,
    /// Certificates to find a signer that the message does not carry.
    known: Vec<X509>,
    /// Stored certificates learned from mail: not trusted as themselves.
    learned: Fingerprints,
    /// Accepted CRLs, by issuer.
    crls: Arc<CrlSet>,
    /// SHA-256 over the anchors' fingerprints: which anchors a remembered
    /// validation was made under.
    id: [u8; 32],
}

/// The outcome of a signer's validation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathCheck {
    /// Trusted: through a CA, or as a stored certificate (`itself`).
    Valid {
        /// The signer is stored and trusted as itself.
        itself: bool,
    },
    /// The signer's (or an issuer's) certificate has expired.
    Expired(String),
    /// The signer's (or an issuer's) certificate is not valid yet.
    NotYetValid(String),
    /// No trusted path; the text says why.
    Untrusted(String),
    /// The signer's (or an issuer's) certificate is revoked by a CRL of its
    /// issuer; the text names the certificate, the date and the CRL.
    Revoked(String),
    /// The policy requires CRLs, and one on the path is missing or out of
    /// date; the text says which.
    RevocationUnknown(String),
}

/// A validation's outcome and what it noted on the way (a missing or
/// out-of-date CRL, when CRLs are loaded but not required).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Validation {
    /// The outcome.
    pub check: PathCheck,
    /// Notes for a valid outcome.
    pub notes: Vec<String>,
}

impl From<PathCheck> for Validation {
    fn from(check: PathCheck) -> Self {
        Validation {
            check,
            notes: Vec::new(),
        }
    }
}

impl TrustStore {
    /// Trusts these stored certificates: each as itself, and the CAs among
    /// them also for what they issued. Every one can also be found as the
    /// signer of a message that does not carry its signer's certificate.
    pub fn new<'a>(stored: impl IntoIterator<Item = &'a Certificate>) -> Self {
        let mut id = Sha256::new();
        let mut anchors = Vec::new();
        let mut fingerprints = HashSet::new();
        let mut known = Vec::new();
        for c in stored {
            if c.info().kind == Kind::Ca {
                id.update(c.fingerprint().as_bytes());
                anchors.push(c.clone());
            }
            if let Some(f) = unhex(c.fingerprint()) {
                fingerprints.insert(f);
            }
            known.push(c.x509().to_owned());
        }
        TrustStore {
            anchors,
            stored: Fingerprints(fingerprints),
            all_stored: Arc::default(),
            known,
            learned: Fingerprints::default(),
            crls: Arc::default(),
            id: id.finish(),
        }
    }

    /// Also trusts every certificate in `all` as itself (the whole store,
    /// so that a stored signer who is not the sender is named as such).
    pub fn with_stored(mut self, all: Arc<Fingerprints>) -> Self {
        self.all_stored = all;
        self
    }

    /// Also looks signers up in `certs` without trusting them as themselves
    /// (certificates learned from mail: trusted only through their CA).
    pub fn with_known<'a>(mut self, certs: impl IntoIterator<Item = &'a Certificate>) -> Self {
        for c in certs {
            if let Some(f) = unhex(c.fingerprint()) {
                self.learned.0.insert(f);
            }
            self.known.push(c.x509().to_owned());
        }
        self
    }

    /// Whether `cert` is stored as learned from mail (see [`Self::with_known`]).
    pub fn is_learned(&self, cert: &Certificate) -> bool {
        self.learned.contains(cert)
    }

    /// Checks paths against these accepted CRLs.
    pub fn with_crls(mut self, crls: Arc<CrlSet>) -> Self {
        self.crls = crls;
        self
    }

    /// The certificates to look a signer up in.
    pub fn certificates(&self) -> &[X509] {
        &self.known
    }

    /// Whether `cert` is stored (trusted as itself).
    pub fn is_stored(&self, cert: &Certificate) -> bool {
        self.stored.contains(cert) || self.all_stored.contains(cert)
    }

    /// Validates `signer` at time `at` (Unix seconds), with the certificates
    /// the message carries (`untrusted`) to build the path; the default
    /// policy's view of CRLs (see [`Self::validate_with`]).
    pub fn validate(&self, signer: &Certificate, untrusted: &[X509], at: i64) -> Result<PathCheck> {
        self.validate_with(signer, untrusted, &Policy::at(at))
            .map(|v| v.check)
    }

    /// Validates `signer` at `policy.now`, with the certificates the
    /// message carries (`untrusted`) to build the path, and checks the
    /// path against the CRLs held.
    ///
    /// A path through a CA found valid is remembered for the process with
    /// the time span in which all of its certificates are valid: the same
    /// signer, carried certificates and anchors at a time inside that span
    /// give the same path, without the two or three signature checks of a
    /// fresh validation. Revocation is not remembered: the path, fresh or
    /// remembered, is checked against the CRLs held now.
    pub fn validate_with(
        &self,
        signer: &Certificate,
        untrusted: &[X509],
        policy: &Policy,
    ) -> Result<Validation> {
        let at = policy.now;
        if self.is_stored(signer) {
            // Alone in its store: nothing is issued, only time and purpose
            // are checked, and its issuer's CRL if one is held.
            let (result, _) = verify(std::slice::from_ref(signer), signer.x509(), &[], at)?;
            if let Some(failure) = classify(result) {
                return Ok(failure.into());
            }
            let revoked = self
                .crls
                .covering_stored(signer.x509())
                .and_then(|crl| revocation(signer.x509(), crl, at));
            return Ok(revoked.unwrap_or(PathCheck::Valid { itself: true }).into());
        }
        let key = self.cache_key(signer.x509(), untrusted)?;
        let remembered = valid_paths()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .filter(|(from, until, _)| (*from..=*until).contains(&at))
            .map(|(_, _, chain)| chain.clone());
        let chain = match remembered {
            Some(chain) => chain,
            None => {
                let (result, chain) = verify(&self.anchors, signer.x509(), untrusted, at)?;
                if let Some(failure) = classify(result) {
                    return Ok(failure.into());
                }
                if let Some(why) = self.issuer_not_a_ca(&chain) {
                    return Ok(PathCheck::Untrusted(why).into());
                }
                if let Some((from, until)) = validity_span(chain.iter().map(|c| &**c)) {
                    let mut paths = valid_paths().lock().unwrap_or_else(|e| e.into_inner());
                    if paths.len() >= VALID_PATHS {
                        paths.clear();
                    }
                    paths.insert(key, (from, until, chain.clone()));
                }
                chain
            }
        };
        Ok(self.revocation_of_path(&chain, policy))
    }

    /// Checks each certificate of `chain` but the anchor against the CRL
    /// its issuer (the next one) signed. A revocation wins over anything
    /// missing; a missing or out-of-date CRL fails only when required, and
    /// is noted only when some CRL is held (else nobody asked for CRLs).
    fn revocation_of_path(&self, chain: &[X509], policy: &Policy) -> Validation {
        let at = policy.now;
        let valid = PathCheck::Valid { itself: false };
        if self.crls.is_empty() && !policy.require_crl {
            // Every deployment without CRLs: nothing to look up or say.
            return valid.into();
        }
        let name = |c: &X509Ref| crate::cert::name_to_string(c.subject_name());
        let mut unknown = Vec::new();
        for pair in chain.windows(2) {
            let (cert, issuer) = (&pair[0], &pair[1]);
            let Some(crl) = self.crls.covering(cert, issuer) else {
                unknown.push(format!(
                    "no CRL of {} is loaded, so the revocation of {} was not checked",
                    name(issuer),
                    name(cert)
                ));
                continue;
            };
            if let Some(revoked) = revocation(cert, crl, at) {
                return revoked.into();
            }
            if let Some(next) = crl.next_update()
                && next < at
            {
                unknown.push(format!(
                    "the CRL of {} (thisUpdate {}) is out of date since {}, so later revocations are unknown",
                    name(issuer),
                    crate::rfc3339(crl.this_update()),
                    crate::rfc3339(next)
                ));
            }
        }
        if policy.require_crl && !unknown.is_empty() {
            return PathCheck::RevocationUnknown(format!(
                "{}; this service requires current CRLs (require_crl)",
                unknown.join("; ")
            ))
            .into();
        }
        Validation {
            check: valid,
            notes: if self.crls.is_empty() {
                Vec::new()
            } else {
                unknown
            },
        }
    }

    /// Every certificate that issues on `chain` (all but the first) must be
    /// a CA by basicConstraints; the anchor at the end may instead be a
    /// stored v1 root.
    fn issuer_not_a_ca(&self, chain: &[X509]) -> Option<String> {
        for (i, cert) in chain.iter().enumerate().skip(1) {
            let flags = ffi::extension_flags(cert);
            let by_constraints = flags & sys::EXFLAG_BCONS != 0 && flags & sys::EXFLAG_CA != 0;
            let stored_root = i + 1 == chain.len()
                && cert.to_der().is_ok_and(|der| {
                    self.anchors
                        .iter()
                        .any(|a| a.der() == der && a.info().self_signed)
                });
            if !by_constraints && !stored_root {
                return Some(format!(
                    "{} issued a certificate on the path but is not a CA (no basicConstraints CA:TRUE)",
                    crate::cert::name_to_string(cert.subject_name())
                ));
            }
        }
        None
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

/// OpenSSL's validation of `signer` for S/MIME signing at `at`, with
/// `anchors` trusted (partial chains allowed, so a stored intermediate CA
/// is an anchor): the result and the path it built.
fn verify(
    anchors: &[Certificate],
    signer: &X509Ref,
    untrusted: &[X509],
    at: i64,
) -> Result<(X509VerifyResult, Vec<X509>)> {
    let mut builder = X509StoreBuilder::new()?;
    for anchor in anchors {
        // Duplicates are harmless; OpenSSL reports them as errors.
        let _ = builder.add_cert(anchor.x509().to_owned());
    }
    let mut param = X509VerifyParam::new()?;
    param.set_purpose(X509PurposeId::SMIME_SIGN)?;
    param.set_flags(X509VerifyFlags::PARTIAL_CHAIN)?;
    param.set_time(at as _);
    builder.set_param(&param)?;
    let store = builder.build();
    let mut chain = Stack::new()?;
    for cert in untrusted {
        chain.push(cert.clone())?;
    }
    let mut ctx = X509StoreContext::new()?;
    let out = ctx.init(&store, signer, &chain, |c| {
        c.verify_cert()?;
        let path = c
            .chain()
            .map(|p| p.iter().map(|x| x.to_owned()).collect())
            .unwrap_or_default();
        Ok((c.error(), path))
    })?;
    // verify_cert leaves errors on the queue for failed paths.
    let _ = openssl::error::ErrorStack::get();
    Ok(out)
}

/// `None` for success, else the failure.
fn classify(result: X509VerifyResult) -> Option<PathCheck> {
    match result.as_raw() {
        sys::X509_V_OK => None,
        sys::X509_V_ERR_CERT_HAS_EXPIRED => {
            Some(PathCheck::Expired(result.error_string().to_string()))
        }
        sys::X509_V_ERR_CERT_NOT_YET_VALID => {
            Some(PathCheck::NotYetValid(result.error_string().to_string()))
        }
        _ => Some(PathCheck::Untrusted(result.error_string().to_string())),
    }
}

/// How many valid paths are remembered; beyond, the memory starts over.
const VALID_PATHS: usize = 1024;

/// Validated paths: cache key → the span (Unix seconds, inclusive) in which
/// every certificate of the path is valid, and the path.
type ValidPaths = Mutex<HashMap<[u8; 32], (i64, i64, Vec<X509>)>>;

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

/// [`PathCheck::Revoked`] if `crl` revokes `cert` at or before `at`.
pub(crate) fn revocation(cert: &X509Ref, crl: &Crl, at: i64) -> Option<PathCheck> {
    let when = crl.revoked(cert.serial_number()).filter(|&t| t <= at)?;
    let serial = cert
        .serial_number()
        .to_bn()
        .and_then(|bn| bn.to_hex_str().map(|h| h.to_ascii_lowercase()))
        .unwrap_or_default();
    Some(PathCheck::Revoked(format!(
        "the certificate {} (serial {serial}) was revoked on {} (CRL of {}, thisUpdate {})",
        crate::cert::name_to_string(cert.subject_name()),
        crate::rfc3339(when),
        crl.issuer(),
        crate::rfc3339(crl.this_update()),
    )))
}
