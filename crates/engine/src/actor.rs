//! Who asks: an API token (by name and role) or the local command line.
//! Every action of the core takes an [`Actor`]; admin actions check its
//! role themselves, and every change is audited under its name.

use smimed_store::Role;

use crate::{Error, Result};

/// The one who asks for an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    name: String,
    role: Role,
}

impl Actor {
    /// An API token (or a web session opened with it).
    pub fn token(name: impl Into<String>, role: Role) -> Self {
        Actor {
            name: name.into(),
            role,
        }
    }

    /// The local command line, as `cli:<user>`: an admin, since whoever
    /// can read the data dir and the master key holds every secret anyway.
    pub fn cli() -> Self {
        let user = ["USER", "LOGNAME"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
            .unwrap_or_else(|| "unknown".to_string());
        Actor {
            name: format!("cli:{user}"),
            role: Role::Admin,
        }
    }

    /// The service itself (the first start's admin token, retention).
    pub fn service() -> Self {
        Actor {
            name: "smimed".to_string(),
            role: Role::Admin,
        }
    }

    /// The name written to the audit and operation logs.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// `Error::Forbidden` unless the actor is an admin.
    pub(crate) fn admin(&self) -> Result<()> {
        match self.role {
            Role::Admin => Ok(()),
            _ => Err(Error::Forbidden),
        }
    }
}
