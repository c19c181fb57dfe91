//! Certificate revocation lists (RFC 5280 §5): parsed within a size bound,
//! accepted only when a stored CA signed them, and gathered per issuer in
//! a [`CrlSet`] that [`crate::trust::TrustStore`] checks every path
//! against.
//!
//! A CRL is trusted for what its signature covers and nothing more: the
//! CA that signs it must be stored (the same anchors that validate
//! signers), and its keyUsage, if it has one, must allow cRLSign. Fetching
//! and storing CRLs is the caller's business; [`distribution_points`]
//! tells a fetcher where a certificate's CA publishes them.

use std::collections::HashMap;

use openssl::asn1::Asn1IntegerRef;
use openssl::pkey::{PKey, Public};
use openssl::sha::sha256;
use openssl::x509::{CrlStatus, X509Crl, X509Ref};

use crate::cert::{MAX_NAME_BYTES, first_reason, hex, name_to_string, unix_time};
use crate::{Certificate, Kind, Result, der, ffi, pem};

/// Largest CRL accepted, PEM or DER. Big public CAs publish a few MiB; the
/// bound is checked before anything is parsed, since OpenSSL builds one
/// object per entry.
pub const MAX_CRL_BYTES: usize = 10 * 1024 * 1024;

/// `2.5.29.20` cRLNumber, content octets of the OID.
const OID_CRL_NUMBER: &[u8] = &[0x55, 0x1d, 0x14];
/// `2.5.29.27` deltaCRLIndicator.
const OID_DELTA_CRL: &[u8] = &[0x55, 0x1d, 0x1b];
/// `2.5.29.28` issuingDistributionPoint.
const OID_ISSUING_DP: &[u8] = &[0x55, 0x1d, 0x1c];

/// Why a CRL is refused. Each has its own variant so that an importer can
/// tell a forgery from a stale download.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CrlError {
    /// The input is larger than [`MAX_CRL_BYTES`]; it was not parsed.
    #[error(
        "the CRL is {size} bytes; at most {limit} bytes ({} MiB) are accepted, so it was not read",
        limit / (1024 * 1024)
    )]
    TooLarge {
        /// The size of the input.
        size: usize,
        /// The bound it passes.
        limit: usize,
    },
    /// The input is not a CRL in PEM or DER form.
    #[error("not a certificate revocation list: {0}")]
    Malformed(String),
    /// A kind of CRL smimed does not read: a delta CRL, a partitioned one,
    /// or one with an unknown critical extension.
    #[error("the CRL cannot be used: {0}")]
    Unsupported(String),
    /// No stored CA has the CRL's issuer name.
    #[error("the CRL is issued by {issuer}, which is not a stored CA: import that CA first")]
    UnknownIssuer {
        /// The CRL's issuer name.
        issuer: String,
    },
    /// A stored CA has the issuer name, but the signature does not verify
    /// with its key: the CRL was altered or made by someone else.
    #[error(
        "the CRL claims to be issued by {issuer}, but its signature does not verify with that CA's key: it is forged or damaged"
    )]
    Forged {
        /// The CRL's issuer name.
        issuer: String,
    },
    /// The CA that signed it may not sign CRLs (its keyUsage lacks cRLSign).
    #[error(
        "the CRL is signed by {issuer}, whose key usage does not allow signing CRLs (no cRLSign)"
    )]
    NotForCrlSigning {
        /// The CRL's issuer name.
        issuer: String,
    },
    /// Its nextUpdate has passed: a newer CRL should exist.
    #[error("the CRL of {issuer} expired: its nextUpdate was {next_update}; fetch the current one")]
    Expired {
        /// The CRL's issuer name.
        issuer: String,
        /// nextUpdate, RFC 3339.
        next_update: String,
    },
    /// Its thisUpdate is in the future (or the clock here is behind).
    #[error("the CRL of {issuer} is not valid yet: its thisUpdate is {this_update}")]
    NotYetValid {
        /// The CRL's issuer name.
        issuer: String,
        /// thisUpdate, RFC 3339.
        this_update: String,
    },
}

/// A parsed CRL.
pub struct Crl {
    crl: X509Crl,
    der: Vec<u8>,
    issuer: String,
    issuer_id: [u8; 32],
    this_update: i64,
    next_update: Option<i64>,
    number: Option<Vec<u8>>,
    revoked: usize,
}

impl Crl {
    /// Parses one CRL, PEM (`X509 CRL` block) or DER, refusing anything
    /// over [`MAX_CRL_BYTES`] before parsing it.
    pub fn parse(input: &[u8]) -> Result<Self> {
        if input.len() > MAX_CRL_BYTES {
            return Err(CrlError::TooLarge {
                size: input.len(),
                limit: MAX_CRL_BYTES,
            }
            .into());
        }
        let malformed = |why: &str| CrlError::Malformed(why.to_string());
        if input.iter().all(u8::is_ascii_whitespace) {
            return Err(malformed("the input is empty").into());
        }
        if pem::is_pem(input) {
            let text =
                std::str::from_utf8(input).map_err(|_| malformed("the PEM text is not UTF-8"))?;
            let pem_error = |e: crate::Error| CrlError::Malformed(e.to_string());
            let blocks = pem::scan(text).map_err(pem_error)?;
            let block = blocks
                .iter()
                .find(|b| b.label == "X509 CRL")
                .ok_or_else(|| {
                    malformed("no \"-----BEGIN X509 CRL-----\" block in the PEM text")
                })?;
            return Self::from_der(&block.der().map_err(pem_error)?);
        }
        Self::from_der(input)
    }

    /// Parses one DER CRL (no trailing bytes).
    pub fn from_der(input: &[u8]) -> Result<Self> {
        let malformed = |why: String| CrlError::Malformed(why);
        if input.len() > MAX_CRL_BYTES {
            return Err(CrlError::TooLarge {
                size: input.len(),
                limit: MAX_CRL_BYTES,
            }
            .into());
        }
        let der = match der::read(input, 0) {
            Some((t, rest)) if t.tag == 0x30 && rest.is_empty() => t.whole,
            Some((t, _)) if t.tag == 0x30 => {
                return Err(malformed("trailing bytes after the DER CRL".into()).into());
            }
            _ => {
                return Err(malformed("the input is neither PEM nor a DER SEQUENCE".into()).into());
            }
        };
        let crl = X509Crl::from_der(der)
            .map_err(|e| malformed(format!("not a valid X.509 CRL ({})", first_reason(&e))))?;
        let issuer_der = crl.issuer_name().to_der()?;
        if issuer_der.len() > MAX_NAME_BYTES {
            // As for certificates: a huge name would bloat every message.
            return Err(malformed(format!(
                "its issuer name is {} bytes long; at most {} KiB are accepted",
                issuer_der.len(),
                MAX_NAME_BYTES / 1024
            ))
            .into());
        }
        let this_update = unix_time(crl.last_update())?;
        let next_update = crl.next_update().map(unix_time).transpose()?;
        let revoked = crl.get_revoked().map_or(0, |s| s.len());
        Ok(Crl {
            issuer: name_to_string(crl.issuer_name()),
            issuer_id: sha256(&issuer_der),
            number: read_extensions(der)?,
            der: der.to_vec(),
            crl,
            this_update,
            next_update,
            revoked,
        })
    }

    /// Accepts the CRL if one of `cas` signed it and it is current at `now`
    /// (Unix seconds): the issuer name matches, the signature verifies with
    /// the CA's key, the CA's keyUsage (if any) has cRLSign, thisUpdate ≤
    /// `now` ≤ nextUpdate. Returns the CA that signed it. Only stored CAs
    /// ([`Kind::Ca`]) in `cas` are considered: a contact never issues.
    pub fn verify_issuer<'a>(&self, cas: &'a [Certificate], now: i64) -> Result<&'a Certificate> {
        // The most telling refusal when none signed it: a CA of that name
        // with the right key says more than one with another key.
        let rank = |e: &CrlError| match e {
            CrlError::NotForCrlSigning { .. } => 2,
            CrlError::Forged { .. } => 1,
            _ => 0,
        };
        let mut refusal = CrlError::UnknownIssuer {
            issuer: self.issuer.clone(),
        };
        let mut signer = None;
        for ca in cas.iter().filter(|c| c.info().kind == Kind::Ca) {
            match self.signed_by(ca) {
                Ok(()) => {
                    signer = Some(ca);
                    break;
                }
                Err(e) if rank(&e) > rank(&refusal) => refusal = e,
                Err(_) => {}
            }
        }
        let Some(signer) = signer else {
            return Err(refusal.into());
        };
        let issuer = self.issuer.clone();
        if self.this_update > now {
            return Err(CrlError::NotYetValid {
                issuer,
                this_update: crate::rfc3339(self.this_update),
            }
            .into());
        }
        if let Some(next) = self.next_update
            && next < now
        {
            return Err(CrlError::Expired {
                issuer,
                next_update: crate::rfc3339(next),
            }
            .into());
        }
        Ok(signer)
    }

    /// Whether `ca` signed this CRL and may: names, signature and keyUsage,
    /// no time. For CRLs already accepted once and loaded again.
    pub fn is_signed_by(&self, ca: &Certificate) -> bool {
        self.signed_by(ca).is_ok()
    }

    /// [`Self::is_signed_by`], with the reason when not.
    fn signed_by(&self, ca: &Certificate) -> std::result::Result<(), CrlError> {
        let issuer = || self.issuer.clone();
        let named = ca
            .x509()
            .subject_name()
            .to_der()
            .is_ok_and(|d| sha256(&d) == self.issuer_id);
        if !named {
            return Err(CrlError::UnknownIssuer { issuer: issuer() });
        }
        let verifies = ca
            .public_key()
            .ok()
            .and_then(|key| self.crl.verify(&key).ok())
            .unwrap_or(false);
        let _ = openssl::error::ErrorStack::get();
        if !verifies {
            return Err(CrlError::Forged { issuer: issuer() });
        }
        if !may_sign_crls(ca.x509()) {
            return Err(CrlError::NotForCrlSigning { issuer: issuer() });
        }
        Ok(())
    }

    /// The revocation time (Unix seconds) of the certificate with this
    /// serial number, if the CRL revokes it. An entry removed from the CRL
    /// (a lifted certificateHold) is not revoked.
    pub fn revoked(&self, serial: &Asn1IntegerRef) -> Option<i64> {
        match self.crl.get_by_serial(serial) {
            CrlStatus::Revoked(entry) => unix_time(entry.revocation_date()).ok(),
            CrlStatus::NotRevoked | CrlStatus::RemoveFromCrl(_) => None,
        }
    }

    /// Whether it lists the serial number written as a certificate list
    /// writes it (lowercase hex, `CertInfo::serial`): a lookup in the
    /// CRL's sorted entries, for matching stored certificates without
    /// reading them.
    pub fn lists_serial(&self, serial_hex: &str) -> bool {
        let Ok(serial) =
            openssl::bn::BigNum::from_hex_str(serial_hex).and_then(|bn| bn.to_asn1_integer())
        else {
            let _ = openssl::error::ErrorStack::get();
            return false;
        };
        matches!(self.crl.get_by_serial(&serial), CrlStatus::Revoked(_))
    }

    /// The issuer name, as certificates show names.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
    /// SHA-256 of the issuer name's DER: one CA's CRLs share it, so a newer
    /// one replaces an older one under this key.
    pub fn issuer_id(&self) -> [u8; 32] {
        self.issuer_id
    }
    /// thisUpdate, Unix seconds.
    pub fn this_update(&self) -> i64 {
        self.this_update
    }
    /// nextUpdate, Unix seconds: when a newer CRL is due (RFC 5280 requires
    /// it; some CAs leave it out).
    pub fn next_update(&self) -> Option<i64> {
        self.next_update
    }
    /// The cRLNumber extension, big-endian without leading zeros, if present.
    pub fn number(&self) -> Option<&[u8]> {
        self.number.as_deref()
    }
    /// [`Self::number`] as lowercase hex, for display.
    pub fn number_hex(&self) -> Option<String> {
        self.number.as_deref().map(|n| {
            if n.is_empty() {
                "00".to_string()
            } else {
                hex(n)
            }
        })
    }
    /// How many certificates it lists.
    pub fn revoked_count(&self) -> usize {
        self.revoked
    }
    /// The DER encoding, as given.
    pub fn der(&self) -> &[u8] {
        &self.der
    }
    /// SHA-256 of the DER, lowercase hex: the CRL's identity.
    pub fn fingerprint(&self) -> String {
        hex(&sha256(&self.der))
    }

    /// Whether this CRL is newer than `other` of the same issuer: by
    /// cRLNumber when both have one (it only grows, RFC 5280 §5.2.3), else
    /// by thisUpdate. A CRL of another issuer never replaces.
    pub fn supersedes(&self, other: &Crl) -> bool {
        if self.issuer_id != other.issuer_id {
            return false;
        }
        match (self.number(), other.number()) {
            (Some(a), Some(b)) => (a.len(), a) > (b.len(), b),
            _ => self.this_update > other.this_update,
        }
    }
}

impl std::fmt::Debug for Crl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crl")
            .field("issuer", &self.issuer)
            .field("this_update", &self.this_update)
            .field("next_update", &self.next_update)
            .field("number", &self.number_hex())
            .field("revoked", &self.revoked)
            .finish()
    }
}

/// keyUsage absent, or with cRLSign.
fn may_sign_crls(ca: &X509Ref) -> bool {
    let usage = ffi::key_usage(ca);
    usage == u32::MAX || usage & openssl_sys::X509v3_KU_CRL_SIGN != 0
}

/// The cRLNumber of a DER CRL, read from `tbsCertList.crlExtensions`, or
/// why the CRL is not one smimed can use: a delta CRL or a partitioned one
/// (issuingDistributionPoint) would be read as the CA's complete list, and
/// RFC 5280 §5.2 forbids using a CRL with an unknown critical extension.
fn read_extensions(crl: &[u8]) -> std::result::Result<Option<Vec<u8>>, CrlError> {
    let unreadable = || CrlError::Malformed("its extensions cannot be read".into());
    let (outer, _) = der::read(crl, 0).ok_or_else(unreadable)?;
    let (tbs, _) = der::read(outer.contents, 1).ok_or_else(unreadable)?;
    let tbs = der::children(tbs.contents, 2).ok_or_else(unreadable)?;
    let Some(extensions) = tbs.into_iter().find(|t| t.tag == 0xa0) else {
        return Ok(None);
    };
    let (list, _) = der::read(extensions.contents, 3).ok_or_else(unreadable)?;
    let mut number = None;
    for extension in der::children(list.contents, 4).ok_or_else(unreadable)? {
        let parts = der::children(extension.contents, 5).ok_or_else(unreadable)?;
        let (Some(oid), Some(value)) = (parts.first(), parts.last()) else {
            return Err(unreadable());
        };
        let critical =
            parts.len() == 3 && parts[1].tag == 0x01 && parts[1].contents.iter().any(|&b| b != 0);
        let unsupported = |what: &str| CrlError::Unsupported(what.to_string());
        match oid.contents {
            OID_DELTA_CRL => {
                return Err(unsupported(
                    "it is a delta CRL, which lists only the changes since a base CRL",
                ));
            }
            OID_ISSUING_DP => {
                return Err(unsupported(
                    "it covers only part of its CA's certificates (issuingDistributionPoint)",
                ));
            }
            OID_CRL_NUMBER if value.tag == 0x04 => {
                number = der::read(value.contents, 6)
                    .filter(|(i, _)| i.tag == 0x02)
                    .and_then(|(i, _)| non_negative(i.contents));
            }
            _ if critical => {
                return Err(unsupported(&format!(
                    "it has a critical extension smimed does not know (OID {})",
                    dotted(oid.contents)
                )));
            }
            _ => {}
        }
    }
    Ok(number)
}

/// A DER INTEGER's content octets without leading zeros, if not negative.
fn non_negative(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.first().is_none_or(|b| b & 0x80 != 0) {
        return None;
    }
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    Some(bytes[start..].to_vec())
}

/// An OID's content octets in dotted form, for messages.
fn dotted(oid: &[u8]) -> String {
    let mut arcs = Vec::new();
    let mut arc: u128 = 0;
    for &b in oid {
        arc = (arc << 7) | u128::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (arc / 40).min(2);
                arcs.push(first);
                arcs.push(arc - first * 40);
            } else {
                arcs.push(arc);
            }
            arc = 0;
        }
    }
    arcs.iter()
        .map(u128::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// The HTTP(S) URLs of a certificate's CRL distribution points (full
/// names only), in order and without repeats: where a fetcher finds the
/// CRL that covers it. LDAP and relative names are left out.
pub fn distribution_points(cert: &Certificate) -> Vec<String> {
    let mut urls: Vec<String> = Vec::new();
    let Some(points) = cert.x509().crl_distribution_points() else {
        return urls;
    };
    for point in &points {
        let names = point.distpoint().and_then(|n| n.fullname());
        for name in names.into_iter().flatten() {
            if let Some(uri) = name.uri()
                && let Some((scheme, _)) = uri.split_once("://")
                && (scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"))
                && !urls.iter().any(|u| u == uri)
            {
                urls.push(uri.to_string());
            }
        }
    }
    urls
}

/// One accepted CRL and the key of the CA that signed it.
struct Accepted {
    crl: Crl,
    key: PKey<Public>,
    /// The signing CA's fingerprint.
    ca: String,
}

/// A certificate revoked by a held CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// In words: the certificate, the date, the CRL.
    pub reason: String,
    /// When it was revoked, Unix seconds.
    pub at: i64,
    /// The fingerprint of the CA whose CRL revokes it.
    pub ca_fingerprint: String,
}

/// The accepted CRLs, newest per issuing CA, indexed by issuer name.
#[derive(Default)]
pub struct CrlSet {
    by_issuer: HashMap<[u8; 32], Vec<Accepted>>,
}

impl CrlSet {
    /// No CRLs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `crl`, which `signer` must have signed ([`Crl::is_signed_by`],
    /// else the same refusal as [`Crl::verify_issuer`];
    /// the time is not checked here: an out-of-date CRL still revokes, and
    /// validation notes that it is out of date). An older CRL of the same
    /// CA is replaced; an older one than held is ignored.
    pub fn insert(&mut self, crl: Crl, signer: &Certificate) -> Result<()> {
        crl.signed_by(signer)?;
        let key = signer.public_key()?;
        let ca = signer.fingerprint().to_string();
        let held = self.by_issuer.entry(crl.issuer_id).or_default();
        match held.iter_mut().find(|a| a.key.public_eq(&key)) {
            Some(old) if crl.supersedes(&old.crl) => *old = Accepted { crl, key, ca },
            Some(_) => {}
            None => held.push(Accepted { crl, key, ca }),
        }
        Ok(())
    }

    /// How many CRLs are held (one per CA).
    pub fn len(&self) -> usize {
        self.by_issuer.values().map(Vec::len).sum()
    }

    /// None at all.
    pub fn is_empty(&self) -> bool {
        self.by_issuer.is_empty()
    }

    /// The CRL `issuer` signed that covers `cert` (same issuer name, same
    /// key as the issuer on the path).
    pub(crate) fn covering(&self, cert: &X509Ref, issuer: &X509Ref) -> Option<&Crl> {
        let key = issuer.public_key().ok()?;
        self.candidates(cert)
            .find(|a| a.key.public_eq(&key))
            .map(|a| &a.crl)
    }

    /// The CRL whose CA issued `cert`, for a certificate trusted without a
    /// path: the CA is whoever's key verifies the certificate.
    pub(crate) fn covering_stored(&self, cert: &X509Ref) -> Option<&Crl> {
        self.signer(cert).map(|a| &a.crl)
    }

    /// Whether the held CRL of the CA that signed `cert` revokes it at or
    /// before `at` (for the store: the certificate list's `revoked`, and
    /// the recipients outgoing mail never encrypts to).
    pub fn revocation(&self, cert: &crate::Certificate, at: i64) -> Option<Revocation> {
        // The serial first (a lookup), the signature only for a listed one:
        // most certificates a CA issued are not revoked.
        let serial = cert.x509().serial_number();
        if !self
            .candidates(cert.x509())
            .any(|a| a.crl.revoked(serial).is_some())
        {
            return None;
        }
        let accepted = self.signer(cert.x509())?;
        let when = accepted.crl.revoked(serial).filter(|&t| t <= at)?;
        match crate::trust::revocation(cert.x509(), &accepted.crl, at)? {
            crate::trust::PathCheck::Revoked(reason) => Some(Revocation {
                reason,
                at: when,
                ca_fingerprint: accepted.ca.clone(),
            }),
            _ => None,
        }
    }

    /// The held CRL, with its CA, whose CA's key verifies `cert`.
    fn signer(&self, cert: &X509Ref) -> Option<&Accepted> {
        let found = self
            .candidates(cert)
            .find(|a| cert.verify(&a.key).unwrap_or(false));
        let _ = openssl::error::ErrorStack::get();
        found
    }

    fn candidates(&self, cert: &X509Ref) -> impl Iterator<Item = &Accepted> {
        let id = cert.issuer_name().to_der().ok().map(|d| sha256(&d));
        id.and_then(|id| self.by_issuer.get(&id))
            .into_iter()
            .flatten()
    }
}

impl std::fmt::Debug for CrlSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.by_issuer.values().flatten().map(|a| &a.crl))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn oids_print_dotted() {
        for text in [
            "2.5.29.28",
            "1.2.840.113549.1.1.11",
            "1.3.6.1.4.1.99999.1",
            "2.999.3",
            "0.9.2342",
        ] {
            assert_eq!(super::dotted(&crate::der::tests::oid(text)), text);
        }
    }

    #[test]
    fn crl_numbers_drop_leading_zeros_and_refuse_negatives() {
        assert_eq!(super::non_negative(&[0x00, 0x80]), Some(vec![0x80]));
        assert_eq!(super::non_negative(&[0x00]), Some(vec![]));
        assert_eq!(super::non_negative(&[0x81]), None);
        assert_eq!(super::non_negative(&[]), None);
    }
}
