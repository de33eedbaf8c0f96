//! Qualification documents (MER-2, S 8.1.2 and appendix A): which documents a
//! category needs, adding and renewing them, masking their numbers, and the
//! expiry sweep that holds back listings once a needed document lapses.

use serde_json::json;

use super::listings;
use super::service::{Merchants, add_days, local_date, parse_date, reject, status, text_field};
use crate::audit::AuditEvent;
use crate::caller::Caller;
use crate::i18n::{Locale, Text};
use crate::service_error::ServiceError;
use crate::store::merchants::MerchantRow;
use crate::store::onboarding::{self as rows, DocumentRow};
use crate::store::{Store, media, now_ms};

/// Every document type the standard names.
pub const DOCUMENT_TYPES: [&str; 10] = [
    "business_licence",
    "health_certificate",
    "food_business_licence",
    "food_production_licence",
    "origin_proof",
    "purchase_receipt",
    "breeding_certificate",
    "epidemic_prevention_certificate",
    "designated_slaughter_certificate",
    "meat_inspection_certificate",
];

/// Category kinds: categories are per market, the standard's rules are per kind.
pub const KINDS: [&str; 4] = ["food", "farm_produce", "poultry_eggs", "meat"];

/// How long before expiry a document is flagged.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// A group is satisfied by any one of its document types.
pub type Groups = Vec<Vec<String>>;

/// Appendix A, table A.1: every merchant needs a business licence and a
/// health certificate; each kind adds its own.
pub fn groups_for_kinds(kinds: &[String]) -> Groups {
    let mut groups: Vec<Vec<&str>> = vec![vec!["business_licence"], vec!["health_certificate"]];
    for kind in kinds {
        match kind.as_str() {
            "food" => groups.push(vec!["food_business_licence", "food_production_licence"]),
            "farm_produce" => groups.push(vec!["origin_proof", "purchase_receipt"]),
            "poultry_eggs" => {
                groups.push(vec!["breeding_certificate"]);
                groups.push(vec!["epidemic_prevention_certificate"]);
            }
            "meat" => {
                groups.push(vec!["designated_slaughter_certificate"]);
                groups.push(vec!["meat_inspection_certificate"]);
            }
            _ => {}
        }
    }
    groups.dedup();
    groups
        .into_iter()
        .map(|g| g.into_iter().map(str::to_string).collect())
        .collect()
}

/// The kinds of a category a market has not classified, guessed from its
/// code; a market administrator sets the real ones with `setCategoryDocumentRules`.
pub fn default_kinds(category: &str) -> Vec<String> {
    let c = category.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| c.contains(w));
    let kind = if has(&["pork", "beef", "mutton", "lamb", "meat"]) {
        "meat"
    } else if has(&["poultry", "egg", "chicken", "duck", "goose"]) {
        "poultry_eggs"
    } else if has(&[
        "vegetable",
        "fruit",
        "produce",
        "grain",
        "rice",
        "fish",
        "aquatic",
        "crayfish",
        "seafood",
        "mushroom",
    ]) {
        "farm_produce"
    } else {
        "food"
    };
    vec![kind.to_string()]
}

/// A category's rule in a market: its kinds and the document groups it needs.
#[derive(Debug, Clone, PartialEq)]
pub struct CategoryRule {
    pub category: String,
    pub kinds: Vec<String>,
    pub groups: Groups,
    /// False when the appendix A defaults apply.
    pub set_by_market: bool,
}

/// A document as shown: the number masked unless the viewer may see it.
#[derive(Debug, Clone)]
pub struct DocumentView {
    pub row: DocumentRow,
    pub number: String,
}

impl DocumentView {
    pub fn new(row: DocumentRow, unmasked: bool) -> Self {
        let number = if unmasked {
            row.number.clone()
        } else {
            mask(&row.number)
        };
        Self { row, number }
    }
}

/// Keeps the first and last two characters: enough to tell documents apart.
pub fn mask(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    if chars.len() <= 4 {
        return "*".repeat(chars.len());
    }
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i < 2 || i >= chars.len() - 2 {
                *c
            } else {
                '*'
            }
        })
        .collect()
}

/// A document to add, as submitted.
#[derive(Debug, Clone)]
pub struct DocumentInput {
    pub doc_type: String,
    pub number: String,
    pub issuer: String,
    pub valid_from: String,
    pub valid_to: String,
    pub image_id: String,
}

/// The flag of a document on `today`.
fn flag_on(valid_to: &str, today: &str) -> &'static str {
    if valid_to < today {
        "expired"
    } else if add_days(today, EXPIRY_WARNING_DAYS).is_some_and(|limit| valid_to <= limit.as_str()) {
        "expiring"
    } else {
        "valid"
    }
}

/// Whether a document counts on `today`: in its validity and not flagged expired.
fn counts(d: &DocumentRow, today: &str) -> bool {
    d.flag != "expired" && d.valid_from.as_str() <= today && d.valid_to.as_str() >= today
}

/// The groups of `groups` no counting document satisfies.
pub fn unsatisfied(groups: &Groups, docs: &[DocumentRow], today: &str) -> Groups {
    groups
        .iter()
        .filter(|g| {
            !docs
                .iter()
                .any(|d| g.contains(&d.doc_type) && counts(d, today))
        })
        .cloned()
        .collect()
}

impl Merchants {
    /// A category's rule in a market (its own row, or the defaults).
    pub async fn category_rule(
        &self,
        market: &str,
        category: &str,
    ) -> Result<CategoryRule, ServiceError> {
        rule(&self.store, market, category).await
    }

    /// Sets which kinds a category of a market is (market administrators).
    pub async fn set_category_rule(
        &self,
        caller: &Caller,
        market: &str,
        category: &str,
        kinds: Vec<String>,
    ) -> Result<CategoryRule, ServiceError> {
        let locale = caller.locale;
        let category = text_field(category, 64, &["categoryCode"], locale)?;
        if let Some(bad) = kinds.iter().find(|k| !KINDS.contains(&k.as_str())) {
            tracing::debug!(kind = %bad, "unknown category kind");
            return Err(reject(
                "UNKNOWN_KIND",
                &["kinds"],
                Text::new("Unknown category kind.", "未知的品类类别。"),
                locale,
            ));
        }
        if crate::store::markets::find(&self.store, market)
            .await?
            .is_none()
        {
            return Err(ServiceError::NotFound);
        }
        let groups = groups_for_kinds(&kinds);
        let now = now_ms();
        let mut tx = self.store.begin().await?;
        rows::save_category_rule(
            &mut tx,
            market,
            &category,
            &json!(kinds).to_string(),
            &json!(groups).to_string(),
            now,
        )
        .await?;
        AuditEvent::new(caller, "merchant.category_rule.set", "market", Some(market))
            .market(Some(market))
            .after(&json!({ "category": category, "kinds": kinds, "requiredGroups": groups }))
            .append(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(CategoryRule {
            category,
            kinds,
            groups,
            set_by_market: true,
        })
    }

    /// The groups still missing for a shop's categories on `today`.
    pub(super) async fn missing_groups(
        &self,
        merchant: &MerchantRow,
        categories: &[String],
        today: &str,
    ) -> Result<Groups, ServiceError> {
        let docs = rows::documents(&self.store, &merchant.id).await?;
        let mut missing = Groups::new();
        for category in categories {
            let rule = rule(&self.store, &merchant.market_code, category).await?;
            for group in unsatisfied(&rule.groups, &docs, today) {
                if !missing.contains(&group) {
                    missing.push(group);
                }
            }
        }
        Ok(missing)
    }

    /// A shop's documents as `caller` may see them.
    pub async fn documents(
        &self,
        caller: &Caller,
        merchant: &MerchantRow,
    ) -> Result<Vec<DocumentView>, ServiceError> {
        let unmasked = self.sees_numbers(caller, merchant).await;
        Ok(rows::documents(&self.store, &merchant.id)
            .await?
            .into_iter()
            .map(|d| DocumentView::new(d, unmasked))
            .collect())
    }

    /// Adds (or renews) a document: the owner, or the market's staff.
    /// A renewal lifts the listing suspensions it resolves.
    pub async fn add_document(
        &self,
        caller: &Caller,
        merchant_id: &str,
        input: DocumentInput,
    ) -> Result<DocumentView, ServiceError> {
        let merchant = self.merchant(merchant_id).await?;
        let is_owner = super::membership::require_owner(&self.store, caller, merchant_id)
            .await
            .is_ok();
        if !is_owner {
            self.require_market_staff(caller, &merchant).await?;
        }
        // A rejected application is closed: nothing more to add to it.
        super::service::require_status(
            &merchant,
            &[
                status::APPLIED,
                status::NEEDS_MORE,
                status::APPROVED,
                status::CONTRACTED,
                status::ACTIVE,
            ],
            caller.locale,
        )?;
        let now = now_ms();
        let row = self
            .checked_document(caller, &merchant.id, input, now, &["input"])
            .await?;
        let mut tx = self.store.begin().await?;
        rows::add_document(&mut tx, &row).await?;
        self.record_step(
            &mut tx,
            caller,
            &merchant,
            "merchant.document.add",
            None,
            None,
            document_audit(&row),
            now,
        )
        .await?;
        tx.commit().await?;
        self.reconcile_listings(caller, &merchant, &local_date(now), now)
            .await?;
        Ok(DocumentView::new(row, true))
    }

    /// Checks a submitted document; `at` is where its fields sit in the input.
    pub(super) async fn checked_document(
        &self,
        caller: &Caller,
        merchant_id: &str,
        d: DocumentInput,
        now: i64,
        at: &[&str],
    ) -> Result<DocumentRow, ServiceError> {
        let locale = caller.locale;
        let path = |f: &'static str| {
            let mut p = at.to_vec();
            p.push(f);
            p
        };
        let doc_type = d.doc_type.to_lowercase();
        if !DOCUMENT_TYPES.contains(&doc_type.as_str()) {
            return Err(reject(
                "UNKNOWN_DOCUMENT_TYPE",
                &path("type"),
                Text::new("Unknown document type.", "未知的资质类型。"),
                locale,
            ));
        }
        let number = d.number.trim().to_string();
        let number_ok = (4..=64).contains(&number.chars().count())
            && number.chars().all(|c| c.is_alphanumeric() || c == '-');
        if !number_ok {
            return Err(reject(
                "INVALID_NUMBER",
                &path("number"),
                Text::new(
                    "The document number must be 4–64 letters, digits or hyphens.",
                    "证件编号须为 4–64 位字母、数字或连字符。",
                ),
                locale,
            ));
        }
        let issuer = text_field(&d.issuer, 200, &path("issuer"), locale)?;
        let today = local_date(now);
        let dates_ok = parse_date(&d.valid_from).is_some()
            && parse_date(&d.valid_to).is_some()
            && d.valid_from <= d.valid_to;
        if !dates_ok {
            return Err(reject(
                "INVALID_VALIDITY",
                &path("validTo"),
                Text::new(
                    "Give validity dates as YYYY-MM-DD, the start before the end.",
                    "有效期须为 YYYY-MM-DD 格式，且起始日期早于截止日期。",
                ),
                locale,
            ));
        }
        if d.valid_to < today {
            return Err(reject(
                "DOCUMENT_EXPIRED",
                &path("validTo"),
                Text::new("This document has expired.", "该资质证件已过期。"),
                locale,
            ));
        }
        self.require_media(&d.image_id, &path("imageId"), locale)
            .await?;
        Ok(DocumentRow {
            id: uuid::Uuid::now_v7().to_string(),
            merchant_id: merchant_id.to_string(),
            flag: flag_on(&d.valid_to, &today).to_string(),
            doc_type,
            number,
            issuer,
            valid_from: d.valid_from,
            valid_to: d.valid_to,
            image_id: d.image_id,
            added_by: caller.actor.audit_name(),
            created_at: now,
        })
    }

    /// The media must exist (an uploaded image or document).
    pub(super) async fn require_media(
        &self,
        id: &str,
        field: &[&str],
        locale: Locale,
    ) -> Result<(), ServiceError> {
        if media::find(&self.store, id).await?.is_none() {
            return Err(reject(
                "MEDIA_NOT_FOUND",
                field,
                Text::new("Upload the file first.", "请先上传文件。"),
                locale,
            ));
        }
        Ok(())
    }

    /// The expiry sweep as of `now`: flags documents expiring within 30 days
    /// or expired, then holds back or restores listings to match. Returns
    /// (documents whose flag changed, categories suspended, categories restored).
    pub async fn sweep_document_expiry(
        &self,
        caller: &Caller,
        market: Option<&str>,
        now: i64,
    ) -> Result<SweepOutcome, ServiceError> {
        let today = local_date(now);
        let mut outcome = SweepOutcome::default();
        for id in rows::merchant_ids(&self.store, market).await? {
            let merchant = self.merchant(&id).await?;
            let docs = rows::documents(&self.store, &id).await?;
            let changed: Vec<_> = docs
                .iter()
                .filter(|d| d.flag != flag_on(&d.valid_to, &today))
                .collect();
            if !changed.is_empty() {
                let mut tx = self.store.begin().await?;
                for d in &changed {
                    let flag = flag_on(&d.valid_to, &today);
                    rows::set_document_flag(&mut tx, &d.id, flag).await?;
                    AuditEvent::new(caller, "merchant.document.flag", "merchant", Some(&id))
                        .market(Some(&merchant.market_code))
                        .before(&json!({ "document": d.id, "flag": d.flag }))
                        .after(&json!({ "document": d.id, "type": d.doc_type, "flag": flag }))
                        .append(&mut tx)
                        .await?;
                }
                tx.commit().await?;
                outcome.flagged += changed.len();
            }
            let (suspended, restored) = self
                .reconcile_listings(caller, &merchant, &today, now)
                .await?;
            outcome.suspended += suspended;
            outcome.restored += restored;
        }
        Ok(outcome)
    }

    /// Holds back the listings of categories whose needed documents no longer
    /// count on `today`, and restores those whose documents count again.
    async fn reconcile_listings(
        &self,
        caller: &Caller,
        merchant: &MerchantRow,
        today: &str,
        now: i64,
    ) -> Result<(usize, usize), ServiceError> {
        // Only a shop past approval has listings to hold back.
        if ![status::APPROVED, status::CONTRACTED, status::ACTIVE]
            .contains(&merchant.status.as_str())
        {
            return Ok((0, 0));
        }
        let Some(application) = rows::find_application(&self.store, &merchant.id).await? else {
            return Ok((0, 0));
        };
        let categories: Vec<String> =
            serde_json::from_str(&application.categories).unwrap_or_default();
        let docs = rows::documents(&self.store, &merchant.id).await?;
        let held: Vec<(String, String)> = rows::suspensions(&self.store, &merchant.id).await?;
        let mut wanted = Vec::new();
        for category in &categories {
            let rule = rule(&self.store, &merchant.market_code, category).await?;
            for group in unsatisfied(&rule.groups, &docs, today) {
                wanted.push((category.clone(), group.join("|")));
            }
        }
        let to_add: Vec<_> = wanted
            .iter()
            .filter(|w| !held.contains(w))
            .cloned()
            .collect();
        let to_lift: Vec<_> = held
            .iter()
            .filter(|h| !wanted.contains(h))
            .cloned()
            .collect();
        if to_add.is_empty() && to_lift.is_empty() {
            return Ok((0, 0));
        }
        let categories_of = |pairs: &[(String, String)]| {
            let mut c: Vec<String> = pairs.iter().map(|(c, _)| c.clone()).collect();
            c.dedup();
            c
        };
        // Categories with no suspension left once this pass is done.
        let still_held = |c: &String| wanted.iter().any(|(w, _)| w == c);
        let newly_suspended: Vec<String> = categories_of(&to_add)
            .into_iter()
            .filter(|c| !held.iter().any(|(h, _)| h == c))
            .collect();
        let restored: Vec<String> = categories_of(&to_lift)
            .into_iter()
            .filter(|c| !still_held(c))
            .collect();
        // The catalogue changes first, in its own transaction (SQLite has one
        // writer): if it fails, nothing is recorded and the next sweep tries
        // again; both calls are idempotent.
        if !newly_suspended.is_empty() {
            listings::suspend(&self.store, &merchant.id, &newly_suspended).await?;
        }
        if !restored.is_empty() {
            listings::restore(&self.store, &merchant.id, &restored).await?;
        }
        let mut tx = self.store.begin().await?;
        for (category, group) in &to_add {
            rows::add_suspension(&mut tx, &merchant.id, category, group, now).await?;
        }
        for (category, group) in &to_lift {
            rows::remove_suspension(&mut tx, &merchant.id, category, group).await?;
        }
        AuditEvent::new(
            caller,
            "merchant.listings.reconcile",
            "merchant",
            Some(&merchant.id),
        )
        .market(Some(&merchant.market_code))
        .before(&json!({ "held": held }))
        .after(&json!({ "suspended": newly_suspended, "restored": restored, "held": wanted }))
        .append(&mut tx)
        .await?;
        tx.commit().await?;
        tracing::info!(merchant = %merchant.id, suspended = newly_suspended.len(), restored = restored.len(), "listings reconciled with documents");
        Ok((newly_suspended.len(), restored.len()))
    }

    /// Categories of a shop whose listings are held back for documents.
    pub async fn suspended_categories(
        &self,
        merchant_id: &str,
    ) -> Result<Vec<String>, ServiceError> {
        let mut c: Vec<String> = rows::suspensions(&self.store, merchant_id)
            .await?
            .into_iter()
            .map(|(c, _)| c)
            .collect();
        c.dedup();
        Ok(c)
    }

    /// Documents of a market flagged expiring or expired (staff).
    pub async fn expiry_report(
        &self,
        market: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<DocumentView>, ServiceError> {
        Ok(rows::flagged_documents(&self.store, market, after, limit)
            .await?
            .into_iter()
            .map(|d| DocumentView::new(d, true))
            .collect())
    }
}

/// Runs the expiry sweep now and every hour after, as the engine itself.
pub async fn sweep_hourly(merchants: Merchants) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3_600));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match merchants
            .sweep_document_expiry(&Caller::system(), None, now_ms())
            .await
        {
            Ok(outcome) => tracing::debug!(?outcome, "document expiry sweep"),
            Err(e) => {
                tracing::warn!(error = %e, "document expiry sweep failed; retrying next hour")
            }
        }
    }
}

/// What one sweep changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepOutcome {
    pub flagged: usize,
    pub suspended: usize,
    pub restored: usize,
}

async fn rule(store: &Store, market: &str, category: &str) -> Result<CategoryRule, ServiceError> {
    if let Some((kinds, groups)) = rows::category_rule(store, market, category).await? {
        let broken = |e: serde_json::Error| {
            ServiceError::Internal(format!("category rule of {market}/{category}: {e}"))
        };
        return Ok(CategoryRule {
            category: category.to_string(),
            kinds: serde_json::from_str(&kinds).map_err(broken)?,
            groups: serde_json::from_str(&groups).map_err(broken)?,
            set_by_market: true,
        });
    }
    let kinds = default_kinds(category);
    Ok(CategoryRule {
        category: category.to_string(),
        groups: groups_for_kinds(&kinds),
        kinds,
        set_by_market: false,
    })
}

/// The audit view of a document: never its number.
pub(super) fn document_audit(d: &DocumentRow) -> serde_json::Value {
    json!({
        "document": d.id,
        "type": d.doc_type,
        "number": mask(&d.number),
        "issuer": d.issuer,
        "validFrom": d.valid_from,
        "validTo": d.valid_to,
        "image": d.image_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_masked_but_tell_apart() {
        assert_eq!(mask("91320505MA1X2Y3Z4K"), "91**************4K");
        assert_eq!(mask("1234"), "****");
    }

    #[test]
    fn appendix_a_defaults_by_kind() {
        let meat = groups_for_kinds(&default_kinds("pork"));
        assert!(meat.contains(&vec!["designated_slaughter_certificate".to_string()]));
        assert!(meat.contains(&vec!["business_licence".to_string()]));
        let veg = groups_for_kinds(&default_kinds("vegetables"));
        assert!(veg.contains(&vec![
            "origin_proof".to_string(),
            "purchase_receipt".to_string()
        ]));
        assert_eq!(flag_on("2026-12-25", "2026-11-25"), "expiring");
        assert_eq!(flag_on("2026-12-26", "2026-11-25"), "valid");
        assert_eq!(flag_on("2026-11-24", "2026-11-25"), "expired");
    }
}
