//! Change counters: how a node learns that another node (or the CLI) changed
//! shared state it keeps in memory (the policy, the plugin set). Every change
//! bumps one counter row; a node whose loaded revision differs reloads.
//! On PostgreSQL the change is also announced with NOTIFY so other nodes
//! reload at once instead of at their next poll.

use super::{Store, StoreError};
use crate::on_pool;

/// A piece of shared state with its own counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// casbin rules and role grants.
    Authz,
    /// Installed plugins and their per-market toggles.
    Plugins,
}

impl Counter {
    fn table(self) -> &'static str {
        match self {
            Counter::Authz => "authz_revision",
            Counter::Plugins => "plugin_revision",
        }
    }

    /// The PostgreSQL channel on which nodes announce changes.
    pub fn channel(self) -> &'static str {
        match self {
            Counter::Authz => "shiji_authz",
            Counter::Plugins => "shiji_plugins",
        }
    }
}

pub async fn current(store: &Store, counter: Counter) -> Result<i64, StoreError> {
    let sql = format!(
        "SELECT revision FROM {} WHERE singleton = 1",
        counter.table()
    );
    let (revision,): (i64,) = on_pool!(store, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await?
    });
    Ok(revision)
}

/// Bumps the counter and tells the other nodes; returns the new revision.
pub async fn bump(store: &Store, counter: Counter) -> Result<i64, StoreError> {
    let sql = format!(
        "UPDATE {} SET revision = revision + 1 WHERE singleton = 1 RETURNING revision",
        counter.table()
    );
    let (revision,): (i64,) = on_pool!(store, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await?
    });
    if let Store::Postgres(pool) = store {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(counter.channel())
            .bind(revision.to_string())
            .execute(pool)
            .await?;
    }
    Ok(revision)
}
