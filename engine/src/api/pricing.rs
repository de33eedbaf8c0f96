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

/// A line's subtotal: pieces × price, or grams × price per kilogram, rounded
/// to the nearest fen.
pub fn line_subtotal(quantity: u32, unit_price: i64, sold_by_weight: bool) -> i64 {
    let quantity = i128::from(quantity);
    let price = i128::from(unit_price);
    let total = if sold_by_weight {
        (quantity * price + 500) / 1000
    } else {
        quantity * price
    };
    total.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
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

#[cfg(test)]
mod tests {
    use super::line_subtotal;

    #[test]
    fn weight_lines_are_priced_per_kilogram_to_the_nearest_fen() {
        assert_eq!(line_subtotal(3, 1_250, false), 3_750);
        // 1.234 kg at ¥38.00/kg is ¥46.892 → ¥46.89.
        assert_eq!(line_subtotal(1_234, 3_800, true), 4_689);
        assert_eq!(line_subtotal(1, 499, true), 0);
        assert_eq!(line_subtotal(1, 500, true), 1);
        assert_eq!(line_subtotal(u32::MAX, i64::MAX, false), i64::MAX);
    }
}
