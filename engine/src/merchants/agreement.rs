//! Cooperation agreements (S 8.1.3): signed by the market's staff with the
//! approved merchant, then archived. An agreement is never changed: a renewal
//! is a new agreement, and a D credit grade stops it (S 8.1.5).

use serde_json::json;

use super::service::{Merchants, parse_date, reject, require_status, status, text_field};
use crate::caller::Caller;
use crate::i18n::Text;
use crate::service_error::ServiceError;
use crate::store::now_ms;
use crate::store::onboarding::{self as rows, AgreementRow};

/// The terms as submitted.
#[derive(Debug, Clone)]
pub struct AgreementInput {
    pub subject: String,
    pub term_start: String,
    pub term_end: String,
    pub products_and_prices: String,
    pub delivery_time_and_quality: String,
    pub liability: String,
    /// `WEEKLY`, `MONTHLY` or `T_PLUS_N` (with `settlement_days`).
    pub settlement_cycle: String,
    pub settlement_days: Option<i64>,
    pub settlement_method: String,
    pub signed_file_id: String,
}

impl Merchants {
    /// Signs the first agreement (`approved` → `contracted`) or a renewal.
    pub async fn sign_agreement(
        &self,
        caller: &Caller,
        merchant_id: &str,
        input: AgreementInput,
    ) -> Result<AgreementRow, ServiceError> {
        let locale = caller.locale;
        let merchant = self.merchant(merchant_id).await?;
        self.require_market_staff(caller, &merchant).await?;
        require_status(
            &merchant,
            &[status::APPROVED, status::CONTRACTED, status::ACTIVE],
            locale,
        )?;
        let renewal = merchant.status != status::APPROVED;
        if renewal && self.credit(merchant_id).await?.grade == "D" {
            return Err(reject(
                "CREDIT_GRADE_D",
                &["merchant"],
                Text::new(
                    "The merchant's credit grade is D: the agreement cannot be renewed.",
                    "该商户信用等级为 D，不能续签合作协议。",
                ),
                locale,
            ));
        }
        let field = |f: &'static str| ["input", f];
        let dates_ok = parse_date(&input.term_start).is_some()
            && parse_date(&input.term_end).is_some()
            && input.term_start < input.term_end;
        if !dates_ok {
            return Err(reject(
                "INVALID_TERM",
                &field("termEnd"),
                Text::new(
                    "Give the term as YYYY-MM-DD dates, the start before the end.",
                    "合作期限须为 YYYY-MM-DD 格式，且开始早于结束。",
                ),
                locale,
            ));
        }
        let days = match (input.settlement_cycle.as_str(), input.settlement_days) {
            ("WEEKLY" | "MONTHLY", _) => None,
            ("T_PLUS_N", Some(n)) if (0..=90).contains(&n) => Some(n),
            _ => {
                return Err(reject(
                    "INVALID_SETTLEMENT",
                    &field("settlementDays"),
                    Text::new(
                        "A T+N settlement cycle needs N, 0 to 90 days.",
                        "T+N 结算周期须填写 0–90 天的 N。",
                    ),
                    locale,
                ));
            }
        };
        self.require_media(&input.signed_file_id, &field("signedFile"), locale)
            .await?;
        let now = now_ms();
        let agreement = AgreementRow {
            id: uuid::Uuid::now_v7().to_string(),
            merchant_id: merchant_id.to_string(),
            subject: text_field(&input.subject, 200, &field("subject"), locale)?,
            term_start: input.term_start,
            term_end: input.term_end,
            products_and_prices: text_field(
                &input.products_and_prices,
                20_000,
                &field("productsAndPrices"),
                locale,
            )?,
            delivery_time_and_quality: text_field(
                &input.delivery_time_and_quality,
                20_000,
                &field("deliveryTimeAndQuality"),
                locale,
            )?,
            liability: text_field(&input.liability, 20_000, &field("liability"), locale)?,
            settlement_cycle: input.settlement_cycle,
            settlement_days: days,
            settlement_method: text_field(
                &input.settlement_method,
                200,
                &field("settlementMethod"),
                locale,
            )?,
            signed_file_id: input.signed_file_id,
            signed_by: caller.actor.audit_name(),
            signed_at: now,
        };
        let mut tx = self.store.begin().await?;
        rows::add_agreement(&mut tx, &agreement).await?;
        self.record_step(
            &mut tx,
            caller,
            &merchant,
            if renewal {
                "merchant.agreement.renew"
            } else {
                "merchant.agreement.sign"
            },
            (!renewal).then_some(status::CONTRACTED),
            None,
            json!({
                "agreement": agreement.id,
                "termStart": agreement.term_start,
                "termEnd": agreement.term_end,
                "settlementCycle": agreement.settlement_cycle,
                "settlementDays": agreement.settlement_days,
                "signedFile": agreement.signed_file_id,
            }),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(agreement)
    }
}
