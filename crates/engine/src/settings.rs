//! The settings an admin changes (`smimed settings`, `PUT /settings`, the
//! page's switch): read as one typed value, changed by one checked patch,
//! written with its audit entry in one transaction.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use smime::encrypt::{ContentCipher, EncryptOptions};

use crate::{Actor, Engine, Error, Result};

/// Setting names for the outgoing defaults.
pub const SETTING_CIPHER: &str = "cipher";
/// RSA-OAEP on (`true`) or off.
pub const SETTING_RSA_OAEP: &str = "rsa_oaep";
/// SHA-1 signatures refused (`true`) or accepted with a warning.
pub const SETTING_REJECT_SHA1: &str = "reject_sha1";
/// Days that logs and kept messages live.
pub const SETTING_RETENTION: &str = "log_retention_days";
/// Logs and kept messages live this long unless set otherwise.
pub const DEFAULT_RETENTION_DAYS: i64 = 30;
/// MiB of kept incoming messages, the oldest dropped first beyond it.
pub const SETTING_KEEP_INCOMING: &str = "keep_incoming_mib";
/// The size budget of kept incoming messages unless set otherwise.
pub const DEFAULT_KEEP_INCOMING_MIB: i64 = 1024;
/// Days ahead that an own certificate's expiry is warned of.
pub const SETTING_EXPIRY_WARNING: &str = "expiry_warning_days";
/// The warning window unless set otherwise.
pub const DEFAULT_EXPIRY_WARNING_DAYS: i64 = 30;

/// Signers' certificates are kept from signed mail (`true` unless set
/// `false`): contacts when a stored CA vouches, else pending.
pub const SETTING_LEARN: &str = "learn_certificates";

/// A signature whose signer's revocation cannot be checked against a
/// current CRL fails (`true`), instead of verifying with a note.
pub const SETTING_REQUIRE_CRL: &str = "require_crl";
/// CRLs named in stored certificates' distribution points are fetched in
/// the background (`true`).
pub const SETTING_CRL_FETCH: &str = "crl_fetch";

/// Every setting, as the API and `smimed settings --json` show them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Settings {
    /// S/MIME processing is on.
    pub enabled: bool,
    /// Content cipher of outgoing mail: `aes-256-cbc` or `aes-256-gcm`.
    pub cipher: &'static str,
    /// RSA-OAEP key transport for RSA recipients.
    pub rsa_oaep: bool,
    /// Incoming SHA-1 signatures are `weak_signature`.
    pub reject_sha1: bool,
    /// Days that logs and kept incoming messages are kept.
    pub log_retention_days: i64,
    /// MiB of kept incoming messages; the oldest go first beyond it.
    pub keep_incoming_mib: i64,
    /// Days ahead that the page, `status` and the API warn of an own
    /// certificate's expiry.
    pub expiry_warning_days: i64,
    /// Signers' certificates are kept from signed mail: as contacts when a
    /// stored CA vouches for them, else pending an admin's decision.
    pub learn_certificates: bool,
    /// A signer whose revocation cannot be checked against a current CRL
    /// is not verified.
    pub require_crl: bool,
    /// The CRLs that stored certificates name are fetched over HTTP in the
    /// background.
    pub crl_fetch: bool,
}

/// A change to any subset of the settings; absent fields stay.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    /// S/MIME on or off.
    pub enabled: Option<bool>,
    /// `aes-256-cbc` or `aes-256-gcm`.
    pub cipher: Option<String>,
    /// RSA-OAEP on or off.
    pub rsa_oaep: Option<bool>,
    /// Refuse SHA-1 signatures.
    pub reject_sha1: Option<bool>,
    /// 1 to 3650.
    pub log_retention_days: Option<i64>,
    /// 1 to 1,048,576 (1 TiB).
    pub keep_incoming_mib: Option<i64>,
    /// 1 to 365.
    pub expiry_warning_days: Option<i64>,
    /// Keep signers' certificates from signed mail.
    pub learn_certificates: Option<bool>,
    /// Require current CRLs.
    pub require_crl: Option<bool>,
    /// Fetch CRLs in the background.
    pub crl_fetch: Option<bool>,
}

impl Settings {
    /// The typed view of the raw settings rows.
    pub(crate) fn from_rows(rows: &HashMap<String, String>) -> Self {
        let encryption = encryption_settings(rows);
        Settings {
            enabled: smimed_store::enabled_in(rows),
            cipher: encryption.cipher.as_str(),
            rsa_oaep: encryption.rsa_oaep,
            reject_sha1: flag(rows, SETTING_REJECT_SHA1),
            log_retention_days: rows
                .get(SETTING_RETENTION)
                .and_then(|v| v.parse().ok())
                .unwrap_or(DEFAULT_RETENTION_DAYS),
            keep_incoming_mib: rows
                .get(SETTING_KEEP_INCOMING)
                .and_then(|v| v.parse().ok())
                .unwrap_or(DEFAULT_KEEP_INCOMING_MIB),
            expiry_warning_days: expiry_warning_days(rows),
            learn_certificates: learns(rows),
            require_crl: flag(rows, SETTING_REQUIRE_CRL),
            crl_fetch: flag(rows, SETTING_CRL_FETCH),
        }
    }
}

/// The warning window (days) in the raw settings.
pub(crate) fn expiry_warning_days(rows: &HashMap<String, String>) -> i64 {
    rows.get(SETTING_EXPIRY_WARNING)
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_EXPIRY_WARNING_DAYS)
}

/// Whether signers' certificates are kept from signed mail (on unless set
/// off).
pub(crate) fn learns(rows: &HashMap<String, String>) -> bool {
    rows.get(SETTING_LEARN).map(String::as_str) != Some("false")
}

fn flag(rows: &HashMap<String, String>, name: &str) -> bool {
    rows.get(name).map(String::as_str) == Some("true")
}

/// The admin's choice of algorithms (from the raw settings): what outgoing
/// mail uses unless the agent chose.
pub(crate) fn encryption_settings(rows: &HashMap<String, String>) -> EncryptOptions {
    EncryptOptions {
        cipher: rows
            .get(SETTING_CIPHER)
            .and_then(|c| ContentCipher::parse(c))
            .unwrap_or_default(),
        rsa_oaep: flag(rows, SETTING_RSA_OAEP),
    }
}

/// The rules for incoming mail at `now`, with the admin's settings.
pub(crate) fn policy(rows: &HashMap<String, String>, now: i64) -> smime::Policy {
    let mut policy = smime::Policy::at(now);
    policy.reject_sha1 = flag(rows, SETTING_REJECT_SHA1);
    policy.require_crl = flag(rows, SETTING_REQUIRE_CRL);
    policy
}

impl Engine {
    /// The settings (admins).
    pub async fn settings(&self, actor: &Actor) -> Result<Settings> {
        actor.admin()?;
        Ok(Settings::from_rows(&self.store.settings().await?))
    }

    /// Checks every field of `patch`, then writes all of it with one audit
    /// entry in one transaction: a refused patch changes nothing (admins).
    pub async fn update_settings(&self, actor: &Actor, patch: &SettingsPatch) -> Result<Settings> {
        actor.admin()?;
        let mut changes: Vec<(&str, String)> = Vec::new();
        if let Some(cipher) = &patch.cipher {
            let c = ContentCipher::parse(cipher).ok_or_else(|| {
                Error::Invalid(format!(
                    "cipher \"{cipher}\": use aes-256-cbc or aes-256-gcm"
                ))
            })?;
            changes.push((SETTING_CIPHER, c.as_str().to_string()));
        }
        if let Some(days) = patch.log_retention_days {
            if !(1..=3650).contains(&days) {
                return Err(Error::Invalid(
                    "log_retention_days must be between 1 and 3650".into(),
                ));
            }
            changes.push((SETTING_RETENTION, days.to_string()));
        }
        if let Some(mib) = patch.keep_incoming_mib {
            if !(1..=1 << 20).contains(&mib) {
                return Err(Error::Invalid(
                    "keep_incoming_mib must be between 1 and 1048576".into(),
                ));
            }
            changes.push((SETTING_KEEP_INCOMING, mib.to_string()));
        }
        if let Some(days) = patch.expiry_warning_days {
            if !(1..=365).contains(&days) {
                return Err(Error::Invalid(
                    "expiry_warning_days must be between 1 and 365".into(),
                ));
            }
            changes.push((SETTING_EXPIRY_WARNING, days.to_string()));
        }
        for (value, name) in [
            (patch.rsa_oaep, SETTING_RSA_OAEP),
            (patch.reject_sha1, SETTING_REJECT_SHA1),
            (patch.enabled, smimed_store::SETTING_ENABLED),
            (patch.learn_certificates, SETTING_LEARN),
            (patch.require_crl, SETTING_REQUIRE_CRL),
            (patch.crl_fetch, SETTING_CRL_FETCH),
        ] {
            if let Some(on) = value {
                changes.push((name, on.to_string()));
            }
        }
        if !changes.is_empty() {
            let values: Vec<(&str, &str)> = changes.iter().map(|(n, v)| (*n, v.as_str())).collect();
            let detail = serde_json::to_string(patch).unwrap_or_default();
            self.store
                .set_settings(&values, actor.name(), &detail)
                .await?;
        }
        self.settings(actor).await
    }
}
