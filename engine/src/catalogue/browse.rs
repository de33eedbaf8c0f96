//! Browsing: the public product list with filters, sorts and search, a
//! shop's own list (drafts included), and the home feed that puts
//! price-advantaged products first (S 8.1.4.3).

use std::cmp::Ordering;
use std::collections::HashMap;

use super::{Catalogue, Product, SharedPage, reject, search};
use crate::caller::Caller;
use crate::i18n::{Locale, Text};
use crate::merchants::membership;
use crate::service_error::ServiceError;
use crate::store::catalogue::{self as rows, BrowseQuery, FeedRow, Sort};

/// What the public product list is narrowed by.
#[derive(Debug, Clone, Default)]
pub struct BrowseFilter {
    pub market: String,
    /// A category and everything under it.
    pub category_id: Option<String>,
    pub merchant_id: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    pub price_min_fen: Option<i64>,
    pub price_max_fen: Option<i64>,
    pub attributes: Vec<(String, String)>,
    pub query: Option<String>,
}

/// A page request: how many, after which cursor key.
#[derive(Debug, Clone)]
pub struct Page {
    pub first: usize,
    pub after: Option<String>,
}

impl Page {
    fn limit(&self) -> i64 {
        self.first as i64 + 1
    }
}

/// A cursor key: the sort key values, then the id.
fn encode_key(values: &[i64], id: &str) -> String {
    let mut parts: Vec<String> = values.iter().map(i64::to_string).collect();
    parts.push(id.to_string());
    parts.join(",")
}

fn decode_key(key: &str, n: usize, locale: Locale) -> Result<(Vec<i64>, String), ServiceError> {
    let bad = || {
        reject(
            "INVALID_CURSOR",
            &["after"],
            Text::new("The cursor is not valid.", "分页游标无效。"),
            locale,
        )
    };
    let parts: Vec<&str> = key.split(',').collect();
    if parts.len() != n + 1 {
        return Err(bad());
    }
    let values = parts[..n]
        .iter()
        .map(|p| p.parse::<i64>().map_err(|_| bad()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((values, parts[n].to_string()))
}

impl Catalogue {
    /// Products on sale (listed, by active shops), one page, with cursor
    /// keys; served from the page cache when the same page was read a
    /// moment ago.
    pub async fn browse(
        &self,
        caller: &Caller,
        filter: BrowseFilter,
        sort: Sort,
        page: &Page,
    ) -> Result<SharedPage, ServiceError> {
        let category_ids = match &filter.category_id {
            Some(id) => Some(self.subtree(&filter.market, id).await?),
            None => None,
        };
        let grams = filter
            .query
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(search::query_grams);
        let after = match &page.after {
            Some(key) => Some(decode_key(key, sort.keys().len(), caller.locale)?),
            None => None,
        };
        let query = BrowseQuery {
            market: filter.market,
            public_only: true,
            merchant: filter.merchant_id,
            status: None,
            category_ids,
            province: filter.province,
            city: filter.city,
            price_min_fen: filter.price_min_fen,
            price_max_fen: filter.price_max_fen,
            attributes: filter.attributes,
            grams,
            sort,
            after,
            limit: page.limit(),
        };
        let key = format!("{query:?}");
        if let Some(cached) = self.pages.get(&key) {
            return Ok(cached);
        }
        let found = self.page_of(&query, false).await?;
        Ok(self.pages.put(key, found))
    }

    /// A shop's own products, drafts and suspended ones included, newest first.
    pub async fn my_products(
        &self,
        caller: &Caller,
        merchant_id: &str,
        status: Option<&str>,
        page: &Page,
    ) -> Result<Vec<(String, Product)>, ServiceError> {
        let market = self
            .merchant_market(merchant_id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        membership::require_member(&self.store, caller, merchant_id).await?;
        let sort = Sort::Newest;
        let after = match &page.after {
            Some(key) => Some(decode_key(key, sort.keys().len(), caller.locale)?),
            None => None,
        };
        let query = BrowseQuery {
            market,
            public_only: false,
            merchant: Some(merchant_id.to_string()),
            status: status.map(str::to_string),
            category_ids: None,
            province: None,
            city: None,
            price_min_fen: None,
            price_max_fen: None,
            attributes: Vec::new(),
            grams: None,
            sort,
            after,
            limit: page.limit(),
        };
        self.page_of(&query, true).await
    }

    async fn page_of(
        &self,
        query: &BrowseQuery,
        private: bool,
    ) -> Result<Vec<(String, Product)>, ServiceError> {
        let found = rows::browse(&self.store, query).await?;
        let keys: Vec<(String, String)> = found
            .iter()
            .map(|r| (r.id.clone(), encode_key(&r.key(query.sort), &r.id)))
            .collect();
        self.in_order(keys, private).await
    }

    /// Loads products by id and pairs them with their cursor keys, in order.
    async fn in_order(
        &self,
        keys: Vec<(String, String)>,
        private: bool,
    ) -> Result<Vec<(String, Product)>, ServiceError> {
        let ids: Vec<String> = keys.iter().map(|(id, _)| id.clone()).collect();
        let mut by_id: HashMap<String, _> = rows::products_by_ids(&self.store, &ids)
            .await?
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect();
        let ordered: Vec<_> = ids.iter().filter_map(|id| by_id.remove(id)).collect();
        let products = self.load(ordered, private).await?;
        let mut cursor: HashMap<String, String> = keys.into_iter().collect();
        Ok(products
            .into_iter()
            .map(|p| (cursor.remove(&p.row.id).unwrap_or_default(), p))
            .collect())
    }

    /// The ids of a category and all its descendants in a market.
    async fn subtree(&self, market: &str, root: &str) -> Result<Vec<String>, ServiceError> {
        let all = rows::categories_in_market(&self.store, market).await?;
        let mut ids = vec![root.to_string()];
        let mut i = 0;
        while i < ids.len() {
            let parent = ids[i].clone();
            ids.extend(
                all.iter()
                    .filter(|c| c.parent_id.as_deref() == Some(&parent))
                    .map(|c| c.id.clone()),
            );
            i += 1;
        }
        if !all.iter().any(|c| c.id == root) {
            ids.clear();
        }
        Ok(ids)
    }

    /// The home feed: products whose lowest price is below the median of
    /// their category's products in the market come first; then by sales,
    /// newest, id. Ranked in memory from one query over the market's products
    /// on sale, since the median has no portable SQL.
    pub async fn home_feed(
        &self,
        caller: &Caller,
        market: &str,
        page: &Page,
    ) -> Result<Vec<(String, Product)>, ServiceError> {
        let candidates = rows::feed_candidates(&self.store, market).await?;
        let mut ranked = rank_feed(candidates);
        if let Some(key) = &page.after {
            let (v, id) = decode_key(key, 3, caller.locale)?;
            let cursor = (v[0] == 1, v[1], v[2], id);
            ranked.retain(|r| feed_order(r, &cursor) == Ordering::Greater);
        }
        ranked.truncate(page.first + 1);
        let keys = ranked
            .into_iter()
            .map(|(adv, r)| {
                let key = encode_key(&[i64::from(adv), r.sales_count, r.created_at], &r.id);
                (r.id, key)
            })
            .collect();
        self.in_order(keys, false).await
    }
}

/// The feed in order, each product with whether it is price-advantaged.
fn rank_feed(candidates: Vec<FeedRow>) -> Vec<(bool, FeedRow)> {
    let mut prices: HashMap<&str, Vec<i64>> = HashMap::new();
    for c in &candidates {
        prices.entry(&c.category_id).or_default().push(c.min_price);
    }
    // Twice the median, to stay in integers: the middle value, or the sum of the two middle ones.
    let twice_median: HashMap<String, i64> = prices
        .into_iter()
        .map(|(category, mut p)| {
            p.sort_unstable();
            let n = p.len();
            let twice = if n % 2 == 1 {
                2 * p[n / 2]
            } else {
                p[n / 2 - 1] + p[n / 2]
            };
            (category.to_string(), twice)
        })
        .collect();
    let mut ranked: Vec<(bool, FeedRow)> = candidates
        .into_iter()
        .map(|c| {
            let adv = twice_median
                .get(&c.category_id)
                .is_some_and(|m| 2 * c.min_price < *m);
            (adv, c)
        })
        .collect();
    ranked.sort_by(|a, b| {
        feed_order(b, &(a.0, a.1.sales_count, a.1.created_at, a.1.id.clone())).reverse()
    });
    ranked
}

/// How `item` compares with `cursor` in feed order (`Greater` = later).
fn feed_order(item: &(bool, FeedRow), cursor: &(bool, i64, i64, String)) -> Ordering {
    let (adv, r) = item;
    cursor
        .0
        .cmp(adv)
        .then(cursor.1.cmp(&r.sales_count))
        .then(cursor.2.cmp(&r.created_at))
        .then(cursor.3.cmp(&r.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, category: &str, price: i64, sales: i64) -> FeedRow {
        FeedRow {
            id: id.into(),
            category_id: category.into(),
            min_price: price,
            sales_count: sales,
            created_at: 0,
        }
    }

    #[test]
    fn cheaper_than_the_category_median_comes_first() {
        let ranked = rank_feed(vec![
            row("a", "x", 100, 50),
            row("b", "x", 300, 90),
            row("c", "x", 200, 10),
            row("d", "y", 500, 5),
        ]);
        let order: Vec<(&str, bool)> = ranked
            .iter()
            .map(|(adv, r)| (r.id.as_str(), *adv))
            .collect();
        assert_eq!(
            order,
            vec![("a", true), ("b", false), ("c", false), ("d", false)]
        );
    }
}
