//! A short-lived cache of public product pages.
//!
//! The first page of a market's product list is what every visitor's
//! frontend asks for, many times a second, and it is the same for all of
//! them. Each node keeps the pages it served for a moment (`page_cache_ms`,
//! one second by default), keyed by the whole query, so a burst of visitors
//! costs one database read per page and second. A price, stock or listing
//! change shows on the list within that moment on every node; checkout
//! never reads from here, it re-reads prices and stock itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Product;

/// The most pages kept; past it the cache starts over (pages are cheap to rebuild).
const MAX_PAGES: usize = 1_000;

pub type SharedPage = Arc<Vec<(String, Product)>>;

#[derive(Debug)]
pub struct PageCache {
    ttl: Duration,
    pages: Mutex<HashMap<String, (Instant, SharedPage)>>,
}

impl PageCache {
    /// A cache keeping pages for `ttl`; zero keeps nothing.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            pages: Mutex::new(HashMap::new()),
        }
    }

    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    /// The page for `key` if it was stored less than `ttl` ago.
    pub fn get(&self, key: &str) -> Option<SharedPage> {
        if !self.enabled() {
            return None;
        }
        let pages = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        pages
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, page)| page.clone())
    }

    /// Keeps `page` under `key` and hands it back shared.
    pub fn put(&self, key: String, page: Vec<(String, Product)>) -> SharedPage {
        let page = Arc::new(page);
        if self.enabled() {
            let mut pages = self.pages.lock().unwrap_or_else(|e| e.into_inner());
            if pages.len() >= MAX_PAGES {
                let ttl = self.ttl;
                pages.retain(|_, (at, _)| at.elapsed() < ttl);
                if pages.len() >= MAX_PAGES {
                    pages.clear();
                }
            }
            pages.insert(key, (Instant::now(), page.clone()));
        }
        page
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_expire_and_a_zero_ttl_keeps_nothing() {
        let cache = PageCache::new(Duration::from_millis(30));
        cache.put("a".into(), Vec::new());
        assert!(cache.get("a").is_some());
        assert!(cache.get("b").is_none());
        std::thread::sleep(Duration::from_millis(40));
        assert!(cache.get("a").is_none(), "expired");

        let off = PageCache::new(Duration::ZERO);
        off.put("a".into(), Vec::new());
        assert!(off.get("a").is_none());
    }
}
