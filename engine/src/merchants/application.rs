//! Applying to sell in a market (MER-1, S 8.1.1): any signed-in account may
//! apply; the applicant becomes the shop's owner and follows the application
//! through review, and may correct it when asked for more.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use serde_json::json;

use super::credit::Credit;
use super::membership::{self, OWNER};
use super::qualification::{DocumentInput, DocumentView, document_audit, mask};
use super::service::{Merchants, reject, require_status, status, text_field};
use crate::api::UserError;
use crate::caller::Caller;
use crate::i18n::{Locale, Text};
use crate::plugins::MarketContext;
use crate::plugins::types::{ValidateInput, ValidationSubject};
use crate::service_error::ServiceError;
use crate::store::merchants::{self as merchant_rows, MerchantRow};
use crate::store::onboarding::{
    self as rows, AgreementRow, ApplicationRow, DocumentRow, ShopRow, StepRow,
};
use crate::store::{markets, now_ms, rfc3339};

/// What an applicant submits, or changes when asked for more.
#[derive(Debug, Clone, Default)]
pub struct ApplicationInput {
    pub shop_name: Option<String>,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub categories: Option<Vec<String>>,
    pub documents: Vec<DocumentInput>,
}

/// An application with everything the applicant and reviewers see.
#[derive(Debug, Clone)]
pub struct ApplicationView {
    pub merchant: MerchantRow,
    pub application: ApplicationRow,
    pub categories: Vec<String>,
    pub documents: Vec<DocumentView>,
    pub steps: Vec<StepRow>,
    pub agreements: Vec<AgreementRow>,
    pub shop: Option<ShopRow>,
    pub credit: Credit,
    pub suspended_categories: Vec<String>,
}

impl Merchants {
    /// Opens an application: the shop (status `applied`), its owner, the
    /// details and documents, after the market's validating plugins agree.
    pub async fn apply(
        &self,
        caller: &Caller,
        market: &str,
        input: ApplicationInput,
    ) -> Result<ApplicationView, ServiceError> {
        let Some(account) = caller.actor.account_id() else {
            return Err(ServiceError::Unauthenticated(caller.credential_problem));
        };
        let locale = caller.locale;
        let Some(market_row) = markets::find(&self.store, market).await? else {
            return Err(reject(
                "UNKNOWN_MARKET",
                &["input", "market"],
                Text::new("There is no such market.", "没有该市场。"),
                locale,
            ));
        };
        let now = now_ms();
        let id = uuid::Uuid::now_v7().to_string();
        let application = ApplicationRow {
            merchant_id: id.clone(),
            applicant_id: account.to_string(),
            shop_name: String::new(),
            contact_name: String::new(),
            contact_phone: String::new(),
            categories: "[]".into(),
            review_reason: None,
            reviewed_by: None,
            reviewed_at: None,
            submitted_at: now,
            updated_at: now,
        };
        let (application, documents) = self
            .checked_application(caller, &id, application, input, now)
            .await?;
        let context = MarketContext {
            code: market_row.code.clone(),
            time_zone: market_row.time_zone.clone(),
        };
        self.plugins_agree(&context, &application, &documents, now, locale)?;
        let merchant = MerchantRow {
            id: id.clone(),
            market_code: market_row.code.clone(),
            name: application.shop_name.clone(),
            status: status::APPLIED.into(),
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store.begin().await?;
        merchant_rows::insert(&mut tx, &merchant).await?;
        merchant_rows::add_member(&mut tx, &id, account, OWNER, now).await?;
        rows::save_application(&mut tx, &application).await?;
        for d in &documents {
            rows::add_document(&mut tx, d).await?;
        }
        self.record_step(
            &mut tx,
            caller,
            &merchant,
            "merchant.apply",
            None,
            None,
            application_audit(&application, &documents),
            now,
        )
        .await?;
        tx.commit().await?;
        self.view_unchecked(caller, &id).await
    }

    /// Changes an application still under review; from `needs_more` it goes
    /// back to `applied` for another review. The owner only.
    pub async fn update_application(
        &self,
        caller: &Caller,
        merchant_id: &str,
        input: ApplicationInput,
    ) -> Result<ApplicationView, ServiceError> {
        let merchant = self.merchant(merchant_id).await?;
        membership::require_owner(&self.store, caller, merchant_id).await?;
        require_status(
            &merchant,
            &[status::APPLIED, status::NEEDS_MORE],
            caller.locale,
        )?;
        let current = rows::find_application(&self.store, merchant_id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let now = now_ms();
        let (mut application, documents) = self
            .checked_application(caller, merchant_id, current, input, now)
            .await?;
        application.submitted_at = now;
        let market = markets::find(&self.store, &merchant.market_code)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let context = MarketContext {
            code: market.code,
            time_zone: market.time_zone,
        };
        self.plugins_agree(&context, &application, &documents, now, caller.locale)?;
        let mut tx = self.store.begin().await?;
        rows::save_application(&mut tx, &application).await?;
        merchant_rows::set_name(&mut tx, merchant_id, &application.shop_name, now).await?;
        for d in &documents {
            rows::add_document(&mut tx, d).await?;
        }
        self.record_step(
            &mut tx,
            caller,
            &merchant,
            "merchant.application.update",
            Some(status::APPLIED),
            None,
            application_audit(&application, &documents),
            now,
        )
        .await?;
        tx.commit().await?;
        self.view_unchecked(caller, merchant_id).await
    }

    /// An application, for its shop's members and the market's reviewers
    /// (not `merchant read`: other shops' owners hold that).
    pub async fn application(
        &self,
        caller: &Caller,
        merchant_id: &str,
    ) -> Result<ApplicationView, ServiceError> {
        let merchant = self.merchant(merchant_id).await?;
        if membership::require_member(&self.store, caller, merchant_id)
            .await
            .is_err()
            && !self
                .staff_may(caller, &merchant.market_code, "review")
                .await
        {
            if caller.actor.account_id().is_none() {
                return Err(ServiceError::Unauthenticated(caller.credential_problem));
            }
            return Err(ServiceError::Forbidden);
        }
        self.view_unchecked(caller, merchant_id).await
    }

    /// The shops the caller applied for or works for, keyset-paged.
    pub async fn my_applications(
        &self,
        caller: &Caller,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ApplicationView>, ServiceError> {
        let Some(account) = caller.actor.account_id() else {
            return Err(ServiceError::Unauthenticated(caller.credential_problem));
        };
        let mut out = Vec::new();
        for id in rows::merchants_of_account(&self.store, account, after, limit).await? {
            out.push(self.view_unchecked(caller, &id).await?);
        }
        Ok(out)
    }

    /// A market's applications, optionally in one status (staff; the guard checked).
    pub async fn applications(
        &self,
        caller: &Caller,
        market: &str,
        status: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ApplicationView>, ServiceError> {
        let mut out = Vec::new();
        for id in rows::merchants_in_market(&self.store, market, status, after, limit).await? {
            out.push(self.view_unchecked(caller, &id).await?);
        }
        Ok(out)
    }

    pub(super) async fn view_unchecked(
        &self,
        caller: &Caller,
        merchant_id: &str,
    ) -> Result<ApplicationView, ServiceError> {
        let merchant = self.merchant(merchant_id).await?;
        let application = rows::find_application(&self.store, merchant_id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        Ok(ApplicationView {
            categories: serde_json::from_str(&application.categories).unwrap_or_default(),
            documents: self.documents(caller, &merchant).await?,
            steps: rows::steps(&self.store, merchant_id).await?,
            agreements: rows::agreements(&self.store, merchant_id).await?,
            shop: rows::find_shop(&self.store, merchant_id).await?,
            credit: self.credit(merchant_id).await?,
            suspended_categories: self.suspended_categories(merchant_id).await?,
            merchant,
            application,
        })
    }

    /// Applies `input` to `current`, checking every field and document.
    async fn checked_application(
        &self,
        caller: &Caller,
        merchant_id: &str,
        mut current: ApplicationRow,
        input: ApplicationInput,
        now: i64,
    ) -> Result<(ApplicationRow, Vec<DocumentRow>), ServiceError> {
        let locale = caller.locale;
        if let Some(name) = input.shop_name {
            current.shop_name = text_field(&name, 100, &["input", "shopName"], locale)?;
        }
        if let Some(name) = input.contact_name {
            current.contact_name = text_field(&name, 50, &["input", "contact", "name"], locale)?;
        }
        if let Some(phone) = input.contact_phone {
            let phone = phone.trim().to_string();
            let ok = (5..=20).contains(&phone.len())
                && phone
                    .chars()
                    .all(|c| c.is_ascii_digit() || "+- ".contains(c));
            if !ok {
                return Err(reject(
                    "INVALID_PHONE",
                    &["input", "contact", "phone"],
                    Text::new("Give a valid phone number.", "请填写有效的电话号码。"),
                    locale,
                ));
            }
            current.contact_phone = phone;
        }
        if let Some(categories) = input.categories {
            let mut codes: Vec<String> = categories
                .iter()
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect();
            codes.sort();
            codes.dedup();
            if codes.is_empty() || codes.len() > 50 || codes.iter().any(|c| c.len() > 64) {
                return Err(reject(
                    "INVALID_CATEGORIES",
                    &["input", "categories"],
                    Text::new(
                        "Name 1–50 categories you want to sell.",
                        "请填写 1–50 个拟经营的品类。",
                    ),
                    locale,
                ));
            }
            current.categories = json!(codes).to_string();
        }
        if current.shop_name.is_empty()
            || current.contact_name.is_empty()
            || current.contact_phone.is_empty()
        {
            return Err(reject(
                "REQUIRED",
                &["input"],
                Text::new(
                    "An application needs a shop name and a contact.",
                    "申请须填写店铺名称和联系人。",
                ),
                locale,
            ));
        }
        let mut documents = Vec::new();
        for (i, d) in input.documents.into_iter().enumerate() {
            let index = i.to_string();
            documents.push(
                self.checked_document(caller, merchant_id, d, now, &["input", "documents", &index])
                    .await?,
            );
        }
        current.updated_at = now;
        Ok((current, documents))
    }

    /// The validate hook of the market's plugins: their violations refuse the
    /// application; a plugin that fails refuses it too (the hook's failure policy).
    fn plugins_agree(
        &self,
        market: &MarketContext,
        application: &ApplicationRow,
        documents: &[DocumentRow],
        now: i64,
        locale: Locale,
    ) -> Result<(), ServiceError> {
        let input = ValidateInput {
            market: crate::plugins::types::Market {
                code: market.code.clone(),
                time_zone: market.time_zone.clone(),
                config_json: String::new(),
            },
            subject: ValidationSubject::MerchantApplication,
            document_json: application_audit(application, documents).to_string(),
            now: rfc3339(now),
        };
        verdict(self.plugins.validate(market, &input), locale)
    }
}

/// The validate hook's answer as a service outcome: violations refuse the
/// flow with the plugins' own codes and messages; a plugin that fails
/// refuses it too (the hook's failure policy). Shared by every flow that
/// plugins validate (applications, checkout).
pub(crate) fn verdict(
    outcome: Result<Vec<(String, crate::plugins::types::Violation)>, crate::plugins::PluginFailure>,
    locale: Locale,
) -> Result<(), ServiceError> {
    match outcome {
        Ok(violations) if violations.is_empty() => Ok(()),
        Ok(violations) => Err(ServiceError::Rejected(
            violations
                .into_iter()
                .map(|(_, v)| UserError {
                    code: intern(&v.code),
                    field: v
                        .field
                        .map(|f| f.split('.').map(str::to_string).collect())
                        .unwrap_or_default(),
                    message: match locale {
                        Locale::En => v.message.en,
                        Locale::ZhCn => v.message.zh_cn,
                    },
                })
                .collect(),
        )),
        Err(failure) => {
            tracing::warn!(plugin = %failure.plugin, fault = %failure.fault, "validating plugin failed; flow refused");
            Err(reject(
                "VALIDATION_UNAVAILABLE",
                &[],
                Text::new(
                    "The market's checks could not run. Please try again later.",
                    "市场的审核检查暂时无法运行，请稍后再试。",
                ),
                locale,
            ))
        }
    }
}

/// What plugins and the audit log see of an application: document numbers masked.
fn application_audit(a: &ApplicationRow, documents: &[DocumentRow]) -> serde_json::Value {
    let categories: serde_json::Value =
        serde_json::from_str(&a.categories).unwrap_or(serde_json::Value::Null);
    json!({
        "shopName": a.shop_name,
        "contact": { "name": a.contact_name, "phone": mask(&a.contact_phone) },
        "categories": categories,
        "documents": documents.iter().map(document_audit).collect::<Vec<_>>(),
    })
}

/// A plugin's violation code as the `'static` code user errors carry. Codes
/// come from installed plugins' fixed vocabularies, so the set stays small.
fn intern(code: &str) -> &'static str {
    static CODES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut codes = CODES
        .get_or_init(|| Mutex::new(HashSet::new()))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(known) = codes.get(code) {
        return known;
    }
    let leaked: &'static str = Box::leak(code.to_string().into_boxed_str());
    codes.insert(leaked);
    leaked
}
