//! A market's category tree and the typed attributes each category's
//! products carry (e.g. crayfish colour 青/红, size grade 3-4两…).
//! Market administrators manage it (casbin `category write`).

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Catalogue, reject, reject_named};
use crate::audit::AuditEvent;
use crate::caller::Caller;
use crate::i18n::{Locale, Text};
use crate::service_error::ServiceError;
use crate::store::catalogue::{self as rows, CategoryRow};
use crate::store::now_ms;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AttributeKind {
    Text,
    Integer,
    Decimal,
    Enum,
}

/// One typed attribute a category's products carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeDef {
    pub name: String,
    pub kind: AttributeKind,
    /// For `Enum`: the only values allowed.
    #[serde(default)]
    pub allowed_values: Vec<String>,
    pub required: bool,
    pub unit: Option<String>,
}

impl AttributeDef {
    /// Whether `value` is one this attribute takes.
    pub fn accepts(&self, value: &str) -> bool {
        match self.kind {
            AttributeKind::Text => !value.trim().is_empty(),
            AttributeKind::Integer => value.trim().parse::<i64>().is_ok(),
            AttributeKind::Decimal => value.trim().parse::<f64>().is_ok_and(f64::is_finite),
            AttributeKind::Enum => self.allowed_values.iter().any(|v| v == value),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Category {
    pub row: CategoryRow,
    pub attributes: Vec<AttributeDef>,
}

#[derive(Debug, Clone)]
pub struct CategoryInput {
    pub market: String,
    pub parent_id: Option<String>,
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub position: i64,
    pub fresh: bool,
    pub attributes: Vec<AttributeDef>,
}

/// Changes to a category; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct CategoryUpdate {
    pub name_zh: Option<String>,
    pub name_en: Option<String>,
    pub position: Option<i64>,
    pub fresh: Option<bool>,
    pub attributes: Option<Vec<AttributeDef>>,
}

pub(super) fn from_row(row: CategoryRow) -> Category {
    // Definitions are written only by this module; unreadable ones mean none.
    let attributes = serde_json::from_str(&row.attributes).unwrap_or_default();
    Category { row, attributes }
}

impl Catalogue {
    pub async fn categories(&self, market: &str) -> Result<Vec<Category>, ServiceError> {
        Ok(rows::categories_in_market(&self.store, market)
            .await?
            .into_iter()
            .map(from_row)
            .collect())
    }

    pub async fn category(&self, id: &str) -> Result<Option<Category>, ServiceError> {
        Ok(rows::find_category(&self.store, id).await?.map(from_row))
    }

    pub async fn create_category(
        &self,
        caller: &Caller,
        input: CategoryInput,
    ) -> Result<Category, ServiceError> {
        let locale = caller.locale;
        let code = input.code.trim().to_lowercase();
        let code_ok = (1..=64).contains(&code.len())
            && code
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !code_ok {
            return Err(reject(
                "INVALID_CODE",
                &["input", "code"],
                Text::new(
                    "Use 1–64 lower-case letters, digits, hyphens or underscores.",
                    "代码须为 1–64 位小写字母、数字、连字符或下划线。",
                ),
                locale,
            ));
        }
        let existing = self.categories(&input.market).await?;
        if existing.iter().any(|c| c.row.code == code) {
            return Err(reject(
                "CODE_TAKEN",
                &["input", "code"],
                Text::new(
                    "This market has a category with this code.",
                    "该市场已有此代码的品类。",
                ),
                locale,
            ));
        }
        if let Some(parent) = &input.parent_id
            && !existing.iter().any(|c| &c.row.id == parent)
        {
            return Err(reject(
                "UNKNOWN_PARENT",
                &["input", "parentId"],
                Text::new(
                    "The parent category is not in this market.",
                    "上级品类不在该市场。",
                ),
                locale,
            ));
        }
        let now = now_ms();
        let category = Category {
            row: CategoryRow {
                id: uuid::Uuid::now_v7().to_string(),
                market_code: input.market.clone(),
                parent_id: input.parent_id,
                code,
                name_zh: input.name_zh.trim().to_string(),
                name_en: input.name_en.trim().to_string(),
                position: input.position,
                fresh: input.fresh,
                attributes: String::new(),
                created_at: now,
                updated_at: now,
            },
            attributes: input.attributes,
        };
        self.save(caller, None, category).await
    }

    pub async fn update_category(
        &self,
        caller: &Caller,
        id: &str,
        update: CategoryUpdate,
    ) -> Result<Category, ServiceError> {
        let before = self.category(id).await?.ok_or(ServiceError::NotFound)?;
        let mut after = before.clone();
        if let Some(v) = update.name_zh {
            after.row.name_zh = v.trim().to_string();
        }
        if let Some(v) = update.name_en {
            after.row.name_en = v.trim().to_string();
        }
        if let Some(v) = update.position {
            after.row.position = v;
        }
        if let Some(v) = update.fresh {
            after.row.fresh = v;
        }
        if let Some(v) = update.attributes {
            after.attributes = v;
        }
        after.row.updated_at = now_ms();
        self.save(caller, Some(&before), after).await
    }

    async fn save(
        &self,
        caller: &Caller,
        before: Option<&Category>,
        mut category: Category,
    ) -> Result<Category, ServiceError> {
        validate(&category, caller.locale)?;
        category.row.attributes = serde_json::to_string(&category.attributes)
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        let mut tx = self.store.begin().await?;
        rows::save_category(&mut tx, &category.row).await?;
        let action = if before.is_some() {
            "category.update"
        } else {
            "category.create"
        };
        let mut event = AuditEvent::new(caller, action, "category", Some(&category.row.id))
            .market(Some(&category.row.market_code))
            .after(&state(&category));
        if let Some(b) = before {
            event = event.before(&state(b));
        }
        event.append(&mut tx).await?;
        tx.commit().await?;
        Ok(category)
    }
}

fn state(c: &Category) -> serde_json::Value {
    json!({
        "code": c.row.code,
        "parentId": c.row.parent_id,
        "nameZh": c.row.name_zh,
        "nameEn": c.row.name_en,
        "position": c.row.position,
        "fresh": c.row.fresh,
        "attributes": c.attributes,
    })
}

fn validate(c: &Category, locale: Locale) -> Result<(), ServiceError> {
    if c.row.name_zh.is_empty() || c.row.name_zh.chars().count() > 50 {
        return Err(reject(
            "INVALID_NAME",
            &["input", "nameZh"],
            Text::new(
                "Give a Chinese name of 1–50 characters.",
                "请填写 1–50 个字的中文名称。",
            ),
            locale,
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for a in &c.attributes {
        if a.name.trim().is_empty() || !seen.insert(a.name.as_str()) {
            return Err(reject(
                "INVALID_ATTRIBUTE",
                &["input", "attributes"],
                Text::new(
                    "Each attribute needs a name of its own.",
                    "每个属性须有不重复的名称。",
                ),
                locale,
            ));
        }
        if a.kind == AttributeKind::Enum && a.allowed_values.is_empty() {
            return Err(reject_named(
                "INVALID_ATTRIBUTE",
                &["input", "attributes", &a.name],
                format!("Attribute {} lists no allowed values.", a.name),
                format!("属性“{}”未列出可选值。", a.name),
                locale,
            ));
        }
    }
    Ok(())
}
