//! Reviewing an application (S 8.1.2): staff who review merchants in the
//! market approve, reject or ask for more. Approval needs every document the
//! requested categories call for, present and in force.

use serde_json::json;

use super::application::ApplicationView;
use super::service::{Merchants, local_date, refuse, reject, require_status, status};
use crate::caller::Caller;
use crate::i18n::{Locale, Text};
use crate::service_error::ServiceError;
use crate::store::now_ms;
use crate::store::onboarding as rows;

/// A reviewer's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
    RequestMore,
}

impl Decision {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "APPROVE" => Some(Self::Approve),
            "REJECT" => Some(Self::Reject),
            "REQUEST_MORE" => Some(Self::RequestMore),
            _ => None,
        }
    }
}

impl Merchants {
    /// Records a decision on an application in `applied`. The guard has
    /// checked the permission; an applicant never decides on their own shop.
    pub async fn review(
        &self,
        caller: &Caller,
        merchant_id: &str,
        decision: Decision,
        reason: Option<String>,
    ) -> Result<ApplicationView, ServiceError> {
        let locale = caller.locale;
        let merchant = self.merchant(merchant_id).await?;
        let mut application = rows::find_application(&self.store, merchant_id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        if caller.actor.account_id() == Some(application.applicant_id.as_str()) {
            return Err(ServiceError::Forbidden);
        }
        require_status(&merchant, &[status::APPLIED], locale)?;
        let reason = reason
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty());
        if reason.as_ref().is_some_and(|r| r.chars().count() > 1000) {
            return Err(reject(
                "INVALID_TEXT",
                &["reason"],
                Text::new("The reason is too long.", "理由过长。"),
                locale,
            ));
        }
        let now = now_ms();
        let to = match decision {
            Decision::Approve => {
                let categories: Vec<String> =
                    serde_json::from_str(&application.categories).unwrap_or_default();
                let missing = self
                    .missing_groups(&merchant, &categories, &local_date(now))
                    .await?;
                if !missing.is_empty() {
                    return Err(missing_documents(&missing, locale));
                }
                status::APPROVED
            }
            Decision::Reject | Decision::RequestMore => {
                if reason.is_none() {
                    return Err(reject(
                        "REASON_REQUIRED",
                        &["reason"],
                        Text::new("Tell the applicant why.", "请向申请人说明理由。"),
                        locale,
                    ));
                }
                if decision == Decision::Reject {
                    status::REJECTED
                } else {
                    status::NEEDS_MORE
                }
            }
        };
        application.review_reason = reason.clone();
        application.reviewed_by = Some(caller.actor.audit_name());
        application.reviewed_at = Some(now);
        let mut tx = self.store.begin().await?;
        rows::save_application(&mut tx, &application).await?;
        self.record_step(
            &mut tx,
            caller,
            &merchant,
            "merchant.review",
            Some(to),
            reason.as_deref(),
            json!({ "decision": format!("{decision:?}") }),
            now,
        )
        .await?;
        tx.commit().await?;
        self.view_unchecked(caller, merchant_id).await
    }
}

/// `MISSING_DOCUMENTS`, naming each missing group ("a or b").
fn missing_documents(missing: &[Vec<String>], locale: Locale) -> ServiceError {
    let (joiner, lead) = match locale {
        Locale::En => (" or ", "Documents missing or not in force: "),
        Locale::ZhCn => (" 或 ", "缺少或已失效的资质："),
    };
    let list = missing
        .iter()
        .map(|g| g.join(joiner))
        .collect::<Vec<_>>()
        .join("; ");
    refuse("MISSING_DOCUMENTS", &["merchant"], format!("{lead}{list}"))
}
