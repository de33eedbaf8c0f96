//! Products and their variants (SKUs): written only by people who work for
//! the owning shop; listed only while the shop is active. Every write
//! re-indexes the product for search and is audited in the same transaction.

use std::collections::HashMap;

use serde_json::json;

use super::categories::{Category, from_row as category_from_row};
use super::{Catalogue, DRAFT, LISTED, SUSPENDED, reject, reject_named, search};
use crate::audit::AuditEvent;
use crate::caller::Caller;
use crate::i18n::{Locale, Text};
use crate::merchants::membership;
use crate::service_error::ServiceError;
use crate::store::catalogue::{self as rows, PriceRow, ProductRow, VariantRow};
use crate::store::{Tx, media, merchants, now_ms};

/// Units a product is sold in.
pub const UNITS: &[&str] = &["kg", "jin", "piece", "box"];

/// A product's fields; on update `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct ProductInput {
    pub category_id: Option<String>,
    pub name: Option<String>,
    pub specification: Option<String>,
    /// Province, city, county.
    pub origin: Option<(String, String, String)>,
    pub description: Option<String>,
    pub unit: Option<String>,
    pub minimum_package: Option<String>,
    pub min_order_qty: Option<i64>,
    pub seasonal: Option<bool>,
    pub after_sale_note: Option<String>,
    pub attributes: Option<Vec<(String, String)>>,
    pub tags: Option<Vec<String>>,
    pub image_ids: Option<Vec<String>>,
}

/// A variant's fields; on update `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct VariantInput {
    pub sku_code: Option<String>,
    pub name: Option<String>,
    pub sold_by_weight: Option<bool>,
    /// Per unit, or per kg when sold by weight.
    pub price_fen: Option<i64>,
    pub estimated_weight_g: Option<i64>,
    pub low_stock_threshold: Option<i64>,
}

/// A product as the API shows it.
#[derive(Debug, Clone)]
pub struct Product {
    pub row: ProductRow,
    pub image_ids: Vec<String>,
    pub tags: Vec<String>,
    pub attributes: Vec<(String, String)>,
    pub variants: Vec<VariantRow>,
    pub category: Option<Category>,
    /// Whether the reader works for the shop: stock counts beyond
    /// `available` are shown to the shop only.
    pub private: bool,
}

impl Catalogue {
    /// The market a merchant sells in, if the merchant exists.
    pub async fn merchant_market(&self, merchant_id: &str) -> Result<Option<String>, ServiceError> {
        Ok(merchants::find(&self.store, merchant_id)
            .await?
            .map(|m| m.market_code))
    }

    pub async fn product_market(&self, id: &str) -> Result<Option<String>, ServiceError> {
        Ok(rows::find_product(&self.store, id)
            .await?
            .map(|p| p.market_code))
    }

    pub async fn variant_market(&self, id: &str) -> Result<Option<String>, ServiceError> {
        match rows::find_variant(&self.store, id).await? {
            Some(v) => self.product_market(&v.product_id).await,
            None => Ok(None),
        }
    }

    /// A product the caller may see: on sale, or their own shop's.
    pub async fn product(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<Option<Product>, ServiceError> {
        let Some(row) = rows::find_product(&self.store, id).await? else {
            return Ok(None);
        };
        let member = self.is_member(caller, &row.merchant_id).await?;
        if !member && !self.on_sale(&row).await? {
            return Ok(None);
        }
        Ok(self.load(vec![row], member).await?.pop())
    }

    async fn on_sale(&self, row: &ProductRow) -> Result<bool, ServiceError> {
        let active = merchants::find(&self.store, &row.merchant_id)
            .await?
            .is_some_and(|m| m.status == "active");
        Ok(active && row.status == LISTED)
    }

    /// Products with their variants, attributes and category, in `rows`' order.
    pub(super) async fn load(
        &self,
        rows_in_order: Vec<ProductRow>,
        private: bool,
    ) -> Result<Vec<Product>, ServiceError> {
        let ids: Vec<String> = rows_in_order.iter().map(|p| p.id.clone()).collect();
        let mut variants: HashMap<String, Vec<VariantRow>> = HashMap::new();
        for v in rows::variants_of(&self.store, &ids).await? {
            variants.entry(v.product_id.clone()).or_default().push(v);
        }
        let mut attributes: HashMap<String, Vec<(String, String)>> = HashMap::new();
        for a in rows::attributes_of(&self.store, &ids).await? {
            attributes
                .entry(a.product_id)
                .or_default()
                .push((a.name, a.value));
        }
        let mut categories: HashMap<String, Category> = HashMap::new();
        let mut markets: Vec<&str> = rows_in_order
            .iter()
            .map(|p| p.market_code.as_str())
            .collect();
        markets.dedup();
        for market in markets {
            for c in rows::categories_in_market(&self.store, market).await? {
                categories.insert(c.id.clone(), category_from_row(c));
            }
        }
        Ok(rows_in_order
            .into_iter()
            .map(|row| Product {
                image_ids: serde_json::from_str(&row.image_ids).unwrap_or_default(),
                tags: serde_json::from_str(&row.tags).unwrap_or_default(),
                attributes: attributes.remove(&row.id).unwrap_or_default(),
                variants: variants.remove(&row.id).unwrap_or_default(),
                category: categories.get(&row.category_id).cloned(),
                private,
                row,
            })
            .collect())
    }

    /// The product, if the caller works for the shop that owns it.
    pub(super) async fn owned(&self, caller: &Caller, id: &str) -> Result<Product, ServiceError> {
        let row = rows::find_product(&self.store, id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        membership::require_member(&self.store, caller, &row.merchant_id).await?;
        self.load(vec![row], true)
            .await?
            .pop()
            .ok_or(ServiceError::NotFound)
    }

    /// A new draft product with its variants, for a shop the caller works for.
    pub async fn create_product(
        &self,
        caller: &Caller,
        merchant_id: &str,
        input: ProductInput,
        variants: Vec<VariantInput>,
    ) -> Result<Product, ServiceError> {
        let merchant = merchants::find(&self.store, merchant_id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        membership::require_member(&self.store, caller, merchant_id).await?;
        let (product, new_variants) = self
            .prepare_product(caller, &merchant, input, variants)
            .await?;
        let mut tx = self.store.begin().await?;
        self.write_new_product(&mut tx, caller, &product, &new_variants)
            .await?;
        tx.commit().await?;
        tracing::info!(product = %product.row.id, merchant = %merchant.id, "product created");
        Ok(product)
    }

    /// Checks a new product and its variants without writing anything: what
    /// `create_product` and a file import share.
    pub(super) async fn prepare_product(
        &self,
        caller: &Caller,
        merchant: &merchants::MerchantRow,
        input: ProductInput,
        variants: Vec<VariantInput>,
    ) -> Result<(Product, Vec<VariantRow>), ServiceError> {
        let now = now_ms();
        let blank = ProductRow {
            id: uuid::Uuid::now_v7().to_string(),
            merchant_id: merchant.id.clone(),
            market_code: merchant.market_code.clone(),
            category_id: String::new(),
            name: String::new(),
            specification: String::new(),
            origin_province: String::new(),
            origin_city: String::new(),
            origin_county: String::new(),
            description: String::new(),
            unit: "piece".into(),
            minimum_package: String::new(),
            min_order_qty: 1,
            seasonal: false,
            after_sale_note: String::new(),
            status: DRAFT.into(),
            suspended_reason: None,
            image_ids: "[]".into(),
            tags: "[]".into(),
            sales_count: 0,
            created_at: now,
            updated_at: now,
        };
        let product = Product {
            row: blank,
            image_ids: Vec::new(),
            tags: Vec::new(),
            attributes: Vec::new(),
            variants: Vec::new(),
            category: None,
            private: true,
        };
        let mut product = self.apply(product, input, caller.locale).await?;
        let mut new_variants = Vec::new();
        for (i, v) in variants.into_iter().enumerate() {
            let variant = new_variant(&product.row.id, i as i64, now);
            let variant = apply_variant(variant, v);
            check_variant(
                &variant,
                &product.variants,
                &["input", "variants", &i.to_string()],
                caller.locale,
            )?;
            product.variants.push(variant.clone());
            new_variants.push(variant);
        }
        Ok((product, new_variants))
    }

    /// Writes a prepared product, its variants and first prices, audited, in
    /// the caller's transaction.
    pub(super) async fn write_new_product(
        &self,
        tx: &mut Tx,
        caller: &Caller,
        product: &Product,
        variants: &[VariantRow],
    ) -> Result<(), ServiceError> {
        self.write(tx, product).await?;
        for v in variants {
            rows::save_variant(tx, v).await?;
            record_price(tx, caller, v).await?;
        }
        AuditEvent::new(caller, "product.create", "product", Some(&product.row.id))
            .market(Some(&product.row.market_code))
            .after(&state(product))
            .append(tx)
            .await?;
        Ok(())
    }

    pub async fn update_product(
        &self,
        caller: &Caller,
        id: &str,
        input: ProductInput,
    ) -> Result<Product, ServiceError> {
        let before = self.owned(caller, id).await?;
        let mut after = self.apply(before.clone(), input, caller.locale).await?;
        after.row.updated_at = now_ms();
        let mut tx = self.store.begin().await?;
        self.write(&mut tx, &after).await?;
        AuditEvent::new(caller, "product.update", "product", Some(id))
            .market(Some(&after.row.market_code))
            .before(&state(&before))
            .after(&state(&after))
            .append(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Lists a product (on sale) or takes it back to draft. A suspended
    /// product stays suspended until what suspended it is put right.
    pub async fn set_status(
        &self,
        caller: &Caller,
        id: &str,
        status: &str,
    ) -> Result<Product, ServiceError> {
        let locale = caller.locale;
        let before = self.owned(caller, id).await?;
        if before.row.status == SUSPENDED {
            return Err(reject(
                "PRODUCT_SUSPENDED",
                &["status"],
                Text::new(
                    "This product is suspended; it returns to sale once the reason is resolved.",
                    "该商品已被暂停销售，问题解决后方可恢复。",
                ),
                locale,
            ));
        }
        if status == LISTED {
            let active = merchants::find(&self.store, &before.row.merchant_id)
                .await?
                .is_some_and(|m| m.status == "active");
            if !active {
                return Err(reject(
                    "MERCHANT_NOT_ACTIVE",
                    &["status"],
                    Text::new(
                        "Only an active shop can list products.",
                        "店铺尚未开业或已停业，不能上架商品。",
                    ),
                    locale,
                ));
            }
            if before.variants.is_empty() {
                return Err(reject(
                    "NO_VARIANTS",
                    &["status"],
                    Text::new(
                        "Add at least one variant with a price before listing.",
                        "请至少添加一个有价格的规格后再上架。",
                    ),
                    locale,
                ));
            }
        }
        let mut after = before.clone();
        after.row.status = status.to_string();
        after.row.updated_at = now_ms();
        let mut tx = self.store.begin().await?;
        rows::save_product(&mut tx, &after.row).await?;
        AuditEvent::new(caller, "product.status", "product", Some(id))
            .market(Some(&after.row.market_code))
            .before(&json!({ "status": before.row.status }))
            .after(&json!({ "status": after.row.status }))
            .append(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(after)
    }

    pub async fn add_variant(
        &self,
        caller: &Caller,
        product_id: &str,
        input: VariantInput,
    ) -> Result<Product, ServiceError> {
        let mut product = self.owned(caller, product_id).await?;
        let now = now_ms();
        let position = product
            .variants
            .iter()
            .map(|v| v.position + 1)
            .max()
            .unwrap_or(0);
        let variant = apply_variant(new_variant(product_id, position, now), input);
        check_variant(&variant, &product.variants, &["input"], caller.locale)?;
        let mut tx = self.store.begin().await?;
        rows::save_variant(&mut tx, &variant).await?;
        record_price(&mut tx, caller, &variant).await?;
        AuditEvent::new(
            caller,
            "variant.create",
            "product_variant",
            Some(&variant.id),
        )
        .market(Some(&product.row.market_code))
        .after(&variant_state(&variant))
        .append(&mut tx)
        .await?;
        tx.commit().await?;
        product.variants.push(variant);
        Ok(product)
    }

    /// Changes a variant; a new price is effective at once and kept in its history.
    pub async fn update_variant(
        &self,
        caller: &Caller,
        variant_id: &str,
        input: VariantInput,
    ) -> Result<Product, ServiceError> {
        let before = rows::find_variant(&self.store, variant_id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let mut product = self.owned(caller, &before.product_id).await?;
        let mut after = apply_variant(before.clone(), input);
        after.updated_at = now_ms();
        let others: Vec<VariantRow> = product
            .variants
            .iter()
            .filter(|v| v.id != variant_id)
            .cloned()
            .collect();
        check_variant(&after, &others, &["input"], caller.locale)?;
        let mut tx = self.store.begin().await?;
        rows::save_variant(&mut tx, &after).await?;
        if after.price_fen != before.price_fen {
            record_price(&mut tx, caller, &after).await?;
        }
        AuditEvent::new(
            caller,
            "variant.update",
            "product_variant",
            Some(variant_id),
        )
        .market(Some(&product.row.market_code))
        .before(&variant_state(&before))
        .after(&variant_state(&after))
        .append(&mut tx)
        .await?;
        tx.commit().await?;
        for v in product.variants.iter_mut().filter(|v| v.id == variant_id) {
            *v = after.clone();
        }
        Ok(product)
    }

    /// A variant's prices, newest first.
    pub async fn price_history(
        &self,
        variant_id: &str,
        before_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<PriceRow>, ServiceError> {
        Ok(rows::price_history(&self.store, variant_id, before_id, limit).await?)
    }

    /// Applies `input` and checks the result against the category's rules.
    async fn apply(
        &self,
        mut p: Product,
        input: ProductInput,
        locale: Locale,
    ) -> Result<Product, ServiceError> {
        let trim = |s: String| s.trim().to_string();
        if let Some(v) = input.category_id {
            p.row.category_id = v;
        }
        if let Some(v) = input.name {
            p.row.name = trim(v);
        }
        if let Some(v) = input.specification {
            p.row.specification = trim(v);
        }
        if let Some((province, city, county)) = input.origin {
            p.row.origin_province = trim(province);
            p.row.origin_city = trim(city);
            p.row.origin_county = trim(county);
        }
        if let Some(v) = input.description {
            p.row.description = trim(v);
        }
        if let Some(v) = input.unit {
            p.row.unit = v;
        }
        if let Some(v) = input.minimum_package {
            p.row.minimum_package = trim(v);
        }
        if let Some(v) = input.min_order_qty {
            p.row.min_order_qty = v;
        }
        if let Some(v) = input.seasonal {
            p.row.seasonal = v;
        }
        if let Some(v) = input.after_sale_note {
            p.row.after_sale_note = trim(v);
        }
        if let Some(v) = input.attributes {
            p.attributes = v.into_iter().map(|(n, v)| (trim(n), trim(v))).collect();
        }
        if let Some(v) = input.tags {
            p.tags = v.into_iter().map(trim).filter(|t| !t.is_empty()).collect();
            p.tags.dedup();
        }
        if let Some(v) = input.image_ids {
            p.image_ids = v;
        }
        let category = rows::find_category(&self.store, &p.row.category_id)
            .await?
            .filter(|c| c.market_code == p.row.market_code)
            .map(category_from_row);
        let Some(category) = category else {
            return Err(reject(
                "UNKNOWN_CATEGORY",
                &["input", "categoryId"],
                Text::new(
                    "Choose a category of the shop's market.",
                    "请选择本市场的商品品类。",
                ),
                locale,
            ));
        };
        p.category = Some(category);
        check_product(&p, locale)?;
        for (i, id) in p.image_ids.iter().enumerate() {
            let is_image = media::find(&self.store, id)
                .await?
                .is_some_and(|m| m.kind == "image");
            if !is_image {
                return Err(reject(
                    "UNKNOWN_IMAGE",
                    &["input", "imageIds", &i.to_string()],
                    Text::new(
                        "An image is not an uploaded picture.",
                        "图片不存在或不是已上传的图片。",
                    ),
                    locale,
                ));
            }
        }
        p.row.image_ids = to_json(&p.image_ids)?;
        p.row.tags = to_json(&p.tags)?;
        Ok(p)
    }

    /// Writes the product row, its attributes and its search grams.
    async fn write(&self, tx: &mut Tx, p: &Product) -> Result<(), ServiceError> {
        rows::save_product(tx, &p.row).await?;
        rows::replace_attributes(tx, &p.row.id, &p.attributes).await?;
        rows::replace_grams(tx, &p.row.id, &grams(p)).await?;
        Ok(())
    }
}

/// The search grams of a product: those of its name first (ranked higher),
/// then of what else describes it.
fn grams(p: &Product) -> Vec<(String, bool)> {
    let name = search::index_grams(&p.row.name);
    let mut rest = String::new();
    for part in [
        &p.row.specification,
        &p.row.origin_province,
        &p.row.origin_city,
        &p.row.origin_county,
        &p.row.description,
    ] {
        rest.push_str(part);
        rest.push(' ');
    }
    if let Some(c) = &p.category {
        rest.push_str(&c.row.name_zh);
        rest.push(' ');
        rest.push_str(&c.row.name_en);
    }
    let mut all: Vec<(String, bool)> = name.iter().map(|g| (g.clone(), true)).collect();
    all.extend(
        search::index_grams(&rest)
            .into_iter()
            .filter(|g| !name.contains(g))
            .map(|g| (g, false)),
    );
    all
}

fn to_json(list: &[String]) -> Result<String, ServiceError> {
    serde_json::to_string(list).map_err(|e| ServiceError::Internal(e.to_string()))
}

fn new_variant(product_id: &str, position: i64, now: i64) -> VariantRow {
    VariantRow {
        id: uuid::Uuid::now_v7().to_string(),
        product_id: product_id.to_string(),
        sku_code: String::new(),
        name: String::new(),
        sold_by_weight: false,
        price_fen: 0,
        estimated_weight_g: None,
        on_hand: 0,
        reserved: 0,
        low_stock_threshold: 0,
        position,
        created_at: now,
        updated_at: now,
    }
}

fn apply_variant(mut v: VariantRow, input: VariantInput) -> VariantRow {
    if let Some(x) = input.sku_code {
        v.sku_code = x.trim().to_string();
    }
    if let Some(x) = input.name {
        v.name = x.trim().to_string();
    }
    if let Some(x) = input.sold_by_weight {
        v.sold_by_weight = x;
    }
    if let Some(x) = input.price_fen {
        v.price_fen = x;
    }
    if let Some(x) = input.estimated_weight_g {
        v.estimated_weight_g = Some(x);
    }
    if let Some(x) = input.low_stock_threshold {
        v.low_stock_threshold = x;
    }
    v
}

async fn record_price(tx: &mut Tx, caller: &Caller, v: &VariantRow) -> Result<(), ServiceError> {
    rows::append_price(
        tx,
        &PriceRow {
            id: uuid::Uuid::now_v7().to_string(),
            variant_id: v.id.clone(),
            price_fen: v.price_fen,
            changed_by: caller.actor.audit_name(),
            changed_at: v.updated_at,
        },
    )
    .await?;
    Ok(())
}

fn check_product(p: &Product, locale: Locale) -> Result<(), ServiceError> {
    let row = &p.row;
    if row.name.is_empty() || row.name.chars().count() > 100 {
        return Err(reject(
            "INVALID_NAME",
            &["input", "name"],
            Text::new(
                "Give a name of 1–100 characters.",
                "请填写 1–100 个字的商品名称。",
            ),
            locale,
        ));
    }
    if !UNITS.contains(&row.unit.as_str()) {
        return Err(reject(
            "INVALID_UNIT",
            &["input", "unit"],
            Text::new(
                "Sell by kg, jin, piece or box.",
                "计量单位须为千克、斤、件或箱。",
            ),
            locale,
        ));
    }
    if row.min_order_qty < 1 {
        return Err(reject(
            "INVALID_MIN_ORDER_QUANTITY",
            &["input", "minimumOrderQuantity"],
            Text::new(
                "The minimum order quantity is at least 1.",
                "起订量至少为 1。",
            ),
            locale,
        ));
    }
    let category = p.category.as_ref();
    if category.is_some_and(|c| c.row.fresh) && row.after_sale_note.is_empty() {
        return Err(reject(
            "AFTER_SALE_NOTE_REQUIRED",
            &["input", "afterSaleNote"],
            Text::new(
                "Fresh goods need an after-sale note.",
                "生鲜商品须填写售后说明。",
            ),
            locale,
        ));
    }
    if p.tags.len() > 20 || p.tags.iter().any(|t| t.chars().count() > 32) {
        return Err(reject(
            "INVALID_TAGS",
            &["input", "tags"],
            Text::new(
                "Use at most 20 tags of up to 32 characters.",
                "标签最多 20 个，每个不超过 32 个字。",
            ),
            locale,
        ));
    }
    if p.image_ids.len() > 20 {
        return Err(reject(
            "TOO_MANY_IMAGES",
            &["input", "imageIds"],
            Text::new("Use at most 20 images.", "图片最多 20 张。"),
            locale,
        ));
    }
    let defs = category
        .map(|c| c.attributes.as_slice())
        .unwrap_or_default();
    for (name, value) in &p.attributes {
        let Some(def) = defs.iter().find(|d| &d.name == name) else {
            return Err(reject_named(
                "UNKNOWN_ATTRIBUTE",
                &["input", "attributes", name],
                format!("The category has no attribute {name}."),
                format!("该品类没有属性“{name}”。"),
                locale,
            ));
        };
        if !def.accepts(value) {
            let allowed = def.allowed_values.join(", ");
            return Err(reject_named(
                "INVALID_ATTRIBUTE_VALUE",
                &["input", "attributes", name],
                format!("{value} is not a valid {name} (allowed: {allowed})."),
                format!("“{value}”不是有效的{name}（可选：{allowed}）。"),
                locale,
            ));
        }
    }
    for def in defs.iter().filter(|d| d.required) {
        if !p.attributes.iter().any(|(n, _)| n == &def.name) {
            return Err(reject_named(
                "ATTRIBUTE_REQUIRED",
                &["input", "attributes", &def.name],
                format!("Give the {}.", def.name),
                format!("请填写{}。", def.name),
                locale,
            ));
        }
    }
    Ok(())
}

fn check_variant(
    v: &VariantRow,
    others: &[VariantRow],
    at: &[&str],
    locale: Locale,
) -> Result<(), ServiceError> {
    let field = |name: &'static str| -> Vec<&str> {
        let mut f = at.to_vec();
        f.push(name);
        f
    };
    if v.sku_code.is_empty() || v.sku_code.chars().count() > 64 {
        return Err(reject(
            "INVALID_SKU",
            &field("skuCode"),
            Text::new(
                "Give a SKU code of 1–64 characters.",
                "请填写 1–64 个字符的 SKU 编码。",
            ),
            locale,
        ));
    }
    if others.iter().any(|o| o.sku_code == v.sku_code) {
        return Err(reject_named(
            "SKU_TAKEN",
            &field("skuCode"),
            format!("The product has a variant with SKU {}.", v.sku_code),
            format!("该商品已有 SKU 为“{}”的规格。", v.sku_code),
            locale,
        ));
    }
    if v.name.is_empty() || v.name.chars().count() > 100 {
        return Err(reject(
            "INVALID_NAME",
            &field("name"),
            Text::new(
                "Give a variant name of 1–100 characters.",
                "请填写 1–100 个字的规格名称。",
            ),
            locale,
        ));
    }
    if v.price_fen <= 0 {
        return Err(reject(
            "INVALID_PRICE",
            &field("priceFen"),
            Text::new("The price must be more than 0 fen.", "价格须大于 0 分。"),
            locale,
        ));
    }
    if v.sold_by_weight && v.estimated_weight_g.is_none_or(|g| g <= 0) {
        return Err(reject(
            "ESTIMATED_WEIGHT_REQUIRED",
            &field("estimatedWeightG"),
            Text::new(
                "Goods sold by weight need an estimated weight per unit in grams.",
                "按重量销售的商品须填写每件预估重量（克）。",
            ),
            locale,
        ));
    }
    if v.low_stock_threshold < 0 {
        return Err(reject(
            "INVALID_THRESHOLD",
            &field("lowStockThreshold"),
            Text::new(
                "The low-stock threshold cannot be negative.",
                "低库存阈值不能为负数。",
            ),
            locale,
        ));
    }
    Ok(())
}

fn state(p: &Product) -> serde_json::Value {
    json!({
        "merchantId": p.row.merchant_id,
        "categoryId": p.row.category_id,
        "name": p.row.name,
        "specification": p.row.specification,
        "origin": [p.row.origin_province, p.row.origin_city, p.row.origin_county],
        "unit": p.row.unit,
        "minimumPackage": p.row.minimum_package,
        "minimumOrderQuantity": p.row.min_order_qty,
        "seasonal": p.row.seasonal,
        "afterSaleNote": p.row.after_sale_note,
        "status": p.row.status,
        "attributes": p.attributes,
        "tags": p.tags,
        "imageIds": p.image_ids,
        "variants": p.variants.iter().map(variant_state).collect::<Vec<_>>(),
    })
}

fn variant_state(v: &VariantRow) -> serde_json::Value {
    json!({
        "skuCode": v.sku_code,
        "name": v.name,
        "soldByWeight": v.sold_by_weight,
        "priceFen": v.price_fen,
        "estimatedWeightG": v.estimated_weight_g,
        "lowStockThreshold": v.low_stock_threshold,
    })
}
