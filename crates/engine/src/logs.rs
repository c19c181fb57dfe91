//! The operation log (every sign, encrypt, decrypt, verify) and the audit
//! log (every admin change), read by admins; retention.

use smimed_store::{AuditEntry, Operation};

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

    /// Audit entries, newest first (admins).
    pub async fn audit_entries(
        &self,
        actor: &Actor,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<AuditEntry>> {
        actor.admin()?;
        Ok(self
            .store
            .audit_entries(limit.clamp(1, 1000), offset.max(0))
            .await?)
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
