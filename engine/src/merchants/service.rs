//! The merchant onboarding service: one struct, its steps spread over the
//! modules named after them (application, review, agreement, shop,
//! qualification, credit). This file holds what every step shares: loading a
//! shop, moving its status, and recording the step for the audit log and for
//! the applicant.

use serde_json::json;

use crate::api::UserError;
use crate::audit::AuditEvent;
use crate::authz::Authz;
use crate::caller::Caller;
use crate::i18n::{Locale, Text};
use crate::plugins::PluginHost;
use crate::service_error::ServiceError;
use crate::store::merchants::{self as merchant_rows, MerchantRow};
use crate::store::onboarding::{self as rows, StepRow};
use crate::store::{Store, Tx, rfc3339};

/// Workflow states, as stored in `merchants.status`.
pub mod status {
    pub const APPLIED: &str = "applied";
    pub const NEEDS_MORE: &str = "needs_more";
    pub const REJECTED: &str = "rejected";
    pub const APPROVED: &str = "approved";
    pub const CONTRACTED: &str = "contracted";
    pub const ACTIVE: &str = "active";
}

#[derive(Clone)]
pub struct Merchants {
    pub(super) store: Store,
    pub(super) authz: Authz,
    pub(super) plugins: PluginHost,
}

impl Merchants {
    pub fn new(store: Store, authz: Authz, plugins: PluginHost) -> Self {
        Self {
            store,
            authz,
            plugins,
        }
    }

    /// The shop, or `NotFound`.
    pub async fn merchant(&self, id: &str) -> Result<MerchantRow, ServiceError> {
        merchant_rows::find(&self.store, id)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    /// The market a shop trades in: resolvers authorise against it.
    pub async fn market_of(&self, id: &str) -> Result<String, ServiceError> {
        Ok(self.merchant(id).await?.market_code)
    }

    /// Whether the caller holds (merchant, `action`) in the market.
    pub(super) async fn staff_may(&self, caller: &Caller, market: &str, action: &str) -> bool {
        match caller.actor.subject() {
            Some(subject) => {
                self.authz
                    .check_fresh(&subject, market, "merchant", action)
                    .await
            }
            None => false,
        }
    }

    /// Market staff acting on a shop: they review merchants in its market
    /// and do not work for the shop. `merchant write` alone is not enough,
    /// since every shop owner holds it for their own shop.
    pub(super) async fn require_market_staff(
        &self,
        caller: &Caller,
        merchant: &MerchantRow,
    ) -> Result<(), ServiceError> {
        let Some(account) = caller.actor.account_id() else {
            return Err(ServiceError::Unauthenticated(caller.credential_problem));
        };
        let member = merchant_rows::member_role(&self.store, &merchant.id, account)
            .await?
            .is_some();
        if member
            || !self
                .staff_may(caller, &merchant.market_code, "review")
                .await
        {
            return Err(ServiceError::Forbidden);
        }
        Ok(())
    }

    /// Whether the caller may see a shop's document numbers unmasked: its
    /// owner, or staff who review merchants there.
    pub(super) async fn sees_numbers(&self, caller: &Caller, merchant: &MerchantRow) -> bool {
        if let Some(account) = caller.actor.account_id()
            && let Ok(Some(role)) =
                merchant_rows::member_role(&self.store, &merchant.id, account).await
            && role == super::membership::OWNER
        {
            return true;
        }
        self.staff_may(caller, &merchant.market_code, "review")
            .await
    }

    /// Moves the shop to `to` (when given), records the step the applicant
    /// sees, and audits it, all in `tx`.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn record_step(
        &self,
        tx: &mut Tx,
        caller: &Caller,
        merchant: &MerchantRow,
        action: &str,
        to: Option<&str>,
        reason: Option<&str>,
        after: serde_json::Value,
        now: i64,
    ) -> Result<(), ServiceError> {
        let status = to.unwrap_or(&merchant.status);
        if to.is_some() {
            merchant_rows::set_status(tx, &merchant.id, status, now).await?;
        }
        rows::add_step(
            tx,
            &StepRow {
                id: uuid::Uuid::now_v7().to_string(),
                merchant_id: merchant.id.clone(),
                action: action.to_string(),
                status: status.to_string(),
                reason: reason.map(str::to_string),
                at: now,
            },
        )
        .await?;
        AuditEvent::new(caller, action, "merchant", Some(&merchant.id))
            .market(Some(&merchant.market_code))
            .before(&json!({ "status": merchant.status }))
            .after(&json!({ "status": status, "reason": reason, "detail": after }))
            .append(tx)
            .await?;
        tracing::info!(merchant = %merchant.id, action, status, "merchant onboarding step");
        Ok(())
    }
}

/// A refusal whose message carries detail (a list of documents, a plugin's words).
pub(super) fn refuse(code: &'static str, field: &[&str], message: String) -> ServiceError {
    ServiceError::Rejected(vec![UserError {
        code,
        field: field.iter().map(|s| s.to_string()).collect(),
        message,
    }])
}

/// A refusal in the caller's language.
pub(super) fn reject(
    code: &'static str,
    field: &[&str],
    text: Text,
    locale: Locale,
) -> ServiceError {
    ServiceError::reject(code, field, text, locale)
}

/// The shop must be in one of `allowed` for this step.
pub(super) fn require_status(
    merchant: &MerchantRow,
    allowed: &[&str],
    locale: Locale,
) -> Result<(), ServiceError> {
    if allowed.contains(&merchant.status.as_str()) {
        return Ok(());
    }
    Err(reject(
        "WRONG_STATUS",
        &["merchant"],
        Text::new(
            "The merchant is not at a stage where this step can be taken.",
            "商户当前所处阶段不能进行此操作。",
        ),
        locale,
    ))
}

/// Today's date (`YYYY-MM-DD`) at `now_ms`. Markets are in China (UTC+8, no
/// daylight saving), and document validity is stated in local dates.
pub fn local_date(now_ms: i64) -> String {
    rfc3339(now_ms + 8 * 3_600_000)[..10].to_string()
}

/// `date` plus `days`, for a valid `YYYY-MM-DD`.
pub fn add_days(date: &str, days: i64) -> Option<String> {
    let ms = parse_date(date)?;
    Some(rfc3339(ms + days * 86_400_000)[..10].to_string())
}

/// Midnight UTC of a `YYYY-MM-DD` date, if it is one.
pub fn parse_date(date: &str) -> Option<i64> {
    if date.len() != 10 {
        return None;
    }
    let ms = crate::store::parse_rfc3339(&format!("{date}T00:00:00Z"))?;
    // Refuse dates that roll over (2026-02-31).
    (rfc3339(ms)[..10] == *date).then_some(ms)
}

/// A trimmed, non-empty text of at most `max` characters.
pub(super) fn text_field(
    value: &str,
    max: usize,
    field: &[&str],
    locale: Locale,
) -> Result<String, ServiceError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max {
        return Err(reject(
            "INVALID_TEXT",
            field,
            Text::new(
                "Fill this in, within the length allowed.",
                "请填写此项，且不超过允许的长度。",
            ),
            locale,
        ));
    }
    Ok(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_checked_and_shifted() {
        assert_eq!(add_days("2026-11-25", 30).as_deref(), Some("2026-12-25"));
        assert_eq!(parse_date("2026-02-31"), None);
        assert_eq!(parse_date("tomorrow"), None);
        // 16:30 UTC is already the next day in China.
        assert_eq!(local_date(1_795_624_200_000), "2026-11-26");
    }
}
