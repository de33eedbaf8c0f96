//! The audit log table: append, and search by actor, object, action, market and time.
//!
//! Rows are only ever inserted; the database's own triggers refuse updates and
//! deletes (see the migrations), so not even a bug here can rewrite history.

use super::batch::{Insert, opt_text, text};
use super::catalogue::Arg;
use super::{Store, StoreError, Tx};
use crate::on_pool;

/// One audited event, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub object_type: String,
    pub object_id: Option<String>,
    pub market_code: Option<String>,
    pub before_state: Option<String>,
    pub after_state: Option<String>,
    pub source_address: Option<String>,
    pub request_id: Option<String>,
    pub outcome: String,
}

/// Search criteria; `None` means "any".
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    pub market_code: Option<String>,
    pub from_ms: Option<i64>,
    pub until_ms: Option<i64>,
}

const INSERT: &str = "INSERT INTO audit_log (at, actor, action, object_type, object_id, market_code, \
     before_state, after_state, source_address, request_id, outcome) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

type Row = (
    i64,
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
);

macro_rules! bind_record {
    ($query:expr, $r:expr) => {
        $query
            .bind($r.at)
            .bind(&$r.actor)
            .bind(&$r.action)
            .bind(&$r.object_type)
            .bind(&$r.object_id)
            .bind(&$r.market_code)
            .bind(&$r.before_state)
            .bind(&$r.after_state)
            .bind(&$r.source_address)
            .bind(&$r.request_id)
            .bind(&$r.outcome)
    };
}

/// Appends inside `tx`: the record commits or rolls back with the change it describes.
pub async fn append(tx: &mut Tx, record: &AuditRecord) -> Result<(), StoreError> {
    insert_all(std::slice::from_ref(record)).execute(tx).await?;
    Ok(())
}

/// Several records in one statement, for the transaction of their change.
pub(crate) fn insert_all(records: &[AuditRecord]) -> Insert {
    let mut insert = Insert::into(
        "audit_log",
        "at, actor, action, object_type, object_id, market_code, before_state, after_state, \
         source_address, request_id, outcome",
    );
    for r in records {
        insert.row(vec![
            Arg::Int(r.at),
            text(&r.actor),
            text(&r.action),
            text(&r.object_type),
            opt_text(&r.object_id),
            opt_text(&r.market_code),
            opt_text(&r.before_state),
            opt_text(&r.after_state),
            opt_text(&r.source_address),
            opt_text(&r.request_id),
            text(&r.outcome),
        ]);
    }
    insert
}

/// Appends on its own, for events that change nothing else (a refused login, a forbidden call).
pub async fn append_alone(store: &Store, record: &AuditRecord) -> Result<(), StoreError> {
    on_pool!(store, pool => {
        bind_record!(sqlx::query(INSERT), record).execute(pool).await?;
    });
    Ok(())
}

/// Newest first, keyset-paged by id (`before_id`), at most `limit` rows.
pub async fn search(
    store: &Store,
    filter: &AuditFilter,
    before_id: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditRecord>, StoreError> {
    // Each criterion is `($n IS NULL OR column = $n)`, so one statement serves every filter.
    let sql = "SELECT id, at, actor, action, object_type, object_id, market_code, before_state, \
         after_state, source_address, request_id, outcome FROM audit_log \
         WHERE ($1 IS NULL OR actor = $1) AND ($2 IS NULL OR action = $2) \
         AND ($3 IS NULL OR object_type = $3) AND ($4 IS NULL OR object_id = $4) \
         AND ($5 IS NULL OR market_code = $5) AND ($6 IS NULL OR at >= $6) \
         AND ($7 IS NULL OR at < $7) AND ($8 IS NULL OR id < $8) \
         ORDER BY id DESC LIMIT $9";
    let rows: Vec<Row> = on_pool!(store, pool => {
        sqlx::query_as(sql)
            .bind(&filter.actor)
            .bind(&filter.action)
            .bind(&filter.object_type)
            .bind(&filter.object_id)
            .bind(&filter.market_code)
            .bind(filter.from_ms)
            .bind(filter.until_ms)
            .bind(before_id)
            .bind(limit)
            .fetch_all(pool)
            .await?
    });
    Ok(rows
        .into_iter()
        .map(|r| AuditRecord {
            id: r.0,
            at: r.1,
            actor: r.2,
            action: r.3,
            object_type: r.4,
            object_id: r.5,
            market_code: r.6,
            before_state: r.7,
            after_state: r.8,
            source_address: r.9,
            request_id: r.10,
            outcome: r.11,
        })
        .collect())
}
