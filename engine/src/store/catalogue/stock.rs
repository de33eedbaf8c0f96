//! Stock changes and listing suspension. Every stock change is one
//! conditional UPDATE, so concurrent callers can never take the same units
//! twice: the database decides, row by row.

use super::{Args, execute};
use crate::on_tx;
use crate::store::batch::Statement;
use crate::store::{Store, StoreError, Tx, now_ms};

/// Reserves `qty` units for a checkout if that many are available; `false`
/// (and nothing changed) when they are not.
pub async fn reserve(tx: &mut Tx, variant_id: &str, qty: i64) -> Result<bool, StoreError> {
    Ok(reservation(variant_id, qty).execute(tx).await? == 1)
}

/// [`reserve`] as a statement for a longer write: it touches one row, or
/// none when the units are not there.
pub(crate) fn reservation(variant_id: &str, qty: i64) -> Statement {
    let mut args = Args::default();
    let (id, qty) = (args.text(variant_id), args.int(qty));
    let sql = format!(
        "UPDATE product_variants SET reserved = reserved + {qty} \
         WHERE id = {id} AND {qty} > 0 AND on_hand - reserved >= {qty}"
    );
    Statement::new(sql, args)
}

/// Gives back units reserved by a checkout that did not complete.
pub async fn release(tx: &mut Tx, variant_id: &str, qty: i64) -> Result<bool, StoreError> {
    let sql = "UPDATE product_variants SET reserved = reserved - $2 \
               WHERE id = $1 AND $2 > 0 AND reserved >= $2";
    Ok(one_row(tx, sql, variant_id, qty).await? == 1)
}

/// Turns reserved units into a sale: they leave the shelf and the reservation.
pub async fn commit_sale(tx: &mut Tx, variant_id: &str, qty: i64) -> Result<bool, StoreError> {
    let sql = "UPDATE product_variants SET on_hand = on_hand - $2, reserved = reserved - $2 \
               WHERE id = $1 AND $2 > 0 AND reserved >= $2 AND on_hand >= $2";
    Ok(one_row(tx, sql, variant_id, qty).await? == 1)
}

/// Adds `delta` (negative to remove) to the units on hand, unless that would
/// leave fewer than are reserved; the new count, or `None` when refused.
pub async fn adjust_on_hand(
    tx: &mut Tx,
    variant_id: &str,
    delta: i64,
    at: i64,
) -> Result<Option<i64>, StoreError> {
    let sql = "UPDATE product_variants SET on_hand = on_hand + $2, updated_at = $3 \
               WHERE id = $1 AND on_hand + $2 >= reserved AND on_hand + $2 >= 0 \
               RETURNING on_hand";
    Ok(on_tx!(tx, conn => {
        sqlx::query_scalar::<_, i64>(sql)
            .bind(variant_id)
            .bind(delta)
            .bind(at)
            .fetch_optional(&mut *conn)
            .await?
    }))
}

async fn one_row(tx: &mut Tx, sql: &'static str, id: &str, qty: i64) -> Result<u64, StoreError> {
    Ok(on_tx!(tx, conn => {
        sqlx::query(sql).bind(id).bind(qty).execute(&mut *conn).await?.rows_affected()
    }))
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MovementRow {
    pub id: String,
    pub variant_id: String,
    pub delta: i64,
    pub reason: String,
    pub note: String,
    pub on_hand_after: i64,
    pub moved_by: String,
    pub moved_at: i64,
}

pub async fn record_movement(tx: &mut Tx, m: &MovementRow) -> Result<(), StoreError> {
    on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO stock_movements (id, variant_id, delta, reason, note, on_hand_after, \
             moved_by, moved_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&m.id)
        .bind(&m.variant_id)
        .bind(m.delta)
        .bind(&m.reason)
        .bind(&m.note)
        .bind(m.on_hand_after)
        .bind(&m.moved_by)
        .bind(m.moved_at)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// Takes a merchant's listed products in the given categories (by code) off
/// sale, e.g. when a qualification document they need has expired. The reason
/// is shown to the merchant; the number of products suspended is returned.
pub async fn suspend_listings(
    store: &Store,
    merchant_id: &str,
    category_codes: &[String],
    reason: &str,
) -> Result<u64, StoreError> {
    if category_codes.is_empty() {
        return Ok(0);
    }
    let mut args = Args::default();
    let merchant = args.text(merchant_id);
    let reason = args.text(reason);
    let now = args.int(now_ms());
    let codes = args.texts(category_codes);
    let sql = format!(
        "UPDATE products SET status = 'suspended', suspended_reason = {reason}, updated_at = {now} \
         WHERE merchant_id = {merchant} AND status = 'listed' AND category_id IN \
         (SELECT c.id FROM categories c WHERE c.market_code = products.market_code AND c.code IN ({codes}))"
    );
    let mut tx = store.begin().await?;
    let n = execute(&mut tx, sql, &args).await?;
    tx.commit().await?;
    Ok(n)
}

/// Puts back on sale the products [`suspend_listings`] took off with a reason
/// starting with `reason_prefix` (so one renewal restores only its own
/// suspensions). The number of products restored is returned.
pub async fn restore_listings(
    store: &Store,
    merchant_id: &str,
    category_codes: &[String],
    reason_prefix: &str,
) -> Result<u64, StoreError> {
    if category_codes.is_empty() {
        return Ok(0);
    }
    let mut args = Args::default();
    let merchant = args.text(merchant_id);
    let prefix_len = args.int(reason_prefix.chars().count() as i64);
    let prefix = args.text(reason_prefix);
    let now = args.int(now_ms());
    let codes = args.texts(category_codes);
    // SUBSTR rather than LIKE: a prefix holding `%` or `_` must match literally.
    let sql = format!(
        "UPDATE products SET status = 'listed', suspended_reason = NULL, updated_at = {now} \
         WHERE merchant_id = {merchant} AND status = 'suspended' \
         AND SUBSTR(suspended_reason, 1, CAST({prefix_len} AS INTEGER)) = {prefix} AND category_id IN \
         (SELECT c.id FROM categories c WHERE c.market_code = products.market_code AND c.code IN ({codes}))"
    );
    let mut tx = store.begin().await?;
    let n = execute(&mut tx, sql, &args).await?;
    tx.commit().await?;
    Ok(n)
}
