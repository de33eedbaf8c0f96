//! The outbox (ORD-6, INT-2): domain events written in the transaction of
//! the change they report, so an event exists exactly when its change does.
//! The dispatcher claims due rows for a while (`claimed_until`), so several
//! nodes never hand out the same event at the same moment, and marks them
//! dispatched once every receiver has had it.

use super::batch::{Insert, text};
use super::catalogue::Arg;
use super::{Store, StoreError, Tx};
use crate::on_pool;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: String,
    pub market_code: String,
    /// e.g. `order.paid`.
    pub kind: String,
    /// The order (or other aggregate) the event is about.
    pub subject_id: String,
    /// JSON.
    pub payload: String,
    pub created_at: i64,
    pub attempts: i64,
    pub claimed_until: i64,
    pub dispatched_at: Option<i64>,
}

const COLUMNS: &str = "id, market_code, kind, subject_id, payload, created_at, attempts, claimed_until, dispatched_at";

/// Events, in one statement, in the caller's transaction.
pub async fn append(tx: &mut Tx, events: &[OutboxRow]) -> Result<(), StoreError> {
    insert(events).execute(tx).await?;
    Ok(())
}

/// Events in one statement, for the transaction of the change they report.
pub(crate) fn insert(events: &[OutboxRow]) -> Insert {
    let mut insert = Insert::into("outbox", COLUMNS);
    for e in events {
        insert.row(vec![
            text(&e.id),
            text(&e.market_code),
            text(&e.kind),
            text(&e.subject_id),
            text(&e.payload),
            Arg::Int(e.created_at),
            Arg::Int(0),
            Arg::Int(0),
            Arg::OptInt(None),
        ]);
    }
    insert
}

/// Claims up to `limit` undispatched events, oldest first, that no other
/// dispatcher holds, until `until`. PostgreSQL skips rows another node has
/// locked; SQLite has one writer, so the conditional UPDATE is enough.
pub async fn claim(
    store: &Store,
    now: i64,
    until: i64,
    limit: i64,
) -> Result<Vec<OutboxRow>, StoreError> {
    let sql = match store {
        Store::Sqlite(..) => format!(
            "UPDATE outbox SET claimed_until = $2, attempts = attempts + 1 WHERE id IN (\
             SELECT id FROM outbox WHERE dispatched_at IS NULL AND claimed_until <= $1 \
             ORDER BY created_at, id LIMIT $3) RETURNING {COLUMNS}"
        ),
        Store::Postgres(_) => format!(
            "UPDATE outbox SET claimed_until = $2, attempts = attempts + 1 WHERE id IN (\
             SELECT id FROM outbox WHERE dispatched_at IS NULL AND claimed_until <= $1 \
             ORDER BY created_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING {COLUMNS}"
        ),
    };
    let mut rows: Vec<OutboxRow> = on_pool!(store, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(until)
            .bind(limit)
            .fetch_all(pool)
            .await?
    });
    rows.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    Ok(rows)
}

pub async fn mark_dispatched(store: &Store, id: &str, at: i64) -> Result<(), StoreError> {
    on_pool!(store, pool => {
        sqlx::query("UPDATE outbox SET dispatched_at = $2 WHERE id = $1")
            .bind(id)
            .bind(at)
            .execute(pool)
            .await?;
    });
    Ok(())
}

/// Events about one subject, oldest first.
pub async fn about(store: &Store, subject_id: &str) -> Result<Vec<OutboxRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM outbox WHERE subject_id = $1 ORDER BY created_at, id");
    Ok(on_pool!(store, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(subject_id).fetch_all(pool).await?
    }))
}
