//! Resolvers for markets: public published information, and settings changes.

use async_graphql::dynamic::{FieldFuture, FieldValue, ObjectAccessor, ResolverContext};
use async_graphql::{Name, Value};

use super::binding::Resolvers;
use super::guard::Access;
use super::payload::{
    FieldResult, caller, object_arg, opt_i64_field, opt_str_field, payload, services, str_field,
    top_level,
};
use super::relay::{self, GlobalId, PageRequest, object};
use crate::markets::{DeliverySettings, DistanceFee, Market, MarketInput, TimeWindow};
use crate::store::rfc3339;

pub(super) const MARKET_TYPE: &str = "Market";

pub(super) fn bind(r: &mut Resolvers) {
    r.guarded("Query.market", Access::Public, |ctx| {
        FieldFuture::new(async move {
            let code = ctx.args.try_get("code")?.string()?;
            let market = services(&ctx)?
                .markets
                .find(code)
                .await
                .map_err(|e| top_level(&ctx, e))?;
            Ok(market.map(|m| FieldValue::value(market_value(&m))))
        })
    })
    .guarded("Query.markets", Access::Public, |ctx| {
        FieldFuture::new(async move {
            let page = PageRequest::from_args(&ctx).map_err(|e| super::fail(ctx.ctx, e))?;
            let markets = services(&ctx)?
                .markets
                .list(page.after.as_deref(), page.fetch_limit())
                .await
                .map_err(|e| top_level(&ctx, e))?;
            let rows = markets
                .iter()
                .map(|m| (m.code.clone(), market_value(m)))
                .collect();
            Ok(Some(FieldValue::value(relay::connection(&page, rows))))
        })
    })
    .guarded(
        "Mutation.createMarket",
        Access::platform("market", "create"),
        |ctx| {
            FieldFuture::new(async move {
                let input = object_arg(&ctx, "input")?;
                let code = str_field(&input, "code")?;
                let fields = market_input(&input)?;
                let outcome = services(&ctx)?
                    .markets
                    .create(caller(&ctx)?, &code, fields)
                    .await
                    .map(|m| vec![("market", market_value(&m))]);
                payload(&ctx, outcome, &["market"])
            })
        },
    )
    .guarded(
        "Mutation.updateMarket",
        Access::in_market("market", "write", "code"),
        |ctx| FieldFuture::new(async move { update(&ctx).await }),
    );
    for record in [
        "Market",
        "ServiceArea",
        "GeoPoint",
        "TimeWindow",
        "DeliverySettings",
        "DistanceFee",
        "MarketConnection",
        "MarketEdge",
        "MarketPayload",
    ] {
        r.record(record);
    }
}

async fn update<'a>(ctx: &ResolverContext<'a>) -> FieldResult<'a> {
    let code = ctx.args.try_get("code")?.string()?.to_string();
    let input = object_arg(ctx, "input")?;
    let fields = market_input(&input)?;
    let outcome = services(ctx)?
        .markets
        .update(caller(ctx)?, &code, fields)
        .await
        .map(|m| vec![("market", market_value(&m))]);
    payload(ctx, outcome, &["market"])
}

fn market_input(input: &ObjectAccessor<'_>) -> Result<MarketInput, async_graphql::Error> {
    let centre = match input.get("centre").filter(|v| !v.is_null()) {
        Some(c) => {
            let c = c.object()?;
            Some((
                c.try_get("latitude")?.f64()?,
                c.try_get("longitude")?.f64()?,
            ))
        }
        None => None,
    };
    let order_hours = match input.get("orderTakingHours").filter(|v| !v.is_null()) {
        Some(list) => Some(windows(list.list()?.iter())?),
        None => None,
    };
    let delivery = match input.get("delivery").filter(|v| !v.is_null()) {
        Some(d) => {
            let d = d.object()?;
            // Nested input defaults are not filled in by the dynamic schema: absent means empty.
            let fees = match d.get("outOfRangeFees").filter(|v| !v.is_null()) {
                Some(list) => list
                    .list()?
                    .iter()
                    .map(|f| {
                        let f = f.object()?;
                        Ok(DistanceFee {
                            up_to_m: f.try_get("upToMeters")?.i64()?,
                            fee_fen: f.try_get("feeFen")?.i64()?,
                        })
                    })
                    .collect::<Result<Vec<_>, async_graphql::Error>>()?,
                None => Vec::new(),
            };
            Some(DeliverySettings {
                free_distance_m: d.try_get("freeDeliveryDistanceMeters")?.i64()?,
                minimum_order_fen: d.try_get("minimumOrderFen")?.i64()?,
                out_of_range_fees: fees,
                delivery_windows: match d.get("deliveryWindows").filter(|v| !v.is_null()) {
                    Some(list) => windows(list.list()?.iter())?,
                    None => Vec::new(),
                },
                outside_hours: match d.get("outsideOrderHours").filter(|v| !v.is_null()) {
                    Some(policy) => policy.enum_name()?.to_string(),
                    None => "NEXT_SLOT".to_string(),
                },
            })
        }
        None => None,
    };
    Ok(MarketInput {
        name: opt_str_field(input, "name"),
        currency: opt_str_field(input, "currency"),
        time_zone: opt_str_field(input, "timeZone"),
        locale: opt_str_field(input, "locale"),
        centre,
        service_radius_m: opt_i64_field(input, "serviceRadiusMeters"),
        order_hours,
        delivery,
        compensation_standard: opt_str_field(input, "compensationStandard"),
    })
}

fn windows<'a>(
    items: impl Iterator<Item = async_graphql::dynamic::ValueAccessor<'a>>,
) -> Result<Vec<TimeWindow>, async_graphql::Error> {
    items
        .map(|w| {
            let w = w.object()?;
            Ok(TimeWindow {
                opens: w.try_get("opens")?.string()?.to_string(),
                closes: w.try_get("closes")?.string()?.to_string(),
            })
        })
        .collect()
}

pub(super) fn market_value(m: &Market) -> Value {
    let window = |w: &TimeWindow| {
        object([
            ("opens", Value::String(w.opens.clone())),
            ("closes", Value::String(w.closes.clone())),
        ])
    };
    let d = &m.delivery;
    object([
        (
            "id",
            Value::String(GlobalId::new(MARKET_TYPE, &m.code).encode()),
        ),
        ("code", Value::String(m.code.clone())),
        ("name", Value::String(m.name.clone())),
        ("currency", Value::String(m.currency.clone())),
        ("timeZone", Value::String(m.time_zone.clone())),
        ("locale", Value::String(m.locale.clone())),
        (
            "serviceArea",
            object([
                (
                    "centre",
                    object([
                        ("latitude", Value::from(m.centre_latitude)),
                        ("longitude", Value::from(m.centre_longitude)),
                    ]),
                ),
                ("radiusMeters", Value::from(m.service_radius_m)),
            ]),
        ),
        (
            "orderTakingHours",
            Value::List(m.order_hours.iter().map(window).collect()),
        ),
        (
            "delivery",
            object([
                ("freeDeliveryDistanceMeters", Value::from(d.free_distance_m)),
                ("minimumOrderFen", Value::from(d.minimum_order_fen)),
                (
                    "outOfRangeFees",
                    Value::List(
                        d.out_of_range_fees
                            .iter()
                            .map(|f| {
                                object([
                                    ("upToMeters", Value::from(f.up_to_m)),
                                    ("feeFen", Value::from(f.fee_fen)),
                                ])
                            })
                            .collect(),
                    ),
                ),
                (
                    "deliveryWindows",
                    Value::List(d.delivery_windows.iter().map(window).collect()),
                ),
                (
                    "outsideOrderHours",
                    Value::Enum(Name::new(&d.outside_hours)),
                ),
            ]),
        ),
        (
            "compensationStandard",
            Value::String(m.compensation_standard.clone()),
        ),
        ("createdAt", Value::String(rfc3339(m.created_at))),
        ("updatedAt", Value::String(rfc3339(m.updated_at))),
    ])
}
