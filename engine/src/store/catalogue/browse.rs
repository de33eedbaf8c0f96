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
    /// The integer sort keys before the id; every key and the id run in
    /// the same direction, which `descending` gives.
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            Sort::Relevance => &["name_hit", "sales_count", "created_at"],
            Sort::PriceAsc | Sort::PriceDesc => &["min_price"],
            Sort::Newest => &["created_at"],
            Sort::Sales => &["sales_count", "created_at"],
        }
    }

    pub fn descending(self) -> bool {
        self != Sort::PriceAsc
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
            .iter()
            .map(|column| match *column {
                "name_hit" => self.name_hit,
                "sales_count" => self.sales_count,
                "created_at" => self.created_at,
                _ => self.min_price,
            })
            .collect()
    }
}

/// The SQL expression of a sort key.
fn key_expression(key: &str) -> &'static str {
    match key {
        "name_hit" => "s.name_hit",
        "sales_count" => "p.sales_count",
        "created_at" => "p.created_at",
        _ => "p.min_price_fen",
    }
}

/// One page of products. Public lists filter on `on_sale` and order by
/// columns of `products` alone, so the first page walks one of the
/// `products_on_sale_by_*` indexes and stops after `limit` rows.
pub async fn browse(store: &Store, q: &BrowseQuery) -> Result<Vec<BrowseRow>, StoreError> {
    if matches!(&q.grams, Some(g) if g.is_empty()) {
        return Ok(Vec::new());
    }
    let mut args = Args::default();
    let mut joins = String::new();
    let mut name_hit = "CAST(0 AS BIGINT)";
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
        name_hit = "s.name_hit";
    }
    let mut conds = vec![format!("p.market_code = {}", args.text(&q.market))];
    if q.public_only {
        conds.push("p.on_sale = TRUE".into());
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
    if let Some(v) = q.price_min_fen {
        conds.push(format!("p.min_price_fen >= {}", args.int(v)));
    }
    if let Some(v) = q.price_max_fen {
        conds.push(format!("p.min_price_fen <= {}", args.int(v)));
    }
    // Without a search every name_hit is 0, so that key orders nothing and is left out.
    let searching = q.grams.is_some();
    let keys: Vec<(usize, &str)> = q
        .sort
        .keys()
        .iter()
        .enumerate()
        .filter(|(_, k)| searching || **k != "name_hit")
        .map(|(i, k)| (i, key_expression(k)))
        .collect();
    let descending = q.sort.descending();
    if let Some((values, id)) = &q.after {
        // Strictly after the last row seen, as one row-value comparison.
        let mut columns: Vec<&str> = keys.iter().map(|(_, e)| *e).collect();
        columns.push("p.id");
        let mut bound: Vec<String> = keys
            .iter()
            .map(|(i, _)| args.int(values.get(*i).copied().unwrap_or(0)))
            .collect();
        bound.push(args.text(id));
        conds.push(format!(
            "({}) {} ({})",
            columns.join(", "),
            if descending { "<" } else { ">" },
            bound.join(", ")
        ));
    }
    let direction = if descending { "DESC" } else { "ASC" };
    let mut order: Vec<String> = keys
        .iter()
        .map(|(_, e)| format!("{e} {direction}"))
        .collect();
    order.push(format!("p.id {direction}"));
    let limit = args.int(q.limit);
    let sql = format!(
        "SELECT p.id AS id, p.created_at AS created_at, p.sales_count AS sales_count, \
         p.min_price_fen AS min_price, {name_hit} AS name_hit \
         FROM products p{joins} WHERE {} ORDER BY {} LIMIT {limit}",
        conds.join(" AND "),
        order.join(", "),
    );
    fetch_all(store, sql, &args).await
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
        "SELECT id, category_id, min_price_fen AS min_price, sales_count, created_at \
         FROM products WHERE market_code = {market} AND on_sale = TRUE AND min_price_fen > 0"
    );
    fetch_all(store, sql, &args).await
}
