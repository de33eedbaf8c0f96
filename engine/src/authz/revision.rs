//! The policy revision: how a node learns that another node (or the CLI)
//! changed the policy. Every change bumps one counter in the store; a node
//! whose loaded revision differs reloads.

use crate::on_pool;
use crate::store::{Store, StoreError};

pub(super) async fn current(store: &Store) -> Result<i64, StoreError> {
    let (revision,): (i64,) = on_pool!(store, pool => {
        sqlx::query_as("SELECT revision FROM authz_revision WHERE singleton = 1")
            .fetch_one(pool)
            .await?
    });
    Ok(revision)
}

pub(super) async fn bump(store: &Store) -> Result<i64, StoreError> {
    let (revision,): (i64,) = on_pool!(store, pool => {
        sqlx::query_as(
            "UPDATE authz_revision SET revision = revision + 1 WHERE singleton = 1 RETURNING revision",
        )
        .fetch_one(pool)
        .await?
    });
    Ok(revision)
}

/// The PostgreSQL channel on which nodes announce policy changes.
pub const CHANNEL: &str = "shiji_authz";

/// Tells the other nodes at once (PostgreSQL); on SQLite, one node per file
/// polls instead.
pub(super) async fn announce(store: &Store, revision: i64) -> Result<(), StoreError> {
    if let Store::Postgres(pool) = store {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(revision.to_string())
            .execute(pool)
            .await?;
    }
    Ok(())
}
