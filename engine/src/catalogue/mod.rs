//! The catalogue (CAT-1…5): each market's category tree, merchants' products
//! with their variants, prices and stock, and browsing and search.
//!
//! casbin decides whether a role may write products in a market (the API
//! guards); this service decides whether the caller works for the shop that
//! owns the product, next to the data. A shop's drafts are its own.

mod browse;
mod categories;
mod page_cache;
mod products;
pub mod search;
mod stock;
pub mod transfer;

pub use browse::{BrowseFilter, Page};
pub use categories::{AttributeDef, AttributeKind, Category, CategoryInput, CategoryUpdate};
pub use page_cache::{PageCache, SharedPage};
pub use products::{Product, ProductInput, VariantInput};
pub use stock::StockReason;

use crate::caller::Caller;
use crate::i18n::{Locale, Text};
use crate::merchants::membership;
use crate::service_error::ServiceError;
use crate::store::Store;

/// Product status as stored.
pub const DRAFT: &str = "draft";
pub const LISTED: &str = "listed";
pub const SUSPENDED: &str = "suspended";

#[derive(Clone)]
pub struct Catalogue {
    store: Store,
    /// Public product pages served a moment ago (see `page_cache`).
    pages: std::sync::Arc<PageCache>,
}

impl Catalogue {
    /// The catalogue; public pages are cached for `page_cache` (zero: not at all).
    pub fn new(store: Store, page_cache: std::time::Duration) -> Self {
        Self {
            store,
            pages: std::sync::Arc::new(PageCache::new(page_cache)),
        }
    }

    /// Whether the caller works for the shop; anonymous callers do not.
    async fn is_member(&self, caller: &Caller, merchant_id: &str) -> Result<bool, ServiceError> {
        match membership::require_member(&self.store, caller, merchant_id).await {
            Ok(_) => Ok(true),
            Err(ServiceError::Forbidden | ServiceError::Unauthenticated(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// A refusal naming the input field it concerns.
fn reject(code: &'static str, field: &[&str], text: Text, locale: Locale) -> ServiceError {
    ServiceError::reject(code, field, text, locale)
}

/// A refusal whose message names something the caller chose (an attribute,
/// a SKU), in the caller's language.
fn reject_named(
    code: &'static str,
    field: &[&str],
    en: String,
    zh: String,
    locale: Locale,
) -> ServiceError {
    ServiceError::Rejected(vec![crate::api::UserError {
        code,
        field: field.iter().map(|s| s.to_string()).collect(),
        message: match locale {
            Locale::ZhCn => zh,
            Locale::En => en,
        },
    }])
}
