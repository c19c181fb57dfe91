//! Helpdesk groups: the sending address and the composer's defaults. One
//! rule for every front end: the address must be an address, and a change
//! merges into the stored group (fields left out stay).

use serde::{Deserialize, Serialize};
use smimed_store::Group;

use crate::{Actor, Engine, Error, Result, parse_address};

/// A change to a group; absent fields keep their value. A new group needs
/// an address.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GroupPatch {
    /// The sending address (`addr` or `Name <addr>`).
    pub email: Option<String>,
    /// Sign by default.
    pub default_sign: Option<bool>,
    /// Encrypt by default.
    pub default_encrypt: Option<bool>,
}

impl Engine {
    /// Every group by name (admins).
    pub async fn groups(&self, actor: &Actor) -> Result<Vec<Group>> {
        actor.admin()?;
        Ok(self.store.groups().await?)
    }

    /// Every group, for the composer's choice of sender (agents too).
    pub async fn sending_groups(&self, _actor: &Actor) -> Result<Vec<Group>> {
        Ok(self.store.groups().await?)
    }

    /// One group, for composing mail as it (agents too).
    pub async fn sending_group(&self, _actor: &Actor, name: &str) -> Result<Group> {
        Ok(self.store.group(name).await?)
    }

    /// One group (admins).
    pub async fn group(&self, actor: &Actor, name: &str) -> Result<Group> {
        actor.admin()?;
        Ok(self.store.group(name).await?)
    }

    /// Creates a group or changes one, merging `patch` into it, audited
    /// (admins). Returns the group as stored.
    pub async fn put_group(&self, actor: &Actor, name: &str, patch: &GroupPatch) -> Result<Group> {
        actor.admin()?;
        let name = name.trim();
        if name.is_empty() || name.chars().any(char::is_control) {
            return Err(Error::Invalid("a group needs a name".into()));
        }
        let old = match self.store.group(name).await {
            Ok(group) => Some(group),
            Err(smimed_store::Error::NoGroup(_)) => None,
            Err(e) => return Err(e.into()),
        };
        let email = match (&patch.email, &old) {
            (Some(email), _) => parse_address(email)?,
            (None, Some(old)) => old.email.clone(),
            (None, None) => {
                return Err(Error::Invalid(format!(
                    "group \"{name}\" is new: give its sending address (email)"
                )));
            }
        };
        let group = Group {
            name: name.to_string(),
            email,
            default_sign: patch
                .default_sign
                .or(old.as_ref().and_then(|g| g.default_sign)),
            default_encrypt: patch
                .default_encrypt
                .or(old.as_ref().and_then(|g| g.default_encrypt)),
        };
        let detail = serde_json::to_string(patch).unwrap_or_default();
        self.store.set_group(&group, actor.name(), &detail).await?;
        Ok(group)
    }

    /// Deletes a group, audited (admins).
    pub async fn delete_group(&self, actor: &Actor, name: &str) -> Result<()> {
        actor.admin()?;
        Ok(self.store.delete_group(name, actor.name()).await?)
    }
}
