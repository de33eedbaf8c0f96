//! Checkout (ORD-1, ORD-5): the cart becomes one order with a part per
//! merchant.
//!
//! Everything that may refuse the order runs first, outside any
//! transaction: prices and stock read afresh, the market's plugins
//! (validate, adjust-prices, quote-delivery), order-taking hours and the
//! delivery rule. Then one transaction reserves the stock, books the slot,
//! writes the order, its parts, lines, adjustments and timeline, announces
//! it in the outbox and empties the cart: all of it or none. Payment is
//! asked for after the commit, never with a transaction open.
//!
//! The customer's idempotency key is unique per customer in the store, so
//! a retried or doubled checkout answers the first order; a retry that
//! races the first attempt loses at the insert and answers it too.

use std::collections::BTreeMap;

use serde_json::json;

use super::cart::{Cart, insufficient_stock};
use super::delivery::{self, DeliveryMode, DeliveryRequest};
use super::payments::PaymentChoice;
use super::{Order, Orders, new_id, reject, status};
use crate::caller::Caller;
use crate::i18n::{Locale, Text};
use crate::plugins::MarketContext;
use crate::plugins::types::{self, ValidateInput, ValidationSubject};
use crate::service_error::ServiceError;
use crate::store::catalogue as catalogue_rows;
use crate::store::orders::{self as rows, AdjustmentRow, LineRow, OrderRow, PartRow};
use crate::store::{now_ms, rfc3339};

#[derive(Debug, Clone)]
pub struct Recipient {
    pub name: String,
    pub phone: String,
    pub address: String,
    pub latitude: f64,
    pub longitude: f64,
}

#[derive(Debug, Clone)]
pub struct CheckoutInput {
    pub idempotency_key: String,
    pub mode: DeliveryMode,
    pub slot_id: Option<String>,
    pub recipient: Recipient,
    pub payment: PaymentChoice,
}

#[derive(Debug, Clone)]
pub struct CheckoutOutcome {
    pub order: Order,
    /// The key had already placed this order.
    pub replayed: bool,
    /// Plugins whose pricing failed; the order has their lines undiscounted.
    pub pricing_fallbacks: Vec<String>,
}

fn invalid(code: &'static str, field: &'static str, text: Text, locale: Locale) -> ServiceError {
    reject(code, &["input", field], text, locale)
}

/// Checks what the customer typed before anything is read or written.
fn check_input(input: &CheckoutInput, locale: Locale) -> Result<(), ServiceError> {
    let key = input.idempotency_key.trim();
    if key.is_empty() || key.len() > 200 {
        return Err(invalid(
            "INVALID_IDEMPOTENCY_KEY",
            "idempotencyKey",
            Text::new(
                "Give an idempotency key of 1 to 200 characters.",
                "幂等键须为 1 至 200 个字符。",
            ),
            locale,
        ));
    }
    let r = &input.recipient;
    if r.name.trim().is_empty() || r.name.chars().count() > 50 {
        return Err(invalid(
            "INVALID_RECIPIENT",
            "recipient",
            Text::new(
                "Give the recipient's name (at most 50 characters).",
                "请填写收货人姓名（不超过 50 个字符）。",
            ),
            locale,
        ));
    }
    let digits = r.phone.chars().filter(char::is_ascii_digit).count();
    if !(7..=20).contains(&digits)
        || !r
            .phone
            .chars()
            .all(|c| c.is_ascii_digit() || " +-()".contains(c))
    {
        return Err(invalid(
            "INVALID_PHONE",
            "recipient",
            Text::new("The phone number is not valid.", "手机号码无效。"),
            locale,
        ));
    }
    if r.address.trim().is_empty() || r.address.chars().count() > 200 {
        return Err(invalid(
            "INVALID_ADDRESS",
            "recipient",
            Text::new(
                "Give the delivery address (at most 200 characters).",
                "请填写收货地址（不超过 200 个字符）。",
            ),
            locale,
        ));
    }
    if !(-90.0..=90.0).contains(&r.latitude) || !(-180.0..=180.0).contains(&r.longitude) {
        return Err(invalid(
            "INVALID_LOCATION",
            "recipient",
            Text::new("The location is not on the map.", "收货位置无效。"),
            locale,
        ));
    }
    Ok(())
}

/// A number people can read out: the day and eight random digits (a clash
/// with an earlier order draws again).
fn order_number(now: i64) -> String {
    let day: String = rfc3339(now)[2..10]
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let random = uuid::Uuid::new_v4().as_u128() % 100_000_000;
    format!("{day}{random:08}")
}

impl Orders {
    pub async fn checkout(
        &self,
        caller: &Caller,
        market_code: &str,
        input: CheckoutInput,
    ) -> Result<CheckoutOutcome, ServiceError> {
        let locale = caller.locale;
        let Some(account) = caller.actor.account_id().map(str::to_string) else {
            return Err(ServiceError::Unauthenticated(caller.credential_problem));
        };
        check_input(&input, locale)?;
        let key = input.idempotency_key.trim().to_string();
        if let Some(first) = rows::order_by_key(&self.store, &account, &key).await? {
            return self.replay(first).await;
        }
        let market = self
            .markets
            .find(market_code)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let lines = rows::cart_lines(&self.store, &account, market_code).await?;
        if lines.is_empty() {
            return Err(reject(
                "EMPTY_CART",
                &["market"],
                Text::new("The cart is empty.", "购物车是空的。"),
                locale,
            ));
        }
        let cart = self.price(caller, &market, &lines).await?;
        if let Some(line) = cart.lines.iter().find(|l| !l.available) {
            return Err(insufficient_stock(&line.product_name, locale));
        }
        if cart.lines.len() != lines.len() {
            return Err(reject(
                "NOT_ON_SALE",
                &["market"],
                Text::new(
                    "Something in the cart is no longer sold.",
                    "购物车中有商品已下架。",
                ),
                locale,
            ));
        }
        let now = now_ms();
        let context = MarketContext {
            code: market.code.clone(),
            time_zone: market.time_zone.clone(),
        };
        let document = json!({
            "market": market.code,
            "mode": input.mode.as_str(),
            "lines": cart.lines.iter().map(|l| json!({
                "variantId": l.variant_id,
                "merchantId": l.merchant_id,
                "quantity": l.quantity,
                "subtotalFen": l.subtotal_fen,
            })).collect::<Vec<_>>(),
            "subtotalFen": cart.subtotal_fen,
        });
        let validation = ValidateInput {
            market: types::Market {
                code: market.code.clone(),
                time_zone: market.time_zone.clone(),
                config_json: String::new(),
            },
            subject: ValidationSubject::Checkout,
            document_json: document.to_string(),
            now: rfc3339(now),
        };
        let host = self.plugins.clone();
        let verdict = tokio::task::spawn_blocking(move || host.validate(&context, &validation))
            .await
            .map_err(|e| ServiceError::Internal(format!("validation: {e}")))?;
        crate::merchants::application::verdict(verdict, locale)?;

        let slot = match &input.slot_id {
            Some(id) if input.mode == DeliveryMode::Slot => {
                rows::find_slot(&self.store, id).await?
            }
            _ => None,
        };
        if input.mode == DeliveryMode::Slot && input.slot_id.is_some() && slot.is_none() {
            return Err(reject(
                "SLOT_UNAVAILABLE",
                &["input", "slotId"],
                Text::new("There is no such delivery slot.", "没有该配送时段。"),
                locale,
            ));
        }
        let plugin_lines: Vec<types::CartLine> = cart
            .lines
            .iter()
            .map(|l| types::CartLine {
                line_id: l.variant_id.clone(),
                product_id: l.product_id.clone(),
                variant_id: l.variant_id.clone(),
                merchant_id: l.merchant_id.clone(),
                category: String::new(),
                quantity: u32::try_from(l.estimated_weight_g.unwrap_or(l.quantity))
                    .unwrap_or(u32::MAX),
                unit_price: l.unit_price_fen,
                sold_by_weight: l.sold_by_weight,
                subtotal: l.subtotal_fen,
                tags: Vec::new(),
            })
            .collect();
        let plan = delivery::plan(
            &self.plugins,
            &self.config,
            DeliveryRequest {
                market: &market,
                mode: input.mode,
                slot,
                location: (input.recipient.latitude, input.recipient.longitude),
                region: String::new(),
                lines: &plugin_lines,
                subtotal: cart.total_fen,
                now,
            },
            locale,
        )
        .await?;

        let order = self.order_row(&account, &market.code, &key, &input, &cart, &plan, now);
        let mut tx = self.store.begin_write().await?;
        for line in &cart.lines {
            if !catalogue_rows::reserve(&mut tx, &line.variant_id, line.quantity).await? {
                return Err(insufficient_stock(&line.product_name, locale));
            }
        }
        if let Some(slot) = &plan.slot_id
            && !rows::book_slot(&mut tx, slot).await?
        {
            return Err(reject(
                "SLOT_FULL",
                &["input", "slotId"],
                Text::new(
                    "That delivery slot is full. Choose another.",
                    "该配送时段已约满，请另选时段。",
                ),
                locale,
            ));
        }
        let mut order = order;
        let mut attempts = 0;
        while !rows::insert_order(&mut tx, &order).await? {
            // A concurrent checkout with the same key won: answer its order.
            if let Some(first) = rows::order_by_key(&self.store, &account, &key).await? {
                drop(tx);
                return self.replay(first).await;
            }
            // Otherwise the random number was taken: draw another.
            attempts += 1;
            if attempts > 5 {
                return Err(ServiceError::Internal("no free order number".into()));
            }
            order.number = order_number(now);
        }
        self.write_contents(&mut tx, &order, &cart).await?;
        rows::clear_cart(&mut tx, &account, &market.code).await?;
        self.record(
            &mut tx,
            caller,
            &order,
            status::PLACED,
            plan.moved_reason.as_deref().unwrap_or_default(),
            json!({
                "lines": cart.lines.len(),
                "deliveryMode": plan.mode.as_str(),
                "deliveryFeeFen": plan.fee_fen,
                "deliveryQuotedBy": plan.quoted_by,
                "pricingFallbacks": cart.fallbacks,
            }),
            now,
        )
        .await?;
        tx.commit().await?;

        // The order stands whatever the provider says; a failed payment
        // leaves it placed for the customer to pay again or cancel.
        if let Err(e) = self.take_payment(caller, &order, &key, input.payment).await {
            tracing::warn!(order = %order.id, error = %e, "payment after checkout failed");
        }
        let placed = self.reload(caller, &order.id).await?;
        Ok(CheckoutOutcome {
            order: placed,
            replayed: false,
            pricing_fallbacks: cart.fallbacks,
        })
    }

    /// The first order a key placed, answered again.
    async fn replay(&self, first: OrderRow) -> Result<CheckoutOutcome, ServiceError> {
        Ok(CheckoutOutcome {
            order: self.load(first, true).await?,
            replayed: true,
            pricing_fallbacks: Vec::new(),
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn order_row(
        &self,
        account: &str,
        market: &str,
        key: &str,
        input: &CheckoutInput,
        cart: &Cart,
        plan: &delivery::DeliveryPlan,
        now: i64,
    ) -> OrderRow {
        let goods = cart.total_fen;
        OrderRow {
            id: new_id(),
            number: order_number(now),
            market_code: market.to_string(),
            account_id: account.to_string(),
            idempotency_key: key.to_string(),
            status: status::PLACED.into(),
            delivery_mode: plan.mode.as_str().into(),
            slot_id: plan.slot_id.clone(),
            deliver_from: plan.from,
            deliver_until: plan.until,
            moved_reason: plan.moved_reason.clone(),
            recipient_name: input.recipient.name.trim().to_string(),
            recipient_phone: input.recipient.phone.trim().to_string(),
            address: input.recipient.address.trim().to_string(),
            latitude: input.recipient.latitude,
            longitude: input.recipient.longitude,
            distance_m: plan.distance_m,
            delivery_quoted_by: plan.quoted_by.clone(),
            subtotal_fen: cart.subtotal_fen,
            adjustment_fen: goods - cart.subtotal_fen,
            delivery_fee_fen: plan.fee_fen,
            total_fen: goods + plan.fee_fen,
            paid_fen: 0,
            refunded_fen: 0,
            payment_provider: input.payment.provider.as_str().into(),
            placed_at: now,
            paid_at: None,
            verify_by: None,
            accepted_at: None,
            late_flagged_at: None,
            carrier: None,
            tracking_number: None,
            proof_media_ids: "[]".into(),
            updated_at: now,
        }
    }

    /// Parts, lines and adjustments of a new order; sales counted.
    async fn write_contents(
        &self,
        tx: &mut crate::store::Tx,
        order: &OrderRow,
        cart: &Cart,
    ) -> Result<(), ServiceError> {
        let mut parts: BTreeMap<&str, (String, i64)> = BTreeMap::new();
        for line in &cart.lines {
            let part = parts
                .entry(line.merchant_id.as_str())
                .or_insert_with(|| (new_id(), 0));
            part.1 += line.subtotal_fen;
        }
        for (merchant, (id, subtotal)) in &parts {
            rows::insert_part(
                tx,
                &PartRow {
                    id: id.clone(),
                    order_id: order.id.clone(),
                    merchant_id: merchant.to_string(),
                    subtotal_fen: *subtotal,
                },
            )
            .await?;
        }
        let mut line_ids = BTreeMap::new();
        for (position, line) in cart.lines.iter().enumerate() {
            let id = new_id();
            let adjustment = cart.line_adjustment(&line.variant_id);
            rows::insert_line(
                tx,
                &LineRow {
                    id: id.clone(),
                    order_id: order.id.clone(),
                    part_id: parts[line.merchant_id.as_str()].0.clone(),
                    product_id: line.product_id.clone(),
                    variant_id: line.variant_id.clone(),
                    product_name: line.product_name.clone(),
                    variant_name: line.variant_name.clone(),
                    sku_code: line.sku_code.clone(),
                    sold_by_weight: line.sold_by_weight,
                    unit_price_fen: line.unit_price_fen,
                    quantity: line.quantity,
                    estimated_weight_g: line.estimated_weight_g,
                    subtotal_fen: line.subtotal_fen,
                    adjustment_fen: adjustment,
                    total_fen: (line.subtotal_fen + adjustment).max(0),
                    picked_weight_g: None,
                    picked_at: None,
                    picked_by: None,
                    final_fen: None,
                    position: position as i64,
                },
            )
            .await?;
            rows::add_sales(tx, &line.product_id, line.quantity).await?;
            line_ids.insert(line.variant_id.clone(), id);
        }
        for a in &cart.adjustments {
            rows::insert_adjustment(
                tx,
                &AdjustmentRow {
                    id: new_id(),
                    order_id: order.id.clone(),
                    line_id: a.variant_id.as_ref().and_then(|v| line_ids.get(v).cloned()),
                    plugin: a.plugin.clone(),
                    code: a.code.clone(),
                    reason_zh: a.reason_zh.clone(),
                    reason_en: a.reason_en.clone(),
                    amount_fen: a.amount_fen,
                },
            )
            .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::order_number;

    #[test]
    fn order_numbers_start_with_the_day() {
        let n = order_number(1_795_564_800_000);
        assert_eq!(n.len(), 14);
        assert!(n.starts_with("261125"), "{n}");
    }
}
