//! Who may act for a shop. casbin says whether a role may write products in
//! a market at all; membership says whether this account works for this shop.

use crate::caller::Caller;
use crate::service_error::ServiceError;
use crate::store::{Store, merchants as rows};

/// A shop role, as stored in `merchant_members.role`.
pub const OWNER: &str = "owner";
pub const STAFF: &str = "staff";

/// The caller's role in the shop, or `Forbidden` (already known to be signed in
/// or not: anonymous callers are `Unauthenticated`).
pub async fn require_member(
    store: &Store,
    caller: &Caller,
    merchant_id: &str,
) -> Result<String, ServiceError> {
    let Some(account) = caller.actor.account_id() else {
        return Err(ServiceError::Unauthenticated(caller.credential_problem));
    };
    rows::member_role(store, merchant_id, account)
        .await?
        .ok_or(ServiceError::Forbidden)
}

/// Like [`require_member`], but only the owner.
pub async fn require_owner(
    store: &Store,
    caller: &Caller,
    merchant_id: &str,
) -> Result<(), ServiceError> {
    match require_member(store, caller, merchant_id).await?.as_str() {
        OWNER => Ok(()),
        _ => Err(ServiceError::Forbidden),
    }
}
