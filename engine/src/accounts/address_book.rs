//! The address book (S 9.1.6), with coordinates so delivery distance can be
//! measured from the market's service station.

use serde_json::json;

use super::{Accounts, AddressInput};
use crate::audit::AuditEvent;
use crate::caller::Caller;
use crate::i18n::Text;
use crate::service_error::ServiceError;
use crate::store::now_ms;
use crate::store::profiles::{self as rows, AddressRow};

impl Accounts {
    pub async fn addresses(&self, account_id: &str) -> Result<Vec<AddressRow>, ServiceError> {
        Ok(rows::addresses_of(&self.store, account_id).await?)
    }

    /// Adds an address (`id` None) or replaces one of the caller's own.
    pub async fn save_address(
        &self,
        caller: &Caller,
        id: Option<&str>,
        input: AddressInput,
    ) -> Result<AddressRow, ServiceError> {
        let locale = caller.locale;
        let account = self.signed_in_account(caller).await?;
        let before = match id {
            Some(id) => match rows::address(&self.store, id).await? {
                Some(a) if a.account_id == account.id => Some(a),
                _ => return Err(ServiceError::NotFound),
            },
            None => None,
        };
        let reject =
            |code, field, text| ServiceError::reject(code, &["input", field], text, locale);
        let recipient = input.recipient.trim().to_string();
        if recipient.is_empty() || recipient.chars().count() > 50 {
            return Err(reject(
                "INVALID_RECIPIENT",
                "recipient",
                Text::new("Enter the recipient's name.", "请填写收货人姓名。"),
            ));
        }
        let phone = match super::directory::Login::parse(&input.phone) {
            Some(super::directory::Login::Phone(p)) => p,
            _ => {
                return Err(reject(
                    "INVALID_PHONE",
                    "phone",
                    Text::new("Enter an 11-digit mobile number.", "请填写 11 位手机号码。"),
                ));
            }
        };
        let detail = input.detail.trim().to_string();
        if detail.is_empty() || detail.chars().count() > 200 {
            return Err(reject(
                "INVALID_DETAIL",
                "detail",
                Text::new("Enter the street address.", "请填写详细地址。"),
            ));
        }
        match (input.latitude, input.longitude) {
            (Some(lat), Some(lng))
                if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lng) => {}
            (None, None) => {}
            _ => {
                return Err(reject(
                    "INVALID_COORDINATES",
                    "latitude",
                    Text::new(
                        "Give both latitude (−90…90) and longitude (−180…180), or neither.",
                        "经纬度须同时填写（纬度 −90…90，经度 −180…180），或都不填。",
                    ),
                ));
            }
        }
        let existing = rows::addresses_of(&self.store, &account.id).await?;
        if before.is_none() && existing.len() >= 50 {
            return Err(ServiceError::reject(
                "TOO_MANY_ADDRESSES",
                &[],
                Text::new(
                    "An address book holds at most 50 addresses.",
                    "地址簿最多保存 50 个地址。",
                ),
                locale,
            ));
        }
        let now = now_ms();
        let row = AddressRow {
            id: before
                .as_ref()
                .map_or_else(|| uuid::Uuid::now_v7().to_string(), |b| b.id.clone()),
            account_id: account.id.clone(),
            recipient,
            phone,
            region: input.region.trim().chars().take(100).collect(),
            detail,
            latitude: input.latitude,
            longitude: input.longitude,
            // The first address is the default one.
            is_default: input.is_default || existing.is_empty(),
            created_at: before.as_ref().map_or(now, |b| b.created_at),
            updated_at: now,
        };
        let mut tx = self.store.begin().await?;
        rows::save_address(&mut tx, &row).await?;
        let mut event = AuditEvent::new(
            caller,
            if before.is_some() {
                "address.update"
            } else {
                "address.add"
            },
            "address",
            Some(&row.id),
        )
        .after(&audit_state(&row));
        if let Some(before) = &before {
            event = event.before(&audit_state(before));
        }
        event.append(&mut tx).await?;
        tx.commit().await?;
        Ok(row)
    }

    pub async fn remove_address(&self, caller: &Caller, id: &str) -> Result<(), ServiceError> {
        let account = self.signed_in_account(caller).await?;
        let before = match rows::address(&self.store, id).await? {
            Some(a) if a.account_id == account.id => a,
            _ => return Err(ServiceError::NotFound),
        };
        let mut tx = self.store.begin().await?;
        rows::delete_address(&mut tx, id).await?;
        AuditEvent::new(caller, "address.remove", "address", Some(id))
            .before(&audit_state(&before))
            .append(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

fn audit_state(a: &AddressRow) -> serde_json::Value {
    json!({
        "recipient": a.recipient,
        "phone": super::identity_documents::mask_phone(&a.phone),
        "region": a.region,
        "detail": a.detail,
        "latitude": a.latitude,
        "longitude": a.longitude,
        "isDefault": a.is_default,
    })
}
