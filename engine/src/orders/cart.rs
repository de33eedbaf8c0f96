//! The cart (ORD-1): one per customer per market, across its merchants.
//! It keeps variants and quantities only; prices, stock and promotions are
//! read afresh every time it is shown and again at checkout, so a customer
//! never pays a price the shop has since changed.

use serde_json::json;

use super::{Orders, new_id, reject, reject_with};
use crate::audit::AuditEvent;
use crate::caller::Caller;
use crate::i18n::{Locale, Text};
use crate::markets::Market;
use crate::plugins::MarketContext;
use crate::plugins::types::{self, AdjustmentTarget, Customer, PriceInput};
use crate::service_error::ServiceError;
use crate::store::audit as audit_rows;
use crate::store::batch::{Write, Written};
use crate::store::orders::{self as rows, CartOfferRow};
use crate::store::{now_ms, rfc3339};

/// The most units of one variant in a cart.
const MAX_QUANTITY: i64 = 9_999;
/// The most lines in a cart.
const MAX_LINES: usize = 200;
/// Tries at a cart change before answering `CART_BUSY`.
const CHANGE_ATTEMPTS: usize = 16;

/// A cart line as shown: priced now.
#[derive(Debug, Clone, PartialEq)]
pub struct CartLine {
    pub variant_id: String,
    pub product_id: String,
    pub merchant_id: String,
    pub category_id: String,
    pub product_name: String,
    pub variant_name: String,
    pub sku_code: String,
    pub quantity: i64,
    pub unit_price_fen: i64,
    pub sold_by_weight: bool,
    /// For goods sold by weight: the line's estimated weight.
    pub estimated_weight_g: Option<i64>,
    pub subtotal_fen: i64,
    /// On sale in this market and in stock for this quantity.
    pub available: bool,
}

/// A price adjustment from a plugin, with its reason in both languages.
#[derive(Debug, Clone, PartialEq)]
pub struct CartAdjustment {
    pub plugin: String,
    /// The variant (line) it applies to; `None` for the whole cart.
    pub variant_id: Option<String>,
    pub code: String,
    pub amount_fen: i64,
    pub reason_en: String,
    pub reason_zh: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cart {
    pub market: String,
    pub lines: Vec<CartLine>,
    pub subtotal_fen: i64,
    pub adjustments: Vec<CartAdjustment>,
    /// Subtotal plus adjustments, never below zero, before delivery.
    pub total_fen: i64,
    /// Plugins whose pricing failed; their discounts are left out.
    pub fallbacks: Vec<String>,
}

impl Cart {
    pub fn adjustment_fen(&self) -> i64 {
        self.adjustments.iter().map(|a| a.amount_fen).sum()
    }

    /// What the plugins changed on one line.
    pub fn line_adjustment(&self, variant_id: &str) -> i64 {
        self.adjustments
            .iter()
            .filter(|a| a.variant_id.as_deref() == Some(variant_id))
            .map(|a| a.amount_fen)
            .sum()
    }
}

/// Units, or grams for goods sold by weight: what the line is priced on.
fn priced_quantity(line: &CartLine) -> i64 {
    line.estimated_weight_g.unwrap_or(line.quantity)
}

impl Orders {
    /// The caller's cart in a market, priced now.
    pub async fn cart(&self, caller: &Caller, market_code: &str) -> Result<Cart, ServiceError> {
        let Some(account) = caller.actor.account_id() else {
            return Err(ServiceError::Unauthenticated(caller.credential_problem));
        };
        let market = self
            .markets
            .find(market_code)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let lines = rows::cart_offers(&self.store, account, market_code).await?;
        self.price(caller, &market, &lines).await
    }

    /// Adds `quantity` to a line (`add`), or sets it (0 removes the line),
    /// and answers the cart priced afresh.
    pub async fn change_cart(
        &self,
        caller: &Caller,
        market_code: &str,
        variant_id: &str,
        quantity: i64,
        add: bool,
    ) -> Result<Cart, ServiceError> {
        self.change_cart_line(caller, market_code, variant_id, quantity, add)
            .await?;
        self.cart(caller, market_code).await
    }

    /// The change alone, for a caller that does not look at the cart after
    /// it: pricing runs every plugin of the market, so it is skipped here.
    pub async fn change_cart_line(
        &self,
        caller: &Caller,
        market_code: &str,
        variant_id: &str,
        quantity: i64,
        add: bool,
    ) -> Result<(), ServiceError> {
        let Some(account) = caller.actor.account_id() else {
            return Err(ServiceError::Unauthenticated(caller.credential_problem));
        };
        if (add && quantity < 1) || quantity < 0 {
            return Err(bad_quantity(caller.locale));
        }
        // Each attempt writes only if the cart and the line are as it read
        // them; one that lost to a concurrent change of the same cart (a
        // double tap, two tabs) reads again. Each round one change wins.
        for _ in 0..CHANGE_ATTEMPTS {
            if self
                .try_change_cart_line(caller, account, market_code, variant_id, quantity, add)
                .await?
            {
                return Ok(());
            }
        }
        Err(reject(
            "CART_BUSY",
            &["variantId"],
            Text::new(
                "Your cart is being changed elsewhere. Try again.",
                "购物车正在别处修改，请重试。",
            ),
            caller.locale,
        ))
    }

    /// One attempt: `false` when the cart or the line changed since it was
    /// read and nothing was written.
    async fn try_change_cart_line(
        &self,
        caller: &Caller,
        account: &str,
        market_code: &str,
        variant_id: &str,
        quantity: i64,
        add: bool,
    ) -> Result<bool, ServiceError> {
        let locale = caller.locale;
        // Adding or setting a quantity needs the offer too, read with the
        // cart; removing a line needs only the cart (the goods may be gone).
        let (cart, existing, lines, offer) = if add || quantity > 0 {
            let Some(row) =
                rows::cart_change(&self.store, account, market_code, variant_id).await?
            else {
                return Err(not_on_sale(locale));
            };
            (row.cart_id, row.in_cart, row.lines, Some(row.offer))
        } else {
            match rows::find_cart(&self.store, account, market_code).await? {
                Some((id, current)) => {
                    let existing = current
                        .iter()
                        .find(|l| l.variant_id == variant_id)
                        .map(|l| l.quantity);
                    (Some(id), existing, current.len() as i64, None)
                }
                None => (None, None, 0, None),
            }
        };
        let wanted = if add {
            existing.unwrap_or(0).saturating_add(quantity)
        } else {
            quantity
        };
        if wanted > MAX_QUANTITY {
            return Err(bad_quantity(locale));
        }
        if existing.is_none() && lines >= MAX_LINES as i64 {
            return Err(reject(
                "CART_FULL",
                &["variantId"],
                Text::new(
                    "A cart holds at most 200 lines.",
                    "购物车最多 200 个商品行。",
                ),
                locale,
            ));
        }
        if let Some(offer) = offer.filter(|_| wanted > 0) {
            if !offer.on_sale_in(market_code) {
                return Err(not_on_sale(locale));
            }
            if wanted < offer.min_order_qty {
                return Err(reject_with(
                    "BELOW_MINIMUM_QUANTITY",
                    &["quantity"],
                    format!(
                        "The minimum order for this product is {} ({}).",
                        offer.min_order_qty, offer.minimum_package
                    ),
                    format!(
                        "该商品起订量为 {}（{}）。",
                        offer.min_order_qty, offer.minimum_package
                    ),
                    locale,
                ));
            }
            if wanted > offer.on_hand - offer.reserved {
                return Err(insufficient_stock(&offer.product_name, locale));
            }
        }
        let now = now_ms();
        // The cart is touched, or made on first use, in the same write.
        let (cart, cart_row) = match cart {
            Some(id) => {
                let touch = rows::touch_cart(&id, now);
                (id, touch)
            }
            None => {
                let id = new_id();
                let make = rows::insert_cart(&id, account, market_code, now);
                (id, make)
            }
        };
        let change = AuditEvent::new(caller, "cart.change", "cart", Some(&cart))
            .market(Some(market_code))
            .before(&json!({ "variantId": variant_id, "quantity": existing.unwrap_or(0) }))
            .after(&json!({ "variantId": variant_id, "quantity": wanted }))
            .into_record();
        let mut write = Write::default();
        write.expect(cart_row, 1);
        match (existing, wanted) {
            // Nothing to remove: there was no line when read.
            (None, 0) => {}
            (was, _) => {
                write.expect(
                    rows::change_cart_line(&cart, variant_id, was, wanted, now),
                    1,
                );
            }
        }
        write.extend(audit_rows::insert_all(&[change]).statement());
        Ok(self.store.write_all(write).await? == Written::Done)
    }

    /// Prices cart lines now: current prices and stock, then the market's
    /// `adjust-prices` plugins (a failing plugin is left out and listed).
    pub(super) async fn price(
        &self,
        caller: &Caller,
        market: &Market,
        lines: &[CartOfferRow],
    ) -> Result<Cart, ServiceError> {
        let mut priced = Vec::new();
        let mut plugin_lines = Vec::new();
        for line in lines {
            let o = &line.offer;
            let estimated = o
                .sold_by_weight
                .then(|| line.quantity * o.estimated_weight_g.unwrap_or(1_000));
            let mut cart_line = CartLine {
                variant_id: o.variant_id.clone(),
                product_id: o.product_id.clone(),
                merchant_id: o.merchant_id.clone(),
                category_id: o.category_id.clone(),
                product_name: o.product_name.clone(),
                variant_name: o.variant_name.clone(),
                sku_code: o.sku_code.clone(),
                quantity: line.quantity,
                unit_price_fen: o.price_fen,
                sold_by_weight: o.sold_by_weight,
                estimated_weight_g: estimated,
                subtotal_fen: 0,
                available: o.on_sale_in(&market.code) && line.quantity <= o.on_hand - o.reserved,
            };
            let quantity = u32::try_from(priced_quantity(&cart_line)).unwrap_or(u32::MAX);
            cart_line.subtotal_fen =
                crate::money::line_subtotal(quantity, o.price_fen, o.sold_by_weight);
            plugin_lines.push(types::CartLine {
                line_id: o.variant_id.clone(),
                product_id: o.product_id.clone(),
                variant_id: o.variant_id.clone(),
                merchant_id: o.merchant_id.clone(),
                category: o.category_code.clone().unwrap_or_default(),
                quantity,
                unit_price: o.price_fen,
                sold_by_weight: o.sold_by_weight,
                subtotal: cart_line.subtotal_fen,
                tags: serde_json::from_str(&o.tags).unwrap_or_default(),
            });
            priced.push(cart_line);
        }
        let subtotal: i64 = priced.iter().map(|l| l.subtotal_fen).sum();
        let (adjustments, fallbacks) = if plugin_lines.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            let input = PriceInput {
                market: types::Market {
                    code: market.code.clone(),
                    time_zone: market.time_zone.clone(),
                    config_json: String::new(),
                },
                customer: Customer {
                    id: caller.actor.subject(),
                    segments: Vec::new(),
                    orders_placed: 0,
                },
                lines: plugin_lines,
                now: rfc3339(now_ms()),
            };
            let context = MarketContext {
                code: market.code.clone(),
                time_zone: market.time_zone.clone(),
            };
            // Plugin calls are CPU work; keep them off the request threads.
            let host = self.plugins.clone();
            let pricing = tokio::task::spawn_blocking(move || host.adjust_prices(&context, &input))
                .await
                .map_err(|e| ServiceError::Internal(format!("pricing: {e}")))?;
            let adjustments = pricing
                .adjustments
                .into_iter()
                .map(|(plugin, a)| CartAdjustment {
                    plugin,
                    variant_id: match a.target {
                        AdjustmentTarget::Line(id) => Some(id),
                        AdjustmentTarget::Order => None,
                    },
                    code: a.code,
                    amount_fen: a.amount,
                    reason_en: a.reason.en,
                    reason_zh: a.reason.zh_cn,
                })
                .collect();
            let fallbacks = pricing.fallbacks.into_iter().map(|f| f.plugin).collect();
            (adjustments, fallbacks)
        };
        let mut cart = Cart {
            market: market.code.clone(),
            lines: priced,
            subtotal_fen: subtotal,
            adjustments,
            total_fen: 0,
            fallbacks,
        };
        cart.total_fen = (subtotal + cart.adjustment_fen()).max(0);
        Ok(cart)
    }
}

fn bad_quantity(locale: Locale) -> ServiceError {
    reject(
        "INVALID_QUANTITY",
        &["quantity"],
        Text::new(
            "Quantities run from 1 to 9,999.",
            "数量须在 1 至 9999 之间。",
        ),
        locale,
    )
}

pub(super) fn insufficient_stock(product: &str, locale: Locale) -> ServiceError {
    reject_with(
        "INSUFFICIENT_STOCK",
        &["quantity"],
        format!("Not enough of “{product}” in stock."),
        format!("“{product}”库存不足。"),
        locale,
    )
}

/// The variant is not one a customer can buy in this market now.
fn not_on_sale(locale: Locale) -> ServiceError {
    reject(
        "NOT_ON_SALE",
        &["variantId"],
        Text::new(
            "This product is not on sale in this market.",
            "该商品未在本市场销售。",
        ),
        locale,
    )
}
