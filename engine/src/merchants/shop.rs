//! The shop page (MER-4, S 8.1.4.1): set up by the owner once contracted,
//! which opens the shop (`active`) and makes the owner a `merchant_owner` in
//! the market. The page is public for active shops only.

use serde_json::json;

use super::credit::Credit;
use super::membership;
use super::qualification::DocumentView;
use super::service::{Merchants, reject, require_status, status, text_field};
use crate::caller::Caller;
use crate::i18n::Text;
use crate::service_error::ServiceError;
use crate::store::merchants::MerchantRow;
use crate::store::now_ms;
use crate::store::onboarding::{self as rows, ShopRow};

#[derive(Debug, Clone)]
pub struct ShopInput {
    pub name: String,
    pub image_id: String,
    pub specialities: Vec<String>,
    pub public_welfare: Vec<String>,
    pub description: String,
}

/// What anyone sees of an active shop.
#[derive(Debug, Clone)]
pub struct PublicShop {
    pub merchant: MerchantRow,
    pub shop: ShopRow,
    /// Numbers always masked: the page is public.
    pub documents: Vec<DocumentView>,
    pub credit: Credit,
}

impl Merchants {
    /// Sets up (or edits) the shop page; the first time it opens the shop.
    pub async fn set_up_shop(
        &self,
        caller: &Caller,
        merchant_id: &str,
        input: ShopInput,
    ) -> Result<ShopRow, ServiceError> {
        let locale = caller.locale;
        let merchant = self.merchant(merchant_id).await?;
        membership::require_owner(&self.store, caller, merchant_id).await?;
        let Some(account) = caller.actor.account_id() else {
            return Err(ServiceError::Unauthenticated(caller.credential_problem));
        };
        require_status(&merchant, &[status::CONTRACTED, status::ACTIVE], locale)?;
        let list = |items: Vec<String>, field: &'static str| {
            let items: Vec<String> = items
                .iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            if items.len() > 20 || items.iter().any(|s| s.chars().count() > 200) {
                return Err(reject(
                    "INVALID_LIST",
                    &["input", field],
                    Text::new(
                        "At most 20 entries of up to 200 characters.",
                        "最多 20 项，每项不超过 200 个字符。",
                    ),
                    locale,
                ));
            }
            Ok(items)
        };
        let specialities = list(input.specialities, "specialities")?;
        let public_welfare = list(input.public_welfare, "publicWelfare")?;
        self.require_media(&input.image_id, &["input", "imageId"], locale)
            .await?;
        let now = now_ms();
        let shop = ShopRow {
            merchant_id: merchant_id.to_string(),
            name: text_field(&input.name, 100, &["input", "name"], locale)?,
            image_id: input.image_id,
            specialities: json!(specialities).to_string(),
            public_welfare: json!(public_welfare).to_string(),
            description: if input.description.chars().count() > 5_000 {
                return Err(reject(
                    "INVALID_TEXT",
                    &["input", "description"],
                    Text::new("The description is too long.", "店铺介绍过长。"),
                    locale,
                ));
            } else {
                input.description.trim().to_string()
            },
            updated_at: now,
        };
        let opening = merchant.status == status::CONTRACTED;
        let mut tx = self.store.begin().await?;
        rows::save_shop(&mut tx, &shop).await?;
        crate::store::merchants::set_name(&mut tx, merchant_id, &shop.name, now).await?;
        self.record_step(
            &mut tx,
            caller,
            &merchant,
            if opening {
                "merchant.shop.open"
            } else {
                "merchant.shop.update"
            },
            opening.then_some(status::ACTIVE),
            None,
            json!({ "name": shop.name, "image": shop.image_id }),
            now,
        )
        .await?;
        tx.commit().await?;
        // Granting again on an edit repairs a grant that failed the first time.
        self.authz
            .grant_role(
                &format!("user:{account}"),
                "merchant_owner",
                &merchant.market_code,
            )
            .await
            .map_err(|e| ServiceError::Internal(format!("granting merchant_owner: {e}")))?;
        Ok(shop)
    }

    /// The public page of an active shop; `None` for any other.
    pub async fn public_shop(&self, merchant_id: &str) -> Result<Option<PublicShop>, ServiceError> {
        let Some(merchant) = crate::store::merchants::find(&self.store, merchant_id).await? else {
            return Ok(None);
        };
        if merchant.status != status::ACTIVE {
            return Ok(None);
        }
        let Some(shop) = rows::find_shop(&self.store, merchant_id).await? else {
            return Ok(None);
        };
        Ok(Some(PublicShop {
            documents: rows::documents(&self.store, merchant_id)
                .await?
                .into_iter()
                .map(|d| DocumentView::new(d, false))
                .collect(),
            credit: self.credit(merchant_id).await?,
            merchant,
            shop,
        }))
    }
}
