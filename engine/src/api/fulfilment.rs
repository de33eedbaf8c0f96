//! Resolvers for fulfilment: packages on an order, tracking events, and the
//! cold chain of a category. Who may act on an order is decided by the
//! fulfilment service (it knows the order's market); a category's market is
//! read here before the guard, as `updateCategory` does.

use async_graphql::dynamic::{FieldFuture, FieldValue, ResolverContext};
use async_graphql::{Name, Value};

use super::binding::Resolvers;
use super::guard::{self, Access};
use super::payload::{caller, payload, services, top_level};
use super::relay::object;
use crate::fulfilment::{ColdChain, TrackingInput};
use crate::service_error::ServiceError;
use crate::store::fulfilment::TrackingRow;
use crate::store::rfc3339;

pub(super) fn bind(r: &mut Resolvers) {
    r.guarded("Query.orderTracking", Access::Resolver, |ctx| {
        FieldFuture::new(async move {
            let id = ctx.args.try_get("orderId")?.string()?;
            match services(&ctx)?.fulfilment.tracking(caller(&ctx)?, id).await {
                Ok(events) => Ok(Some(FieldValue::value(Value::List(
                    events.iter().map(event_value).collect(),
                )))),
                Err(ServiceError::NotFound) => Ok(None),
                Err(e) => Err(top_level(&ctx, e)),
            }
        })
    })
    .guarded("Mutation.recordTracking", Access::Resolver, |ctx| {
        FieldFuture::new(async move {
            let id = ctx.args.try_get("orderId")?.string()?.to_string();
            let input = TrackingInput {
                location: ctx.args.try_get("location")?.string()?.to_string(),
                latitude: opt_f64(&ctx, "latitude")?,
                longitude: opt_f64(&ctx, "longitude")?,
                temperature_celsius: opt_f64(&ctx, "temperatureCelsius")?,
            };
            let outcome = services(&ctx)?
                .fulfilment
                .record_tracking(caller(&ctx)?, &id, input)
                .await
                .map(|e| vec![("event", event_value(&e))]);
            payload(&ctx, outcome, &["event"])
        })
    })
    .guarded("Mutation.setCategoryColdChain", Access::Resolver, |ctx| {
        FieldFuture::new(async move {
            let id = ctx.args.try_get("categoryId")?.string()?.to_string();
            let band = ColdChain::parse(ctx.args.try_get("coldChain")?.enum_name()?)
                .ok_or_else(|| async_graphql::Error::new("unknown cold chain"))?;
            let services = services(&ctx)?;
            let category = services
                .catalogue
                .category(&id)
                .await
                .map_err(|e| top_level(&ctx, e))?
                .ok_or_else(|| top_level(&ctx, ServiceError::NotFound))?;
            let market = category.row.market_code;
            guard::require(
                ctx.ctx,
                "category",
                "write",
                &market,
                "Mutation.setCategoryColdChain",
            )
            .await?;
            let outcome = services
                .fulfilment
                .set_category_cold_chain(caller(&ctx)?, &id, &market, band)
                .await
                .map(|b| vec![("coldChain", band_value(b))]);
            payload(&ctx, outcome, &["coldChain"])
        })
    })
    .field("Order.packages", |ctx| {
        FieldFuture::new(async move {
            let Some(id) = parent_id(&ctx) else {
                return Ok(None);
            };
            let services = services(&ctx)?;
            let packages = services
                .fulfilment
                .packages(caller(&ctx)?, &id)
                .await
                .map_err(|e| top_level(&ctx, e))?;
            let values = packages
                .iter()
                .map(|p| {
                    let url = p
                        .trace_code
                        .as_deref()
                        .map(|c| services.fulfilment.trace_url(c));
                    let path = format!("/orders/{id}/label");
                    object([
                        ("number", Value::from(p.number)),
                        ("merchantId", Value::String(p.merchant_id.clone())),
                        (
                            "traceCode",
                            p.trace_code.clone().map_or(Value::Null, Value::String),
                        ),
                        ("traceUrl", url.map_or(Value::Null, Value::String)),
                        (
                            "labelPng",
                            Value::String(format!("{path}.png?package={}", p.number)),
                        ),
                        (
                            "labelPdf",
                            Value::String(format!("{path}.pdf?package={}", p.number)),
                        ),
                    ])
                })
                .collect();
            Ok(Some(FieldValue::value(Value::List(values))))
        })
    })
    .field("Category.coldChain", |ctx| {
        FieldFuture::new(async move {
            let Some(id) = parent_id(&ctx) else {
                return Ok(None);
            };
            let band = services(&ctx)?
                .fulfilment
                .category_cold_chain(&id)
                .await
                .map_err(|e| top_level(&ctx, e))?;
            Ok(Some(FieldValue::value(band_value(band))))
        })
    });
    for record in [
        "OrderPackage",
        "TrackingEvent",
        "TrackingPayload",
        "CategoryColdChainPayload",
    ] {
        r.record(record);
    }
}

/// The `id` of the object this field hangs on, whether its value was handed
/// down owned or lent (`FieldValue::borrowed_any`, as records may do).
fn parent_id(ctx: &ResolverContext<'_>) -> Option<String> {
    let parent = ctx
        .parent_value
        .as_value()
        .or_else(|| ctx.parent_value.downcast_ref::<Value>());
    match parent {
        Some(Value::Object(map)) => match map.get("id") {
            Some(Value::String(id)) => Some(id.clone()),
            _ => None,
        },
        _ => None,
    }
}

fn opt_f64(ctx: &ResolverContext<'_>, name: &str) -> Result<Option<f64>, async_graphql::Error> {
    ctx.args
        .get(name)
        .filter(|v| !v.is_null())
        .map(|v| v.f64())
        .transpose()
}

fn band_value(band: ColdChain) -> Value {
    Value::Enum(Name::new(band.as_str().to_uppercase()))
}

fn event_value(e: &TrackingRow) -> Value {
    let float = |v: Option<f64>| v.map_or(Value::Null, Value::from);
    object([
        ("id", Value::String(e.id.clone())),
        ("at", Value::String(rfc3339(e.at))),
        ("location", Value::String(e.location.clone())),
        ("latitude", float(e.latitude)),
        ("longitude", float(e.longitude)),
        (
            "temperatureCelsius",
            float(e.temperature_c10.map(|t| t as f64 / 10.0)),
        ),
        ("breach", Value::Boolean(e.breach)),
    ])
}
