//! Helpdesk groups: name, sending address, composer defaults.

use serde::Serialize;
use sqlx::Row;

use crate::{Error, Result, Store};

/// A helpdesk group. `None` defaults were never set and mean "on".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    /// Unique name.
    pub name: String,
    /// Sending address, lowercase.
    pub email: String,
    /// Sign outgoing mail by default; `None`: never set (on).
    pub default_sign: Option<bool>,
    /// Encrypt outgoing mail by default; `None`: never set (on).
    pub default_encrypt: Option<bool>,
}

impl Store {
    /// Creates or replaces a group, audited as `actor` with `detail`.
    pub async fn set_group(&self, group: &Group, actor: &str, detail: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO groups (name, email, default_sign, default_encrypt, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO UPDATE SET \
             email = excluded.email, default_sign = excluded.default_sign, \
             default_encrypt = excluded.default_encrypt, updated_at = excluded.updated_at",
        )
        .bind(group.name.clone())
        .bind(group.email.trim().to_ascii_lowercase())
        .bind(group.default_sign.map(i16::from))
        .bind(group.default_encrypt.map(i16::from))
        .bind(smime::now())
        .execute(&mut *tx)
        .await?;
        crate::audit(&mut tx, actor, "group.update", &group.name, detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The group called `name`.
    pub async fn group(&self, name: &str) -> Result<Group> {
        let row = sqlx::query(
            "SELECT name, email, default_sign, default_encrypt FROM groups WHERE name = $1",
        )
        .bind(name.to_string())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| Error::NoGroup(name.to_string()))?;
        group_from_row(&row)
    }

    /// All groups by name.
    pub async fn groups(&self) -> Result<Vec<Group>> {
        let rows = sqlx::query(
            "SELECT name, email, default_sign, default_encrypt FROM groups ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(group_from_row).collect()
    }

    /// Deletes a group, audited as `actor`.
    pub async fn delete_group(&self, name: &str, actor: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query("DELETE FROM groups WHERE name = $1")
            .bind(name.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(Error::NoGroup(name.to_string()));
        }
        crate::audit(&mut tx, actor, "group.delete", name, "").await?;
        tx.commit().await?;
        Ok(())
    }
}

fn group_from_row(row: &sqlx::any::AnyRow) -> Result<Group> {
    Ok(Group {
        name: row.try_get(0)?,
        email: row.try_get(1)?,
        default_sign: row.try_get::<Option<i16>, _>(2)?.map(|v| v != 0),
        default_encrypt: row.try_get::<Option<i16>, _>(3)?.map(|v| v != 0),
    })
}
