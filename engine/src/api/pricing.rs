//! `simulatePricing`: the price adjustments a market's plugins would make to
//! a cart, with the failure policy applied as checkout will apply it.

use async_graphql::Value;
use async_graphql::dynamic::{FieldFuture, FieldValue, ObjectAccessor, ResolverContext};

use super::binding::Resolvers;
use super::error::{ApiError, ErrorCode};
use super::guard::Access;
use super::payload::{FieldResult, caller, services, top_level};
use super::relay::object;
use crate::i18n::{Locale, Text};
use crate::money::line_subtotal;
use crate::plugins::MarketContext;
use crate::plugins::types::{AdjustmentTarget, CartLine, Customer, Market, PriceInput};
use crate::store::{now_ms, rfc3339};

/// The most lines one simulation prices.
const MAX_LINES: usize = 500;

pub(super) fn bind(r: &mut Resolvers) {
    r.guarded(
        "Query.simulatePricing",
        Access::in_market("plugin", "read", "market"),
        |ctx| FieldFuture::new(async move { simulate(&ctx).await }),
    );
    for record in ["PricingSimulation", "PriceAdjustment", "PluginFallback"] {
        r.record(record);
    }
}

fn bad(locale: Locale, field: &[&str], text: Text) -> async_graphql::Error {
    ApiError::new(ErrorCode::BadUserInput)
        .with_text(text)
        .with_field(field)
        .into_graphql(locale)
}

fn line(input: &ObjectAccessor<'_>, locale: Locale) -> Result<CartLine, async_graphql::Error> {
    let text = |name: &str| -> String {
        input
            .get(name)
            .filter(|v| !v.is_null())
            .and_then(|v| v.string().ok().map(str::to_string))
            .unwrap_or_default()
    };
    let quantity = input.try_get("quantity")?.i64()?;
    let unit_price = input.try_get("unitPriceFen")?.i64()?;
    if !(1..=i64::from(u32::MAX)).contains(&quantity) || unit_price < 0 {
        return Err(bad(
            locale,
            &["lines"],
            Text::new(
                "Quantities must be positive and prices not negative.",
                "数量须为正数，价格不能为负。",
            ),
        ));
    }
    let sold_by_weight = input
        .get("soldByWeight")
        .filter(|v| !v.is_null())
        .map(|v| v.boolean())
        .transpose()?
        .unwrap_or(false);
    let tags = match input.get("tags").filter(|v| !v.is_null()) {
        Some(list) => list
            .list()?
            .iter()
            .map(|t| t.string().map(str::to_string))
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    let quantity = quantity as u32;
    Ok(CartLine {
        line_id: text("lineId"),
        product_id: text("productId"),
        variant_id: text("variantId"),
        merchant_id: text("merchantId"),
        category: text("category"),
        quantity,
        unit_price,
        sold_by_weight,
        subtotal: line_subtotal(quantity, unit_price, sold_by_weight),
        tags,
    })
}

async fn simulate<'a>(ctx: &ResolverContext<'a>) -> FieldResult<'a> {
    let who = caller(ctx)?;
    let locale = who.locale;
    let code = ctx.args.try_get("market")?.string()?.to_string();
    let inputs = ctx.args.try_get("lines")?.list()?;
    if inputs.len() > MAX_LINES {
        return Err(bad(
            locale,
            &["lines"],
            Text::new("At most 500 lines.", "最多 500 行。"),
        ));
    }
    let lines = inputs
        .iter()
        .map(|l| line(&l.object()?, locale))
        .collect::<Result<Vec<_>, _>>()?;
    let services = services(ctx)?;
    let Some(market) = services
        .markets
        .find(&code)
        .await
        .map_err(|e| top_level(ctx, e))?
    else {
        return Err(ApiError::new(ErrorCode::NotFound).into_graphql(locale));
    };
    let input = PriceInput {
        market: Market {
            code: code.clone(),
            time_zone: market.time_zone.clone(),
            config_json: String::new(),
        },
        customer: Customer {
            id: who.actor.subject(),
            segments: Vec::new(),
            orders_placed: 0,
        },
        lines,
        now: rfc3339(now_ms()),
    };
    let context = MarketContext {
        code,
        time_zone: market.time_zone,
    };
    // Plugin calls are CPU work of tens of microseconds each; with several
    // plugins and long carts, keep them off the request threads.
    let host = services.plugins.clone();
    let priced_input = input.clone();
    let pricing = tokio::task::spawn_blocking(move || host.adjust_prices(&context, &priced_input))
        .await
        .map_err(|e| async_graphql::Error::new(e.to_string()))?;
    let subtotal: i64 = input.lines.iter().map(|l| l.subtotal).sum();
    let total = subtotal
        + pricing
            .adjustments
            .iter()
            .map(|(_, a)| a.amount)
            .sum::<i64>();
    let adjustments = pricing
        .adjustments
        .iter()
        .map(|(plugin, a)| {
            object([
                ("plugin", Value::String(plugin.clone())),
                (
                    "lineId",
                    match &a.target {
                        AdjustmentTarget::Line(id) => Value::String(id.clone()),
                        AdjustmentTarget::Order => Value::Null,
                    },
                ),
                ("amountFen", Value::from(a.amount)),
                ("code", Value::String(a.code.clone())),
                (
                    "reason",
                    Value::String(match locale {
                        Locale::ZhCn => a.reason.zh_cn.clone(),
                        Locale::En => a.reason.en.clone(),
                    }),
                ),
            ])
        })
        .collect();
    let fallbacks = pricing
        .fallbacks
        .iter()
        .map(|f| {
            object([
                ("plugin", Value::String(f.plugin.clone())),
                ("reason", Value::String(f.fault.to_string())),
            ])
        })
        .collect();
    Ok(Some(FieldValue::value(object([
        ("subtotalFen", Value::from(subtotal)),
        ("totalFen", Value::from(total)),
        ("adjustments", Value::List(adjustments)),
        ("fallbacks", Value::List(fallbacks)),
    ]))))
}
