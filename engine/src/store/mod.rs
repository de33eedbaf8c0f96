//! The store: one handle over either embedded SQLite or PostgreSQL.
//!
//! SQLite (bundled, a file under the data directory) is the default so the engine
//! runs with nothing installed; PostgreSQL is what several engine nodes share.
//! Queries are written once where the two dialects agree; where they do not,
//! the difference sits inside one function here, never above this layer.

pub mod accounts;
pub mod audit;
pub(crate) mod batch;
pub mod catalogue;
mod dialect;
pub mod fulfilment;
mod identity;
pub mod markets;
pub mod media;
pub mod merchants;
pub mod onboarding;
pub mod orders;
pub mod outbox;
pub mod plugins;
pub mod profiles;
pub mod revision;
pub mod webhooks;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tokio::sync::Semaphore;

pub use dialect::{Tx, now_ms, parse_rfc3339, rfc3339};
pub use identity::{AppliedMigration, StoreIdentity};

use crate::config::{Config, redact_url};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("src/store/migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("src/store/migrations/postgres");

/// Which database engine backs the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no supported database or cannot be parsed.
    #[error("database url `{url}` is not usable: {reason}")]
    BadUrl { url: String, reason: String },
    /// The database cannot be reached right now; the caller sees `DATABASE_UNAVAILABLE`.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// Applying migrations failed; the server does not start on a half-migrated store.
    #[error("migrating the database failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// Any other database error: a bug or a broken invariant, logged, never shown.
    #[error("database error: {0}")]
    Query(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        if is_unavailable(&err) {
            StoreError::Unavailable(err)
        } else {
            StoreError::Query(err)
        }
    }
}

impl StoreError {
    /// A UNIQUE constraint refused the write: usually the user's input, not a bug.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Query(sqlx::Error::Database(db)) if db.is_unique_violation())
    }
}

/// Errors that mean "the database is not there", as opposed to "the query is wrong".
fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => {
            // PostgreSQL: class 08 (connection exception), 57P01..03 (admin shutdown,
            // crash shutdown, cannot connect now). SQLite: SQLITE_BUSY (5) / LOCKED (6)
            // after the busy timeout, and CANTOPEN (14).
            let code = db.code().unwrap_or_default();
            code.starts_with("08")
                || matches!(
                    code.as_ref(),
                    "57P01" | "57P02" | "57P03" | "5" | "6" | "14"
                )
        }
        _ => false,
    }
}

/// A cheap, cloneable handle on the connection pool. SQLite's carries the
/// gate its write transactions queue at (one writer at a time, first come
/// first served).
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(SqlitePool, Arc<Semaphore>),
    Postgres(PgPool),
}

impl Store {
    /// Opens a pool for the configured URL. PostgreSQL pools connect lazily so a
    /// node can start while the database is briefly away; migrations then wait for it.
    pub async fn connect(config: &Config) -> Result<Store, StoreError> {
        let url = config.database_url();
        let db = &config.database;
        let acquire_timeout = Duration::from_millis(db.acquire_timeout_ms);
        let bad_url = |reason: String| StoreError::BadUrl {
            url: redact_url(&url),
            reason,
        };

        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(&url)
                .map_err(|e| bad_url(e.to_string()))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // NORMAL is durable in WAL mode except against power loss mid-checkpoint,
                // the usual trade for an embedded store.
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_millis(db.sqlite_busy_timeout_ms))
                .foreign_keys(true);
            if let Some(parent) = options.get_filename().parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent).map_err(|e| {
                    bad_url(format!("cannot create directory {}: {e}", parent.display()))
                })?;
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(db.max_connections.max(1))
                .acquire_timeout(acquire_timeout)
                .connect_with(options)
                .await?;
            Ok(Store::Sqlite(pool, Arc::new(Semaphore::new(1))))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(&url).map_err(|e| bad_url(e.to_string()))?;
            let pool = PgPoolOptions::new()
                .max_connections(db.max_connections.max(1))
                .acquire_timeout(acquire_timeout)
                .connect_lazy_with(options);
            Ok(Store::Postgres(pool))
        } else {
            Err(bad_url(
                "expected a sqlite:// or postgres:// URL".to_string(),
            ))
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Store::Sqlite(..) => Backend::Sqlite,
            Store::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies pending migrations and records the store's identity on first use.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(pool, _) => SQLITE_MIGRATIONS.run(pool).await?,
            Store::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        identity::ensure(self).await
    }

    /// Answers whether the database takes queries right now.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(pool, _) => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
            Store::Postgres(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
        }
        Ok(())
    }

    pub async fn close(&self) {
        match self {
            Store::Sqlite(pool, _) => pool.close().await,
            Store::Postgres(pool) => pool.close().await,
        }
    }
}
