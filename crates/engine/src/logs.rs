//! The operation log (every sign, encrypt, decrypt, verify) and the audit
//! log (every admin change), read by admins; retention.

use std::collections::HashMap;

use smimed_store::{AuditEntry, AuditQuery, Operation};

use crate::{Actor, Engine, Result};

impl Engine {
    /// Operations, newest first (admins). `limit` is kept within 1..=1000.
    pub async fn operations(
        &self,
        actor: &Actor,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Operation>> {
        actor.admin()?;
        Ok(self
            .store
            .operations(limit.clamp(1, 1000), offset.max(0))
            .await?)
    }

    /// One operation (admins).
    pub async fn operation(&self, actor: &Actor, id: i64) -> Result<Option<Operation>> {
        actor.admin()?;
        Ok(self.store.operation(id).await?)
    }

    /// Audit entries that match `query`, newest first (admins); `limit` is
    /// kept within 1..=1000.
    pub async fn audit_search(&self, actor: &Actor, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
        actor.admin()?;
        Ok(self.store.audit_search(query).await?)
    }

    /// The subjects of the stored certificates among `fingerprints`
    /// (admins; at most 1,000 asked at once).
    pub async fn certificate_subjects(
        &self,
        actor: &Actor,
        fingerprints: &[String],
    ) -> Result<HashMap<String, String>> {
        actor.admin()?;
        if fingerprints.len() > 1000 {
            return Err(crate::Error::Invalid(format!(
                "{} fingerprints asked for; at most 1000 at once",
                fingerprints.len()
            )));
        }
        Ok(self.store.certificate_subjects(fingerprints).await?)
    }

    /// One audit entry (admins).
    pub async fn audit_entry(&self, actor: &Actor, id: i64) -> Result<Option<AuditEntry>> {
        actor.admin()?;
        Ok(self.store.audit_entry(id).await?)
    }

    /// Deletes logs, kept messages and sessions older than the retention
    /// setting; returns how many rows went.
    /// Kept messages also go down to their size budget here, so a budget
    /// made smaller takes effect within the hour without new mail.
    pub async fn expire(&self) -> Result<u64> {
        let settings = crate::Settings::from_rows(&self.store.settings().await?);
        let expired = self.store.expire(settings.log_retention_days).await?;
        let pruned = self
            .store
            .prune_incoming(settings.keep_incoming_mib << 20)
            .await?;
        let relayed = self.store.expire_relayed().await?;
        Ok(expired + pruned + relayed)
    }

    /// Whether the store answers (for `/healthz`).
    pub async fn health(&self) -> Result<()> {
        Ok(self.store.ping().await?)
    }
}
