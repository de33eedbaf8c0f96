//! Resolvers for carts, checkout and the order's life. Market-wide fields
//! are guarded by casbin in the market they name; steps on one order are
//! guarded by the orders service, which knows the order's market and
//! whether the caller is its customer.

use async_graphql::dynamic::{FieldFuture, FieldValue, ObjectAccessor, ResolverContext};
use async_graphql::{Name, Value};

use super::binding::Resolvers;
use super::error::user_errors_value;
use super::guard::Access;
use super::payload::{
    FieldResult, bad_argument, caller, enum_field, object_arg, opt, opt_str_field, payload,
    services, str_field, top_level,
};
use super::relay::{self, PageRequest, object};
use crate::accounts::identity_documents::mask_phone;
use crate::i18n::{Locale, Text};
use crate::orders::{
    Cart, CheckoutInput, DeliveryMode, Order, OrderPage, PaymentChoice, ProviderKind, Recipient,
    RefundKind, RefundRequest, TestOutcome,
};
use crate::service_error::ServiceError;
use crate::store::orders::{AlertRow, SlotRow};
use crate::store::{parse_rfc3339, rfc3339};

pub(super) fn bind(r: &mut Resolvers) {
    r.guarded(
        "Query.cart",
        Access::in_market("order", "read", "market"),
        |ctx| {
            FieldFuture::new(async move {
                let market = ctx.args.try_get("market")?.string()?;
                let cart = services(&ctx)?
                    .orders
                    .cart(caller(&ctx)?, market)
                    .await
                    .map_err(|e| top_level(&ctx, e))?;
                Ok(Some(FieldValue::value(cart_value(&cart, locale(&ctx)))))
            })
        },
    )
    .guarded("Query.order", Access::Resolver, |ctx| {
        FieldFuture::new(async move {
            let id = ctx.args.try_get("id")?.string()?;
            match services(&ctx)?.orders.order(caller(&ctx)?, id).await {
                Ok(order) => Ok(Some(FieldValue::value(order_value(&order, locale(&ctx))))),
                Err(ServiceError::NotFound) => Ok(None),
                Err(e) => Err(top_level(&ctx, e)),
            }
        })
    })
    .guarded(
        "Query.myOrders",
        Access::in_market("order", "read", "market"),
        |ctx| {
            FieldFuture::new(async move {
                let market = ctx.args.try_get("market")?.string()?.to_string();
                let (request, page) = page(&ctx)?;
                let found = services(&ctx)?
                    .orders
                    .my_orders(caller(&ctx)?, &market, &page)
                    .await;
                connection(&ctx, &request, found)
            })
        },
    )
    .guarded(
        "Query.marketOrders",
        Access::in_market("order", "read_all", "market"),
        |ctx| {
            FieldFuture::new(async move {
                let market = ctx.args.try_get("market")?.string()?.to_string();
                let statuses = match ctx.args.get("statuses").filter(|v| !v.is_null()) {
                    Some(list) => list
                        .list()?
                        .iter()
                        .map(|v| v.enum_name().map(str::to_lowercase))
                        .collect::<Result<Vec<_>, _>>()?,
                    None => Vec::new(),
                };
                let late_only = ctx
                    .args
                    .get("lateOnly")
                    .filter(|v| !v.is_null())
                    .map(|v| v.boolean())
                    .transpose()?
                    .unwrap_or(false);
                let (request, page) = page(&ctx)?;
                let found = services(&ctx)?
                    .orders
                    .market_orders(caller(&ctx)?, &market, statuses, late_only, &page)
                    .await;
                connection(&ctx, &request, found)
            })
        },
    )
    .guarded("Query.deliverySlots", Access::Public, |ctx| {
        FieldFuture::new(async move {
            let market = ctx.args.try_get("market")?.string()?;
            let first = PageRequest::from_args(&ctx)
                .map_err(|e| e.into_graphql(locale(&ctx)))?
                .first;
            let slots = services(&ctx)?
                .orders
                .slots(market, first)
                .await
                .map_err(|e| top_level(&ctx, e))?;
            Ok(Some(FieldValue::value(Value::List(
                slots.iter().map(slot_value).collect(),
            ))))
        })
    })
    .guarded(
        "Query.marketAlerts",
        Access::in_market("order", "read_all", "market"),
        |ctx| {
            FieldFuture::new(async move {
                let market = ctx.args.try_get("market")?.string()?;
                let first = PageRequest::from_args(&ctx)
                    .map_err(|e| e.into_graphql(locale(&ctx)))?
                    .first;
                let alerts = services(&ctx)?
                    .orders
                    .alerts(market, first)
                    .await
                    .map_err(|e| top_level(&ctx, e))?;
                let locale = locale(&ctx);
                Ok(Some(FieldValue::value(Value::List(
                    alerts.iter().map(|a| alert_value(a, locale)).collect(),
                ))))
            })
        },
    )
    .guarded(
        "Mutation.addToCart",
        Access::in_market("order", "write", "market"),
        |ctx| FieldFuture::new(async move { change_cart(&ctx, true).await }),
    )
    .guarded(
        "Mutation.updateCartLine",
        Access::in_market("order", "write", "market"),
        |ctx| FieldFuture::new(async move { change_cart(&ctx, false).await }),
    )
    .guarded(
        "Mutation.checkout",
        Access::in_market("order", "write", "market"),
        |ctx| FieldFuture::new(async move { checkout(&ctx).await }),
    )
    .guarded("Mutation.payOrder", Access::Resolver, |ctx| {
        FieldFuture::new(async move {
            let id = ctx.args.try_get("orderId")?.string()?.to_string();
            let key = ctx.args.try_get("idempotencyKey")?.string()?.to_string();
            let choice = payment_choice(&ctx, &object_arg(&ctx, "payment")?)?;
            let outcome = services(&ctx)?
                .orders
                .pay_order(caller(&ctx)?, &id, &key, choice)
                .await;
            order_payload(&ctx, outcome)
        })
    })
    .guarded("Mutation.acceptOrder", Access::Resolver, |ctx| {
        FieldFuture::new(async move {
            let id = ctx.args.try_get("orderId")?.string()?.to_string();
            let outcome = services(&ctx)?.orders.accept(caller(&ctx)?, &id).await;
            order_payload(&ctx, outcome)
        })
    })
    .guarded("Mutation.startPicking", Access::Resolver, |ctx| {
        FieldFuture::new(async move {
            let id = ctx.args.try_get("orderId")?.string()?.to_string();
            let outcome = services(&ctx)?
                .orders
                .start_picking(caller(&ctx)?, &id)
                .await;
            order_payload(&ctx, outcome)
        })
    })
    .guarded("Mutation.recordPick", Access::Resolver, |ctx| {
        FieldFuture::new(async move {
            let id = ctx.args.try_get("orderId")?.string()?.to_string();
            let line = ctx.args.try_get("lineId")?.string()?.to_string();
            let weight = ctx
                .args
                .get("weightGrams")
                .filter(|v| !v.is_null())
                .map(|v| v.i64())
                .transpose()?;
            let outcome = services(&ctx)?
                .orders
                .record_pick(caller(&ctx)?, &id, &line, weight)
                .await;
            order_payload(&ctx, outcome)
        })
    })
    .guarded("Mutation.packOrder", Access::Resolver, |ctx| {
        FieldFuture::new(async move {
            let id = ctx.args.try_get("orderId")?.string()?.to_string();
            let outcome = services(&ctx)?.orders.pack(caller(&ctx)?, &id).await;
            order_payload(&ctx, outcome)
        })
    })
    .guarded("Mutation.dispatchOrder", Access::Resolver, |ctx| {
        FieldFuture::new(async move {
            let id = ctx.args.try_get("orderId")?.string()?.to_string();
            let carrier = ctx.args.try_get("carrier")?.string()?.to_string();
            let tracking = ctx
                .args
                .get("trackingNumber")
                .filter(|v| !v.is_null())
                .map(|v| v.string().map(str::to_string))
                .transpose()?;
            let outcome = services(&ctx)?
                .orders
                .dispatch(caller(&ctx)?, &id, &carrier, tracking.as_deref())
                .await;
            order_payload(&ctx, outcome)
        })
    })
    .guarded("Mutation.deliverOrder", Access::Resolver, |ctx| {
        FieldFuture::new(async move {
            let id = ctx.args.try_get("orderId")?.string()?.to_string();
            let proof = ctx
                .args
                .try_get("proofMediaIds")?
                .list()?
                .iter()
                .map(|v| v.string().map(str::to_string))
                .collect::<Result<Vec<_>, _>>()?;
            let outcome = services(&ctx)?
                .orders
                .deliver(caller(&ctx)?, &id, &proof)
                .await;
            order_payload(&ctx, outcome)
        })
    })
    .guarded("Mutation.completeOrder", Access::Resolver, |ctx| {
        FieldFuture::new(async move {
            let id = ctx.args.try_get("orderId")?.string()?.to_string();
            let outcome = services(&ctx)?.orders.complete(caller(&ctx)?, &id).await;
            order_payload(&ctx, outcome)
        })
    })
    .guarded("Mutation.cancelOrder", Access::Resolver, |ctx| {
        FieldFuture::new(async move {
            let id = ctx.args.try_get("orderId")?.string()?.to_string();
            let reason = ctx.args.try_get("reason")?.string()?.to_string();
            let outcome = services(&ctx)?
                .orders
                .cancel(caller(&ctx)?, &id, &reason)
                .await;
            order_payload(&ctx, outcome)
        })
    })
    .guarded("Mutation.refundOrder", Access::Resolver, |ctx| {
        FieldFuture::new(async move {
            let input = object_arg(&ctx, "input")?;
            let id = str_field(&input, "orderId")?;
            let amount = input.try_get("amountFen")?.i64()?;
            let kind = RefundKind::parse(&enum_field(&input, "kind")?)
                .ok_or_else(|| async_graphql::Error::new("unknown refund kind"))?;
            let reason = str_field(&input, "reason")?;
            let key = str_field(&input, "idempotencyKey")?;
            let outcome = services(&ctx)?
                .orders
                .refund(
                    caller(&ctx)?,
                    &id,
                    RefundRequest {
                        kind,
                        amount,
                        reason: &reason,
                        key: &key,
                    },
                )
                .await;
            order_payload(&ctx, outcome)
        })
    })
    .guarded(
        "Mutation.createDeliverySlot",
        Access::in_market("market", "write", "market"),
        |ctx| {
            FieldFuture::new(async move {
                let market = ctx.args.try_get("market")?.string()?.to_string();
                let starts = time_arg(&ctx, "startsAt")?;
                let ends = time_arg(&ctx, "endsAt")?;
                let capacity = ctx.args.try_get("capacity")?.i64()?;
                let outcome = services(&ctx)?
                    .orders
                    .create_slot(caller(&ctx)?, &market, starts, ends, capacity)
                    .await
                    .map(|s| vec![("slot", slot_value(&s))]);
                payload(&ctx, outcome, &["slot"])
            })
        },
    )
    .guarded(
        "Mutation.runVerificationSweep",
        Access::in_market("market", "write", "market"),
        |ctx| {
            FieldFuture::new(async move {
                let market = ctx.args.try_get("market")?.string()?;
                let flagged = services(&ctx)?
                    .orders
                    .sweep_late(Some(market))
                    .await
                    .map_err(|e| top_level(&ctx, e))?;
                Ok(Some(FieldValue::value(Value::from(flagged as i64))))
            })
        },
    );
    for record in [
        "Cart",
        "CartLine",
        "CartPayload",
        "CheckoutPayload",
        "Order",
        "Recipient",
        "OrderPart",
        "OrderLine",
        "OrderAdjustment",
        "Payment",
        "Refund",
        "OrderEvent",
        "OrderConnection",
        "OrderEdge",
        "OrderPayload",
        "DeliverySlot",
        "DeliverySlotPayload",
        "MarketAlert",
    ] {
        r.record(record);
    }
}

fn locale(ctx: &ResolverContext<'_>) -> Locale {
    caller(ctx).map(|c| c.locale).unwrap_or_default()
}

fn page(ctx: &ResolverContext<'_>) -> Result<(PageRequest, OrderPage), async_graphql::Error> {
    let request = PageRequest::from_args(ctx).map_err(|e| e.into_graphql(locale(ctx)))?;
    let page = OrderPage {
        first: request.first,
        after: request.after.clone(),
    };
    Ok((request, page))
}

fn time_arg(ctx: &ResolverContext<'_>, name: &str) -> Result<i64, async_graphql::Error> {
    let text = ctx.args.try_get(name)?.string()?;
    parse_rfc3339(text).ok_or_else(|| {
        bad_argument(
            ctx,
            name,
            Text::new(
                "Give a time in RFC 3339, e.g. 2026-11-25T08:00:00Z.",
                "请使用 RFC 3339 时间格式，例如 2026-11-25T08:00:00Z。",
            ),
        )
    })
}

async fn change_cart<'a>(ctx: &ResolverContext<'a>, add: bool) -> FieldResult<'a> {
    let market = ctx.args.try_get("market")?.string()?.to_string();
    let variant = ctx.args.try_get("variantId")?.string()?.to_string();
    let quantity = ctx.args.try_get("quantity")?.i64()?;
    let orders = &services(ctx)?.orders;
    let caller = caller(ctx)?;
    // Pricing the cart runs the market's plugins: only when it is asked for.
    let outcome = if ctx.look_ahead().field("cart").exists() {
        orders
            .change_cart(caller, &market, &variant, quantity, add)
            .await
            .map(|c| vec![("cart", cart_value(&c, locale(ctx)))])
    } else {
        orders
            .change_cart_line(caller, &market, &variant, quantity, add)
            .await
            .map(|()| vec![("cart", Value::Null)])
    };
    payload(ctx, outcome, &["cart"])
}

fn payment_choice(
    ctx: &ResolverContext<'_>,
    input: &ObjectAccessor<'_>,
) -> Result<PaymentChoice, async_graphql::Error> {
    let provider = ProviderKind::parse(&enum_field(input, "provider")?)
        .ok_or_else(|| async_graphql::Error::new("unknown payment provider"))?;
    let test_outcome = match input.get("testOutcome").filter(|v| !v.is_null()) {
        Some(v) => Some(TestOutcome::parse(v.enum_name()?).ok_or_else(|| {
            bad_argument(
                ctx,
                "testOutcome",
                Text::new("Unknown test outcome.", "未知的测试结果。"),
            )
        })?),
        None => None,
    };
    Ok(PaymentChoice {
        provider,
        test_outcome,
    })
}

async fn checkout<'a>(ctx: &ResolverContext<'a>) -> FieldResult<'a> {
    let market = ctx.args.try_get("market")?.string()?.to_string();
    let input = object_arg(ctx, "input")?;
    let recipient = input.try_get("recipient")?.object()?;
    let location = recipient.try_get("location")?.object()?;
    let mode = DeliveryMode::parse(&enum_field(&input, "mode")?)
        .ok_or_else(|| async_graphql::Error::new("unknown delivery mode"))?;
    let fields = CheckoutInput {
        idempotency_key: str_field(&input, "idempotencyKey")?,
        mode,
        slot_id: opt_str_field(&input, "slotId"),
        recipient: Recipient {
            name: str_field(&recipient, "name")?,
            phone: str_field(&recipient, "phone")?,
            address: str_field(&recipient, "address")?,
            latitude: location.try_get("latitude")?.f64()?,
            longitude: location.try_get("longitude")?.f64()?,
        },
        payment: payment_choice(ctx, &input.try_get("payment")?.object()?)?,
    };
    let locale = locale(ctx);
    let outcome = services(ctx)?
        .orders
        .checkout(caller(ctx)?, &market, fields)
        .await
        .map(|o| {
            vec![
                ("order", order_value(&o.order, locale)),
                ("replayed", Value::Boolean(o.replayed)),
                ("pricingFallbacks", strings(&o.pricing_fallbacks)),
            ]
        });
    match outcome {
        Err(ServiceError::Rejected(errors)) => Ok(Some(FieldValue::value(object([
            ("order", Value::Null),
            ("replayed", Value::Boolean(false)),
            ("pricingFallbacks", Value::List(Vec::new())),
            ("userErrors", user_errors_value(&errors)),
        ])))),
        other => payload(ctx, other, &["order"]),
    }
}

fn order_payload<'a>(
    ctx: &ResolverContext<'_>,
    outcome: Result<Order, ServiceError>,
) -> FieldResult<'a> {
    let locale = locale(ctx);
    payload(
        ctx,
        outcome.map(|o| vec![("order", order_value(&o, locale))]),
        &["order"],
    )
}

fn connection<'a>(
    ctx: &ResolverContext<'_>,
    request: &PageRequest,
    found: Result<Vec<(String, Order)>, ServiceError>,
) -> FieldResult<'a> {
    let found = found.map_err(|e| top_level(ctx, e))?;
    let locale = locale(ctx);
    let rows = found
        .iter()
        .map(|(key, o)| (key.clone(), order_value(o, locale)))
        .collect();
    Ok(Some(FieldValue::value(relay::connection(request, rows))))
}

fn strings(values: &[String]) -> Value {
    Value::List(values.iter().cloned().map(Value::String).collect())
}

fn enum_value(stored: &str) -> Value {
    Value::Enum(Name::new(stored.to_uppercase()))
}

fn time(ms: i64) -> Value {
    Value::String(rfc3339(ms))
}

fn opt_time(ms: Option<i64>) -> Value {
    ms.map_or(Value::Null, time)
}

fn opt_int(v: Option<i64>) -> Value {
    v.map_or(Value::Null, Value::from)
}

fn reason(en: &str, zh: &str, locale: Locale) -> Value {
    Value::String(match locale {
        Locale::En => en.to_string(),
        Locale::ZhCn => zh.to_string(),
    })
}

fn cart_value(cart: &Cart, locale: Locale) -> Value {
    let lines = cart
        .lines
        .iter()
        .map(|l| {
            object([
                ("variantId", Value::String(l.variant_id.clone())),
                ("productId", Value::String(l.product_id.clone())),
                ("merchantId", Value::String(l.merchant_id.clone())),
                ("productName", Value::String(l.product_name.clone())),
                ("variantName", Value::String(l.variant_name.clone())),
                ("quantity", Value::from(l.quantity)),
                ("unitPriceFen", Value::from(l.unit_price_fen)),
                ("soldByWeight", Value::Boolean(l.sold_by_weight)),
                ("estimatedWeightGrams", opt_int(l.estimated_weight_g)),
                ("subtotalFen", Value::from(l.subtotal_fen)),
                ("available", Value::Boolean(l.available)),
            ])
        })
        .collect();
    let adjustments = cart
        .adjustments
        .iter()
        .map(|a| {
            object([
                ("plugin", Value::String(a.plugin.clone())),
                ("lineId", opt(a.variant_id.clone())),
                ("code", Value::String(a.code.clone())),
                ("amountFen", Value::from(a.amount_fen)),
                ("reason", reason(&a.reason_en, &a.reason_zh, locale)),
            ])
        })
        .collect();
    object([
        ("market", Value::String(cart.market.clone())),
        ("lines", Value::List(lines)),
        ("subtotalFen", Value::from(cart.subtotal_fen)),
        ("adjustments", Value::List(adjustments)),
        ("totalFen", Value::from(cart.total_fen)),
        ("pricingFallbacks", strings(&cart.fallbacks)),
    ])
}

fn order_value(order: &Order, locale: Locale) -> Value {
    let o = &order.row;
    let phone = if order.reveal_contact {
        o.recipient_phone.clone()
    } else {
        mask_phone(&o.recipient_phone)
    };
    let lines = order
        .lines
        .iter()
        .map(|l| {
            object([
                ("id", Value::String(l.id.clone())),
                (
                    "merchantId",
                    Value::String(order.merchant_of(l).to_string()),
                ),
                ("productId", Value::String(l.product_id.clone())),
                ("variantId", Value::String(l.variant_id.clone())),
                ("productName", Value::String(l.product_name.clone())),
                ("variantName", Value::String(l.variant_name.clone())),
                ("skuCode", Value::String(l.sku_code.clone())),
                ("soldByWeight", Value::Boolean(l.sold_by_weight)),
                ("unitPriceFen", Value::from(l.unit_price_fen)),
                ("quantity", Value::from(l.quantity)),
                ("estimatedWeightGrams", opt_int(l.estimated_weight_g)),
                ("subtotalFen", Value::from(l.subtotal_fen)),
                ("adjustmentFen", Value::from(l.adjustment_fen)),
                ("totalFen", Value::from(l.total_fen)),
                ("pickedWeightGrams", opt_int(l.picked_weight_g)),
                ("pickedAt", opt_time(l.picked_at)),
                ("finalFen", opt_int(l.final_fen)),
            ])
        })
        .collect();
    let parts = order
        .parts
        .iter()
        .map(|p| {
            object([
                ("merchantId", Value::String(p.merchant_id.clone())),
                ("subtotalFen", Value::from(p.subtotal_fen)),
            ])
        })
        .collect();
    let adjustments = order
        .adjustments
        .iter()
        .map(|a| {
            object([
                ("plugin", Value::String(a.plugin.clone())),
                ("lineId", opt(a.line_id.clone())),
                ("code", Value::String(a.code.clone())),
                ("amountFen", Value::from(a.amount_fen)),
                ("reason", reason(&a.reason_en, &a.reason_zh, locale)),
            ])
        })
        .collect();
    let payments = order
        .payments
        .iter()
        .map(|p| {
            object([
                ("id", Value::String(p.id.clone())),
                ("provider", enum_value(&p.provider)),
                ("status", enum_value(&p.status)),
                ("amountFen", Value::from(p.amount_fen)),
                ("failure", opt(p.failure.clone())),
                ("createdAt", time(p.created_at)),
            ])
        })
        .collect();
    let refunds = order
        .refunds
        .iter()
        .map(|r| {
            object([
                ("id", Value::String(r.id.clone())),
                ("kind", enum_value(&r.kind)),
                ("amountFen", Value::from(r.amount_fen)),
                ("reason", Value::String(r.reason.clone())),
                ("createdAt", time(r.created_at)),
            ])
        })
        .collect();
    let timeline = order
        .timeline
        .iter()
        .map(|e| {
            object([
                ("status", enum_value(&e.status)),
                ("at", time(e.at)),
                ("note", Value::String(e.note.clone())),
            ])
        })
        .collect();
    let proof: Vec<String> = serde_json::from_str(&o.proof_media_ids).unwrap_or_default();
    object([
        ("id", Value::String(o.id.clone())),
        ("number", Value::String(o.number.clone())),
        ("market", Value::String(o.market_code.clone())),
        ("status", enum_value(&o.status)),
        ("deliveryMode", enum_value(&o.delivery_mode)),
        ("slotId", opt(o.slot_id.clone())),
        ("deliverFrom", time(o.deliver_from)),
        ("deliverUntil", time(o.deliver_until)),
        ("movedReason", opt(o.moved_reason.clone())),
        (
            "recipient",
            object([
                ("name", Value::String(o.recipient_name.clone())),
                ("phone", Value::String(phone)),
                ("address", Value::String(o.address.clone())),
                ("distanceMeters", Value::from(o.distance_m)),
            ]),
        ),
        (
            "deliveryQuotedBy",
            Value::String(o.delivery_quoted_by.clone()),
        ),
        ("parts", Value::List(parts)),
        ("lines", Value::List(lines)),
        ("adjustments", Value::List(adjustments)),
        ("subtotalFen", Value::from(o.subtotal_fen)),
        ("adjustmentFen", Value::from(o.adjustment_fen)),
        ("deliveryFeeFen", Value::from(o.delivery_fee_fen)),
        ("totalFen", Value::from(o.total_fen)),
        ("paidFen", Value::from(o.paid_fen)),
        ("refundedFen", Value::from(o.refunded_fen)),
        ("payments", Value::List(payments)),
        ("refunds", Value::List(refunds)),
        ("timeline", Value::List(timeline)),
        ("placedAt", time(o.placed_at)),
        ("verifyBy", opt_time(o.verify_by)),
        ("lateFlaggedAt", opt_time(o.late_flagged_at)),
        ("carrier", opt(o.carrier.clone())),
        ("trackingNumber", opt(o.tracking_number.clone())),
        ("proofMediaIds", strings(&proof)),
    ])
}

fn slot_value(s: &SlotRow) -> Value {
    object([
        ("id", Value::String(s.id.clone())),
        ("startsAt", time(s.starts_at)),
        ("endsAt", time(s.ends_at)),
        ("capacity", Value::from(s.capacity)),
        ("booked", Value::from(s.booked)),
    ])
}

fn alert_value(a: &AlertRow, locale: Locale) -> Value {
    object([
        ("id", Value::String(a.id.clone())),
        ("kind", Value::String(a.kind.clone())),
        ("subjectId", Value::String(a.subject_id.clone())),
        ("message", reason(&a.message_en, &a.message_zh, locale)),
        ("createdAt", time(a.created_at)),
    ])
}
