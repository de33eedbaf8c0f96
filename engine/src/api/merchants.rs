//! Resolvers for merchant onboarding, qualification documents, the credit
//! file and the public shop page. Staff steps find the shop's market first,
//! then ask the guard; ownership is the service's business.

use async_graphql::dynamic::{FieldFuture, FieldValue, ObjectAccessor, ResolverContext};
use async_graphql::{Name, Value};

use super::binding::Resolvers;
use super::guard::{self, Access};
use super::payload::{
    FieldResult, bad_argument, caller, object_arg, opt, opt_i64_field, opt_str_field, payload,
    services, str_field, top_level,
};
use super::relay::{self, PageRequest, object};
use crate::i18n::Text;
use crate::merchants::agreement::AgreementInput;
use crate::merchants::application::{ApplicationInput, ApplicationView};
use crate::merchants::credit::Credit;
use crate::merchants::qualification::{CategoryRule, DocumentInput, DocumentView};
use crate::merchants::review::Decision;
use crate::merchants::shop::{PublicShop, ShopInput};
use crate::service_error::ServiceError;
use crate::store::onboarding::AgreementRow;
use crate::store::{parse_rfc3339, rfc3339};

pub(super) fn bind(r: &mut Resolvers) {
    r.guarded("Query.merchantApplication", Access::Resolver, |ctx| {
        FieldFuture::new(async move {
            let id = ctx.args.try_get("merchant")?.string()?;
            match services(&ctx)?
                .merchants
                .application(caller(&ctx)?, id)
                .await
            {
                Ok(view) => Ok(Some(FieldValue::value(application_value(&view)))),
                Err(ServiceError::NotFound) => Ok(None),
                Err(e) => Err(top_level(&ctx, e)),
            }
        })
    })
    .guarded("Query.myMerchants", Access::Resolver, |ctx| {
        FieldFuture::new(async move {
            let page = PageRequest::from_args(&ctx).map_err(|e| super::fail(ctx.ctx, e))?;
            let views = services(&ctx)?
                .merchants
                .my_applications(caller(&ctx)?, page.after.as_deref(), page.fetch_limit())
                .await
                .map_err(|e| top_level(&ctx, e))?;
            Ok(Some(FieldValue::value(applications(&page, &views))))
        })
    })
    .guarded(
        "Query.merchantApplications",
        Access::in_market("merchant", "review", "market"),
        |ctx| {
            FieldFuture::new(async move {
                let page = PageRequest::from_args(&ctx).map_err(|e| super::fail(ctx.ctx, e))?;
                let market = ctx.args.try_get("market")?.string()?;
                let status = match ctx.args.get("status").filter(|v| !v.is_null()) {
                    Some(s) => Some(s.enum_name()?.to_lowercase()),
                    None => None,
                };
                let views = services(&ctx)?
                    .merchants
                    .applications(
                        caller(&ctx)?,
                        market,
                        status.as_deref(),
                        page.after.as_deref(),
                        page.fetch_limit(),
                    )
                    .await
                    .map_err(|e| top_level(&ctx, e))?;
                Ok(Some(FieldValue::value(applications(&page, &views))))
            })
        },
    )
    .guarded("Query.categoryDocumentRule", Access::Public, |ctx| {
        FieldFuture::new(async move {
            let market = ctx.args.try_get("market")?.string()?;
            let category = ctx.args.try_get("categoryCode")?.string()?;
            let rule = services(&ctx)?
                .merchants
                .category_rule(market, category)
                .await
                .map_err(|e| top_level(&ctx, e))?;
            Ok(Some(FieldValue::value(rule_value(market, &rule))))
        })
    })
    .guarded(
        "Query.documentExpiryReport",
        Access::in_market("merchant", "review", "market"),
        |ctx| {
            FieldFuture::new(async move {
                let page = PageRequest::from_args(&ctx).map_err(|e| super::fail(ctx.ctx, e))?;
                let market = ctx.args.try_get("market")?.string()?;
                let docs = services(&ctx)?
                    .merchants
                    .expiry_report(market, page.after.as_deref(), page.fetch_limit())
                    .await
                    .map_err(|e| top_level(&ctx, e))?;
                let rows = docs
                    .iter()
                    .map(|d| (d.row.id.clone(), document_value(d)))
                    .collect();
                Ok(Some(FieldValue::value(relay::connection(&page, rows))))
            })
        },
    )
    .guarded("Query.shop", Access::Public, |ctx| {
        FieldFuture::new(async move {
            let id = ctx.args.try_get("id")?.string()?;
            let shop = services(&ctx)?
                .merchants
                .public_shop(id)
                .await
                .map_err(|e| top_level(&ctx, e))?;
            Ok(shop.map(|s| FieldValue::value(shop_value(&s))))
        })
    })
    .guarded("Mutation.applyAsMerchant", Access::Resolver, |ctx| {
        FieldFuture::new(async move {
            let input = object_arg(&ctx, "input")?;
            let market = str_field(&input, "market")?;
            let fields = application_input(&input)?;
            let outcome = services(&ctx)?
                .merchants
                .apply(caller(&ctx)?, &market, fields)
                .await
                .map(|v| vec![("application", application_value(&v))]);
            payload(&ctx, outcome, &["application"])
        })
    })
    .guarded(
        "Mutation.updateMerchantApplication",
        Access::Resolver,
        |ctx| {
            FieldFuture::new(async move {
                let id = ctx.args.try_get("merchant")?.string()?.to_string();
                let input = object_arg(&ctx, "input")?;
                let fields = application_input(&input)?;
                let outcome = services(&ctx)?
                    .merchants
                    .update_application(caller(&ctx)?, &id, fields)
                    .await
                    .map(|v| vec![("application", application_value(&v))]);
                payload(&ctx, outcome, &["application"])
            })
        },
    )
    .guarded(
        "Mutation.reviewMerchantApplication",
        Access::Resolver,
        |ctx| FieldFuture::new(async move { review(&ctx).await }),
    )
    .guarded(
        "Mutation.addQualificationDocument",
        Access::Resolver,
        |ctx| {
            FieldFuture::new(async move {
                let id = ctx.args.try_get("merchant")?.string()?.to_string();
                let input = object_arg(&ctx, "input")?;
                let document = document_input(&input)?;
                let outcome = services(&ctx)?
                    .merchants
                    .add_document(caller(&ctx)?, &id, document)
                    .await
                    .map(|d| vec![("document", document_value(&d))]);
                payload(&ctx, outcome, &["document"])
            })
        },
    )
    .guarded("Mutation.signMerchantAgreement", Access::Resolver, |ctx| {
        FieldFuture::new(async move { sign(&ctx).await })
    })
    .guarded("Mutation.setUpShop", Access::Resolver, |ctx| {
        FieldFuture::new(async move { set_up_shop(&ctx).await })
    })
    .guarded(
        "Mutation.recordMerchantCreditEvent",
        Access::Resolver,
        |ctx| FieldFuture::new(async move { record_credit(&ctx).await }),
    )
    .guarded(
        "Mutation.setCategoryDocumentRules",
        Access::in_market("market", "write", "market"),
        |ctx| {
            FieldFuture::new(async move {
                let market = ctx.args.try_get("market")?.string()?.to_string();
                let category = ctx.args.try_get("categoryCode")?.string()?.to_string();
                let kinds = ctx
                    .args
                    .try_get("kinds")?
                    .list()?
                    .iter()
                    .map(|k| Ok(k.enum_name()?.to_lowercase()))
                    .collect::<Result<Vec<_>, async_graphql::Error>>()?;
                let outcome = services(&ctx)?
                    .merchants
                    .set_category_rule(caller(&ctx)?, &market, &category, kinds)
                    .await
                    .map(|rule| vec![("rule", rule_value(&market, &rule))]);
                payload(&ctx, outcome, &["rule"])
            })
        },
    )
    .guarded(
        "Mutation.runDocumentExpirySweep",
        Access::platform("merchant", "review"),
        |ctx| {
            FieldFuture::new(async move {
                let market = ctx.args.try_get("market")?.string()?.to_string();
                let at = match ctx.args.get("at").filter(|v| !v.is_null()) {
                    Some(v) => Some(parse_rfc3339(v.string()?).ok_or_else(|| {
                        bad_argument(
                            &ctx,
                            "at",
                            Text::new("Give an RFC 3339 time.", "请使用 RFC 3339 时间格式。"),
                        )
                    })?),
                    None => None,
                };
                let outcome = services(&ctx)?
                    .merchants
                    .sweep_document_expiry(
                        caller(&ctx)?,
                        Some(&market),
                        at.unwrap_or_else(crate::store::now_ms),
                    )
                    .await
                    .map(|o| {
                        vec![
                            ("flagged", Value::from(o.flagged as i64)),
                            ("suspended", Value::from(o.suspended as i64)),
                            ("restored", Value::from(o.restored as i64)),
                        ]
                    });
                payload(&ctx, outcome, &["flagged", "suspended", "restored"])
            })
        },
    );
    for record in [
        "MerchantApplication",
        "MerchantContact",
        "MerchantOnboardingStep",
        "QualificationDocument",
        "QualificationDocumentConnection",
        "QualificationDocumentEdge",
        "MerchantAgreement",
        "MerchantCredit",
        "MerchantCreditEvent",
        "Shop",
        "CategoryDocumentRule",
        "MerchantApplicationConnection",
        "MerchantApplicationEdge",
        "MerchantApplicationPayload",
        "QualificationDocumentPayload",
        "MerchantAgreementPayload",
        "ShopPayload",
        "MerchantCreditPayload",
        "CategoryDocumentRulePayload",
        "DocumentExpirySweepPayload",
    ] {
        r.record(record);
    }
}

/// The market of the shop named by the `merchant` argument, for the guard.
async fn market_of<'a>(
    ctx: &ResolverContext<'a>,
) -> Result<(String, String), async_graphql::Error> {
    let id = ctx.args.try_get("merchant")?.string()?.to_string();
    let market = services(ctx)?
        .merchants
        .market_of(&id)
        .await
        .map_err(|e| top_level(ctx, e))?;
    Ok((id, market))
}

async fn review<'a>(ctx: &ResolverContext<'a>) -> FieldResult<'a> {
    let (id, market) = market_of(ctx).await?;
    guard::require(
        ctx.ctx,
        "merchant",
        "review",
        &market,
        "Mutation.reviewMerchantApplication",
    )
    .await?;
    let decision = Decision::parse(ctx.args.try_get("decision")?.enum_name()?)
        .ok_or_else(|| async_graphql::Error::new("unknown decision"))?;
    let reason = ctx
        .args
        .get("reason")
        .filter(|v| !v.is_null())
        .and_then(|v| v.string().ok().map(str::to_string));
    let outcome = services(ctx)?
        .merchants
        .review(caller(ctx)?, &id, decision, reason)
        .await
        .map(|v| vec![("application", application_value(&v))]);
    payload(ctx, outcome, &["application"])
}

async fn sign<'a>(ctx: &ResolverContext<'a>) -> FieldResult<'a> {
    let (id, market) = market_of(ctx).await?;
    guard::require(
        ctx.ctx,
        "merchant",
        "write",
        &market,
        "Mutation.signMerchantAgreement",
    )
    .await?;
    let input = object_arg(ctx, "input")?;
    let terms = AgreementInput {
        subject: str_field(&input, "subject")?,
        term_start: str_field(&input, "termStart")?,
        term_end: str_field(&input, "termEnd")?,
        products_and_prices: str_field(&input, "productsAndPrices")?,
        delivery_time_and_quality: str_field(&input, "deliveryTimeAndQuality")?,
        liability: str_field(&input, "liability")?,
        settlement_cycle: input.try_get("settlementCycle")?.enum_name()?.to_string(),
        settlement_days: opt_i64_field(&input, "settlementDays"),
        settlement_method: str_field(&input, "settlementMethod")?,
        signed_file_id: str_field(&input, "signedFile")?,
    };
    let outcome = services(ctx)?
        .merchants
        .sign_agreement(caller(ctx)?, &id, terms)
        .await
        .map(|a| vec![("agreement", agreement_value(&a))]);
    payload(ctx, outcome, &["agreement"])
}

async fn set_up_shop<'a>(ctx: &ResolverContext<'a>) -> FieldResult<'a> {
    let id = ctx.args.try_get("merchant")?.string()?.to_string();
    let input = object_arg(ctx, "input")?;
    let fields = ShopInput {
        name: str_field(&input, "name")?,
        image_id: str_field(&input, "imageId")?,
        specialities: strings(&input, "specialities")?,
        public_welfare: strings(&input, "publicWelfare")?,
        description: str_field(&input, "description")?,
    };
    let merchants = &services(ctx)?.merchants;
    let outcome = match merchants.set_up_shop(caller(ctx)?, &id, fields).await {
        Ok(_) => merchants
            .public_shop(&id)
            .await
            .map(|s| vec![("shop", s.as_ref().map_or(Value::Null, shop_value))]),
        Err(e) => Err(e),
    };
    payload(ctx, outcome, &["shop"])
}

async fn record_credit<'a>(ctx: &ResolverContext<'a>) -> FieldResult<'a> {
    let (id, market) = market_of(ctx).await?;
    guard::require(
        ctx.ctx,
        "merchant",
        "write",
        &market,
        "Mutation.recordMerchantCreditEvent",
    )
    .await?;
    let kind = ctx.args.try_get("kind")?.enum_name()?.to_string();
    let points = ctx.args.try_get("points")?.i64()?;
    let note = ctx.args.try_get("note")?.string()?.to_string();
    let outcome = services(ctx)?
        .merchants
        .record_credit_event(caller(ctx)?, &id, &kind, points, &note)
        .await
        .map(|c| vec![("credit", credit_value(&c))]);
    payload(ctx, outcome, &["credit"])
}

fn strings(input: &ObjectAccessor<'_>, name: &str) -> Result<Vec<String>, async_graphql::Error> {
    match input.get(name).filter(|v| !v.is_null()) {
        Some(list) => list
            .list()?
            .iter()
            .map(|v| Ok(v.string()?.to_string()))
            .collect(),
        None => Ok(Vec::new()),
    }
}

fn application_input(input: &ObjectAccessor<'_>) -> Result<ApplicationInput, async_graphql::Error> {
    let (contact_name, contact_phone) = match input.get("contact").filter(|v| !v.is_null()) {
        Some(c) => {
            let c = c.object()?;
            (Some(str_field(&c, "name")?), Some(str_field(&c, "phone")?))
        }
        None => (None, None),
    };
    let categories = match input.get("categories").filter(|v| !v.is_null()) {
        Some(_) => Some(strings(input, "categories")?),
        None => None,
    };
    let documents = match input.get("documents").filter(|v| !v.is_null()) {
        Some(list) => list
            .list()?
            .iter()
            .map(|d| document_input(&d.object()?))
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    Ok(ApplicationInput {
        shop_name: opt_str_field(input, "shopName"),
        contact_name,
        contact_phone,
        categories,
        documents,
    })
}

fn document_input(d: &ObjectAccessor<'_>) -> Result<DocumentInput, async_graphql::Error> {
    Ok(DocumentInput {
        doc_type: d.try_get("type")?.enum_name()?.to_lowercase(),
        number: str_field(d, "number")?,
        issuer: str_field(d, "issuer")?,
        valid_from: str_field(d, "validFrom")?,
        valid_to: str_field(d, "validTo")?,
        image_id: str_field(d, "imageId")?,
    })
}

fn enum_value(stored: &str) -> Value {
    Value::Enum(Name::new(stored.to_uppercase()))
}

fn strings_value(json: &str) -> Value {
    let items: Vec<String> = serde_json::from_str(json).unwrap_or_default();
    Value::List(items.into_iter().map(Value::String).collect())
}

fn applications(page: &PageRequest, views: &[ApplicationView]) -> Value {
    let rows = views
        .iter()
        .map(|v| (v.merchant.id.clone(), application_value(v)))
        .collect();
    relay::connection(page, rows)
}

fn application_value(v: &ApplicationView) -> Value {
    let a = &v.application;
    object([
        ("id", Value::String(v.merchant.id.clone())),
        ("market", Value::String(v.merchant.market_code.clone())),
        ("status", enum_value(&v.merchant.status)),
        ("shopName", Value::String(a.shop_name.clone())),
        (
            "contact",
            object([
                ("name", Value::String(a.contact_name.clone())),
                ("phone", Value::String(a.contact_phone.clone())),
            ]),
        ),
        (
            "categories",
            Value::List(v.categories.iter().cloned().map(Value::String).collect()),
        ),
        (
            "documents",
            Value::List(v.documents.iter().map(document_value).collect()),
        ),
        ("reviewReason", opt(a.review_reason.clone())),
        ("reviewedAt", opt(a.reviewed_at.map(rfc3339))),
        ("submittedAt", Value::String(rfc3339(a.submitted_at))),
        (
            "steps",
            Value::List(
                v.steps
                    .iter()
                    .map(|s| {
                        object([
                            ("at", Value::String(rfc3339(s.at))),
                            ("action", Value::String(s.action.clone())),
                            ("status", enum_value(&s.status)),
                            ("reason", opt(s.reason.clone())),
                        ])
                    })
                    .collect(),
            ),
        ),
        (
            "agreements",
            Value::List(v.agreements.iter().map(agreement_value).collect()),
        ),
        (
            "shop",
            match &v.shop {
                Some(shop) if v.merchant.status == "active" => shop_value(&PublicShop {
                    merchant: v.merchant.clone(),
                    shop: shop.clone(),
                    documents: v.documents.clone(),
                    credit: v.credit.clone(),
                }),
                _ => Value::Null,
            },
        ),
        ("credit", credit_value(&v.credit)),
        (
            "suspendedCategories",
            Value::List(
                v.suspended_categories
                    .iter()
                    .cloned()
                    .map(Value::String)
                    .collect(),
            ),
        ),
    ])
}

fn document_value(d: &DocumentView) -> Value {
    let r = &d.row;
    object([
        ("id", Value::String(r.id.clone())),
        ("merchant", Value::String(r.merchant_id.clone())),
        ("type", enum_value(&r.doc_type)),
        ("number", Value::String(d.number.clone())),
        ("issuer", Value::String(r.issuer.clone())),
        ("validFrom", Value::String(r.valid_from.clone())),
        ("validTo", Value::String(r.valid_to.clone())),
        ("imageId", Value::String(r.image_id.clone())),
        ("expiringSoon", Value::Boolean(r.flag == "expiring")),
        ("expired", Value::Boolean(r.flag == "expired")),
        ("addedAt", Value::String(rfc3339(r.created_at))),
    ])
}

fn agreement_value(a: &AgreementRow) -> Value {
    object([
        ("id", Value::String(a.id.clone())),
        ("subject", Value::String(a.subject.clone())),
        ("termStart", Value::String(a.term_start.clone())),
        ("termEnd", Value::String(a.term_end.clone())),
        (
            "productsAndPrices",
            Value::String(a.products_and_prices.clone()),
        ),
        (
            "deliveryTimeAndQuality",
            Value::String(a.delivery_time_and_quality.clone()),
        ),
        ("liability", Value::String(a.liability.clone())),
        (
            "settlementCycle",
            Value::Enum(Name::new(&a.settlement_cycle)),
        ),
        (
            "settlementDays",
            a.settlement_days.map_or(Value::Null, Value::from),
        ),
        (
            "settlementMethod",
            Value::String(a.settlement_method.clone()),
        ),
        ("signedFile", Value::String(a.signed_file_id.clone())),
        ("signedAt", Value::String(rfc3339(a.signed_at))),
    ])
}

fn credit_value(c: &Credit) -> Value {
    object([
        ("score", Value::from(c.score)),
        ("grade", Value::Enum(Name::new(c.grade))),
        (
            "reasons",
            Value::List(
                c.reasons
                    .iter()
                    .map(|e| {
                        object([
                            ("at", Value::String(rfc3339(e.at))),
                            ("kind", Value::Enum(Name::new(&e.kind))),
                            ("points", Value::from(e.points)),
                            ("note", Value::String(e.note.clone())),
                        ])
                    })
                    .collect(),
            ),
        ),
    ])
}

fn shop_value(s: &PublicShop) -> Value {
    object([
        ("id", Value::String(s.merchant.id.clone())),
        ("name", Value::String(s.shop.name.clone())),
        ("imageId", Value::String(s.shop.image_id.clone())),
        ("specialities", strings_value(&s.shop.specialities)),
        ("publicWelfare", strings_value(&s.shop.public_welfare)),
        ("description", Value::String(s.shop.description.clone())),
        ("market", Value::String(s.merchant.market_code.clone())),
        (
            "documents",
            Value::List(s.documents.iter().map(document_value).collect()),
        ),
        ("creditGrade", Value::Enum(Name::new(s.credit.grade))),
    ])
}

fn rule_value(market: &str, r: &CategoryRule) -> Value {
    object([
        ("market", Value::String(market.to_string())),
        ("categoryCode", Value::String(r.category.clone())),
        (
            "kinds",
            Value::List(r.kinds.iter().map(|k| enum_value(k)).collect()),
        ),
        (
            "requiredGroups",
            Value::List(
                r.groups
                    .iter()
                    .map(|g| Value::List(g.iter().map(|t| enum_value(t)).collect()))
                    .collect(),
            ),
        ),
        ("setByMarket", Value::Boolean(r.set_by_market)),
    ])
}
