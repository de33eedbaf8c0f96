//! Merchant rows and shop membership: the part every domain that touches a
//! shop's data needs (catalogue, onboarding, orders).

use super::{Store, StoreError, Tx};
use crate::{on_pool, on_tx};

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MerchantRow {
    pub id: String,
    pub market_code: String,
    pub name: String,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, market_code, name, status, created_at, updated_at";

pub async fn insert(tx: &mut Tx, m: &MerchantRow) -> Result<(), StoreError> {
    let sql = format!("INSERT INTO merchants ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)");
    on_tx!(tx, conn => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&m.id)
            .bind(&m.market_code)
            .bind(&m.name)
            .bind(&m.status)
            .bind(m.created_at)
            .bind(m.updated_at)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

pub async fn set_status(tx: &mut Tx, id: &str, status: &str, now: i64) -> Result<(), StoreError> {
    on_tx!(tx, conn => {
        sqlx::query("UPDATE merchants SET status = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(status)
            .bind(now)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// Shops by id, in no particular order: one query for a cart's shops.
pub async fn find_many(store: &Store, ids: &[String]) -> Result<Vec<MerchantRow>, StoreError> {
    super::catalogue::rows_by_ids(store, COLUMNS, "merchants", ids).await
}

pub async fn find(store: &Store, id: &str) -> Result<Option<MerchantRow>, StoreError> {
    store
        .row_by_key(format!("SELECT {COLUMNS} FROM merchants WHERE id = $1"), id)
        .await
}

pub async fn add_member(
    tx: &mut Tx,
    merchant_id: &str,
    account_id: &str,
    role: &str,
    now: i64,
) -> Result<(), StoreError> {
    on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO merchant_members (merchant_id, account_id, role, added_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (merchant_id, account_id) DO UPDATE SET role = $3",
        )
        .bind(merchant_id)
        .bind(account_id)
        .bind(role)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// The account's role in the shop (`owner` or `staff`), if any.
pub async fn member_role(
    store: &Store,
    merchant_id: &str,
    account_id: &str,
) -> Result<Option<String>, StoreError> {
    let row: Option<(String,)> = on_pool!(store, pool => {
        sqlx::query_as("SELECT role FROM merchant_members WHERE merchant_id = $1 AND account_id = $2")
            .bind(merchant_id)
            .bind(account_id)
            .fetch_optional(pool)
            .await?
    });
    Ok(row.map(|(role,)| role))
}

/// The shops an account works for, with its role there.
pub async fn memberships(
    store: &Store,
    account_id: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    Ok(on_pool!(store, pool => {
        sqlx::query_as("SELECT merchant_id, role FROM merchant_members WHERE account_id = $1 ORDER BY merchant_id")
            .bind(account_id)
            .fetch_all(pool)
            .await?
    }))
}

/// Renames a shop (the applicant corrected the name).
pub async fn set_name(tx: &mut Tx, id: &str, name: &str, now: i64) -> Result<(), StoreError> {
    on_tx!(tx, conn => {
        sqlx::query("UPDATE merchants SET name = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(name)
            .bind(now)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}
