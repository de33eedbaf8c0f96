//! Stock adjustments by the shop, each with its reason. Reservations for
//! checkout are store functions (`store::catalogue::{reserve, release,
//! commit_sale}`) that run inside the checkout's own transaction.

use serde_json::json;

use super::{Catalogue, Product, reject};
use crate::audit::AuditEvent;
use crate::caller::Caller;
use crate::i18n::Text;
use crate::service_error::ServiceError;
use crate::store::catalogue::{self as rows, MovementRow};
use crate::store::now_ms;

/// Why stock on hand changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockReason {
    Restock,
    Damage,
    CountCorrection,
    Return,
    Other,
}

impl StockReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StockReason::Restock => "restock",
            StockReason::Damage => "damage",
            StockReason::CountCorrection => "count_correction",
            StockReason::Return => "return",
            StockReason::Other => "other",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "RESTOCK" => StockReason::Restock,
            "DAMAGE" => StockReason::Damage,
            "COUNT_CORRECTION" => StockReason::CountCorrection,
            "RETURN" => StockReason::Return,
            "OTHER" => StockReason::Other,
            _ => return None,
        })
    }
}

impl Catalogue {
    /// Adds (or with a negative `delta` removes) units on hand. Units held by
    /// checkouts cannot be removed: the count never drops below `reserved`.
    pub async fn adjust_stock(
        &self,
        caller: &Caller,
        variant_id: &str,
        delta: i64,
        reason: StockReason,
        note: &str,
    ) -> Result<Product, ServiceError> {
        let locale = caller.locale;
        let variant = rows::find_variant(&self.store, variant_id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let product = self.owned(caller, &variant.product_id).await?;
        if delta == 0 {
            return Err(reject(
                "INVALID_QUANTITY",
                &["delta"],
                Text::new("Adjust by a non-zero quantity.", "调整数量不能为 0。"),
                locale,
            ));
        }
        let now = now_ms();
        let mut tx = self.store.begin().await?;
        let Some(on_hand) = rows::adjust_on_hand(&mut tx, variant_id, delta, now).await? else {
            return Err(reject(
                "INSUFFICIENT_STOCK",
                &["delta"],
                Text::new(
                    "Stock on hand cannot drop below zero or below what checkouts have reserved.",
                    "库存不能低于零，也不能低于已被订单预留的数量。",
                ),
                locale,
            ));
        };
        rows::record_movement(
            &mut tx,
            &MovementRow {
                id: uuid::Uuid::now_v7().to_string(),
                variant_id: variant_id.to_string(),
                delta,
                reason: reason.as_str().to_string(),
                note: note.trim().to_string(),
                on_hand_after: on_hand,
                moved_by: caller.actor.audit_name(),
                moved_at: now,
            },
        )
        .await?;
        AuditEvent::new(caller, "stock.adjust", "product_variant", Some(variant_id))
            .market(Some(&product.row.market_code))
            .before(&json!({ "onHand": variant.on_hand }))
            .after(&json!({ "onHand": on_hand, "delta": delta, "reason": reason.as_str() }))
            .append(&mut tx)
            .await?;
        tx.commit().await?;
        self.owned(caller, &variant.product_id).await
    }
}
