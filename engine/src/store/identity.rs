//! What the store says about itself: its identity and the migrations applied to it.
//!
//! Operators running several nodes check that every node reports the same
//! store id, and that the schema version is the one the release expects.

use super::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreIdentity {
    pub store_id: String,
    /// RFC 3339, UTC.
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    pub version: i64,
    pub description: String,
    /// RFC 3339, UTC.
    pub installed_at: String,
}

/// Records a fresh store id the first time a store is migrated; later calls keep it.
pub(super) async fn ensure(store: &Store) -> Result<(), StoreError> {
    let fresh = uuid::Uuid::new_v4().to_string();
    match store {
        Store::Sqlite(pool, _) => {
            sqlx::query(
                "INSERT INTO store_identity (singleton, store_id) VALUES (1, ?1) \
                 ON CONFLICT (singleton) DO NOTHING",
            )
            .bind(&fresh)
            .execute(pool)
            .await?;
        }
        Store::Postgres(pool) => {
            sqlx::query(
                "INSERT INTO store_identity (singleton, store_id) VALUES (1, $1) \
                 ON CONFLICT (singleton) DO NOTHING",
            )
            .bind(&fresh)
            .execute(pool)
            .await?;
        }
    }
    Ok(())
}

impl Store {
    pub async fn identity(&self) -> Result<StoreIdentity, StoreError> {
        let (store_id, created_at): (String, String) = match self {
            Store::Sqlite(pool, _) => {
                sqlx::query_as(
                    "SELECT store_id, created_at FROM store_identity WHERE singleton = 1",
                )
                .fetch_one(pool)
                .await?
            }
            Store::Postgres(pool) => {
                sqlx::query_as(
                    "SELECT store_id, \
                     to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') \
                     FROM store_identity WHERE singleton = 1",
                )
                .fetch_one(pool)
                .await?
            }
        };
        Ok(StoreIdentity {
            store_id,
            created_at,
        })
    }

    /// Applied migrations in version order, starting after `after_version`,
    /// at most `limit` of them (keyset pagination: stable while migrations are added).
    pub async fn applied_migrations(
        &self,
        after_version: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AppliedMigration>, StoreError> {
        let after = after_version.unwrap_or(i64::MIN);
        let rows: Vec<(i64, String, String)> = match self {
            Store::Sqlite(pool, _) => {
                sqlx::query_as(
                    "SELECT version, description, strftime('%Y-%m-%dT%H:%M:%SZ', installed_on) \
                     FROM _sqlx_migrations WHERE success AND version > ?1 \
                     ORDER BY version LIMIT ?2",
                )
                .bind(after)
                .bind(limit)
                .fetch_all(pool)
                .await?
            }
            Store::Postgres(pool) => {
                sqlx::query_as(
                    "SELECT version, description, \
                     to_char(installed_on AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') \
                     FROM _sqlx_migrations WHERE success AND version > $1 \
                     ORDER BY version LIMIT $2",
                )
                .bind(after)
                .bind(limit)
                .fetch_all(pool)
                .await?
            }
        };
        Ok(rows
            .into_iter()
            .map(|(version, description, installed_at)| AppliedMigration {
                version,
                description,
                installed_at,
            })
            .collect())
    }

    /// One applied migration by version, for `Query.node`.
    pub async fn applied_migration(
        &self,
        version: i64,
    ) -> Result<Option<AppliedMigration>, StoreError> {
        let found = self
            .applied_migrations(version.checked_sub(1), 1)
            .await?
            .into_iter()
            .find(|m| m.version == version);
        Ok(found)
    }
}
