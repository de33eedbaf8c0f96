//! The one place onboarding reaches into the catalogue: holding back and
//! restoring a shop's listings in some categories when a needed document
//! lapses or is renewed. Why they are held back is recorded in
//! `merchant_listing_suspensions`; these calls take the products themselves
//! off sale and put them back.

use crate::service_error::ServiceError;
use crate::store::{Store, catalogue};

/// The suspension reason the catalogue shows the merchant; restoring matches
/// on it, so a renewal never lifts a suspension made for another reason.
pub const REASON: &str = "qualification_expired";

/// Takes the shop's listed products in `categories` off sale.
pub async fn suspend(
    store: &Store,
    merchant_id: &str,
    categories: &[String],
) -> Result<(), ServiceError> {
    let n = catalogue::suspend_listings(store, merchant_id, categories, REASON).await?;
    tracing::info!(merchant = %merchant_id, categories = categories.len(), products = n, "listings suspended: qualification expired");
    Ok(())
}

/// Puts back on sale what [`suspend`] took off in `categories`.
pub async fn restore(
    store: &Store,
    merchant_id: &str,
    categories: &[String],
) -> Result<(), ServiceError> {
    let n = catalogue::restore_listings(store, merchant_id, categories, REASON).await?;
    tracing::info!(merchant = %merchant_id, categories = categories.len(), products = n, "listings restored: qualification renewed");
    Ok(())
}
