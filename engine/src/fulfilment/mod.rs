//! Fulfilment (FUL-1…3): what happens to an order between the station's
//! packing table and the customer's door, and what the public can check
//! about it afterwards.
//!
//! - `labels`: a PNG and PDF label per package (an order part: one
//!   merchant's goods), with a QR code of the package's trace page;
//! - `trace`: the public traceability page behind that QR code: merchant,
//!   origin, qualification documents, picking time and weight, cold-chain
//!   readings, and nothing personal;
//! - `tracking`: tracking events with location and temperature, checked
//!   against the goods' cold-chain band.
//!
//! Orders stay the orders service's: this one reads them through
//! `Orders::order` (who may see an order is decided there) and writes only
//! its own tables, the audit log, the outbox and market alerts.

mod glyphs;
pub mod labels;
pub mod trace;
pub mod tracking;

use std::sync::{Arc, OnceLock};

use rand::Rng;
use serde_json::json;

pub use labels::{LabelData, LabelFont, LabelItem};
pub use trace::TraceView;
pub use tracking::{ColdChain, TrackingInput};

use crate::audit::{AuditEvent, Outcome};
use crate::authz::Authz;
use crate::caller::Caller;
use crate::config::{ColdChainConfig, Config};
use crate::i18n::{Locale, Text};
use crate::orders::{Order, Orders, reject, status};
use crate::service_error::ServiceError;
use crate::store::fulfilment::{self as rows, TraceCodeRow};
use crate::store::orders::OrderRow;
use crate::store::{Store, now_ms};

/// Statuses from which a package has a label and a trace code: picking
/// (labels are printed at the packing table) until it is delivered.
const LABELLED: &[&str] = &[
    status::PICKING,
    status::PACKED,
    status::OUT_FOR_DELIVERY,
    status::DELIVERED,
    status::COMPLETED,
];

#[derive(Clone)]
pub struct Fulfilment {
    store: Store,
    authz: Authz,
    orders: Orders,
    cold_chain: ColdChainConfig,
    font: Arc<LabelFont>,
    /// `server.public_url`, or `http://<bound address>` once the server listens.
    public_url: Arc<OnceLock<String>>,
}

impl std::fmt::Debug for Fulfilment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fulfilment")
            .field("font", &self.font)
            .finish_non_exhaustive()
    }
}

/// A label in one format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelFormat {
    Png,
    Pdf,
}

/// One package of an order, as the API shows it.
#[derive(Debug, Clone)]
pub struct Package {
    pub number: i64,
    pub merchant_id: String,
    pub trace_code: Option<String>,
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// 16 characters of lower-case base32: 80 random bits, unguessable, and
/// short enough for a small QR code.
fn new_code() -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut rng = rand::rng();
    (0..16)
        .map(|_| char::from(ALPHABET[rng.random_range(0..32)]))
        .collect()
}

/// Whether `code` could be a trace code (checked before touching the store).
pub fn plausible_code(code: &str) -> bool {
    code.len() == 16
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
}

/// `YYYY-MM-DD HH:MM` in China Standard Time (UTC+8, no daylight saving).
pub fn local_time(ms: i64) -> String {
    let text = crate::store::rfc3339(ms + 8 * 3_600_000);
    format!("{} {}", &text[..10], &text[11..16])
}

impl Fulfilment {
    pub fn new(store: Store, authz: Authz, orders: Orders, config: &Config) -> Self {
        let public_url = Arc::new(OnceLock::new());
        let configured = config.server.public_url.trim().trim_end_matches('/');
        if !configured.is_empty() {
            let _ = public_url.set(configured.to_string());
        }
        Self {
            store,
            authz,
            orders,
            cold_chain: config.cold_chain.clone(),
            font: Arc::new(LabelFont::load(&config.labels.font_path)),
            public_url,
        }
    }

    /// Called once the server listens: QR codes point here unless
    /// `server.public_url` says otherwise.
    pub fn listening_on(&self, base: &str) {
        let _ = self.public_url.set(base.trim_end_matches('/').to_string());
    }

    /// The public page of a trace code.
    pub fn trace_url(&self, code: &str) -> String {
        let base = self
            .public_url
            .get()
            .map(String::as_str)
            .unwrap_or("http://127.0.0.1:8080");
        format!("{base}/t/{code}")
    }

    pub fn font(&self) -> &LabelFont {
        &self.font
    }

    /// Refuses unless the caller holds one of `needs` in the order's market
    /// (audited like every refusal).
    async fn require_any(
        &self,
        caller: &Caller,
        order: &OrderRow,
        needs: &[(&str, &str)],
    ) -> Result<(), ServiceError> {
        let Some(subject) = caller.actor.subject() else {
            return Err(ServiceError::Unauthenticated(caller.credential_problem));
        };
        for (object, action) in needs {
            if self
                .authz
                .check_fresh(&subject, &order.market_code, object, action)
                .await
            {
                return Ok(());
            }
        }
        let wanted: Vec<String> = needs.iter().map(|(o, a)| format!("{o}:{a}")).collect();
        AuditEvent::new(caller, "order.denied", "order", Some(&order.id))
            .market(Some(&order.market_code))
            .after(&json!({ "needs": wanted }))
            .outcome(Outcome::Denied)
            .append_alone(&self.store)
            .await;
        Err(ServiceError::Forbidden)
    }

    /// The order's trace codes, one per package, issued now if the order is
    /// far enough along and they are not yet.
    async fn ensure_codes(&self, order: &Order) -> Result<Vec<TraceCodeRow>, ServiceError> {
        let existing = rows::codes_of(&self.store, &order.row.id).await?;
        if existing.len() == order.parts.len() || !LABELLED.contains(&order.row.status.as_str()) {
            return Ok(existing);
        }
        let now = now_ms();
        let mut tx = self.store.begin_write().await?;
        for (i, part) in order.parts.iter().enumerate() {
            rows::issue_code(
                &mut tx,
                &TraceCodeRow {
                    code: new_code(),
                    order_id: order.row.id.clone(),
                    part_id: part.id.clone(),
                    package_no: i as i64 + 1,
                    created_at: now,
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(rows::codes_of(&self.store, &order.row.id).await?)
    }

    /// An order's packages with their trace codes (none before picking).
    pub async fn packages(
        &self,
        caller: &Caller,
        order_id: &str,
    ) -> Result<Vec<Package>, ServiceError> {
        let order = self.orders.order(caller, order_id).await?;
        let codes = self.ensure_codes(&order).await?;
        Ok(order
            .parts
            .iter()
            .enumerate()
            .map(|(i, part)| Package {
                number: i as i64 + 1,
                merchant_id: part.merchant_id.clone(),
                trace_code: codes
                    .iter()
                    .find(|c| c.part_id == part.id)
                    .map(|c| c.code.clone()),
            })
            .collect())
    }

    /// The label of one package (`Some(n)`, from 1) or of every package
    /// (`None`; a PNG is one image, so it takes package 1), for the
    /// station (`order pick`) and couriers (`shipment write`). Audited.
    pub async fn label(
        &self,
        caller: &Caller,
        order_id: &str,
        package: Option<i64>,
        format: LabelFormat,
    ) -> Result<Vec<u8>, ServiceError> {
        let order = self.orders.order(caller, order_id).await?;
        self.require_any(
            caller,
            &order.row,
            &[("order", "pick"), ("shipment", "write")],
        )
        .await?;
        let locale = caller.locale;
        if !LABELLED.contains(&order.row.status.as_str()) {
            return Err(reject(
                "INVALID_ORDER_STATE",
                &["orderId"],
                Text::new(
                    "Labels are printed once picking has started.",
                    "订单开始拣货后才能打印面单。",
                ),
                locale,
            ));
        }
        let codes = self.ensure_codes(&order).await?;
        let count = order.parts.len() as i64;
        let wanted: Vec<i64> = match (package, format) {
            (Some(n), _) if (1..=count).contains(&n) => vec![n],
            (Some(_), _) => {
                return Err(reject(
                    "NO_SUCH_PACKAGE",
                    &["package"],
                    Text::new("The order has no such package.", "订单没有这个包裹。"),
                    locale,
                ));
            }
            (None, LabelFormat::Png) => vec![1],
            (None, LabelFormat::Pdf) => (1..=count).collect(),
        };
        let mut labels = Vec::new();
        for n in &wanted {
            labels.push(self.label_data(&order, &codes, *n).await?);
        }
        let font = self.font.clone();
        let rendered = tokio::task::spawn_blocking(move || {
            let pngs = labels
                .iter()
                .map(|l| labels::render_png(l, &font))
                .collect::<Result<Vec<_>, _>>()?;
            Ok::<_, labels::LabelError>(match format {
                LabelFormat::Png => pngs.into_iter().next().unwrap_or_default(),
                LabelFormat::Pdf => labels::render_pdf(&pngs),
            })
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("label rendering stopped: {e}")))?
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
        AuditEvent::new(caller, "order.label", "order", Some(order_id))
            .market(Some(&order.row.market_code))
            .after(&json!({
                "packages": wanted,
                "format": match format { LabelFormat::Png => "png", LabelFormat::Pdf => "pdf" },
            }))
            .append_alone(&self.store)
            .await;
        Ok(rendered)
    }

    async fn label_data(
        &self,
        order: &Order,
        codes: &[TraceCodeRow],
        package: i64,
    ) -> Result<LabelData, ServiceError> {
        let o = &order.row;
        let part = order
            .parts
            .get(package as usize - 1)
            .ok_or(ServiceError::NotFound)?;
        let code = codes
            .iter()
            .find(|c| c.part_id == part.id)
            .ok_or_else(|| ServiceError::Internal("package without a trace code".into()))?;
        let lines = rows::traced_lines(&self.store, &part.id).await?;
        let zh = self.font.has_chinese();
        let locale = if zh { Locale::ZhCn } else { Locale::En };
        let mut cold: Vec<String> = Vec::new();
        for line in &lines {
            if let Some(band) = ColdChain::parse(&line.cold_chain)
                && let Some(limits) = band.band(&self.cold_chain)
            {
                let text = format!(
                    "{} {}",
                    band.name().pick(locale),
                    tracking::describe(limits)
                );
                if !cold.contains(&text) {
                    cold.push(text);
                }
            }
        }
        let window = {
            let (from, until) = (local_time(o.deliver_from), local_time(o.deliver_until));
            if from[..10] == until[..10] {
                format!("{from}–{}", &until[11..])
            } else {
                format!("{from} – {until}")
            }
        };
        Ok(LabelData {
            order_number: o.number.clone(),
            package_no: package,
            packages: order.parts.len() as i64,
            shop: rows::shop_name(&self.store, &part.merchant_id)
                .await?
                .unwrap_or_default(),
            recipient_name: labels::mask_name(&o.recipient_name),
            recipient_phone: crate::accounts::identity_documents::mask_phone(&o.recipient_phone),
            address: o.address.clone(),
            window,
            items: lines
                .iter()
                .map(|l| LabelItem {
                    name: if l.variant_name.is_empty() {
                        l.product_name.clone()
                    } else {
                        format!("{} {}", l.product_name, l.variant_name)
                    },
                    quantity: l.quantity,
                    weight_g: if l.sold_by_weight {
                        l.picked_weight_g.or(l.estimated_weight_g)
                    } else {
                        l.picked_weight_g
                    },
                })
                .collect(),
            cold_chain: (!cold.is_empty()).then(|| cold.join(" / ")),
            trace_url: self.trace_url(&code.code),
        })
    }

    /// Sets the cold chain a category's goods travel in; the API has
    /// checked `category write` in the category's market. Audited.
    pub async fn set_category_cold_chain(
        &self,
        caller: &Caller,
        category_id: &str,
        market: &str,
        band: ColdChain,
    ) -> Result<ColdChain, ServiceError> {
        let before = rows::category_band(&self.store, category_id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let mut tx = self.store.begin_write().await?;
        if !rows::set_category_band(&mut tx, category_id, band.as_str(), now_ms()).await? {
            return Err(ServiceError::NotFound);
        }
        AuditEvent::new(caller, "category.cold_chain", "category", Some(category_id))
            .market(Some(market))
            .before(&json!({ "coldChain": before }))
            .after(&json!({ "coldChain": band.as_str() }))
            .append(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(band)
    }

    /// A category's cold chain.
    pub async fn category_cold_chain(&self, category_id: &str) -> Result<ColdChain, ServiceError> {
        Ok(rows::category_band(&self.store, category_id)
            .await?
            .and_then(|b| ColdChain::parse(&b))
            .unwrap_or(ColdChain::None))
    }

    pub fn cold_chain_config(&self) -> &ColdChainConfig {
        &self.cold_chain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_random_base32_and_recognised() {
        let a = new_code();
        let b = new_code();
        assert_ne!(a, b);
        assert!(plausible_code(&a) && plausible_code(&b), "{a} {b}");
        assert!(!plausible_code("ABCDEFGHIJKLMNOP"));
        assert!(!plausible_code("abc"));
        assert!(!plausible_code("abcdefghijklmno1"), "1 is not base32");
    }

    #[test]
    fn times_print_in_china_standard_time() {
        assert_eq!(local_time(0), "1970-01-01 08:00");
        assert_eq!(local_time(1_795_593_600_000), "2026-11-25 16:00");
    }
}
