//! Fulfilment rows: trace codes per package, tracking events, categories'
//! cold-chain bands, and the read the public trace page makes.

use super::{Store, StoreError, Tx};
use crate::{on_pool, on_tx};

// ---- trace codes ----

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TraceCodeRow {
    pub code: String,
    pub order_id: String,
    pub part_id: String,
    pub package_no: i64,
    pub created_at: i64,
}

const TRACE_COLUMNS: &str = "code, order_id, part_id, package_no, created_at";

/// Issues a code for a package unless it has one; a racing second issue is a
/// no-op (the part is UNIQUE), so both callers read back the same code.
pub async fn issue_code(tx: &mut Tx, row: &TraceCodeRow) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO trace_codes ({TRACE_COLUMNS}) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (part_id) DO NOTHING"
    );
    on_tx!(tx, conn => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&row.code)
            .bind(&row.order_id)
            .bind(&row.part_id)
            .bind(row.package_no)
            .bind(row.created_at)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// An order's codes, package 1 first.
pub async fn codes_of(store: &Store, order_id: &str) -> Result<Vec<TraceCodeRow>, StoreError> {
    store
        .rows_by_key(
            format!(
                "SELECT {TRACE_COLUMNS} FROM trace_codes WHERE order_id = $1 ORDER BY package_no"
            ),
            order_id,
        )
        .await
}

pub async fn find_code(store: &Store, code: &str) -> Result<Option<TraceCodeRow>, StoreError> {
    store
        .row_by_key(
            format!("SELECT {TRACE_COLUMNS} FROM trace_codes WHERE code = $1"),
            code,
        )
        .await
}

// ---- what the trace page shows ----

/// A line of a package with what the public may know of its product.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TracedLineRow {
    pub product_name: String,
    pub variant_name: String,
    pub quantity: i64,
    pub sold_by_weight: bool,
    pub estimated_weight_g: Option<i64>,
    pub picked_weight_g: Option<i64>,
    pub picked_at: Option<i64>,
    pub specification: String,
    pub origin_province: String,
    pub origin_city: String,
    pub origin_county: String,
    pub cold_chain: String,
}

/// The lines of one order part, in order, with product origin and band.
pub async fn traced_lines(store: &Store, part_id: &str) -> Result<Vec<TracedLineRow>, StoreError> {
    store
        .rows_by_key(
            "SELECT l.product_name, l.variant_name, l.quantity, l.sold_by_weight, \
             l.estimated_weight_g, l.picked_weight_g, l.picked_at, p.specification, \
             p.origin_province, p.origin_city, p.origin_county, c.cold_chain \
             FROM order_lines l JOIN products p ON p.id = l.product_id \
             JOIN categories c ON c.id = p.category_id \
             WHERE l.part_id = $1 ORDER BY l.position"
                .into(),
            part_id,
        )
        .await
}

/// The cold-chain band of each line of an order (one entry per line).
pub async fn bands_of_order(store: &Store, order_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(on_pool!(store, pool => {
        sqlx::query_scalar::<_, String>(
            "SELECT c.cold_chain FROM order_lines l JOIN products p ON p.id = l.product_id \
             JOIN categories c ON c.id = p.category_id WHERE l.order_id = $1 ORDER BY l.position",
        )
        .bind(order_id)
        .fetch_all(pool)
        .await?
    }))
}

/// The shop's public name: the shop page's name, else the merchant's.
pub async fn shop_name(store: &Store, merchant_id: &str) -> Result<Option<String>, StoreError> {
    Ok(on_pool!(store, pool => {
        sqlx::query_scalar::<_, String>(
            "SELECT COALESCE(s.name, m.name) FROM merchants m \
             LEFT JOIN merchant_shops s ON s.merchant_id = m.id WHERE m.id = $1",
        )
        .bind(merchant_id)
        .fetch_optional(pool)
        .await?
    }))
}

// ---- cold-chain bands ----

pub async fn category_band(store: &Store, category_id: &str) -> Result<Option<String>, StoreError> {
    Ok(on_pool!(store, pool => {
        sqlx::query_scalar::<_, String>("SELECT cold_chain FROM categories WHERE id = $1")
            .bind(category_id)
            .fetch_optional(pool)
            .await?
    }))
}

pub async fn set_category_band(
    tx: &mut Tx,
    category_id: &str,
    band: &str,
    now: i64,
) -> Result<bool, StoreError> {
    Ok(on_tx!(tx, conn => {
        sqlx::query("UPDATE categories SET cold_chain = $2, updated_at = $3 WHERE id = $1")
            .bind(category_id)
            .bind(band)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected() == 1
    }))
}

// ---- tracking events ----

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TrackingRow {
    pub id: String,
    pub order_id: String,
    pub at: i64,
    pub location: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// Tenths of a degree Celsius.
    pub temperature_c10: Option<i64>,
    pub breach: bool,
    pub recorded_by: String,
}

const TRACKING_COLUMNS: &str =
    "id, order_id, at, location, latitude, longitude, temperature_c10, breach, recorded_by";

pub async fn insert_tracking(tx: &mut Tx, t: &TrackingRow) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO tracking_events ({TRACKING_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    );
    on_tx!(tx, conn => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&t.id)
            .bind(&t.order_id)
            .bind(t.at)
            .bind(&t.location)
            .bind(t.latitude)
            .bind(t.longitude)
            .bind(t.temperature_c10)
            .bind(t.breach)
            .bind(&t.recorded_by)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// An order's tracking events, oldest first.
pub async fn tracking_of(store: &Store, order_id: &str) -> Result<Vec<TrackingRow>, StoreError> {
    store
        .rows_by_key(
            format!(
                "SELECT {TRACKING_COLUMNS} FROM tracking_events WHERE order_id = $1 ORDER BY at, id"
            ),
            order_id,
        )
        .await
}
