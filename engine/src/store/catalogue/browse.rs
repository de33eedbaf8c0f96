//! Browsing and search queries. Filters and sort keys are built at run time
//! but always bound as arguments; pages are keyset (the last row's sort key
//! and id), so a deep page costs what the first does.

use super::{Args, fetch_all};
use crate::store::{Store, StoreError};

/// How a product list is ordered. Each sort ends on the id, so the order is total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// Name matches first, then sales, then newest.
    Relevance,
    PriceAsc,
    PriceDesc,
    Newest,
    Sales,
}

impl Sort {
    /// The integer sort keys (column, descending) before the id, and the id's direction.
    pub fn keys(self) -> (&'static [(&'static str, bool)], bool) {
        match self {
            Sort::Relevance => (
                &[
                    ("name_hit", true),
                    ("sales_count", true),
                    ("created_at", true),
                ],
                true,
            ),
            Sort::PriceAsc => (&[("min_price", false)], false),
            Sort::PriceDesc => (&[("min_price", true)], true),
            Sort::Newest => (&[("created_at", true)], true),
            Sort::Sales => (&[("sales_count", true), ("created_at", true)], true),
        }
    }
}

#[derive(Debug, Clone)]
pub struct BrowseQuery {
    pub market: String,
    /// Only listed products of active merchants (what the public sees).
    pub public_only: bool,
    pub merchant: Option<String>,
    pub status: Option<String>,
    /// A category and everything under it.
    pub category_ids: Option<Vec<String>>,
    pub province: Option<String>,
    pub city: Option<String>,
    pub price_min_fen: Option<i64>,
    pub price_max_fen: Option<i64>,
    pub attributes: Vec<(String, String)>,
    /// Every gram a product must hold; `Some(empty)` matches nothing.
    pub grams: Option<Vec<String>>,
    pub sort: Sort,
    /// The sort key values and id of the last row seen.
    pub after: Option<(Vec<i64>, String)>,
    pub limit: i64,
}

/// One product of a page, with the values it was sorted by.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct BrowseRow {
    pub id: String,
    pub created_at: i64,
    pub sales_count: i64,
    pub min_price: i64,
    pub name_hit: i64,
}

impl BrowseRow {
    /// The values of `sort`'s keys for this row, in order.
    pub fn key(&self, sort: Sort) -> Vec<i64> {
        sort.keys()
            .0
            .iter()
            .map(|(column, _)| match *column {
                "name_hit" => self.name_hit,
                "sales_count" => self.sales_count,
                "created_at" => self.created_at,
                _ => self.min_price,
            })
            .collect()
    }
}

const MIN_PRICE: &str =
    "COALESCE((SELECT MIN(v.price_fen) FROM product_variants v WHERE v.product_id = p.id), 0)";

pub async fn browse(store: &Store, q: &BrowseQuery) -> Result<Vec<BrowseRow>, StoreError> {
    if matches!(&q.grams, Some(g) if g.is_empty()) {
        return Ok(Vec::new());
    }
    let mut args = Args::default();
    let mut joins = String::new();
    let mut name_hit = "CAST(0 AS BIGINT)".to_string();
    if let Some(grams) = &q.grams {
        // A product matches when it holds every gram of the query.
        let list = args.texts(grams);
        let n = args.int(grams.len() as i64);
        joins = format!(
            " JOIN (SELECT g.product_id AS product_id, \
             CAST(MIN(CASE WHEN g.in_name THEN 1 ELSE 0 END) AS BIGINT) AS name_hit \
             FROM product_search_grams g WHERE g.gram IN ({list}) GROUP BY g.product_id \
             HAVING COUNT(DISTINCT g.gram) = {n}) s ON s.product_id = p.id"
        );
        name_hit = "s.name_hit".to_string();
    }
    let mut conds = vec![format!("p.market_code = {}", args.text(&q.market))];
    if q.public_only {
        conds.push("p.status = 'listed' AND m.status = 'active'".into());
    }
    if let Some(v) = &q.merchant {
        conds.push(format!("p.merchant_id = {}", args.text(v)));
    }
    if let Some(v) = &q.status {
        conds.push(format!("p.status = {}", args.text(v)));
    }
    if let Some(ids) = &q.category_ids {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        conds.push(format!("p.category_id IN ({})", args.texts(ids)));
    }
    if let Some(v) = &q.province {
        conds.push(format!("p.origin_province = {}", args.text(v)));
    }
    if let Some(v) = &q.city {
        conds.push(format!("p.origin_city = {}", args.text(v)));
    }
    for (name, value) in &q.attributes {
        let (name, value) = (args.text(name), args.text(value));
        conds.push(format!(
            "EXISTS (SELECT 1 FROM product_attributes a WHERE a.product_id = p.id \
             AND a.name = {name} AND a.value = {value})"
        ));
    }
    let mut outer = vec!["1 = 1".to_string()];
    if let Some(v) = q.price_min_fen {
        outer.push(format!("min_price >= {}", args.int(v)));
    }
    if let Some(v) = q.price_max_fen {
        outer.push(format!("min_price <= {}", args.int(v)));
    }
    let (keys, id_desc) = q.sort.keys();
    if let Some((values, id)) = &q.after {
        outer.push(keyset(&mut args, keys, id_desc, values, id));
    }
    let mut order: Vec<String> = keys
        .iter()
        .map(|(k, desc)| format!("{k} {}", if *desc { "DESC" } else { "ASC" }))
        .collect();
    order.push(format!("id {}", if id_desc { "DESC" } else { "ASC" }));
    let limit = args.int(q.limit);
    let sql = format!(
        "SELECT id, created_at, sales_count, min_price, name_hit FROM (\
         SELECT p.id AS id, p.created_at AS created_at, p.sales_count AS sales_count, \
         {MIN_PRICE} AS min_price, {name_hit} AS name_hit \
         FROM products p JOIN merchants m ON m.id = p.merchant_id{joins} WHERE {}) q \
         WHERE {} ORDER BY {} LIMIT {limit}",
        conds.join(" AND "),
        outer.join(" AND "),
        order.join(", "),
    );
    fetch_all(store, sql, &args).await
}

/// `(k1, …, id)` strictly after `(v1, …, last_id)` in the sort's order.
fn keyset(
    args: &mut Args,
    keys: &[(&str, bool)],
    id_desc: bool,
    values: &[i64],
    id: &str,
) -> String {
    let mut columns: Vec<(String, bool, String)> = keys
        .iter()
        .zip(values)
        .map(|((k, desc), v)| (k.to_string(), *desc, args.int(*v)))
        .collect();
    columns.push(("id".into(), id_desc, args.text(id)));
    let mut alternatives = Vec::new();
    for i in 0..columns.len() {
        let mut parts: Vec<String> = columns[..i]
            .iter()
            .map(|(c, _, p)| format!("{c} = {p}"))
            .collect();
        let (c, desc, p) = &columns[i];
        parts.push(format!("{c} {} {p}", if *desc { "<" } else { ">" }));
        alternatives.push(format!("({})", parts.join(" AND ")));
    }
    format!("({})", alternatives.join(" OR "))
}

/// A product on sale, with what the home feed ranks it by.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct FeedRow {
    pub id: String,
    pub category_id: String,
    pub min_price: i64,
    pub sales_count: i64,
    pub created_at: i64,
}

/// Every product on sale in a market (listed, active merchant, with a price).
pub async fn feed_candidates(store: &Store, market: &str) -> Result<Vec<FeedRow>, StoreError> {
    let mut args = Args::default();
    let market = args.text(market);
    let sql = format!(
        "SELECT id, category_id, min_price, sales_count, created_at FROM (\
         SELECT p.id AS id, p.category_id AS category_id, {MIN_PRICE} AS min_price, \
         p.sales_count AS sales_count, p.created_at AS created_at \
         FROM products p JOIN merchants m ON m.id = p.merchant_id \
         WHERE p.market_code = {market} AND p.status = 'listed' AND m.status = 'active') q \
         WHERE min_price > 0"
    );
    fetch_all(store, sql, &args).await
}
