//! Tracking events (FUL-2): where an order was on its way, and for cold-chain
//! goods how warm. A reading is checked against the band of every line's
//! goods; outside any of them is a breach, flagged on the event, announced
//! in the outbox and raised as an alert for the market's administrators, all
//! in the transaction that records the reading.

use serde_json::json;

use super::{Fulfilment, new_id};
use crate::audit::AuditEvent;
use crate::caller::Caller;
use crate::config::{ColdChainConfig, TemperatureBand};
use crate::i18n::{Locale, Text};
use crate::orders::{reject, status};
use crate::service_error::ServiceError;
use crate::store::fulfilment::{self as rows, TrackingRow};
use crate::store::now_ms;
use crate::store::orders::{self as order_rows, AlertRow};

/// The cold chain a category's goods travel in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColdChain {
    None,
    Live,
    Chilled,
    Frozen,
}

impl ColdChain {
    pub fn parse(stored: &str) -> Option<ColdChain> {
        Some(match stored.to_ascii_lowercase().as_str() {
            "none" => ColdChain::None,
            "live" => ColdChain::Live,
            "chilled" => ColdChain::Chilled,
            "frozen" => ColdChain::Frozen,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ColdChain::None => "none",
            ColdChain::Live => "live",
            ColdChain::Chilled => "chilled",
            ColdChain::Frozen => "frozen",
        }
    }

    /// The configured band, if these goods have one.
    pub fn band(self, config: &ColdChainConfig) -> Option<TemperatureBand> {
        match self {
            ColdChain::None => None,
            ColdChain::Live => Some(config.live),
            ColdChain::Chilled => Some(config.chilled),
            ColdChain::Frozen => Some(config.frozen),
        }
    }

    pub fn name(self) -> Text {
        match self {
            ColdChain::None => Text::new("ambient", "常温"),
            ColdChain::Live => Text::new("live", "鲜活"),
            ColdChain::Chilled => Text::new("chilled", "冷藏"),
            ColdChain::Frozen => Text::new("frozen", "冷冻"),
        }
    }
}

/// Whether a reading (tenths of ℃) lies inside a band, limits included.
pub fn within(band: TemperatureBand, c10: i64) -> bool {
    let min = (band.min_celsius * 10.0).round() as i64;
    let max = (band.max_celsius * 10.0).round() as i64;
    (min..=max).contains(&c10)
}

/// A reading breaches the cold chain when it lies outside the band of any
/// of the goods it was taken for; goods without a band never complain.
pub fn breaches(bands: &[ColdChain], c10: i64, config: &ColdChainConfig) -> bool {
    bands
        .iter()
        .filter_map(|b| b.band(config))
        .any(|band| !within(band, c10))
}

/// `band` as text: `0–4 ℃`, `≤ −18 ℃` when its floor only catches broken probes.
pub fn describe(band: TemperatureBand) -> String {
    let fmt = |v: f64| {
        let s = if v.fract() == 0.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.1}")
        };
        s.replace('-', "−")
    };
    if band.min_celsius <= -50.0 {
        format!("≤ {} ℃", fmt(band.max_celsius))
    } else {
        format!("{}–{} ℃", fmt(band.min_celsius), fmt(band.max_celsius))
    }
}

/// What a courier records.
#[derive(Debug, Clone, Default)]
pub struct TrackingInput {
    pub location: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub temperature_celsius: Option<f64>,
}

fn bad(field: &'static str, text: Text, locale: Locale) -> ServiceError {
    reject("INVALID_TRACKING", &[field], text, locale)
}

fn validate(input: &TrackingInput, locale: Locale) -> Result<Option<i64>, ServiceError> {
    let location = input.location.trim();
    if location.is_empty() || location.chars().count() > 200 {
        return Err(bad(
            "location",
            Text::new(
                "Say where the order is (at most 200 characters).",
                "请填写位置（不超过 200 字）。",
            ),
            locale,
        ));
    }
    match (input.latitude, input.longitude) {
        (None, None) => {}
        (Some(lat), Some(lon))
            if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) => {}
        _ => {
            return Err(bad(
                "latitude",
                Text::new(
                    "Give both latitude (−90…90) and longitude (−180…180), or neither.",
                    "请同时填写纬度（−90…90）和经度（−180…180），或都不填。",
                ),
                locale,
            ));
        }
    }
    match input.temperature_celsius {
        None => Ok(None),
        Some(t) if t.is_finite() && (-100.0..=100.0).contains(&t) => {
            Ok(Some((t * 10.0).round() as i64))
        }
        Some(_) => Err(bad(
            "temperatureCelsius",
            Text::new(
                "A temperature reading lies between −100 and 100 ℃.",
                "温度读数应在 −100 至 100 ℃ 之间。",
            ),
            locale,
        )),
    }
}

impl Fulfilment {
    /// Records where an order is (and how warm); couriers and station staff
    /// (`shipment write`) while it is packed or out for delivery.
    pub async fn record_tracking(
        &self,
        caller: &Caller,
        order_id: &str,
        input: TrackingInput,
    ) -> Result<TrackingRow, ServiceError> {
        let order = self.orders.order(caller, order_id).await?;
        self.require_any(caller, &order.row, &[("shipment", "write")])
            .await?;
        let locale = caller.locale;
        if ![status::PACKED, status::OUT_FOR_DELIVERY].contains(&order.row.status.as_str()) {
            return Err(reject(
                "INVALID_ORDER_STATE",
                &["orderId"],
                Text::new(
                    "Tracking is recorded while an order is packed or out for delivery.",
                    "只有已打包或配送中的订单才能记录物流。",
                ),
                locale,
            ));
        }
        let c10 = validate(&input, locale)?;
        let bands: Vec<ColdChain> = rows::bands_of_order(&self.store, order_id)
            .await?
            .iter()
            .filter_map(|b| ColdChain::parse(b))
            .collect();
        let breach = c10.is_some_and(|t| breaches(&bands, t, &self.cold_chain));
        let now = now_ms();
        let row = TrackingRow {
            id: new_id(),
            order_id: order_id.to_string(),
            at: now,
            location: input.location.trim().to_string(),
            latitude: input.latitude,
            longitude: input.longitude,
            temperature_c10: c10,
            breach,
            recorded_by: caller.actor.audit_name(),
        };
        let market = order.row.market_code.as_str();
        let mut tx = self.store.begin_write().await?;
        rows::insert_tracking(&mut tx, &row).await?;
        AuditEvent::new(caller, "order.tracking", "order", Some(order_id))
            .market(Some(market))
            .after(&json!({
                "event": row.id,
                "location": row.location,
                "temperatureC10": row.temperature_c10,
                "breach": breach,
            }))
            .append(&mut tx)
            .await?;
        if let Some(t) = c10.filter(|_| breach) {
            let bands_text: Vec<String> = bands
                .iter()
                .filter_map(|b| b.band(&self.cold_chain).map(|band| (b, band)))
                .map(|(b, band)| format!("{} {}", b.as_str(), describe(band)))
                .collect();
            crate::orders::emit(
                &mut tx,
                market,
                "order.cold_chain_breach",
                order_id,
                json!({
                    "orderId": order_id,
                    "number": order.row.number,
                    "trackingEventId": row.id,
                    "temperatureCelsius": t as f64 / 10.0,
                    "location": row.location,
                    "bands": bands_text,
                    "at": crate::store::rfc3339(now),
                }),
                now,
            )
            .await?;
            let celsius = format!("{:.1}", t as f64 / 10.0);
            order_rows::raise_alert(
                &mut tx,
                &AlertRow {
                    id: new_id(),
                    market_code: market.to_string(),
                    kind: "order.cold_chain_breach".into(),
                    subject_id: order_id.to_string(),
                    message_zh: format!(
                        "订单 {} 冷链异常：{} 测得 {celsius} ℃，超出货品温度范围。",
                        order.row.number, row.location
                    ),
                    message_en: format!(
                        "Order {}: cold chain breached, {celsius} ℃ read at {}, outside its goods' band.",
                        order.row.number, row.location
                    ),
                    created_at: now,
                    read_at: None,
                    read_by: None,
                },
            )
            .await?;
            tracing::warn!(order = %order_id, temperature_c10 = t, "cold chain breach");
        }
        tx.commit().await?;
        Ok(row)
    }

    /// An order's tracking events, to whoever may see the order.
    pub async fn tracking(
        &self,
        caller: &Caller,
        order_id: &str,
    ) -> Result<Vec<TrackingRow>, ServiceError> {
        self.orders.order(caller, order_id).await?;
        Ok(rows::tracking_of(&self.store, order_id).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_bands_follow_the_standard() {
        let config = ColdChainConfig::default();
        let chilled = [ColdChain::Chilled];
        assert!(!breaches(&chilled, 25, &config), "2.5 ℃ is chilled");
        assert!(!breaches(&chilled, 0, &config) && !breaches(&chilled, 40, &config));
        assert!(breaches(&chilled, 41, &config) && breaches(&chilled, -1, &config));
        assert!(breaches(&chilled, 90, &config), "9 ℃ is a breach");
        let frozen = [ColdChain::Frozen];
        assert!(!breaches(&frozen, -180, &config) && !breaches(&frozen, -250, &config));
        assert!(
            breaches(&frozen, -179, &config),
            "−17.9 ℃ is not frozen enough"
        );
        assert!(!breaches(&[ColdChain::Live], 150, &config));
        assert!(
            breaches(&[ColdChain::Live], -5, &config),
            "live goods must not freeze"
        );
        assert!(
            !breaches(&[ColdChain::None], 400, &config),
            "ambient goods never complain"
        );
        assert!(
            breaches(&[ColdChain::None, ColdChain::Chilled], 60, &config),
            "outside any line's band is a breach"
        );
    }

    #[test]
    fn bands_are_configurable() {
        let mut config = ColdChainConfig::default();
        config.chilled.max_celsius = 8.0;
        assert!(!breaches(&[ColdChain::Chilled], 75, &config));
        assert_eq!(describe(ColdChainConfig::default().chilled), "0–4 ℃");
        assert_eq!(describe(ColdChainConfig::default().frozen), "≤ −18 ℃");
    }

    #[test]
    fn readings_are_validated() {
        let ok = TrackingInput {
            location: "潜江分拣中心".into(),
            temperature_celsius: Some(2.46),
            ..Default::default()
        };
        assert_eq!(validate(&ok, Locale::En).unwrap(), Some(25));
        let half = TrackingInput {
            latitude: Some(30.0),
            ..ok.clone()
        };
        assert!(validate(&half, Locale::En).is_err());
        let hot = TrackingInput {
            temperature_celsius: Some(f64::NAN),
            ..ok.clone()
        };
        assert!(validate(&hot, Locale::En).is_err());
        let nowhere = TrackingInput {
            location: "  ".into(),
            ..ok
        };
        assert!(validate(&nowhere, Locale::En).is_err());
        assert_eq!(ColdChain::parse("CHILLED"), Some(ColdChain::Chilled));
        assert_eq!(ColdChain::parse("warm"), None);
    }
}
