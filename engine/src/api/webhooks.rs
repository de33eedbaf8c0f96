//! Resolvers for webhook subscriptions and their delivery log (INT-2).

use async_graphql::dynamic::{FieldFuture, FieldValue};
use async_graphql::{Name, Value};

use super::binding::Resolvers;
use super::guard::Access;
use super::payload::{caller, done, opt, payload, services, top_level};
use super::relay::{self, PageRequest, object};
use crate::events::{Delivery, Subscription};
use crate::store::rfc3339;

pub(super) fn bind(r: &mut Resolvers) {
    r.guarded(
        "Query.webhookSubscriptions",
        Access::in_market("webhook", "read", "market"),
        |ctx| {
            FieldFuture::new(async move {
                let market = ctx.args.try_get("market")?.string()?;
                let list = services(&ctx)?
                    .webhooks
                    .list(market)
                    .await
                    .map_err(|e| top_level(&ctx, e))?;
                Ok(Some(FieldValue::value(Value::List(
                    list.iter().map(subscription_value).collect(),
                ))))
            })
        },
    )
    .guarded(
        "Query.webhookDeliveries",
        Access::in_market("webhook", "read", "market"),
        |ctx| {
            FieldFuture::new(async move {
                let market = ctx.args.try_get("market")?.string()?;
                let subscription = ctx.args.try_get("subscriptionId")?.string()?;
                let page = PageRequest::from_args(&ctx).map_err(|e| super::fail(ctx.ctx, e))?;
                let deliveries = services(&ctx)?
                    .webhooks
                    .deliveries(
                        market,
                        subscription,
                        page.after.as_deref(),
                        page.fetch_limit(),
                    )
                    .await
                    .map_err(|e| top_level(&ctx, e))?;
                let rows = deliveries
                    .iter()
                    .map(|d| (d.row.id.clone(), delivery_value(d)))
                    .collect();
                Ok(Some(FieldValue::value(relay::connection(&page, rows))))
            })
        },
    )
    .guarded(
        "Mutation.createWebhookSubscription",
        Access::in_market("webhook", "write", "market"),
        |ctx| {
            FieldFuture::new(async move {
                let market = ctx.args.try_get("market")?.string()?.to_string();
                let url = ctx.args.try_get("url")?.string()?.to_string();
                let kinds = ctx
                    .args
                    .try_get("eventKinds")?
                    .list()?
                    .iter()
                    .map(|k| k.string().map(str::to_string))
                    .collect::<Result<Vec<_>, _>>()?;
                let outcome = services(&ctx)?
                    .webhooks
                    .create(caller(&ctx)?, &market, &url, &kinds)
                    .await
                    .map(|created| {
                        vec![
                            ("subscription", subscription_value(&created.subscription)),
                            ("secret", Value::String(created.secret)),
                        ]
                    });
                payload(&ctx, outcome, &["subscription", "secret"])
            })
        },
    )
    .guarded(
        "Mutation.deleteWebhookSubscription",
        Access::in_market("webhook", "write", "market"),
        |ctx| {
            FieldFuture::new(async move {
                let market = ctx.args.try_get("market")?.string()?;
                let id = ctx.args.try_get("id")?.string()?;
                let outcome = services(&ctx)?
                    .webhooks
                    .deactivate(caller(&ctx)?, market, id)
                    .await;
                done(&ctx, outcome)
            })
        },
    );
    for record in [
        "WebhookSubscription",
        "CreateWebhookSubscriptionPayload",
        "WebhookDelivery",
        "WebhookDeliveryAttempt",
        "WebhookDeliveryConnection",
        "WebhookDeliveryEdge",
    ] {
        r.record(record);
    }
}

fn subscription_value(s: &Subscription) -> Value {
    object([
        ("id", Value::String(s.id.clone())),
        ("market", Value::String(s.market_code.clone())),
        ("url", Value::String(s.url.clone())),
        (
            "eventKinds",
            Value::List(s.event_kinds.iter().cloned().map(Value::String).collect()),
        ),
        ("active", Value::Boolean(s.active)),
        ("createdBy", Value::String(s.created_by.clone())),
        ("createdAt", Value::String(rfc3339(s.created_at))),
        ("updatedAt", Value::String(rfc3339(s.updated_at))),
    ])
}

fn time(ms: Option<i64>) -> Value {
    opt(ms.map(rfc3339))
}

fn delivery_value(d: &Delivery) -> Value {
    let row = &d.row;
    let status = match row.status.as_str() {
        "succeeded" => "SUCCEEDED",
        "failed" => "FAILED",
        _ => "PENDING",
    };
    let attempts = d
        .attempts
        .iter()
        .map(|a| {
            object([
                ("attempt", Value::from(a.attempt)),
                ("at", Value::String(rfc3339(a.at))),
                ("statusCode", a.status_code.map_or(Value::Null, Value::from)),
                ("error", opt(a.error.clone())),
                ("durationMs", Value::from(a.duration_ms)),
            ])
        })
        .collect();
    object([
        ("id", Value::String(row.id.clone())),
        ("eventId", Value::String(row.event_id.clone())),
        ("eventKind", Value::String(row.event_kind.clone())),
        ("status", Value::Enum(Name::new(status))),
        ("attempts", Value::from(row.attempts)),
        (
            "nextAttemptAt",
            time((row.status == "pending").then_some(row.next_attempt_at)),
        ),
        (
            "lastStatusCode",
            row.last_status_code.map_or(Value::Null, Value::from),
        ),
        ("lastError", opt(row.last_error.clone())),
        ("lastAttemptAt", time(row.last_attempt_at)),
        ("createdAt", Value::String(rfc3339(row.created_at))),
        ("deliveredAt", time(row.delivered_at)),
        ("attemptLog", Value::List(attempts)),
    ])
}
