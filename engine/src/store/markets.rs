//! Market rows. Structured settings (order-taking hours, delivery rules) are
//! JSON text: they are read and written whole, never queried by part.

use super::{Store, StoreError, Tx};
use crate::{on_pool, on_tx};

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MarketRow {
    pub code: String,
    pub name: String,
    pub currency: String,
    pub time_zone: String,
    pub locale: String,
    pub centre_latitude: f64,
    pub centre_longitude: f64,
    pub service_radius_m: i64,
    pub order_hours: String,
    pub delivery: String,
    pub compensation_standard: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "code, name, currency, time_zone, locale, centre_latitude, centre_longitude, \
     service_radius_m, order_hours, delivery, compensation_standard, created_at, updated_at";

/// Inserts a market, or replaces every field but `created_at` of an existing one.
pub async fn save(tx: &mut Tx, m: &MarketRow) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO markets ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (code) DO UPDATE SET name = $2, currency = $3, time_zone = $4, locale = $5, \
         centre_latitude = $6, centre_longitude = $7, service_radius_m = $8, order_hours = $9, \
         delivery = $10, compensation_standard = $11, updated_at = $13"
    );
    on_tx!(tx, conn => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&m.code)
            .bind(&m.name)
            .bind(&m.currency)
            .bind(&m.time_zone)
            .bind(&m.locale)
            .bind(m.centre_latitude)
            .bind(m.centre_longitude)
            .bind(m.service_radius_m)
            .bind(&m.order_hours)
            .bind(&m.delivery)
            .bind(&m.compensation_standard)
            .bind(m.created_at)
            .bind(m.updated_at)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

pub async fn find(store: &Store, code: &str) -> Result<Option<MarketRow>, StoreError> {
    store
        .row_by_key(
            format!("SELECT {COLUMNS} FROM markets WHERE code = $1"),
            code,
        )
        .await
}

/// Markets by code, keyset-paged.
pub async fn list(
    store: &Store,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<MarketRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM markets WHERE ($1 IS NULL OR code > $1) ORDER BY code LIMIT $2"
    );
    Ok(on_pool!(store, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(after).bind(limit).fetch_all(pool).await?
    }))
}
