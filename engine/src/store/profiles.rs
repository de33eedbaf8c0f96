//! Address book and real-name verification rows.

use super::{Store, StoreError, Tx};
use crate::{on_pool, on_tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AddressRow {
    pub id: String,
    pub account_id: String,
    pub recipient: String,
    pub phone: String,
    pub region: String,
    pub detail: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub is_default: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

const ADDRESS_COLUMNS: &str = "id, account_id, recipient, phone, region, detail, latitude, longitude, \
     is_default, created_at, updated_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VerificationRow {
    pub id: String,
    pub account_id: String,
    pub kind: String,
    pub legal_name: String,
    pub number_cipher: String,
    pub number_lookup: String,
    pub number_masked: String,
    pub document_ids: String,
    pub status: String,
    pub reason: Option<String>,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<i64>,
    pub submitted_at: i64,
}

const VERIFICATION_COLUMNS: &str = "id, account_id, kind, legal_name, number_cipher, number_lookup, \
     number_masked, document_ids, status, reason, reviewed_by, reviewed_at, submitted_at";

/// Inserts or replaces an address; making it the default clears the others' flag.
pub async fn save_address(tx: &mut Tx, a: &AddressRow) -> Result<(), StoreError> {
    on_tx!(tx, conn => {
        if a.is_default {
            sqlx::query("UPDATE addresses SET is_default = FALSE WHERE account_id = $1 AND id <> $2")
                .bind(&a.account_id)
                .bind(&a.id)
                .execute(&mut *conn)
                .await?;
        }
        sqlx::query(
            "INSERT INTO addresses (id, account_id, recipient, phone, region, detail, latitude, longitude, \
             is_default, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (id) DO UPDATE SET recipient = $3, phone = $4, region = $5, detail = $6, \
             latitude = $7, longitude = $8, is_default = $9, updated_at = $11",
        )
        .bind(&a.id)
        .bind(&a.account_id)
        .bind(&a.recipient)
        .bind(&a.phone)
        .bind(&a.region)
        .bind(&a.detail)
        .bind(a.latitude)
        .bind(a.longitude)
        .bind(a.is_default)
        .bind(a.created_at)
        .bind(a.updated_at)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

pub async fn address(store: &Store, id: &str) -> Result<Option<AddressRow>, StoreError> {
    store
        .row_by_key(
            format!("SELECT {ADDRESS_COLUMNS} FROM addresses WHERE id = $1"),
            id,
        )
        .await
}

pub async fn addresses_of(store: &Store, account_id: &str) -> Result<Vec<AddressRow>, StoreError> {
    let sql = format!(
        "SELECT {ADDRESS_COLUMNS} FROM addresses WHERE account_id = $1 ORDER BY created_at, id LIMIT 100"
    );
    Ok(on_pool!(store, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(account_id).fetch_all(pool).await?
    }))
}

pub async fn delete_address(tx: &mut Tx, id: &str) -> Result<bool, StoreError> {
    let n = on_tx!(tx, conn => {
        sqlx::query("DELETE FROM addresses WHERE id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
    });
    Ok(n > 0)
}

pub async fn insert_verification(tx: &mut Tx, v: &VerificationRow) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO verifications ({VERIFICATION_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    );
    on_tx!(tx, conn => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&v.id)
            .bind(&v.account_id)
            .bind(&v.kind)
            .bind(&v.legal_name)
            .bind(&v.number_cipher)
            .bind(&v.number_lookup)
            .bind(&v.number_masked)
            .bind(&v.document_ids)
            .bind(&v.status)
            .bind(&v.reason)
            .bind(&v.reviewed_by)
            .bind(v.reviewed_at)
            .bind(v.submitted_at)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

pub async fn verification(store: &Store, id: &str) -> Result<Option<VerificationRow>, StoreError> {
    store
        .row_by_key(
            format!("SELECT {VERIFICATION_COLUMNS} FROM verifications WHERE id = $1"),
            id,
        )
        .await
}

/// The newest verification an account submitted.
pub async fn latest_verification_of(
    store: &Store,
    account_id: &str,
) -> Result<Option<VerificationRow>, StoreError> {
    store
        .row_by_key(
            format!(
                "SELECT {VERIFICATION_COLUMNS} FROM verifications WHERE account_id = $1 \
         ORDER BY submitted_at DESC, id DESC LIMIT 1"
            ),
            account_id,
        )
        .await
}

/// Whether another account already holds an approved or pending verification of this number.
pub async fn number_claimed_by_other(
    store: &Store,
    lookup: &str,
    account_id: &str,
) -> Result<bool, StoreError> {
    let sql = "SELECT COUNT(*) FROM verifications WHERE number_lookup = $1 AND account_id <> $2 \
               AND status IN ('PENDING', 'APPROVED')";
    let (n,): (i64,) = on_pool!(store, pool => {
        sqlx::query_as(sql).bind(lookup).bind(account_id).fetch_one(pool).await?
    });
    Ok(n > 0)
}

/// Verifications in a status, oldest first (a review queue), keyset-paged by (submitted_at, id).
pub async fn verifications_by_status(
    store: &Store,
    status: &str,
    after: Option<(i64, String)>,
    limit: i64,
) -> Result<Vec<VerificationRow>, StoreError> {
    let (after_at, after_id) = after.map_or((None, None), |(a, i)| (Some(a), Some(i)));
    let sql = format!(
        "SELECT {VERIFICATION_COLUMNS} FROM verifications WHERE status = $1 \
         AND ($2 IS NULL OR submitted_at > $2 OR (submitted_at = $2 AND id > $3)) \
         ORDER BY submitted_at, id LIMIT $4"
    );
    Ok(on_pool!(store, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(status)
            .bind(after_at)
            .bind(after_id)
            .bind(limit)
            .fetch_all(pool)
            .await?
    }))
}

/// Records a decision on a pending verification; false if it was no longer pending.
pub async fn decide_verification(
    tx: &mut Tx,
    id: &str,
    status: &str,
    reason: Option<&str>,
    reviewer: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = on_tx!(tx, conn => {
        sqlx::query(
            "UPDATE verifications SET status = $2, reason = $3, reviewed_by = $4, reviewed_at = $5 \
             WHERE id = $1 AND status = 'PENDING'",
        )
        .bind(id)
        .bind(status)
        .bind(reason)
        .bind(reviewer)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected()
    });
    Ok(n > 0)
}
