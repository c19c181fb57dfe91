//! Security options: what the composer may offer. Pure functions over the
//! certificates the store holds for each address, so the rules are tested
//! without a database.

use serde::Serialize;

use crate::Certificate;

/// A stored certificate as the selection sees it.
pub struct Candidate<'a> {
    /// The certificate.
    pub certificate: &'a Certificate,
    /// A private key for it is stored.
    pub has_private_key: bool,
    /// Its issuer is stored (or it is self-signed).
    pub issuer_known: bool,
    /// Why a stored CRL revokes it, if one does: then it is never used.
    pub revoked: Option<&'a str>,
}

/// Why no certificate fits an address.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Lack {
    /// No certificate at all.
    NoCertificate,
    /// Certificates, but none with a private key (signing only).
    NoPrivateKey,
    /// Only expired certificates.
    OnlyExpired,
    /// Only certificates that are not valid yet.
    OnlyNotYetValid,
    /// Certificates, but none usable for this operation.
    NotUsable,
    /// Only certificates whose key is too weak; the text says why.
    WeakKey(String),
    /// Only certificates whose issuer is not stored (encryption only: a
    /// certificate no stored CA vouches for is not used to encrypt).
    IssuerMissing,
    /// Only certificates a stored CRL revokes; the text says which and when.
    Revoked(String),
}

impl Lack {
    fn describe(&self, operation: &str) -> String {
        match self {
            Lack::NoCertificate => "no certificate".into(),
            Lack::NoPrivateKey => "no private key for its certificate".into(),
            Lack::OnlyExpired => "only expired certificates".into(),
            Lack::OnlyNotYetValid => "only certificates that are not valid yet".into(),
            Lack::NotUsable => format!("no certificate usable for {operation}"),
            Lack::WeakKey(why) => format!("only a certificate with a weak key ({why})"),
            Lack::Revoked(why) => format!("only a revoked certificate ({why})"),
            Lack::IssuerMissing => {
                "only certificates whose issuer is not in the store (import the CA certificate)"
                    .into()
            }
        }
    }
}

/// The certificate to sign with: has a key, may sign, valid now; of several,
/// the one valid longest.
pub fn signing_certificate<'a>(
    candidates: &[Candidate<'a>],
    now: i64,
) -> Result<&'a Certificate, Lack> {
    select(candidates, now, true)
}

/// The certificate to encrypt to: may encrypt, issued by a stored CA (or
/// self-signed), valid now; of several, the one valid longest. Expired ones
/// are ignored when a valid one exists.
pub fn encryption_certificate<'a>(
    candidates: &[Candidate<'a>],
    now: i64,
) -> Result<&'a Certificate, Lack> {
    select(candidates, now, false)
}

fn select<'a>(
    candidates: &[Candidate<'a>],
    now: i64,
    signing: bool,
) -> Result<&'a Certificate, Lack> {
    if candidates.is_empty() {
        return Err(Lack::NoCertificate);
    }
    let usable: Vec<&Candidate<'a>> = candidates
        .iter()
        .filter(|c| {
            let usage = c.certificate.info().usage;
            let not_for_smime = c
                .certificate
                .info()
                .static_issues
                .iter()
                .any(|i| matches!(i, crate::Issue::NotUsableForSmime(_)));
            c.certificate.info().kind == crate::Kind::EndEntity
                && !not_for_smime
                && if signing {
                    usage.can_sign()
                } else {
                    usage.can_encrypt()
                }
        })
        .collect();
    if usable.is_empty() {
        return Err(Lack::NotUsable);
    }
    // A revoked certificate is never used, whatever else it offers.
    let unrevoked: Vec<&Candidate<'a>> = usable
        .iter()
        .copied()
        .filter(|c| c.revoked.is_none())
        .collect();
    if unrevoked.is_empty() {
        let why = usable.iter().find_map(|c| c.revoked).unwrap_or_default();
        return Err(Lack::Revoked(why.to_string()));
    }
    let usable = unrevoked;
    let strong: Vec<&Candidate<'a>> = usable
        .iter()
        .copied()
        .filter(|c| c.certificate.unusable().is_none())
        .collect();
    if strong.is_empty() {
        let why = usable
            .iter()
            .find_map(|c| match c.certificate.unusable() {
                Some(crate::Issue::WeakKey(why)) => Some(why.clone()),
                _ => None,
            })
            .unwrap_or_default();
        return Err(Lack::WeakKey(why));
    }
    let with_key: Vec<&Candidate<'a>> = if signing {
        let keyed: Vec<_> = strong.into_iter().filter(|c| c.has_private_key).collect();
        if keyed.is_empty() {
            return Err(Lack::NoPrivateKey);
        }
        keyed
    } else {
        let vouched: Vec<_> = strong.into_iter().filter(|c| c.issuer_known).collect();
        if vouched.is_empty() {
            return Err(Lack::IssuerMissing);
        }
        vouched
    };
    let valid = with_key
        .iter()
        .filter(|c| c.certificate.info().is_valid_at(now))
        .max_by_key(|c| c.certificate.info().not_after);
    match valid {
        Some(c) => Ok(c.certificate),
        None if with_key
            .iter()
            .all(|c| c.certificate.info().not_after < now) =>
        {
            Err(Lack::OnlyExpired)
        }
        None => Err(Lack::OnlyNotYetValid),
    }
}

/// One operation's answer for the composer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Choice {
    /// The operation can be done.
    pub possible: bool,
    /// The composer presets it: the group's default, only when possible.
    pub default: bool,
    /// Who and why, in words.
    pub message: String,
}

/// What the composer shows for a sender and its recipients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecurityOptions {
    /// Signing.
    pub sign: Choice,
    /// Encryption.
    pub encryption: Choice,
}

/// The signing answer for `sender`, given the outcome of the selection.
pub fn sign_choice(
    sender: &str,
    selected: &Result<&Certificate, Lack>,
    default: Option<bool>,
) -> Choice {
    match selected {
        Ok(cert) => Choice {
            possible: true,
            default: default.unwrap_or(true),
            message: format!(
                "{sender} can sign with certificate {} (valid until {})",
                &cert.fingerprint()[..16],
                &crate::rfc3339(cert.info().not_after)[..10]
            ),
        },
        Err(lack) => Choice {
            possible: false,
            default: false,
            message: format!("cannot sign: {sender} has {}", lack.describe("signing")),
        },
    }
}

/// The encryption answer for all recipients, each with its selection outcome.
pub fn encryption_choice(
    recipients: &[(String, Result<&Certificate, Lack>)],
    default: Option<bool>,
) -> Choice {
    if recipients.is_empty() {
        return Choice {
            possible: false,
            default: false,
            message: "cannot encrypt: the message has no recipients".into(),
        };
    }
    let lacking: Vec<String> = recipients
        .iter()
        .filter_map(|(addr, r)| {
            r.as_ref()
                .err()
                .map(|lack| format!("{addr} has {}", lack.describe("encryption")))
        })
        .collect();
    if lacking.is_empty() {
        let all: Vec<&str> = recipients.iter().map(|(a, _)| a.as_str()).collect();
        Choice {
            possible: true,
            default: default.unwrap_or(true),
            message: format!("can encrypt to {}", all.join(", ")),
        }
    } else {
        Choice {
            possible: false,
            default: false,
            message: format!("cannot encrypt: {}", lacking.join("; ")),
        }
    }
}

/// The answer when S/MIME is switched off.
pub fn disabled() -> SecurityOptions {
    let off = Choice {
        possible: false,
        default: false,
        message: "S/MIME is disabled; an admin can enable it".into(),
    };
    SecurityOptions {
        sign: off.clone(),
        encryption: off,
    }
}
