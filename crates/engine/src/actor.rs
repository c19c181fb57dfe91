//! Who asks: an API token (by name and role) or the local command line.
//! Every action of the core takes an [`Actor`]; admin actions check its
//! role themselves, and every change is audited under its name.

use std::time::{Duration, Instant};

use smimed_store::Role;

use crate::{Error, Result};

/// How long the store generation read when a token was checked stands for
/// the request's message too: a request's message then costs no second
/// generation query. Longer (a slow upload), the message reads it again.
const GENERATION_FRESH: Duration = Duration::from_secs(1);

/// The one who asks for an action. Two actors are equal when their name
/// and role are.
#[derive(Debug, Clone)]
pub struct Actor {
    name: String,
    role: Role,
    /// The store generation at which the token was found, and when.
    seen: Option<(i64, Instant)>,
}

impl PartialEq for Actor {
    fn eq(&self, other: &Actor) -> bool {
        self.name == other.name && self.role == other.role
    }
}

impl Eq for Actor {}

impl Actor {
    /// An API token (or a web session opened with it).
    pub fn token(name: impl Into<String>, role: Role) -> Self {
        Actor {
            name: name.into(),
            role,
            seen: None,
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
            seen: None,
        }
    }

    /// The SMTP gateway, as `smtp:<listener>` (`smtp:outgoing`,
    /// `smtp:incoming`): an agent, since it only sends and receives mail.
    pub fn gateway(listener: &str) -> Self {
        Actor {
            name: format!("smtp:{listener}"),
            role: Role::Agent,
            seen: None,
        }
    }

    /// The service itself (the first start's admin token, retention).
    pub fn service() -> Self {
        Actor {
            name: "smimed".to_string(),
            role: Role::Admin,
            seen: None,
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

    /// This actor, found by its token at store generation `generation`.
    pub(crate) fn seen_at(mut self, generation: i64) -> Actor {
        self.seen = Some((generation, Instant::now()));
        self
    }

    /// The generation the token was found at, while it is recent enough
    /// to stand for the request's start.
    pub(crate) fn fresh_generation(&self) -> Option<i64> {
        self.seen
            .filter(|(_, at)| at.elapsed() < GENERATION_FRESH)
            .map(|(generation, _)| generation)
    }

    /// `Error::Forbidden` unless the actor is an admin.
    pub(crate) fn admin(&self) -> Result<()> {
        match self.role {
            Role::Admin => Ok(()),
            _ => Err(Error::Forbidden),
        }
    }
}
