//! Catalogue rows: categories, products, variants, prices, stock and the
//! search index. Lists (images, tags, attribute definitions) are JSON text,
//! read and written whole; what is filtered on has its own table.

mod browse;
mod stock;

pub use browse::{BrowseQuery, BrowseRow, FeedRow, Sort, browse, feed_candidates};
pub(crate) use stock::reservation;
pub use stock::{
    MovementRow, adjust_on_hand, commit_sale, record_movement, release, reserve, restore_listings,
    suspend_listings,
};

use super::{Store, StoreError, Tx};
use crate::{on_pool, on_tx};

/// A value bound into SQL built at run time (lists of ids, optional filters).
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Text(String),
    Int(i64),
    OptText(Option<String>),
    OptInt(Option<i64>),
    Bool(bool),
    Real(f64),
}

/// `bind_arg!(query, arg)`: binds one run-time argument, whichever backend
/// the query is for.
macro_rules! bind_arg {
    ($q:expr, $a:expr) => {
        match $a {
            Arg::Text(s) => $q.bind(s.clone()),
            Arg::Int(i) => $q.bind(*i),
            Arg::OptText(s) => $q.bind(s.clone()),
            Arg::OptInt(i) => $q.bind(*i),
            Arg::Bool(b) => $q.bind(*b),
            Arg::Real(r) => $q.bind(*r),
        }
    };
}
pub(crate) use bind_arg;

/// Collects arguments and hands out their `$n` placeholders.
#[derive(Debug, Default)]
pub(crate) struct Args(pub Vec<Arg>);

impl Args {
    pub fn text(&mut self, v: impl Into<String>) -> String {
        self.0.push(Arg::Text(v.into()));
        format!("${}", self.0.len())
    }
    pub fn int(&mut self, v: i64) -> String {
        self.0.push(Arg::Int(v));
        format!("${}", self.0.len())
    }
    /// `$a, $b, …` for a list of texts (callers never pass an empty list).
    pub fn texts(&mut self, vs: &[String]) -> String {
        vs.iter()
            .map(|v| self.text(v.clone()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Runs a query with run-time arguments on the pool.
pub(crate) async fn fetch_all<T>(
    store: &Store,
    sql: String,
    args: &Args,
) -> Result<Vec<T>, StoreError>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + Send
        + Unpin,
{
    Ok(on_pool!(store, pool => {
        let mut q = sqlx::query_as::<_, T>(sqlx::AssertSqlSafe(sql));
        for a in &args.0 {
            q = bind_arg!(q, a);
        }
        q.fetch_all(pool).await?
    }))
}

/// Runs a statement with run-time arguments in a transaction; rows affected.
pub(crate) async fn execute(tx: &mut Tx, sql: String, args: &Args) -> Result<u64, StoreError> {
    Ok(on_tx!(tx, conn => {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for a in &args.0 {
            q = bind_arg!(q, a);
        }
        q.execute(&mut *conn).await?.rows_affected()
    }))
}

// ---- categories ----

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CategoryRow {
    pub id: String,
    pub market_code: String,
    pub parent_id: Option<String>,
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub position: i64,
    pub fresh: bool,
    /// JSON list of attribute definitions.
    pub attributes: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const CATEGORY_COLUMNS: &str = "id, market_code, parent_id, code, name_zh, name_en, position, \
     fresh, attributes, created_at, updated_at";

/// Inserts a category, or replaces every field but market, code and `created_at`.
pub async fn save_category(tx: &mut Tx, c: &CategoryRow) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO categories ({CATEGORY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (id) DO UPDATE SET parent_id = $3, name_zh = $5, name_en = $6, position = $7, \
         fresh = $8, attributes = $9, updated_at = $11"
    );
    on_tx!(tx, conn => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&c.id)
            .bind(&c.market_code)
            .bind(&c.parent_id)
            .bind(&c.code)
            .bind(&c.name_zh)
            .bind(&c.name_en)
            .bind(c.position)
            .bind(c.fresh)
            .bind(&c.attributes)
            .bind(c.created_at)
            .bind(c.updated_at)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

pub async fn find_category(store: &Store, id: &str) -> Result<Option<CategoryRow>, StoreError> {
    store
        .row_by_key(
            format!("SELECT {CATEGORY_COLUMNS} FROM categories WHERE id = $1"),
            id,
        )
        .await
}

/// Every category of a market, in tree order within each parent.
pub async fn categories_in_market(
    store: &Store,
    market: &str,
) -> Result<Vec<CategoryRow>, StoreError> {
    let sql = format!(
        "SELECT {CATEGORY_COLUMNS} FROM categories WHERE market_code = $1 ORDER BY position, code"
    );
    Ok(on_pool!(store, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(market).fetch_all(pool).await?
    }))
}

// ---- products ----

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ProductRow {
    pub id: String,
    pub merchant_id: String,
    pub market_code: String,
    pub category_id: String,
    pub name: String,
    pub specification: String,
    pub origin_province: String,
    pub origin_city: String,
    pub origin_county: String,
    pub description: String,
    pub unit: String,
    pub minimum_package: String,
    pub min_order_qty: i64,
    pub seasonal: bool,
    pub after_sale_note: String,
    pub status: String,
    pub suspended_reason: Option<String>,
    /// JSON list of media ids, in display order.
    pub image_ids: String,
    /// JSON list of tags.
    pub tags: String,
    pub sales_count: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const PRODUCT_COLUMNS: &str = "id, merchant_id, market_code, category_id, name, specification, \
     origin_province, origin_city, origin_county, description, unit, minimum_package, \
     min_order_qty, seasonal, after_sale_note, status, suspended_reason, image_ids, tags, \
     sales_count, created_at, updated_at";

/// Inserts a product, or replaces what its merchant edits (never sales or `created_at`).
pub async fn save_product(tx: &mut Tx, p: &ProductRow) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO products ({PRODUCT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
         $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22) \
         ON CONFLICT (id) DO UPDATE SET category_id = $4, name = $5, specification = $6, \
         origin_province = $7, origin_city = $8, origin_county = $9, description = $10, unit = $11, \
         minimum_package = $12, min_order_qty = $13, seasonal = $14, after_sale_note = $15, \
         status = $16, suspended_reason = $17, image_ids = $18, tags = $19, updated_at = $22"
    );
    on_tx!(tx, conn => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&p.id)
            .bind(&p.merchant_id)
            .bind(&p.market_code)
            .bind(&p.category_id)
            .bind(&p.name)
            .bind(&p.specification)
            .bind(&p.origin_province)
            .bind(&p.origin_city)
            .bind(&p.origin_county)
            .bind(&p.description)
            .bind(&p.unit)
            .bind(&p.minimum_package)
            .bind(p.min_order_qty)
            .bind(p.seasonal)
            .bind(&p.after_sale_note)
            .bind(&p.status)
            .bind(&p.suspended_reason)
            .bind(&p.image_ids)
            .bind(&p.tags)
            .bind(p.sales_count)
            .bind(p.created_at)
            .bind(p.updated_at)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

pub async fn find_product(store: &Store, id: &str) -> Result<Option<ProductRow>, StoreError> {
    store
        .row_by_key(
            format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE id = $1"),
            id,
        )
        .await
}

/// Every product of a shop, oldest first: what an export writes out.
pub async fn products_of_merchant(
    store: &Store,
    merchant_id: &str,
) -> Result<Vec<ProductRow>, StoreError> {
    let sql = format!(
        "SELECT {PRODUCT_COLUMNS} FROM products WHERE merchant_id = $1 ORDER BY created_at, id"
    );
    Ok(on_pool!(store, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(merchant_id).fetch_all(pool).await?
    }))
}

/// Rows of `table` by id, in no particular order (callers keep their own).
pub(crate) async fn rows_by_ids<T>(
    store: &Store,
    columns: &str,
    table: &str,
    ids: &[String],
) -> Result<Vec<T>, StoreError>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + Send
        + Unpin,
{
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut args = Args::default();
    let list = args.texts(ids);
    fetch_all(
        store,
        format!("SELECT {columns} FROM {table} WHERE id IN ({list})"),
        &args,
    )
    .await
}

/// Products by id, in no particular order (callers keep their own).
pub async fn products_by_ids(store: &Store, ids: &[String]) -> Result<Vec<ProductRow>, StoreError> {
    rows_by_ids(store, PRODUCT_COLUMNS, "products", ids).await
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AttributeRow {
    pub product_id: String,
    pub name: String,
    pub value: String,
}

/// Replaces a product's attribute values.
pub async fn replace_attributes(
    tx: &mut Tx,
    product_id: &str,
    values: &[(String, String)],
) -> Result<(), StoreError> {
    on_tx!(tx, conn => {
        sqlx::query("DELETE FROM product_attributes WHERE product_id = $1")
            .bind(product_id)
            .execute(&mut *conn)
            .await?;
        for (name, value) in values {
            sqlx::query("INSERT INTO product_attributes (product_id, name, value) VALUES ($1, $2, $3)")
                .bind(product_id)
                .bind(name)
                .bind(value)
                .execute(&mut *conn)
                .await?;
        }
    });
    Ok(())
}

pub async fn attributes_of(
    store: &Store,
    product_ids: &[String],
) -> Result<Vec<AttributeRow>, StoreError> {
    if product_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut args = Args::default();
    let list = args.texts(product_ids);
    fetch_all(
        store,
        format!(
            "SELECT product_id, name, value FROM product_attributes WHERE product_id IN ({list}) \
             ORDER BY product_id, name"
        ),
        &args,
    )
    .await
}

/// Replaces a product's search grams: `(gram, found in the name)`.
pub async fn replace_grams(
    tx: &mut Tx,
    product_id: &str,
    grams: &[(String, bool)],
) -> Result<(), StoreError> {
    on_tx!(tx, conn => {
        sqlx::query("DELETE FROM product_search_grams WHERE product_id = $1")
            .bind(product_id)
            .execute(&mut *conn)
            .await?;
        for (gram, in_name) in grams {
            sqlx::query("INSERT INTO product_search_grams (product_id, gram, in_name) VALUES ($1, $2, $3)")
                .bind(product_id)
                .bind(gram)
                .bind(*in_name)
                .execute(&mut *conn)
                .await?;
        }
    });
    Ok(())
}

// ---- variants and prices ----

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct VariantRow {
    pub id: String,
    pub product_id: String,
    pub sku_code: String,
    pub name: String,
    pub sold_by_weight: bool,
    pub price_fen: i64,
    pub estimated_weight_g: Option<i64>,
    pub on_hand: i64,
    pub reserved: i64,
    pub low_stock_threshold: i64,
    pub position: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const VARIANT_COLUMNS: &str = "id, product_id, sku_code, name, sold_by_weight, price_fen, \
     estimated_weight_g, on_hand, reserved, low_stock_threshold, position, created_at, updated_at";

/// Inserts a variant, or replaces its descriptive fields and price. Stock
/// never changes here: only through adjustments and reservations.
pub async fn save_variant(tx: &mut Tx, v: &VariantRow) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO product_variants ({VARIANT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
         $10, $11, $12, $13) ON CONFLICT (id) DO UPDATE SET sku_code = $3, name = $4, \
         sold_by_weight = $5, price_fen = $6, estimated_weight_g = $7, low_stock_threshold = $10, \
         position = $11, updated_at = $13"
    );
    on_tx!(tx, conn => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&v.id)
            .bind(&v.product_id)
            .bind(&v.sku_code)
            .bind(&v.name)
            .bind(v.sold_by_weight)
            .bind(v.price_fen)
            .bind(v.estimated_weight_g)
            .bind(v.on_hand)
            .bind(v.reserved)
            .bind(v.low_stock_threshold)
            .bind(v.position)
            .bind(v.created_at)
            .bind(v.updated_at)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

pub async fn find_variant(store: &Store, id: &str) -> Result<Option<VariantRow>, StoreError> {
    store
        .row_by_key(
            format!("SELECT {VARIANT_COLUMNS} FROM product_variants WHERE id = $1"),
            id,
        )
        .await
}

/// Variants by id, in no particular order.
pub async fn variants_by_ids(store: &Store, ids: &[String]) -> Result<Vec<VariantRow>, StoreError> {
    rows_by_ids(store, VARIANT_COLUMNS, "product_variants", ids).await
}

/// A variant as a cart sees it: its price and stock, its product, whether
/// its shop trades and its category's code, in one row.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OfferRow {
    pub variant_id: String,
    pub product_id: String,
    pub sku_code: String,
    pub variant_name: String,
    pub sold_by_weight: bool,
    pub price_fen: i64,
    pub estimated_weight_g: Option<i64>,
    pub on_hand: i64,
    pub reserved: i64,
    pub merchant_id: String,
    pub market_code: String,
    pub category_id: String,
    pub category_code: Option<String>,
    pub product_name: String,
    pub minimum_package: String,
    pub min_order_qty: i64,
    pub status: String,
    /// JSON list of tags.
    pub tags: String,
    pub merchant_active: bool,
}

impl OfferRow {
    /// Whether a customer can buy it in `market` now: listed there by a
    /// shop that trades.
    pub fn on_sale_in(&self, market: &str) -> bool {
        self.market_code == market && self.status == "listed" && self.merchant_active
    }
}

/// An [`OfferRow`]'s columns, over `v` (variant) joined as [`OFFER_JOINS`] does.
pub(crate) const OFFER_COLUMNS: &str = "v.id AS variant_id, v.product_id, v.sku_code, \
     v.name AS variant_name, v.sold_by_weight, v.price_fen, v.estimated_weight_g, v.on_hand, \
     v.reserved, p.merchant_id, p.market_code, p.category_id, c.code AS category_code, \
     p.name AS product_name, p.minimum_package, p.min_order_qty, p.status, p.tags, \
     COALESCE(m.status = 'active', FALSE) AS merchant_active";

/// The product, shop and category of variant `v`.
pub(crate) const OFFER_JOINS: &str = "JOIN products p ON p.id = v.product_id \
     LEFT JOIN merchants m ON m.id = p.merchant_id \
     LEFT JOIN categories c ON c.id = p.category_id";

/// The variants of some products, by product then position.
pub async fn variants_of(
    store: &Store,
    product_ids: &[String],
) -> Result<Vec<VariantRow>, StoreError> {
    if product_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut args = Args::default();
    let list = args.texts(product_ids);
    fetch_all(
        store,
        format!(
            "SELECT {VARIANT_COLUMNS} FROM product_variants WHERE product_id IN ({list}) \
             ORDER BY product_id, position, id"
        ),
        &args,
    )
    .await
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PriceRow {
    pub id: String,
    pub variant_id: String,
    pub price_fen: i64,
    pub changed_by: String,
    pub changed_at: i64,
}

pub async fn append_price(tx: &mut Tx, p: &PriceRow) -> Result<(), StoreError> {
    on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO price_history (id, variant_id, price_fen, changed_by, changed_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&p.id)
        .bind(&p.variant_id)
        .bind(p.price_fen)
        .bind(&p.changed_by)
        .bind(p.changed_at)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}

/// A variant's prices, newest first, keyset-paged by id (ids grow with time).
pub async fn price_history(
    store: &Store,
    variant_id: &str,
    before_id: Option<&str>,
    limit: i64,
) -> Result<Vec<PriceRow>, StoreError> {
    let sql = "SELECT id, variant_id, price_fen, changed_by, changed_at FROM price_history \
               WHERE variant_id = $1 AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3";
    Ok(on_pool!(store, pool => {
        sqlx::query_as(sql).bind(variant_id).bind(before_id).bind(limit).fetch_all(pool).await?
    }))
}
