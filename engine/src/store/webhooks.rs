//! Webhook subscriptions, their deliveries and every attempt at one (INT-2).
//!
//! A delivery row is the unit of retry: `next_attempt_at` says when it is due
//! and doubles as the lease a worker takes while it sends, so claiming with
//! `SKIP LOCKED` (PostgreSQL) or one conditional UPDATE (SQLite, one writer)
//! hands each due delivery to exactly one worker at a time.

use super::catalogue::{Args, execute};
use super::{Store, StoreError, Tx};
use crate::{on_pool, on_tx};

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SubscriptionRow {
    pub id: String,
    pub market_code: String,
    pub url: String,
    /// JSON list of kinds; `["*"]` for every kind.
    pub event_kinds: String,
    /// Sealed with the engine's key; never leaves the service layer.
    pub secret_encrypted: String,
    pub active: i64,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const SUB_COLUMNS: &str = "id, market_code, url, event_kinds, secret_encrypted, active, created_by, created_at, updated_at";

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: String,
    pub subscription_id: String,
    pub event_id: String,
    pub event_kind: String,
    pub market_code: String,
    /// `pending`, `succeeded` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<i64>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

const DELIVERY_COLUMNS: &str = "id, subscription_id, event_id, event_kind, market_code, status, attempts, next_attempt_at, last_status_code, last_error, last_attempt_at, created_at, delivered_at";

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AttemptRow {
    pub delivery_id: String,
    pub attempt: i64,
    pub at: i64,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// A claimed delivery with what sending it needs: where, the sealed secret,
/// and the event itself from the outbox.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DueDelivery {
    pub id: String,
    pub attempts: i64,
    pub event_id: String,
    pub event_kind: String,
    pub market_code: String,
    pub url: String,
    pub secret_encrypted: String,
    pub active: i64,
    pub subject_id: String,
    pub payload: String,
    pub occurred_at: i64,
}

pub async fn insert_subscription(tx: &mut Tx, s: &SubscriptionRow) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO webhook_subscriptions ({SUB_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    );
    on_tx!(tx, conn => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&s.id)
            .bind(&s.market_code)
            .bind(&s.url)
            .bind(&s.event_kinds)
            .bind(&s.secret_encrypted)
            .bind(s.active)
            .bind(&s.created_by)
            .bind(s.created_at)
            .bind(s.updated_at)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

pub async fn find_subscription(
    store: &Store,
    id: &str,
) -> Result<Option<SubscriptionRow>, StoreError> {
    let sql = format!("SELECT {SUB_COLUMNS} FROM webhook_subscriptions WHERE id = $1");
    Ok(on_pool!(store, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?
    }))
}

/// A market's subscriptions, oldest first; only active ones when `active_only`.
pub async fn subscriptions_in(
    store: &Store,
    market: &str,
    active_only: bool,
) -> Result<Vec<SubscriptionRow>, StoreError> {
    let filter = if active_only { " AND active = 1" } else { "" };
    let sql = format!(
        "SELECT {SUB_COLUMNS} FROM webhook_subscriptions WHERE market_code = $1{filter} ORDER BY created_at, id"
    );
    Ok(on_pool!(store, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(market).fetch_all(pool).await?
    }))
}

pub async fn deactivate(tx: &mut Tx, id: &str, at: i64) -> Result<(), StoreError> {
    on_tx!(tx, conn => {
        sqlx::query("UPDATE webhook_subscriptions SET active = 0, updated_at = $2 WHERE id = $1")
            .bind(id)
            .bind(at)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// A new pending delivery, due at once; a second one for the same
/// (subscription, event), as after a dispatcher crash, is ignored.
pub async fn insert_delivery(tx: &mut Tx, d: &DeliveryRow) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO webhook_deliveries ({DELIVERY_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, 0, $7, NULL, NULL, NULL, $8, NULL) \
         ON CONFLICT (subscription_id, event_id) DO NOTHING"
    );
    on_tx!(tx, conn => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&d.id)
            .bind(&d.subscription_id)
            .bind(&d.event_id)
            .bind(&d.event_kind)
            .bind(&d.market_code)
            .bind(&d.status)
            .bind(d.next_attempt_at)
            .bind(d.created_at)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// Marks outbox events dispatched inside the fan-out's transaction.
pub async fn mark_events_dispatched(
    tx: &mut Tx,
    event_ids: &[String],
    at: i64,
) -> Result<(), StoreError> {
    if event_ids.is_empty() {
        return Ok(());
    }
    // One statement for the whole batch.
    let mut args = Args::default();
    let at = args.int(at);
    let sql = format!(
        "UPDATE outbox SET dispatched_at = {at} WHERE id IN ({})",
        args.texts(event_ids)
    );
    execute(tx, sql, &args).await?;
    Ok(())
}

/// Claims up to `limit` due pending deliveries by moving their
/// `next_attempt_at` to `lease_until`, and returns them with their
/// subscription and event. Oldest due first.
pub async fn claim_due(
    store: &Store,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<DueDelivery>, StoreError> {
    let lock = match store {
        Store::Sqlite(..) => "",
        Store::Postgres(_) => " FOR UPDATE SKIP LOCKED",
    };
    // SQLite has no data-modifying CTEs: claim, then read what was claimed.
    let claim = format!(
        "UPDATE webhook_deliveries SET next_attempt_at = $2 WHERE id IN (\
         SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= $1 \
         ORDER BY next_attempt_at, id LIMIT $3{lock}) RETURNING id"
    );
    let ids: Vec<String> = on_pool!(store, pool => {
        sqlx::query_scalar(sqlx::AssertSqlSafe(claim))
            .bind(now)
            .bind(lease_until)
            .bind(limit)
            .fetch_all(pool)
            .await?
    });
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders = (1..=ids.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT d.id, d.attempts, d.event_id, d.event_kind, d.market_code, s.url, s.secret_encrypted, s.active, \
                o.subject_id, o.payload, o.created_at AS occurred_at \
         FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id \
         JOIN outbox o ON o.id = d.event_id WHERE d.id IN ({placeholders})"
    );
    let mut rows: Vec<DueDelivery> = on_pool!(store, pool => {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for id in &ids {
            q = q.bind(id);
        }
        q.fetch_all(pool).await?
    });
    rows.sort_by(|a, b| (a.occurred_at, &a.id).cmp(&(b.occurred_at, &b.id)));
    Ok(rows)
}

/// What one attempt came to, written with the attempt's log line in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptOutcome {
    pub attempt: i64,
    pub at: i64,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
    /// `pending` (with `next_attempt_at`), `succeeded` or `failed`.
    pub status: &'static str,
    pub next_attempt_at: i64,
}

pub async fn record_attempt(
    store: &Store,
    delivery_id: &str,
    o: &AttemptOutcome,
) -> Result<(), StoreError> {
    let mut tx = store.begin_write().await?;
    let delivered_at = (o.status == "succeeded").then_some(o.at);
    on_tx!(&mut tx, conn => {
        sqlx::query(
            "INSERT INTO webhook_delivery_attempts (delivery_id, attempt, at, status_code, error, duration_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (delivery_id, attempt) DO NOTHING",
        )
        .bind(delivery_id)
        .bind(o.attempt)
        .bind(o.at)
        .bind(o.status_code)
        .bind(&o.error)
        .bind(o.duration_ms)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "UPDATE webhook_deliveries SET status = $2, attempts = $3, next_attempt_at = $4, \
             last_status_code = $5, last_error = $6, last_attempt_at = $7, \
             delivered_at = COALESCE(delivered_at, $8) WHERE id = $1",
        )
        .bind(delivery_id)
        .bind(o.status)
        .bind(o.attempt)
        .bind(o.next_attempt_at)
        .bind(o.status_code)
        .bind(&o.error)
        .bind(o.at)
        .bind(delivered_at)
        .execute(&mut *conn)
        .await?;
    });
    tx.commit().await?;
    Ok(())
}

/// A subscription's deliveries, newest first, after the cursor `after` (an id).
pub async fn deliveries_of(
    store: &Store,
    subscription_id: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<DeliveryRow>, StoreError> {
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE subscription_id = $1 \
         AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
    );
    let after = after.map(str::to_string);
    Ok(on_pool!(store, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(subscription_id)
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?
    }))
}

/// The attempts of the given deliveries, in order.
pub async fn attempts_of(store: &Store, ids: &[String]) -> Result<Vec<AttemptRow>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders = (1..=ids.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT delivery_id, attempt, at, status_code, error, duration_ms FROM webhook_delivery_attempts \
         WHERE delivery_id IN ({placeholders}) ORDER BY delivery_id, attempt"
    );
    Ok(on_pool!(store, pool => {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for id in ids {
            q = q.bind(id);
        }
        q.fetch_all(pool).await?
    }))
}
