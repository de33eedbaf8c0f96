//! The file interface for products (INT-1): import and export a shop's
//! catalogue as CSV or JSON.
//!
//! One row is one variant; rows with the same `product` key are variants of
//! one product, whose fields come from its first row. An import is all or
//! nothing: every row is checked first, each bad row reported with its line
//! and reason, and only a file without problems is written, in one
//! transaction.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Catalogue, ProductInput, VariantInput};
use crate::audit::AuditEvent;
use crate::caller::{Actor, Caller};
use crate::merchants::membership;
use crate::service_error::ServiceError;
use crate::store::catalogue::{self as rows, MovementRow};
use crate::store::{merchants, now_ms};

/// The most rows one file may hold.
pub const MAX_ROWS: usize = 50_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    Json,
}

impl FileFormat {
    /// By file name: `.json` is JSON, anything else CSV.
    pub fn of_name(name: &str) -> FileFormat {
        if name.to_ascii_lowercase().ends_with(".json") {
            FileFormat::Json
        } else {
            FileFormat::Csv
        }
    }
}

/// One row of a product file. Column names are the field names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProductLine {
    /// Groups the variants of one product; any text unique within the file.
    pub product: String,
    pub name: String,
    /// The category's code in the market.
    pub category: String,
    pub specification: String,
    pub origin_province: String,
    pub origin_city: String,
    pub origin_county: String,
    pub unit: String,
    pub minimum_package: String,
    pub min_order_qty: Option<i64>,
    pub seasonal: bool,
    pub after_sale_note: String,
    pub description: String,
    /// `name=value` pairs separated by `;`.
    pub attributes: String,
    /// Separated by `;`.
    pub tags: String,
    pub sku: String,
    pub variant: String,
    pub price_fen: Option<i64>,
    pub sold_by_weight: bool,
    pub estimated_weight_g: Option<i64>,
    /// Units on hand to start with.
    pub stock: Option<i64>,
}

/// A bad row: where it is and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    /// 1-based line in the file (CSV: counting the header; JSON: the item's index + 1).
    pub line: usize,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file has bad rows; nothing was written.
    #[error("{} bad rows", .0.len())]
    Rows(Vec<RowProblem>),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// What an import wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportReport {
    pub products: usize,
    pub variants: usize,
}

/// A file read into numbered rows, with the lines that could not be read.
#[derive(Debug, Clone, Default)]
pub struct ParsedFile {
    pub lines: Vec<(usize, ProductLine)>,
    pub problems: Vec<RowProblem>,
}

/// Reads a file into numbered rows. Unreadable lines are kept as problems so
/// that an import reports them together with the rows' other mistakes.
pub fn parse(format: FileFormat, bytes: &[u8]) -> ParsedFile {
    let mut file = ParsedFile::default();
    match format {
        FileFormat::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .trim(csv::Trim::All)
                .from_reader(bytes);
            let headers = reader.headers().cloned().unwrap_or_default();
            for record in reader.deserialize::<ProductLine>() {
                match record {
                    Ok(line) => {
                        let at = file.lines.len() + file.problems.len() + 2;
                        file.lines.push((at, line));
                    }
                    Err(e) => {
                        // Name the column, not its position.
                        let column = match e.kind() {
                            csv::ErrorKind::Deserialize { err, .. } => err
                                .field()
                                .and_then(|i| headers.get(i as usize))
                                .map(|name| format!("column `{name}`: {}", err.kind())),
                            _ => None,
                        };
                        file.problems.push(RowProblem {
                            line: e.position().map_or(0, |p| p.line() as usize),
                            reason: column.unwrap_or_else(|| e.to_string()),
                        });
                    }
                }
            }
        }
        FileFormat::Json => match serde_json::from_slice::<Vec<serde_json::Value>>(bytes) {
            Ok(items) => {
                for (i, item) in items.into_iter().enumerate() {
                    match serde_json::from_value::<ProductLine>(item) {
                        Ok(line) => file.lines.push((i + 1, line)),
                        Err(e) => file.problems.push(RowProblem {
                            line: i + 1,
                            reason: e.to_string(),
                        }),
                    }
                }
            }
            Err(e) => file.problems.push(RowProblem {
                line: e.line(),
                reason: format!("not a JSON array of rows: {e}"),
            }),
        },
    }
    if file.lines.len() + file.problems.len() > MAX_ROWS {
        file.lines.clear();
        file.problems = vec![RowProblem {
            line: MAX_ROWS + 1,
            reason: format!("a file holds at most {MAX_ROWS} rows"),
        }];
    }
    file
}

fn pairs(text: &str) -> Vec<(String, String)> {
    text.split(';')
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            Some((name.trim().to_string(), value.trim().to_string()))
        })
        .collect()
}

fn list(text: &str) -> Vec<String> {
    text.split(';')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

fn empty_none(text: &str) -> Option<String> {
    (!text.trim().is_empty()).then(|| text.trim().to_string())
}

fn refusal_text(e: &ServiceError) -> String {
    match e {
        ServiceError::Rejected(errors) => errors
            .iter()
            .map(|e| format!("{} ({}): {}", e.code, e.field.join("."), e.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

impl Catalogue {
    /// Imports a product file into a shop. The operator at the command line
    /// may import for any shop; anyone else must work for it.
    pub async fn import_products(
        &self,
        caller: &Caller,
        merchant_id: &str,
        file: ParsedFile,
        progress: &(dyn Fn(usize, usize) + Send + Sync),
    ) -> Result<ImportReport, ImportError> {
        let ParsedFile {
            lines,
            mut problems,
        } = file;
        let merchant = merchants::find(&self.store, merchant_id)
            .await
            .map_err(ServiceError::from)?
            .ok_or(ServiceError::NotFound)?;
        if !matches!(caller.actor, Actor::Operator) {
            membership::require_member(&self.store, caller, merchant_id).await?;
        }
        let categories: HashMap<String, String> = self
            .categories(&merchant.market_code)
            .await?
            .into_iter()
            .map(|c| (c.row.code.clone(), c.row.id.clone()))
            .collect();
        // Variants grouped under their product, in file order.
        let mut groups: BTreeMap<usize, (String, Vec<(usize, ProductLine)>)> = BTreeMap::new();
        let mut first_line_of: HashMap<String, usize> = HashMap::new();
        for (line, row) in lines {
            let first = *first_line_of.entry(row.product.clone()).or_insert(line);
            groups
                .entry(first)
                .or_insert_with(|| (row.product.clone(), Vec::new()))
                .1
                .push((line, row));
        }
        let total = groups.len();
        let mut prepared = Vec::new();
        for (done, (first, (key, rows_of))) in groups.into_iter().enumerate() {
            progress(done, total);
            let head = &rows_of[0].1;
            if key.trim().is_empty() {
                problems.push(RowProblem {
                    line: first,
                    reason: "the `product` column is empty".into(),
                });
                continue;
            }
            let Some(category_id) = categories.get(head.category.trim()) else {
                problems.push(RowProblem {
                    line: first,
                    reason: format!(
                        "no category `{}` in market {}",
                        head.category, merchant.market_code
                    ),
                });
                continue;
            };
            let input = ProductInput {
                category_id: Some(category_id.clone()),
                name: Some(head.name.clone()),
                specification: Some(head.specification.clone()),
                origin: Some((
                    head.origin_province.clone(),
                    head.origin_city.clone(),
                    head.origin_county.clone(),
                )),
                description: Some(head.description.clone()),
                unit: empty_none(&head.unit),
                minimum_package: Some(head.minimum_package.clone()),
                min_order_qty: head.min_order_qty,
                seasonal: Some(head.seasonal),
                after_sale_note: Some(head.after_sale_note.clone()),
                attributes: Some(pairs(&head.attributes)),
                tags: Some(list(&head.tags)),
                image_ids: None,
            };
            let variants = rows_of
                .iter()
                .map(|(_, r)| VariantInput {
                    sku_code: Some(r.sku.clone()),
                    name: Some(r.variant.clone()),
                    sold_by_weight: Some(r.sold_by_weight),
                    price_fen: r.price_fen,
                    estimated_weight_g: r.estimated_weight_g,
                    low_stock_threshold: None,
                })
                .collect();
            match self
                .prepare_product(caller, &merchant, input, variants)
                .await
            {
                Ok((product, mut new_variants)) => {
                    let mut bad_stock = false;
                    for (variant, (line, r)) in new_variants.iter_mut().zip(&rows_of) {
                        match r.stock {
                            Some(n) if n < 0 => {
                                problems.push(RowProblem {
                                    line: *line,
                                    reason: "stock cannot be negative".into(),
                                });
                                bad_stock = true;
                            }
                            Some(n) => variant.on_hand = n,
                            None => {}
                        }
                    }
                    if !bad_stock {
                        prepared.push((product, new_variants));
                    }
                }
                Err(ServiceError::Rejected(errors)) => problems.push(RowProblem {
                    line: first,
                    reason: refusal_text(&ServiceError::Rejected(errors)),
                }),
                Err(other) => return Err(other.into()),
            }
        }
        progress(total, total);
        if !problems.is_empty() {
            problems.sort_by_key(|p| p.line);
            return Err(ImportError::Rows(problems));
        }
        let now = now_ms();
        let mut tx = self.store.begin().await.map_err(ServiceError::from)?;
        let mut variants_written = 0;
        for (product, new_variants) in &prepared {
            self.write_new_product(&mut tx, caller, product, new_variants)
                .await?;
            for v in new_variants.iter().filter(|v| v.on_hand > 0) {
                rows::record_movement(
                    &mut tx,
                    &MovementRow {
                        id: uuid::Uuid::now_v7().to_string(),
                        variant_id: v.id.clone(),
                        delta: v.on_hand,
                        reason: "restock".into(),
                        note: "import".into(),
                        on_hand_after: v.on_hand,
                        moved_by: caller.actor.audit_name(),
                        moved_at: now,
                    },
                )
                .await
                .map_err(ServiceError::from)?;
            }
            variants_written += new_variants.len();
        }
        AuditEvent::new(caller, "catalogue.import", "merchant", Some(merchant_id))
            .market(Some(&merchant.market_code))
            .after(&json!({ "products": prepared.len(), "variants": variants_written }))
            .append(&mut tx)
            .await
            .map_err(ServiceError::from)?;
        tx.commit().await.map_err(ServiceError::from)?;
        tracing::info!(
            merchant = merchant_id,
            products = prepared.len(),
            "products imported"
        );
        Ok(ImportReport {
            products: prepared.len(),
            variants: variants_written,
        })
    }

    /// A shop's products as file rows, in the import format.
    pub async fn export_products(
        &self,
        caller: &Caller,
        merchant_id: &str,
    ) -> Result<Vec<ProductLine>, ServiceError> {
        let merchant = merchants::find(&self.store, merchant_id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        if !matches!(caller.actor, Actor::Operator) {
            membership::require_member(&self.store, caller, merchant_id).await?;
        }
        let codes: HashMap<String, String> = self
            .categories(&merchant.market_code)
            .await?
            .into_iter()
            .map(|c| (c.row.id.clone(), c.row.code.clone()))
            .collect();
        let products = rows::products_of_merchant(&self.store, merchant_id).await?;
        let mut lines = Vec::new();
        for p in self.load(products, true).await? {
            let attributes = p
                .attributes
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join(";");
            for v in &p.variants {
                lines.push(ProductLine {
                    product: p.row.id.clone(),
                    name: p.row.name.clone(),
                    category: codes.get(&p.row.category_id).cloned().unwrap_or_default(),
                    specification: p.row.specification.clone(),
                    origin_province: p.row.origin_province.clone(),
                    origin_city: p.row.origin_city.clone(),
                    origin_county: p.row.origin_county.clone(),
                    unit: p.row.unit.clone(),
                    minimum_package: p.row.minimum_package.clone(),
                    min_order_qty: Some(p.row.min_order_qty),
                    seasonal: p.row.seasonal,
                    after_sale_note: p.row.after_sale_note.clone(),
                    description: p.row.description.clone(),
                    attributes: attributes.clone(),
                    tags: p.tags.join(";"),
                    sku: v.sku_code.clone(),
                    variant: v.name.clone(),
                    price_fen: Some(v.price_fen),
                    sold_by_weight: v.sold_by_weight,
                    estimated_weight_g: v.estimated_weight_g,
                    stock: Some(v.on_hand),
                });
            }
        }
        Ok(lines)
    }
}

/// Rows written out as a file.
pub fn render(format: FileFormat, lines: &[ProductLine]) -> Result<Vec<u8>, String> {
    match format {
        FileFormat::Json => serde_json::to_vec_pretty(lines).map_err(|e| e.to_string()),
        FileFormat::Csv => {
            let mut writer = csv::Writer::from_writer(Vec::new());
            for line in lines {
                writer.serialize(line).map_err(|e| e.to_string())?;
            }
            writer.into_inner().map_err(|e| e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_rows_are_reported_with_their_lines() {
        let csv = "product,name,category,price_fen\np1,小龙虾,aquatic,3800\np2,莲藕,veg,cheap\n";
        let file = parse(FileFormat::Csv, csv.as_bytes());
        assert_eq!(file.lines.len(), 1);
        assert_eq!(file.problems.len(), 1);
        assert_eq!(file.problems[0].line, 3);
        assert!(
            file.problems[0].reason.contains("price_fen"),
            "{:?}",
            file.problems
        );
        let json = r#"[{"product": "p1", "name": "小龙虾"}, {"product": "p2", "colour": "red"}]"#;
        let file = parse(FileFormat::Json, json.as_bytes());
        assert_eq!(file.problems[0].line, 2);
        assert!(file.problems[0].reason.contains("colour"));
    }

    #[test]
    fn files_round_trip() {
        let line = ProductLine {
            product: "p1".into(),
            name: "潜江清水小龙虾".into(),
            category: "aquatic".into(),
            attributes: "颜色=青;规格=4-6两".into(),
            price_fen: Some(3_800),
            stock: Some(10),
            ..Default::default()
        };
        for format in [FileFormat::Csv, FileFormat::Json] {
            let bytes = render(format, std::slice::from_ref(&line)).unwrap();
            let parsed = parse(format, &bytes);
            assert!(parsed.problems.is_empty());
            assert_eq!(
                parsed.lines,
                vec![(if format == FileFormat::Csv { 2 } else { 1 }, line.clone())]
            );
        }
        assert_eq!(
            pairs(&line.attributes)[1],
            ("规格".to_string(), "4-6两".to_string())
        );
    }
}
