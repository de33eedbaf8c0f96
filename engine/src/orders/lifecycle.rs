//! An order's life after payment (ORD-4, FUL-1, FUL-2): verified by the
//! station, picked line by line (weighed when sold by weight), packed,
//! handed to a courier, delivered with photo proof, completed; or cancelled
//! with its stock, slot and money given back.
//!
//! Each step names the permission it needs in the order's market, moves
//! the order only from the states it expects (a conditional UPDATE, so a
//! double click moves it once), and records the step on the timeline, in
//! the audit log and in the outbox in one transaction.

use std::collections::BTreeMap;

use serde_json::json;

use super::refunds::{RefundKind, RefundRequest};
use super::{Order, Orders, reject, reject_with, status};
use crate::caller::Caller;
use crate::i18n::{Locale, Text};
use crate::money::line_subtotal;
use crate::service_error::ServiceError;
use crate::store::batch::run_all;
use crate::store::catalogue as catalogue_rows;
use crate::store::now_ms;
use crate::store::orders::{self as rows, LineRow};

/// The most one line may weigh when picked, in grams (a sanity bound).
const MAX_PICKED_WEIGHT_G: i64 = 1_000_000;

fn wrong_state(locale: Locale) -> ServiceError {
    reject(
        "INVALID_ORDER_STATE",
        &["orderId"],
        Text::new(
            "The order is not in a state that allows this step.",
            "订单当前状态不允许此操作。",
        ),
        locale,
    )
}

/// What a line finally costs once weighed: the weight's price with the
/// line's adjustments, never below zero and never above what was authorised.
pub fn final_price(line: &LineRow, weight_g: Option<i64>) -> i64 {
    match (line.sold_by_weight, weight_g) {
        (true, Some(w)) => {
            let priced = line_subtotal(
                u32::try_from(w.max(0)).unwrap_or(u32::MAX),
                line.unit_price_fen,
                true,
            );
            (priced + line.adjustment_fen).clamp(0, line.total_fen)
        }
        _ => line.total_fen,
    }
}

impl Orders {
    /// Moves the order and records the step; refused when someone else
    /// moved it first.
    #[allow(clippy::too_many_arguments)]
    async fn step(
        &self,
        caller: &Caller,
        order: &Order,
        from: &[&str],
        to: &str,
        note: &str,
        detail: serde_json::Value,
    ) -> Result<(), ServiceError> {
        if !from.contains(&order.row.status.as_str()) {
            return Err(wrong_state(caller.locale));
        }
        let now = now_ms();
        let mut tx = self.store.begin_write().await?;
        if !rows::set_status(&mut tx, &order.row.id, from, to, now).await? {
            return Err(wrong_state(caller.locale));
        }
        self.record(&mut tx, caller, &order.row, to, note, detail, now)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Station staff verify a paid order (S 8.2.2.2).
    pub async fn accept(&self, caller: &Caller, id: &str) -> Result<Order, ServiceError> {
        let order = self.order(caller, id).await?;
        self.require(caller, &order.row, "order", "verify").await?;
        let late = order.row.verify_by.is_some_and(|by| now_ms() > by);
        self.step(
            caller,
            &order,
            &[status::PAID],
            status::ACCEPTED,
            "",
            json!({ "late": late }),
        )
        .await?;
        self.reload(caller, id).await
    }

    pub async fn start_picking(&self, caller: &Caller, id: &str) -> Result<Order, ServiceError> {
        let order = self.order(caller, id).await?;
        self.require(caller, &order.row, "order", "pick").await?;
        self.step(
            caller,
            &order,
            &[status::ACCEPTED],
            status::PICKING,
            "",
            json!({}),
        )
        .await?;
        self.reload(caller, id).await
    }

    /// Checks one line. A line sold by weight needs its weight; its price
    /// follows the weight and anything below what was paid goes back at
    /// once as a weight-difference refund (never charged more).
    pub async fn record_pick(
        &self,
        caller: &Caller,
        id: &str,
        line_id: &str,
        weight_g: Option<i64>,
    ) -> Result<Order, ServiceError> {
        let locale = caller.locale;
        let order = self.order(caller, id).await?;
        self.require(caller, &order.row, "order", "pick").await?;
        if order.row.status != status::PICKING {
            return Err(wrong_state(locale));
        }
        let Some(line) = order.lines.iter().find(|l| l.id == line_id) else {
            return Err(reject(
                "UNKNOWN_LINE",
                &["lineId"],
                Text::new("The order has no such line.", "订单中没有该商品行。"),
                locale,
            ));
        };
        if line.sold_by_weight && weight_g.is_none() {
            return Err(reject(
                "WEIGHT_REQUIRED",
                &["weightGrams"],
                Text::new(
                    "Weigh goods sold by weight and enter the weight.",
                    "按重量销售的商品须称重并填写重量。",
                ),
                locale,
            ));
        }
        if weight_g.is_some_and(|w| !(1..=MAX_PICKED_WEIGHT_G).contains(&w)) {
            return Err(reject(
                "INVALID_WEIGHT",
                &["weightGrams"],
                Text::new(
                    "The weight must be between 1 g and 1,000 kg.",
                    "重量须在 1 克至 1000 千克之间。",
                ),
                locale,
            ));
        }
        let final_fen = final_price(line, weight_g);
        let now = now_ms();
        let mut tx = self.store.begin_write().await?;
        if !rows::record_pick(
            &mut tx,
            line_id,
            weight_g,
            final_fen,
            &caller.actor.audit_name(),
            now,
        )
        .await?
        {
            return Err(reject(
                "LINE_ALREADY_PICKED",
                &["lineId"],
                Text::new("This line has already been checked.", "该商品行已核对。"),
                locale,
            ));
        }
        let difference = line.total_fen - final_fen;
        // Only money actually paid can go back; an unpaid (cash) order just owes less.
        let refundable = order.row.paid_fen - order.row.refunded_fen;
        if difference > 0 && refundable > 0 {
            self.refund_in(
                &mut tx,
                caller,
                &order,
                &RefundRequest {
                    kind: RefundKind::WeightDifference,
                    amount: difference.min(refundable),
                    reason: "weight difference at picking / 称重差价退款",
                    key: &format!("weight:{line_id}"),
                },
                now,
            )
            .await?;
        }
        crate::audit::AuditEvent::new(caller, "order.line_picked", "order", Some(id))
            .market(Some(&order.row.market_code))
            .after(&json!({
                "lineId": line_id,
                "weightGrams": weight_g,
                "finalFen": final_fen,
                "refundFen": difference.max(0),
            }))
            .append(&mut tx)
            .await?;
        tx.commit().await?;
        self.reload(caller, id).await
    }

    /// Every line checked: packed, and the reserved units leave the shelf.
    pub async fn pack(&self, caller: &Caller, id: &str) -> Result<Order, ServiceError> {
        let locale = caller.locale;
        let order = self.order(caller, id).await?;
        self.require(caller, &order.row, "order", "pick").await?;
        if order.row.status != status::PICKING {
            return Err(wrong_state(locale));
        }
        let unpicked = order.lines.iter().filter(|l| l.picked_at.is_none()).count();
        if unpicked > 0 {
            return Err(reject_with(
                "LINES_NOT_PICKED",
                &["orderId"],
                format!("{unpicked} line(s) still need checking."),
                format!("还有 {unpicked} 个商品行未核对。"),
                locale,
            ));
        }
        let now = now_ms();
        let mut tx = self.store.begin_write().await?;
        if !rows::set_status(&mut tx, id, &[status::PICKING], status::PACKED, now).await? {
            return Err(wrong_state(locale));
        }
        for line in &order.lines {
            if !catalogue_rows::commit_sale(&mut tx, &line.variant_id, line.quantity).await? {
                return Err(ServiceError::Internal(format!(
                    "order {id}: reservation for variant {} is missing",
                    line.variant_id
                )));
            }
        }
        // Sales count when goods leave the shelf, not at checkout: an order
        // cancelled before packing sold nothing, and checkouts of the same
        // product do not queue on its row.
        let mut sold: BTreeMap<&str, i64> = BTreeMap::new();
        for line in &order.lines {
            *sold.entry(line.product_id.as_str()).or_default() += line.quantity;
        }
        run_all(
            &mut tx,
            sold.into_iter()
                .map(|(product, units)| rows::add_sales(product, units))
                .collect(),
        )
        .await?;
        self.record(
            &mut tx,
            caller,
            &order.row,
            status::PACKED,
            "",
            json!({}),
            now,
        )
        .await?;
        tx.commit().await?;
        self.reload(caller, id).await
    }

    /// Handed to the market's own courier or a third-party carrier.
    pub async fn dispatch(
        &self,
        caller: &Caller,
        id: &str,
        carrier: &str,
        tracking_number: Option<&str>,
    ) -> Result<Order, ServiceError> {
        let locale = caller.locale;
        let order = self.order(caller, id).await?;
        self.require(caller, &order.row, "shipment", "write")
            .await?;
        let carrier = carrier.trim();
        if carrier.is_empty() || carrier.chars().count() > 100 {
            return Err(reject(
                "CARRIER_REQUIRED",
                &["carrier"],
                Text::new(
                    "Name the courier or carrier (at most 100 characters).",
                    "请填写配送员或承运商（不超过 100 个字符）。",
                ),
                locale,
            ));
        }
        let now = now_ms();
        let mut tx = self.store.begin_write().await?;
        if !rows::set_status(
            &mut tx,
            id,
            &[status::PACKED],
            status::OUT_FOR_DELIVERY,
            now,
        )
        .await?
        {
            return Err(wrong_state(locale));
        }
        rows::set_carrier(&mut tx, id, carrier, tracking_number.map(str::trim)).await?;
        self.record(
            &mut tx,
            caller,
            &order.row,
            status::OUT_FOR_DELIVERY,
            carrier,
            json!({ "carrier": carrier, "trackingNumber": tracking_number }),
            now,
        )
        .await?;
        tx.commit().await?;
        self.reload(caller, id).await
    }

    /// Delivered, with at least one photo as proof (S 8.2.4.5).
    pub async fn deliver(
        &self,
        caller: &Caller,
        id: &str,
        proof: &[String],
    ) -> Result<Order, ServiceError> {
        let locale = caller.locale;
        let order = self.order(caller, id).await?;
        self.require(caller, &order.row, "shipment", "write")
            .await?;
        if proof.is_empty() || proof.len() > 10 {
            return Err(reject(
                "PROOF_REQUIRED",
                &["proofMediaIds"],
                Text::new(
                    "Upload 1 to 10 photos: the package, the receipt, where it was left.",
                    "请上传 1 至 10 张照片：包裹、签收单、放置位置。",
                ),
                locale,
            ));
        }
        for media_id in proof {
            let found = crate::store::media::find(&self.store, media_id).await?;
            if found.is_none_or(|m| m.kind != "image") {
                return Err(reject(
                    "PROOF_NOT_AN_IMAGE",
                    &["proofMediaIds"],
                    Text::new(
                        "Proof must be uploaded images.",
                        "签收凭证须为已上传的图片。",
                    ),
                    locale,
                ));
            }
        }
        let now = now_ms();
        let mut tx = self.store.begin_write().await?;
        if !rows::set_status(
            &mut tx,
            id,
            &[status::OUT_FOR_DELIVERY],
            status::DELIVERED,
            now,
        )
        .await?
        {
            return Err(wrong_state(locale));
        }
        let proof_json = serde_json::to_string(proof).unwrap_or_else(|_| "[]".into());
        rows::set_proof(&mut tx, id, &proof_json).await?;
        self.record(
            &mut tx,
            caller,
            &order.row,
            status::DELIVERED,
            "",
            json!({ "proofMediaIds": proof }),
            now,
        )
        .await?;
        tx.commit().await?;
        self.reload(caller, id).await
    }

    /// The customer confirms receipt (or staff close it for them).
    pub async fn complete(&self, caller: &Caller, id: &str) -> Result<Order, ServiceError> {
        let order = self.order(caller, id).await?;
        if !Self::is_customer(caller, &order.row) {
            self.require(caller, &order.row, "order", "verify").await?;
        }
        self.step(
            caller,
            &order,
            &[status::DELIVERED],
            status::COMPLETED,
            "",
            json!({}),
        )
        .await?;
        self.reload(caller, id).await
    }

    /// Cancels an order: the customer before the station verifies it, staff
    /// until it leaves. Reserved stock and the slot are given back and what
    /// was paid is refunded in the same transaction.
    pub async fn cancel(
        &self,
        caller: &Caller,
        id: &str,
        reason: &str,
    ) -> Result<Order, ServiceError> {
        let locale = caller.locale;
        let order = self.order(caller, id).await?;
        let from: &[&str] = if Self::is_customer(caller, &order.row)
            && [status::PLACED, status::PAID].contains(&order.row.status.as_str())
        {
            &[status::PLACED, status::PAID]
        } else {
            self.require(caller, &order.row, "order", "cancel").await?;
            &[
                status::PLACED,
                status::PAID,
                status::ACCEPTED,
                status::PICKING,
                status::PACKED,
            ]
        };
        if reason.trim().is_empty() {
            return Err(reject(
                "REASON_REQUIRED",
                &["reason"],
                Text::new("Say why the order is cancelled.", "请填写取消原因。"),
                locale,
            ));
        }
        let now = now_ms();
        let mut tx = self.store.begin_write().await?;
        let was_packed = order.row.status == status::PACKED;
        if !rows::set_status(&mut tx, id, from, status::CANCELLED, now).await? {
            return Err(wrong_state(locale));
        }
        for line in &order.lines {
            if was_packed {
                // Packed goods left the shelf: they go back on it.
                catalogue_rows::adjust_on_hand(&mut tx, &line.variant_id, line.quantity, now)
                    .await?;
            } else {
                catalogue_rows::release(&mut tx, &line.variant_id, line.quantity).await?;
            }
        }
        if let Some(slot) = &order.row.slot_id {
            rows::release_slot(&mut tx, slot).await?;
        }
        let refundable = order.row.paid_fen - order.row.refunded_fen;
        if refundable > 0 {
            self.refund_in(
                &mut tx,
                caller,
                &order,
                &RefundRequest {
                    kind: RefundKind::Full,
                    amount: refundable,
                    reason: reason.trim(),
                    key: &format!("cancel:{id}"),
                },
                now,
            )
            .await?;
        }
        self.record(
            &mut tx,
            caller,
            &order.row,
            status::CANCELLED,
            reason.trim(),
            json!({ "refundedFen": refundable.max(0) }),
            now,
        )
        .await?;
        tx.commit().await?;
        self.reload(caller, id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(sold_by_weight: bool, total: i64, adjustment: i64) -> LineRow {
        LineRow {
            id: "l".into(),
            order_id: "o".into(),
            part_id: "p".into(),
            product_id: "x".into(),
            variant_id: "v".into(),
            product_name: String::new(),
            variant_name: String::new(),
            sku_code: String::new(),
            sold_by_weight,
            unit_price_fen: 4_000,
            quantity: 2,
            estimated_weight_g: Some(1_000),
            subtotal_fen: 4_000,
            adjustment_fen: adjustment,
            total_fen: total,
            picked_weight_g: None,
            picked_at: None,
            picked_by: None,
            final_fen: None,
            position: 0,
        }
    }

    #[test]
    fn the_price_follows_the_weight_but_never_rises() {
        // 1 kg estimated at ¥40/kg; 850 g found costs ¥34.
        assert_eq!(final_price(&line(true, 4_000, 0), Some(850)), 3_400);
        // Heavier than estimated: still what was authorised.
        assert_eq!(final_price(&line(true, 4_000, 0), Some(1_200)), 4_000);
        // A discount of ¥4 stays with the line.
        assert_eq!(final_price(&line(true, 3_600, -400), Some(850)), 3_000);
        // Pieces cost what they cost.
        assert_eq!(final_price(&line(false, 4_000, 0), None), 4_000);
    }
}
