//! Checkout (ORD-1, ORD-5): the cart becomes one order with a part per
//! merchant.
//!
//! Everything that may refuse the order runs first, outside any
//! transaction: prices and stock read afresh, the market's plugins
//! (validate, adjust-prices, quote-delivery), order-taking hours and the
//! delivery rule. Then one transaction writes the order, its parts, lines,
//! adjustments, payment intent and timeline, announces it in the outbox,
//! empties the cart, and last books the slot and reserves the stock: all
//! of it or none. A provider that answers in-process (cash) is settled in
//! that same transaction; any other is asked after the commit, never with
//! a transaction open, and settled in a second one.
//!
//! The customer's idempotency key is unique per customer in the store, so
//! a retried or doubled checkout answers the first order; a retry that
//! races the first attempt loses at the insert and answers it too.
//!
//! The answer is built from the rows just written, not read back: the
//! e2e test `the_checkout_answer_is_the_order_as_read_back` holds the two
//! equal.

use std::collections::BTreeMap;

use serde_json::json;

use super::cart::{Cart, insufficient_stock};
use super::delivery::{self, DeliveryMode, DeliveryRequest};
use super::payments::{self, PaymentChoice};
use super::{Journal, Order, Orders, new_id, reject, status};
use crate::caller::Caller;
use crate::i18n::{Locale, Text};
use crate::plugins::MarketContext;
use crate::plugins::types::{self, ValidateInput, ValidationSubject};
use crate::service_error::ServiceError;
use crate::store::batch::{Insert, Write, Written};
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
        match self.place(caller, market_code, &account, &key, input).await {
            // A retry whose key already placed an order answers that order,
            // whatever would refuse a new one now (an empty cart, closed
            // hours). The usual checkout never pays for this look-up: a
            // clash on the key at the insert replays too.
            Err(refusal) => match rows::order_by_key(&self.store, &account, &key).await {
                Ok(Some(first)) => self.replay(first).await,
                _ => Err(refusal),
            },
            placed => placed,
        }
    }

    /// Places a new order from the cart.
    async fn place(
        &self,
        caller: &Caller,
        market_code: &str,
        account: &str,
        key: &str,
        input: CheckoutInput,
    ) -> Result<CheckoutOutcome, ServiceError> {
        let locale = caller.locale;
        let market = self
            .markets
            .find(market_code)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let lines = rows::cart_offers(&self.store, account, market_code).await?;
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

        let mut order = self.order_row(account, &market.code, key, &input, &cart, &plan, now);
        let mut intent = payments::intent(&order, key, input.payment.provider, now);
        // A provider that answers in-process (cash) is settled in the
        // order's own write: one commit for the whole checkout.
        let local = payments::provider(input.payment.provider).answers_locally();
        let answer = if local {
            Some(self.ask(&intent, input.payment).await)
        } else {
            None
        };
        if let Some(answer) = &answer {
            intent.status = answer.status.to_string();
            intent.provider_ref = answer.reference.clone();
            intent.failure = answer.failure.clone();
            if answer.status == "succeeded" {
                order.status = status::PAID.into();
                order.paid_fen = intent.amount_fen;
                order.paid_at = Some(now);
                order.verify_by = Some(self.verify_by(now));
            }
        }
        let placed_detail = json!({
            "lines": cart.lines.len(),
            "deliveryMode": plan.mode.as_str(),
            "deliveryFeeFen": plan.fee_fen,
            "deliveryQuotedBy": plan.quoted_by,
            "pricingFallbacks": cart.fallbacks,
        });
        // Stock in one order of variant ids, so two carts never wait on
        // each other.
        let mut reservations: Vec<&super::CartLine> = cart.lines.iter().collect();
        reservations.sort_by(|a, b| a.variant_id.cmp(&b.variant_id));

        let mut attempts = 0;
        let (journal, contents) = loop {
            // The order as placed, before any payment: what its first steps record.
            let placed = OrderRow {
                status: status::PLACED.into(),
                paid_fen: 0,
                paid_at: None,
                verify_by: None,
                ..order.clone()
            };
            let mut journal = Journal::default();
            journal.step(
                caller,
                &placed,
                status::PLACED,
                status::PLACED,
                plan.moved_reason.as_deref().unwrap_or_default(),
                placed_detail.clone(),
                now,
            );
            journal.audit(payments::intent_audit(caller, &placed, &intent));
            if let Some(answer) = &answer {
                payments::settled(&mut journal, caller, &placed, &intent, answer, now);
                if answer.status == "succeeded" {
                    payments::paid(&mut journal, caller, &placed, &intent, now);
                }
            }
            let contents = contents(&order, &cart);
            let mut write = Write::default();
            let new_order = write.expect(rows::insert_order(&order), 1);
            write.extend(
                [
                    rows::insert_parts(&contents.parts),
                    rows::insert_lines(&contents.lines),
                    rows::insert_adjustments(&contents.adjustments),
                ]
                .into_iter()
                .filter_map(Insert::statement),
            );
            write.push(rows::clear_cart(account, &market.code));
            write.push(rows::payment_statement(&intent));
            write.extend(journal.statements());
            // Last, the rows every checkout of the same goods contends for:
            // the slot and the stock, each taken only if there is room.
            let slot = plan
                .slot_id
                .as_deref()
                .map(|slot| write.expect(rows::book_slot(slot), 1));
            let reserved: Vec<(usize, &super::CartLine)> = reservations
                .iter()
                .map(|line| {
                    let at = write.expect(
                        catalogue_rows::reservation(&line.variant_id, line.quantity),
                        1,
                    );
                    (at, *line)
                })
                .collect();
            match self.store.write_all(write).await? {
                Written::Done => break (journal, contents),
                Written::Refused { at } if at == new_order => {
                    // A concurrent checkout with the same key won: answer its order.
                    if let Some(first) = rows::order_by_key(&self.store, account, key).await? {
                        return self.replay(first).await;
                    }
                    // Otherwise the random number was taken: draw another.
                    attempts += 1;
                    if attempts > 5 {
                        return Err(ServiceError::Internal("no free order number".into()));
                    }
                    order.number = order_number(now);
                }
                Written::Refused { at } if Some(at) == slot => {
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
                Written::Refused { at } => {
                    let (_, line) = reserved
                        .iter()
                        .find(|(position, _)| *position == at)
                        .ok_or_else(|| {
                            ServiceError::Internal(format!("checkout refused at {at}"))
                        })?;
                    return Err(insufficient_stock(&line.product_name, locale));
                }
            }
        };

        let order = if local {
            // Answered from what was just written, as a read would give it.
            let mut timeline = journal.events;
            timeline.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
            Order {
                row: order,
                parts: contents.parts,
                lines: contents.lines,
                adjustments: contents.adjustments,
                timeline,
                payments: vec![intent],
                refunds: Vec::new(),
                reveal_contact: true,
            }
        } else {
            // The order stands whatever the provider says; a failed payment
            // leaves it placed for the customer to pay again or cancel.
            if let Err(e) = self
                .ask_and_settle(caller, &order, &intent, input.payment)
                .await
            {
                tracing::warn!(order = %order.id, error = %e, "payment after checkout failed");
            }
            self.reload(caller, &order.id).await?
        };
        Ok(CheckoutOutcome {
            order,
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
}

/// What a new order holds besides itself.
struct Contents {
    parts: Vec<PartRow>,
    lines: Vec<LineRow>,
    adjustments: Vec<AdjustmentRow>,
}

/// The parts (one per merchant), lines and adjustments of a new order, in
/// the order a read gives them back.
fn contents(order: &OrderRow, cart: &Cart) -> Contents {
    let mut parts: BTreeMap<&str, PartRow> = BTreeMap::new();
    for line in &cart.lines {
        parts
            .entry(line.merchant_id.as_str())
            .or_insert_with(|| PartRow {
                id: new_id(),
                order_id: order.id.clone(),
                merchant_id: line.merchant_id.clone(),
                subtotal_fen: 0,
            })
            .subtotal_fen += line.subtotal_fen;
    }
    let mut line_ids = BTreeMap::new();
    let lines = cart
        .lines
        .iter()
        .enumerate()
        .map(|(position, line)| {
            let id = new_id();
            let adjustment = cart.line_adjustment(&line.variant_id);
            line_ids.insert(line.variant_id.clone(), id.clone());
            LineRow {
                id,
                order_id: order.id.clone(),
                part_id: parts[line.merchant_id.as_str()].id.clone(),
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
            }
        })
        .collect();
    let mut adjustments: Vec<AdjustmentRow> = cart
        .adjustments
        .iter()
        .map(|a| AdjustmentRow {
            id: new_id(),
            order_id: order.id.clone(),
            line_id: a.variant_id.as_ref().and_then(|v| line_ids.get(v).cloned()),
            plugin: a.plugin.clone(),
            code: a.code.clone(),
            reason_zh: a.reason_zh.clone(),
            reason_en: a.reason_en.clone(),
            amount_fen: a.amount_fen,
        })
        .collect();
    adjustments.sort_by(|a, b| a.id.cmp(&b.id));
    let mut parts: Vec<PartRow> = parts.into_values().collect();
    parts.sort_by(|a, b| a.id.cmp(&b.id));
    Contents {
        parts,
        lines,
        adjustments,
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
