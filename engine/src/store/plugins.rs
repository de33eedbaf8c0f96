//! Plugin registry rows, per-market toggles and plugin key-value storage.

use super::{Store, StoreError, Tx};
use crate::{on_pool, on_tx};

/// An installed plugin, component bytes included.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PluginRow {
    pub id: String,
    pub name: String,
    pub version: String,
    pub contract: String,
    pub manifest: String,
    pub wasm: Vec<u8>,
    pub sha256: String,
    /// JSON array of granted capability names.
    pub granted: String,
    pub installed_by: String,
    pub installed_at: i64,
    pub updated_at: i64,
}

const PLUGIN_COLUMNS: &str = "id, name, version, contract, manifest, wasm, sha256, granted, \
     installed_by, installed_at, updated_at";

/// A plugin's state in one market.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MarketPluginRow {
    pub market_code: String,
    pub plugin_id: String,
    pub enabled: bool,
    /// JSON object, validated against the manifest's schema when written.
    pub config: String,
    /// Order in which the market's plugins run: enabling order.
    pub position: i64,
    pub changed_by: String,
    pub changed_at: i64,
    pub breaker_reason: Option<String>,
    pub breaker_tripped_at: Option<i64>,
}

const TOGGLE_COLUMNS: &str = "market_code, plugin_id, enabled, config, position, changed_by, \
     changed_at, breaker_reason, breaker_tripped_at";

pub async fn all_plugins(store: &Store) -> Result<Vec<PluginRow>, StoreError> {
    let sql = format!("SELECT {PLUGIN_COLUMNS} FROM plugins ORDER BY id");
    Ok(on_pool!(store, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await?
    }))
}

pub async fn find_plugin(tx: &mut Tx, id: &str) -> Result<Option<PluginRow>, StoreError> {
    let sql = format!("SELECT {PLUGIN_COLUMNS} FROM plugins WHERE id = $1");
    Ok(on_tx!(tx, conn => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&mut *conn).await?
    }))
}

/// Inserts a plugin, or replaces an installed one (an upgrade) keeping `installed_at`.
pub async fn save_plugin(tx: &mut Tx, p: &PluginRow) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO plugins ({PLUGIN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (id) DO UPDATE SET name = $2, version = $3, contract = $4, manifest = $5, \
         wasm = $6, sha256 = $7, granted = $8, installed_by = $9, updated_at = $11"
    );
    on_tx!(tx, conn => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&p.id)
            .bind(&p.name)
            .bind(&p.version)
            .bind(&p.contract)
            .bind(&p.manifest)
            .bind(&p.wasm)
            .bind(&p.sha256)
            .bind(&p.granted)
            .bind(&p.installed_by)
            .bind(p.installed_at)
            .bind(p.updated_at)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// Removes a plugin with its toggles and storage. Returns whether it existed.
pub async fn delete_plugin(tx: &mut Tx, id: &str) -> Result<bool, StoreError> {
    let done = on_tx!(tx, conn => {
        sqlx::query("DELETE FROM plugin_storage WHERE plugin_id = $1").bind(id).execute(&mut *conn).await?;
        sqlx::query("DELETE FROM market_plugins WHERE plugin_id = $1").bind(id).execute(&mut *conn).await?;
        sqlx::query("DELETE FROM plugins WHERE id = $1").bind(id).execute(&mut *conn).await?.rows_affected()
    });
    Ok(done > 0)
}

pub async fn all_toggles(store: &Store) -> Result<Vec<MarketPluginRow>, StoreError> {
    let sql = format!("SELECT {TOGGLE_COLUMNS} FROM market_plugins ORDER BY market_code, position");
    Ok(on_pool!(store, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await?
    }))
}

pub async fn find_toggle(
    tx: &mut Tx,
    market: &str,
    plugin: &str,
) -> Result<Option<MarketPluginRow>, StoreError> {
    let sql = format!(
        "SELECT {TOGGLE_COLUMNS} FROM market_plugins WHERE market_code = $1 AND plugin_id = $2"
    );
    Ok(on_tx!(tx, conn => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(market).bind(plugin).fetch_optional(&mut *conn).await?
    }))
}

/// The position a newly enabled plugin takes in its market: after the others.
pub async fn next_position(tx: &mut Tx, market: &str) -> Result<i64, StoreError> {
    let (max,): (Option<i64>,) = on_tx!(tx, conn => {
        sqlx::query_as("SELECT MAX(position) FROM market_plugins WHERE market_code = $1")
            .bind(market)
            .fetch_one(&mut *conn)
            .await?
    });
    Ok(max.unwrap_or(0) + 1)
}

pub async fn save_toggle(tx: &mut Tx, t: &MarketPluginRow) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO market_plugins ({TOGGLE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (market_code, plugin_id) DO UPDATE SET enabled = $3, config = $4, \
         position = $5, changed_by = $6, changed_at = $7, breaker_reason = $8, breaker_tripped_at = $9"
    );
    on_tx!(tx, conn => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&t.market_code)
            .bind(&t.plugin_id)
            .bind(t.enabled)
            .bind(&t.config)
            .bind(t.position)
            .bind(&t.changed_by)
            .bind(t.changed_at)
            .bind(&t.breaker_reason)
            .bind(t.breaker_tripped_at)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

// Storage ---------------------------------------------------------------

pub async fn storage_get(
    store: &Store,
    plugin: &str,
    market: &str,
    key: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    let row: Option<(Vec<u8>,)> = on_pool!(store, pool => {
        sqlx::query_as(
            "SELECT value FROM plugin_storage WHERE plugin_id = $1 AND market_code = $2 AND key = $3",
        )
        .bind(plugin)
        .bind(market)
        .bind(key)
        .fetch_optional(pool)
        .await?
    });
    Ok(row.map(|(value,)| value))
}

/// Bytes and keys a (plugin, market) holds, not counting `except_key`: what
/// a write must fit beside.
pub async fn storage_usage(
    tx: &mut Tx,
    plugin: &str,
    market: &str,
    except_key: &str,
) -> Result<(i64, i64), StoreError> {
    let (bytes, keys): (Option<i64>, i64) = on_tx!(tx, conn => {
        sqlx::query_as(
            "SELECT CAST(SUM(LENGTH(key) + LENGTH(value)) AS BIGINT), COUNT(*) FROM plugin_storage \
             WHERE plugin_id = $1 AND market_code = $2 AND key <> $3",
        )
        .bind(plugin)
        .bind(market)
        .bind(except_key)
        .fetch_one(&mut *conn)
        .await?
    });
    Ok((bytes.unwrap_or(0), keys))
}

pub async fn storage_set(
    tx: &mut Tx,
    plugin: &str,
    market: &str,
    key: &str,
    value: &[u8],
    now: i64,
) -> Result<(), StoreError> {
    on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO plugin_storage (plugin_id, market_code, key, value, updated_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (plugin_id, market_code, key) DO UPDATE SET value = $4, updated_at = $5",
        )
        .bind(plugin)
        .bind(market)
        .bind(key)
        .bind(value)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

pub async fn storage_delete(
    store: &Store,
    plugin: &str,
    market: &str,
    key: &str,
) -> Result<(), StoreError> {
    on_pool!(store, pool => {
        sqlx::query("DELETE FROM plugin_storage WHERE plugin_id = $1 AND market_code = $2 AND key = $3")
            .bind(plugin)
            .bind(market)
            .bind(key)
            .execute(pool)
            .await?;
    });
    Ok(())
}

/// Keys starting with `prefix`, in order, at most `limit`.
pub async fn storage_keys(
    store: &Store,
    plugin: &str,
    market: &str,
    prefix: &str,
    limit: i64,
) -> Result<Vec<String>, StoreError> {
    // A prefix comparison instead of LIKE: no escaping of `%` and `_`, and no
    // dependence on the database's collation.
    let rows: Vec<(String,)> = on_pool!(store, pool => {
        sqlx::query_as(
            "SELECT key FROM plugin_storage WHERE plugin_id = $1 AND market_code = $2 \
             AND SUBSTR(key, 1, LENGTH(CAST($3 AS TEXT))) = CAST($3 AS TEXT) ORDER BY key LIMIT $4",
        )
        .bind(plugin)
        .bind(market)
        .bind(prefix)
        .bind(limit)
        .fetch_all(pool)
        .await?
    });
    Ok(rows.into_iter().map(|(k,)| k).collect())
}
