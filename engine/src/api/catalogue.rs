//! Resolvers for the catalogue: categories, products, variants, stock,
//! browsing and search. Writes are guarded by casbin in the market of the
//! shop or category they touch; the service checks the caller works for the shop.

use async_graphql::dynamic::{FieldFuture, FieldValue, ObjectAccessor, ResolverContext};
use async_graphql::{Name, Value};

use super::binding::Resolvers;
use super::guard::{self, Access};
use super::payload::{
    FieldResult, caller, object_arg, opt, opt_i64_field, opt_str_field, payload, services,
    str_field, top_level,
};
use super::relay::{self, PageRequest, object};
use crate::catalogue::{
    AttributeDef, AttributeKind, BrowseFilter, Category, CategoryInput, CategoryUpdate, Page,
    Product, ProductInput, StockReason, VariantInput,
};
use crate::service_error::ServiceError;
use crate::store::catalogue::{Sort, VariantRow};
use crate::store::rfc3339;

pub(super) fn bind(r: &mut Resolvers) {
    r.guarded("Query.categories", Access::Public, |ctx| {
        FieldFuture::new(async move { categories(&ctx).await })
    })
    .guarded("Query.product", Access::Public, |ctx| {
        FieldFuture::new(async move {
            let id = ctx.args.try_get("id")?.string()?;
            let product = services(&ctx)?
                .catalogue
                .product(caller(&ctx)?, id)
                .await
                .map_err(|e| top_level(&ctx, e))?;
            Ok(product.map(|p| FieldValue::value(product_value(&p))))
        })
    })
    .guarded("Query.products", Access::Public, |ctx| {
        FieldFuture::new(async move { products(&ctx).await })
    })
    .guarded("Query.myProducts", Access::Resolver, |ctx| {
        FieldFuture::new(async move { my_products(&ctx).await })
    })
    .guarded("Query.homeFeed", Access::Public, |ctx| {
        FieldFuture::new(async move {
            let market = ctx.args.try_get("market")?.string()?.to_string();
            let page = page(&ctx)?;
            let found = services(&ctx)?
                .catalogue
                .home_feed(caller(&ctx)?, &market, &page.1)
                .await;
            product_connection(&ctx, &page, found)
        })
    })
    .guarded(
        "Mutation.createCategory",
        Access::in_market("category", "write", "input.marketCode"),
        |ctx| {
            FieldFuture::new(async move {
                let input = object_arg(&ctx, "input")?;
                let fields = CategoryInput {
                    market: str_field(&input, "marketCode")?,
                    parent_id: opt_str_field(&input, "parentId"),
                    code: str_field(&input, "code")?,
                    name_zh: str_field(&input, "nameZh")?,
                    name_en: opt_str_field(&input, "nameEn").unwrap_or_default(),
                    position: opt_i64_field(&input, "position").unwrap_or(0),
                    fresh: opt_bool(&input, "fresh").unwrap_or(false),
                    attributes: attribute_defs(&input)?.unwrap_or_default(),
                };
                let outcome = services(&ctx)?
                    .catalogue
                    .create_category(caller(&ctx)?, fields)
                    .await
                    .map(|c| vec![("category", category_value(&c))]);
                payload(&ctx, outcome, &["category"])
            })
        },
    )
    .guarded("Mutation.updateCategory", Access::Resolver, |ctx| {
        FieldFuture::new(async move {
            let id = ctx.args.try_get("id")?.string()?.to_string();
            let catalogue = &services(&ctx)?.catalogue;
            let category = catalogue
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
                "Mutation.updateCategory",
            )
            .await?;
            let input = object_arg(&ctx, "input")?;
            let update = CategoryUpdate {
                name_zh: opt_str_field(&input, "nameZh"),
                name_en: opt_str_field(&input, "nameEn"),
                position: opt_i64_field(&input, "position"),
                fresh: opt_bool(&input, "fresh"),
                attributes: attribute_defs(&input)?,
            };
            let outcome = catalogue
                .update_category(caller(&ctx)?, &id, update)
                .await
                .map(|c| vec![("category", category_value(&c))]);
            payload(&ctx, outcome, &["category"])
        })
    })
    .guarded("Mutation.createProduct", Access::Resolver, |ctx| {
        FieldFuture::new(async move {
            let input = object_arg(&ctx, "input")?;
            let merchant = str_field(&input, "merchantId")?;
            let catalogue = &services(&ctx)?.catalogue;
            let market = catalogue
                .merchant_market(&merchant)
                .await
                .map_err(|e| top_level(&ctx, e))?
                .ok_or_else(|| top_level(&ctx, ServiceError::NotFound))?;
            guard::require(
                ctx.ctx,
                "product",
                "write",
                &market,
                "Mutation.createProduct",
            )
            .await?;
            let fields = product_input(&input)?;
            let mut variants = Vec::new();
            for v in input.try_get("variants")?.list()?.iter() {
                variants.push(variant_input(&v.object()?)?);
            }
            let outcome = catalogue
                .create_product(caller(&ctx)?, &merchant, fields, variants)
                .await;
            product_payload(&ctx, outcome)
        })
    })
    .guarded("Mutation.updateProduct", Access::Resolver, |ctx| {
        FieldFuture::new(async move {
            let id = product_guard(&ctx, "id", "Mutation.updateProduct").await?;
            let input = object_arg(&ctx, "input")?;
            let fields = product_input(&input)?;
            let outcome = services(&ctx)?
                .catalogue
                .update_product(caller(&ctx)?, &id, fields)
                .await;
            product_payload(&ctx, outcome)
        })
    })
    .guarded("Mutation.setProductStatus", Access::Resolver, |ctx| {
        FieldFuture::new(async move {
            let id = product_guard(&ctx, "id", "Mutation.setProductStatus").await?;
            let status = ctx
                .args
                .try_get("status")?
                .enum_name()?
                .to_ascii_lowercase();
            let catalogue = &services(&ctx)?.catalogue;
            let outcome = if status == crate::catalogue::SUSPENDED {
                // Suspension is the platform's (expired qualifications), never the shop's.
                Err(ServiceError::Forbidden)
            } else {
                catalogue.set_status(caller(&ctx)?, &id, &status).await
            };
            product_payload(&ctx, outcome)
        })
    })
    .guarded("Mutation.addProductVariant", Access::Resolver, |ctx| {
        FieldFuture::new(async move {
            let id = product_guard(&ctx, "productId", "Mutation.addProductVariant").await?;
            let input = object_arg(&ctx, "input")?;
            let fields = variant_input(&input)?;
            let outcome = services(&ctx)?
                .catalogue
                .add_variant(caller(&ctx)?, &id, fields)
                .await;
            product_payload(&ctx, outcome)
        })
    })
    .guarded("Mutation.updateProductVariant", Access::Resolver, |ctx| {
        FieldFuture::new(async move {
            let id = variant_guard(&ctx, "id", "Mutation.updateProductVariant").await?;
            let input = object_arg(&ctx, "input")?;
            let fields = variant_input(&input)?;
            let outcome = services(&ctx)?
                .catalogue
                .update_variant(caller(&ctx)?, &id, fields)
                .await;
            product_payload(&ctx, outcome)
        })
    })
    .guarded("Mutation.adjustStock", Access::Resolver, |ctx| {
        FieldFuture::new(async move {
            let id = variant_guard(&ctx, "variantId", "Mutation.adjustStock").await?;
            let delta = ctx.args.try_get("delta")?.i64()?;
            let reason = ctx.args.try_get("reason")?.enum_name()?.to_string();
            let reason = StockReason::parse(&reason).unwrap_or(StockReason::Other);
            let note = ctx
                .args
                .get("note")
                .filter(|v| !v.is_null())
                .and_then(|v| v.string().ok().map(str::to_string))
                .unwrap_or_default();
            let outcome = services(&ctx)?
                .catalogue
                .adjust_stock(caller(&ctx)?, &id, delta, reason, &note)
                .await;
            product_payload(&ctx, outcome)
        })
    })
    .field("Product.images", |ctx| {
        FieldFuture::new(async move {
            let ids = match super::binding::parent_value(&ctx) {
                Some(Value::Object(map)) => match map.get("imageIds") {
                    Some(Value::List(ids)) => ids.clone(),
                    _ => Vec::new(),
                },
                _ => Vec::new(),
            };
            let store = &services(&ctx)?.store;
            let mut images = Vec::new();
            for id in ids {
                if let Value::String(id) = id
                    && let Some(row) = crate::store::media::find(store, &id)
                        .await
                        .map_err(|e| top_level(&ctx, e.into()))?
                {
                    images.push(FieldValue::value(super::media::media_value(&row)));
                }
            }
            Ok(Some(FieldValue::list(images)))
        })
    })
    .field("ProductVariant.priceHistory", |ctx| {
        FieldFuture::new(async move {
            let id = match super::binding::parent_value(&ctx) {
                Some(Value::Object(map)) => match map.get("id") {
                    Some(Value::String(id)) => id.clone(),
                    _ => String::new(),
                },
                _ => String::new(),
            };
            let page = PageRequest::from_args(&ctx).map_err(|e| super::fail(ctx.ctx, e))?;
            let changes = services(&ctx)?
                .catalogue
                .price_history(&id, page.after.as_deref(), page.fetch_limit())
                .await
                .map_err(|e| top_level(&ctx, e))?;
            let rows = changes
                .into_iter()
                .map(|c| {
                    let node = object([
                        ("priceFen", Value::from(c.price_fen)),
                        ("changedAt", Value::String(rfc3339(c.changed_at))),
                    ]);
                    (c.id, node)
                })
                .collect();
            Ok(Some(FieldValue::value(relay::connection(&page, rows))))
        })
    });
    for record in [
        "Category",
        "CategoryAttribute",
        "CategoryConnection",
        "CategoryEdge",
        "Origin",
        "AttributeValue",
        "Product",
        "ProductVariant",
        "Stock",
        "PriceChange",
        "PriceChangeConnection",
        "PriceChangeEdge",
        "ProductConnection",
        "ProductEdge",
        "CategoryPayload",
        "ProductPayload",
    ] {
        r.record(record);
    }
}

/// Authorises a write to the product named by argument `arg`; its id.
async fn product_guard(
    ctx: &ResolverContext<'_>,
    arg: &str,
    coordinate: &str,
) -> Result<String, async_graphql::Error> {
    let id = ctx.args.try_get(arg)?.string()?.to_string();
    let market = services(ctx)?
        .catalogue
        .product_market(&id)
        .await
        .map_err(|e| top_level(ctx, e))?
        .ok_or_else(|| top_level(ctx, ServiceError::NotFound))?;
    guard::require(ctx.ctx, "product", "write", &market, coordinate).await?;
    Ok(id)
}

/// Authorises a write to the variant named by argument `arg`; its id.
async fn variant_guard(
    ctx: &ResolverContext<'_>,
    arg: &str,
    coordinate: &str,
) -> Result<String, async_graphql::Error> {
    let id = ctx.args.try_get(arg)?.string()?.to_string();
    let market = services(ctx)?
        .catalogue
        .variant_market(&id)
        .await
        .map_err(|e| top_level(ctx, e))?
        .ok_or_else(|| top_level(ctx, ServiceError::NotFound))?;
    guard::require(ctx.ctx, "product", "write", &market, coordinate).await?;
    Ok(id)
}

fn page(ctx: &ResolverContext<'_>) -> Result<(PageRequest, Page), async_graphql::Error> {
    let request = PageRequest::from_args(ctx).map_err(|e| super::fail(ctx.ctx, e))?;
    let page = Page {
        first: request.first,
        after: request.after.clone(),
    };
    Ok((request, page))
}

async fn categories<'a>(ctx: &ResolverContext<'a>) -> FieldResult<'a> {
    let market = ctx.args.try_get("market")?.string()?;
    let (request, _) = page(ctx)?;
    let all = services(ctx)?
        .catalogue
        .categories(market)
        .await
        .map_err(|e| top_level(ctx, e))?;
    // A market's tree is small: page through it in memory, after the cursor's id.
    let start = match &request.after {
        Some(id) => all
            .iter()
            .position(|c| &c.row.id == id)
            .map_or(all.len(), |i| i + 1),
        None => 0,
    };
    let rows = all
        .iter()
        .skip(start)
        .take(request.first + 1)
        .map(|c| (c.row.id.clone(), category_value(c)))
        .collect();
    Ok(Some(FieldValue::value(relay::connection(&request, rows))))
}

async fn products<'a>(ctx: &ResolverContext<'a>) -> FieldResult<'a> {
    let (request, page) = page(ctx)?;
    let f = ctx.args.try_get("filter")?.object()?;
    let filter = BrowseFilter {
        market: str_field(&f, "market")?,
        category_id: opt_str_field(&f, "category"),
        merchant_id: opt_str_field(&f, "merchant"),
        province: opt_str_field(&f, "originProvince"),
        city: opt_str_field(&f, "originCity"),
        price_min_fen: opt_i64_field(&f, "priceMinFen"),
        price_max_fen: opt_i64_field(&f, "priceMaxFen"),
        attributes: attribute_values(&f)?.unwrap_or_default(),
        query: opt_str_field(&f, "query"),
    };
    let sort = match ctx.args.get("sort").filter(|v| !v.is_null()) {
        Some(v) => match v.enum_name()? {
            "PRICE_ASC" => Sort::PriceAsc,
            "PRICE_DESC" => Sort::PriceDesc,
            "NEWEST" => Sort::Newest,
            "SALES" => Sort::Sales,
            _ => Sort::Relevance,
        },
        None => Sort::Relevance,
    };
    let found = services(ctx)?
        .catalogue
        .browse(caller(ctx)?, filter, sort, &page)
        .await;
    product_connection(ctx, &(request, page), found)
}

async fn my_products<'a>(ctx: &ResolverContext<'a>) -> FieldResult<'a> {
    let merchant = ctx.args.try_get("merchant")?.string()?.to_string();
    let catalogue = &services(ctx)?.catalogue;
    let market = catalogue
        .merchant_market(&merchant)
        .await
        .map_err(|e| top_level(ctx, e))?
        .ok_or_else(|| top_level(ctx, ServiceError::NotFound))?;
    guard::require(ctx.ctx, "product", "write", &market, "Query.myProducts").await?;
    let status = match ctx.args.get("status").filter(|v| !v.is_null()) {
        Some(v) => Some(v.enum_name()?.to_ascii_lowercase()),
        None => None,
    };
    let (request, page) = page(ctx)?;
    let found = catalogue
        .my_products(caller(ctx)?, &merchant, status.as_deref(), &page)
        .await;
    product_connection(ctx, &(request, page), found)
}

fn product_connection<'a>(
    ctx: &ResolverContext<'_>,
    page: &(PageRequest, Page),
    found: Result<impl std::borrow::Borrow<Vec<(String, Product)>>, ServiceError>,
) -> FieldResult<'a> {
    let found = found.map_err(|e| top_level(ctx, e))?;
    let rows = found
        .borrow()
        .iter()
        .map(|(key, p)| (key.clone(), product_value(p)))
        .collect();
    Ok(Some(FieldValue::value(relay::connection(&page.0, rows))))
}

fn product_payload<'a>(
    ctx: &ResolverContext<'_>,
    outcome: Result<Product, ServiceError>,
) -> FieldResult<'a> {
    payload(
        ctx,
        outcome.map(|p| vec![("product", product_value(&p))]),
        &["product"],
    )
}

fn opt_bool(obj: &ObjectAccessor<'_>, name: &str) -> Option<bool> {
    obj.get(name)
        .filter(|v| !v.is_null())
        .and_then(|v| v.boolean().ok())
}

fn opt_strings(
    obj: &ObjectAccessor<'_>,
    name: &str,
) -> Result<Option<Vec<String>>, async_graphql::Error> {
    match obj.get(name).filter(|v| !v.is_null()) {
        Some(list) => Ok(Some(
            list.list()?
                .iter()
                .map(|v| v.string().map(str::to_string))
                .collect::<Result<_, _>>()?,
        )),
        None => Ok(None),
    }
}

fn attribute_values(
    obj: &ObjectAccessor<'_>,
) -> Result<Option<Vec<(String, String)>>, async_graphql::Error> {
    match obj.get("attributes").filter(|v| !v.is_null()) {
        Some(list) => Ok(Some(
            list.list()?
                .iter()
                .map(|v| {
                    let a = v.object()?;
                    Ok((str_field(&a, "name")?, str_field(&a, "value")?))
                })
                .collect::<Result<_, async_graphql::Error>>()?,
        )),
        None => Ok(None),
    }
}

fn attribute_defs(
    obj: &ObjectAccessor<'_>,
) -> Result<Option<Vec<AttributeDef>>, async_graphql::Error> {
    match obj.get("attributes").filter(|v| !v.is_null()) {
        Some(list) => Ok(Some(
            list.list()?
                .iter()
                .map(|v| {
                    let a = v.object()?;
                    let kind = match a.try_get("type")?.enum_name()? {
                        "INTEGER" => AttributeKind::Integer,
                        "DECIMAL" => AttributeKind::Decimal,
                        "ENUM" => AttributeKind::Enum,
                        _ => AttributeKind::Text,
                    };
                    Ok(AttributeDef {
                        name: str_field(&a, "name")?.trim().to_string(),
                        kind,
                        allowed_values: opt_strings(&a, "allowedValues")?.unwrap_or_default(),
                        required: opt_bool(&a, "required").unwrap_or(false),
                        unit: opt_str_field(&a, "unit"),
                    })
                })
                .collect::<Result<_, async_graphql::Error>>()?,
        )),
        None => Ok(None),
    }
}

fn product_input(obj: &ObjectAccessor<'_>) -> Result<ProductInput, async_graphql::Error> {
    let origin = match obj.get("origin").filter(|v| !v.is_null()) {
        Some(o) => {
            let o = o.object()?;
            Some((
                str_field(&o, "province")?,
                str_field(&o, "city")?,
                opt_str_field(&o, "county").unwrap_or_default(),
            ))
        }
        None => None,
    };
    let unit = match obj.get("unit").filter(|v| !v.is_null()) {
        Some(v) => Some(v.enum_name()?.to_ascii_lowercase()),
        None => None,
    };
    Ok(ProductInput {
        category_id: opt_str_field(obj, "categoryId"),
        name: opt_str_field(obj, "name"),
        specification: opt_str_field(obj, "specification"),
        origin,
        description: opt_str_field(obj, "description"),
        unit,
        minimum_package: opt_str_field(obj, "minimumPackage"),
        min_order_qty: opt_i64_field(obj, "minimumOrderQuantity"),
        seasonal: opt_bool(obj, "seasonal"),
        after_sale_note: opt_str_field(obj, "afterSaleNote"),
        attributes: attribute_values(obj)?,
        tags: opt_strings(obj, "tags")?,
        image_ids: opt_strings(obj, "imageIds")?,
    })
}

fn variant_input(obj: &ObjectAccessor<'_>) -> Result<VariantInput, async_graphql::Error> {
    Ok(VariantInput {
        sku_code: opt_str_field(obj, "skuCode"),
        name: opt_str_field(obj, "name"),
        sold_by_weight: opt_bool(obj, "soldByWeight"),
        price_fen: opt_i64_field(obj, "priceFen"),
        estimated_weight_g: opt_i64_field(obj, "estimatedWeightG"),
        low_stock_threshold: opt_i64_field(obj, "lowStockThreshold"),
    })
}

fn enum_value(name: &str) -> Value {
    Value::Enum(Name::new(name.to_ascii_uppercase()))
}

fn category_value(c: &Category) -> Value {
    let attributes = c
        .attributes
        .iter()
        .map(|a| {
            let kind = match a.kind {
                AttributeKind::Text => "TEXT",
                AttributeKind::Integer => "INTEGER",
                AttributeKind::Decimal => "DECIMAL",
                AttributeKind::Enum => "ENUM",
            };
            object([
                ("name", Value::String(a.name.clone())),
                ("type", enum_value(kind)),
                (
                    "allowedValues",
                    Value::List(
                        a.allowed_values
                            .iter()
                            .cloned()
                            .map(Value::String)
                            .collect(),
                    ),
                ),
                ("required", Value::Boolean(a.required)),
                ("unit", opt(a.unit.clone())),
            ])
        })
        .collect();
    let r = &c.row;
    object([
        ("id", Value::String(r.id.clone())),
        ("marketCode", Value::String(r.market_code.clone())),
        ("parentId", opt(r.parent_id.clone())),
        ("code", Value::String(r.code.clone())),
        ("nameZh", Value::String(r.name_zh.clone())),
        ("nameEn", Value::String(r.name_en.clone())),
        ("position", Value::from(r.position)),
        ("fresh", Value::Boolean(r.fresh)),
        ("attributes", Value::List(attributes)),
    ])
}

fn strings(list: &[String]) -> Value {
    Value::List(list.iter().cloned().map(Value::String).collect())
}

fn product_value(p: &Product) -> Value {
    let r = &p.row;
    let lowest = p.variants.iter().map(|v| v.price_fen).min();
    object([
        ("id", Value::String(r.id.clone())),
        ("merchantId", Value::String(r.merchant_id.clone())),
        ("marketCode", Value::String(r.market_code.clone())),
        (
            "category",
            p.category.as_ref().map_or(Value::Null, category_value),
        ),
        ("name", Value::String(r.name.clone())),
        ("specification", Value::String(r.specification.clone())),
        (
            "origin",
            object([
                ("province", Value::String(r.origin_province.clone())),
                ("city", Value::String(r.origin_city.clone())),
                ("county", Value::String(r.origin_county.clone())),
            ]),
        ),
        ("description", Value::String(r.description.clone())),
        ("unit", enum_value(&r.unit)),
        ("minimumPackage", Value::String(r.minimum_package.clone())),
        ("minimumOrderQuantity", Value::from(r.min_order_qty)),
        ("seasonal", Value::Boolean(r.seasonal)),
        ("afterSaleNote", Value::String(r.after_sale_note.clone())),
        (
            "attributes",
            Value::List(
                p.attributes
                    .iter()
                    .map(|(n, v)| {
                        object([
                            ("name", Value::String(n.clone())),
                            ("value", Value::String(v.clone())),
                        ])
                    })
                    .collect(),
            ),
        ),
        ("status", enum_value(&r.status)),
        ("suspendedReason", opt(r.suspended_reason.clone())),
        ("tags", strings(&p.tags)),
        ("imageIds", strings(&p.image_ids)),
        ("salesCount", Value::from(r.sales_count)),
        ("lowestPriceFen", lowest.map_or(Value::Null, Value::from)),
        (
            "variants",
            Value::List(
                p.variants
                    .iter()
                    .map(|v| variant_value(v, p.private))
                    .collect(),
            ),
        ),
        ("createdAt", Value::String(rfc3339(r.created_at))),
        ("updatedAt", Value::String(rfc3339(r.updated_at))),
    ])
}

fn variant_value(v: &VariantRow, private: bool) -> Value {
    let available = (v.on_hand - v.reserved).max(0);
    let shop_only = |n: i64| if private { Value::from(n) } else { Value::Null };
    object([
        ("id", Value::String(v.id.clone())),
        ("skuCode", Value::String(v.sku_code.clone())),
        ("name", Value::String(v.name.clone())),
        ("soldByWeight", Value::Boolean(v.sold_by_weight)),
        ("priceFen", Value::from(v.price_fen)),
        (
            "estimatedWeightG",
            v.estimated_weight_g.map_or(Value::Null, Value::from),
        ),
        (
            "stock",
            object([
                ("available", Value::from(available)),
                (
                    "lowStock",
                    Value::Boolean(available <= v.low_stock_threshold),
                ),
                ("onHand", shop_only(v.on_hand)),
                ("reserved", shop_only(v.reserved)),
                ("lowStockThreshold", shop_only(v.low_stock_threshold)),
            ]),
        ),
    ])
}
