//! Delivery: when an order arrives and what it costs (ORD-2, ORD-3).
//!
//! The market's own rule (S 8.2.4.2): free within N km of the station, no
//! delivery below the minimum order amount, a fee by distance band beyond.
//! A `quote-delivery` plugin enabled in the market replaces the fee; if every
//! quoting plugin fails, the market's rule applies and the order says so.
//! Every part of an order travels together, so one fee covers all merchants
//! (S 8.2.4.1).

use super::clock::MarketClock;
use super::{reject, reject_with};
use crate::config::OrdersConfig;
use crate::i18n::{Locale, Text};
use crate::markets::Market;
use crate::plugins::types::{Address, CartLine, QuoteInput};
use crate::plugins::{MarketContext, PluginHost};
use crate::service_error::ServiceError;
use crate::store::orders::SlotRow;
use crate::store::rfc3339;

/// How the customer wants the order delivered (S 8.2.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryMode {
    Instant,
    NextDay,
    Slot,
}

impl DeliveryMode {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryMode::Instant => "instant",
            DeliveryMode::NextDay => "next_day",
            DeliveryMode::Slot => "slot",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "INSTANT" | "instant" => Some(DeliveryMode::Instant),
            "NEXT_DAY" | "next_day" => Some(DeliveryMode::NextDay),
            "SLOT" | "slot" => Some(DeliveryMode::Slot),
            _ => None,
        }
    }

    /// The mode's name in the plugin contract.
    fn contract_name(self) -> &'static str {
        match self {
            DeliveryMode::Instant => "instant",
            DeliveryMode::NextDay => "next-day",
            DeliveryMode::Slot => "slot",
        }
    }
}

/// When and for how much an order will be delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryPlan {
    pub mode: DeliveryMode,
    pub slot_id: Option<String>,
    pub from: i64,
    pub until: i64,
    /// Set when the order came outside order-taking hours and was moved.
    pub moved_reason: Option<String>,
    pub fee_fen: i64,
    /// `market`, or the plugin that quoted.
    pub quoted_by: String,
    pub distance_m: i64,
    /// Plugins whose quote failed (the market's rule applied instead).
    pub fallbacks: Vec<String>,
}

/// Straight-line distance on the earth's surface, in metres.
pub fn distance_m(from: (f64, f64), to: (f64, f64)) -> i64 {
    const EARTH_RADIUS_M: f64 = 6_371_000.0;
    let (lat1, lat2) = (from.0.to_radians(), to.0.to_radians());
    let d_lat = lat2 - lat1;
    let d_lon = (to.1 - from.1).to_radians();
    let a = (d_lat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (d_lon / 2.0).sin().powi(2);
    (2.0 * EARTH_RADIUS_M * a.sqrt().asin()).round() as i64
}

/// The market's own fee for a delivery `distance` away with goods worth `subtotal`.
pub fn market_fee(
    market: &Market,
    distance: i64,
    subtotal: i64,
    locale: Locale,
) -> Result<i64, ServiceError> {
    let out_of_area = || {
        reject(
            "OUT_OF_SERVICE_AREA",
            &["input", "recipient", "location"],
            Text::new(
                "The address is outside the market's delivery area.",
                "收货地址不在本市场配送范围内。",
            ),
            locale,
        )
    };
    if distance > market.service_radius_m {
        return Err(out_of_area());
    }
    let rules = &market.delivery;
    if subtotal < rules.minimum_order_fen {
        let yuan = rules.minimum_order_fen as f64 / 100.0;
        return Err(reject_with(
            "BELOW_MINIMUM_ORDER",
            &["input"],
            format!("Orders below ¥{yuan:.2} are not delivered."),
            format!("订单金额低于 ¥{yuan:.2}，不予配送。"),
            locale,
        ));
    }
    if distance <= rules.free_distance_m {
        return Ok(0);
    }
    let mut bands = rules.out_of_range_fees.clone();
    bands.sort_by_key(|b| b.up_to_m);
    bands
        .iter()
        .find(|b| distance <= b.up_to_m)
        .map(|b| b.fee_fen)
        .ok_or_else(out_of_area)
}

/// What checkout asks of delivery.
pub struct DeliveryRequest<'a> {
    pub market: &'a Market,
    pub mode: DeliveryMode,
    pub slot: Option<SlotRow>,
    pub location: (f64, f64),
    pub region: String,
    pub lines: &'a [CartLine],
    pub subtotal: i64,
    pub now: i64,
}

/// Decides when the order is delivered and its fee; refuses orders the
/// market does not take.
pub async fn plan(
    plugins: &PluginHost,
    config: &OrdersConfig,
    req: DeliveryRequest<'_>,
    locale: Locale,
) -> Result<DeliveryPlan, ServiceError> {
    let market = req.market;
    let clock = MarketClock::new(&market.time_zone);
    let distance = distance_m(
        (market.centre_latitude, market.centre_longitude),
        req.location,
    );
    let fee = market_fee(market, distance, req.subtotal, locale)?;
    let windows = &market.delivery.delivery_windows;
    let mut moved_reason = None;
    let (mut from, mut until) = match req.mode {
        DeliveryMode::Instant => (
            req.now,
            req.now + config.instant_delivery_minutes as i64 * 60_000,
        ),
        DeliveryMode::NextDay => clock.next_day_window(windows, req.now),
        DeliveryMode::Slot => match &req.slot {
            Some(s) if s.market_code == market.code && s.starts_at > req.now => {
                (s.starts_at, s.ends_at)
            }
            Some(_) => {
                return Err(reject(
                    "SLOT_UNAVAILABLE",
                    &["input", "slotId"],
                    Text::new(
                        "That delivery slot is over or belongs to another market.",
                        "该配送时段已过或不属于本市场。",
                    ),
                    locale,
                ));
            }
            None => {
                return Err(reject(
                    "SLOT_REQUIRED",
                    &["input", "slotId"],
                    Text::new("Choose a delivery slot.", "请选择配送时段。"),
                    locale,
                ));
            }
        },
    };
    if !clock.within(&market.order_hours, req.now) {
        if market.delivery.outside_hours == "REFUSE" {
            return Err(reject(
                "OUTSIDE_ORDER_HOURS",
                &["input"],
                Text::new(
                    "The market is not taking orders now.",
                    "本市场当前不在接单时间内。",
                ),
                locale,
            ));
        }
        // Moved: delivered in the first delivery window after the market
        // opens again, unless the customer already chose a later time.
        let reopens = clock.next_window(&market.order_hours, req.now).0;
        let (next_from, next_until) = clock.next_window(windows, reopens);
        if from < next_from {
            from = next_from;
            until = next_until;
            moved_reason = Some(
                "Placed outside order-taking hours; moved to the next delivery window. / \
                 非接单时间下单，已顺延至下一配送时段。"
                    .to_string(),
            );
        }
    }
    let mut plan = DeliveryPlan {
        mode: req.mode,
        slot_id: req.slot.as_ref().map(|s| s.id.clone()),
        from,
        until,
        moved_reason,
        fee_fen: fee,
        quoted_by: "market".into(),
        distance_m: distance,
        fallbacks: Vec::new(),
    };
    let input = QuoteInput {
        market: crate::plugins::types::Market {
            code: market.code.clone(),
            time_zone: market.time_zone.clone(),
            config_json: String::new(),
        },
        lines: req.lines.to_vec(),
        address: Address {
            latitude: req.location.0,
            longitude: req.location.1,
            region: req.region,
        },
        distance_m: u32::try_from(distance).unwrap_or(u32::MAX),
        slot: req.slot.as_ref().map(|s| {
            let (a, b) = (rfc3339(s.starts_at), rfc3339(s.ends_at));
            format!("{}/{}", &a[..16], &b[11..16])
        }),
        now: rfc3339(req.now),
    };
    let context = MarketContext {
        code: market.code.clone(),
        time_zone: market.time_zone.clone(),
    };
    let host = plugins.clone();
    let (quote, failures) =
        tokio::task::spawn_blocking(move || host.quote_delivery(&context, &input))
            .await
            .map_err(|e| ServiceError::Internal(format!("delivery quote: {e}")))?;
    plan.fallbacks = failures.into_iter().map(|f| f.plugin).collect();
    if let Some((plugin, quote)) = quote {
        let wanted = req.mode.contract_name();
        match quote.options.iter().find(|o| o.mode == wanted) {
            Some(option) => {
                plan.fee_fen = option.fee;
                plan.quoted_by = plugin;
            }
            None => {
                return Err(reject(
                    "DELIVERY_MODE_UNAVAILABLE",
                    &["input", "mode"],
                    Text::new(
                        "This delivery mode is not offered for this order.",
                        "该订单不支持所选配送方式。",
                    ),
                    locale,
                ));
            }
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::markets::{DeliverySettings, DistanceFee};

    fn market() -> Market {
        Market {
            code: "m".into(),
            name: "m".into(),
            currency: "CNY".into(),
            time_zone: "Asia/Shanghai".into(),
            locale: "zh-CN".into(),
            centre_latitude: 31.3,
            centre_longitude: 120.6,
            service_radius_m: 10_000,
            order_hours: Vec::new(),
            delivery: DeliverySettings {
                free_distance_m: 3_000,
                minimum_order_fen: 2_000,
                out_of_range_fees: vec![
                    DistanceFee {
                        up_to_m: 8_000,
                        fee_fen: 800,
                    },
                    DistanceFee {
                        up_to_m: 5_000,
                        fee_fen: 500,
                    },
                ],
                delivery_windows: Vec::new(),
                outside_hours: "REFUSE".into(),
            },
            compensation_standard: String::new(),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn the_fee_follows_the_market_rule() {
        let m = market();
        assert_eq!(market_fee(&m, 2_999, 2_000, Locale::En).unwrap(), 0);
        assert_eq!(market_fee(&m, 4_000, 2_000, Locale::En).unwrap(), 500);
        assert_eq!(market_fee(&m, 7_000, 2_000, Locale::En).unwrap(), 800);
        assert!(
            market_fee(&m, 9_000, 2_000, Locale::En).is_err(),
            "beyond every band"
        );
        assert!(
            market_fee(&m, 11_000, 2_000, Locale::En).is_err(),
            "outside the radius"
        );
        assert!(
            market_fee(&m, 100, 1_999, Locale::En).is_err(),
            "below the minimum"
        );
    }

    #[test]
    fn distances_are_great_circle_metres() {
        // One hundredth of a degree of latitude is about 1.11 km.
        assert_eq!(distance_m((31.30, 120.6), (31.31, 120.6)), 1_112);
        assert_eq!(distance_m((31.3, 120.6), (31.3, 120.6)), 0);
    }
}
