//! Markets (MKT-1, MKT-3): a market, or service station, is where a set of
//! merchants sells to customers within a service area, on its own hours and
//! delivery rules. Its published information is public; changing it is for
//! platform administrators (create) and the market's own administrators (update).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::AuditEvent;
use crate::caller::Caller;
use crate::i18n::{Locale, Text};
use crate::service_error::ServiceError;
use crate::store::markets::{self as rows, MarketRow};
use crate::store::{Store, now_ms};

/// A daily window, `HH:MM` in the market's time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeWindow {
    pub opens: String,
    pub closes: String,
}

/// Beyond the free distance, the fee for deliveries up to `up_to_m` metres.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DistanceFee {
    pub up_to_m: i64,
    pub fee_fen: i64,
}

/// Delivery rules published to customers (S 8.2.2.1, 8.2.4.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliverySettings {
    pub free_distance_m: i64,
    pub minimum_order_fen: i64,
    pub out_of_range_fees: Vec<DistanceFee>,
    pub delivery_windows: Vec<TimeWindow>,
    /// `REFUSE` or `NEXT_SLOT`: what happens to an order outside order-taking hours.
    pub outside_hours: String,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            free_distance_m: 3_000,
            minimum_order_fen: 0,
            out_of_range_fees: Vec::new(),
            delivery_windows: Vec::new(),
            outside_hours: "NEXT_SLOT".into(),
        }
    }
}

/// A market as services and the API use it.
#[derive(Debug, Clone, PartialEq)]
pub struct Market {
    pub code: String,
    pub name: String,
    pub currency: String,
    pub time_zone: String,
    pub locale: String,
    pub centre_latitude: f64,
    pub centre_longitude: f64,
    pub service_radius_m: i64,
    pub order_hours: Vec<TimeWindow>,
    pub delivery: DeliverySettings,
    pub compensation_standard: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Fields to set; on update, `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct MarketInput {
    pub name: Option<String>,
    pub currency: Option<String>,
    pub time_zone: Option<String>,
    pub locale: Option<String>,
    pub centre: Option<(f64, f64)>,
    pub service_radius_m: Option<i64>,
    pub order_hours: Option<Vec<TimeWindow>>,
    pub delivery: Option<DeliverySettings>,
    pub compensation_standard: Option<String>,
}

/// How long a market read from the store is answered from memory. Every
/// checkout and cart reads its market; a change made on this node is seen at
/// once, one made on another node within this long.
const FRESH_FOR: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct Markets {
    store: Store,
    recent: Arc<Mutex<Recent>>,
}

/// Markets lately read. `generation` moves on every change made here, so a
/// read that started before a change never stores what it read.
#[derive(Default)]
struct Recent {
    entries: HashMap<String, (Instant, Market)>,
    generation: u64,
}

impl Markets {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            recent: Arc::default(),
        }
    }

    /// The market, as read at most [`FRESH_FOR`] ago.
    pub async fn find(&self, code: &str) -> Result<Option<Market>, ServiceError> {
        let generation = {
            let Ok(recent) = self.recent.lock() else {
                return self.read(code).await;
            };
            if let Some((at, market)) = recent.entries.get(code)
                && at.elapsed() < FRESH_FOR
            {
                return Ok(Some(market.clone()));
            }
            recent.generation
        };
        let found = self.read(code).await?;
        if let Some(market) = &found
            && let Ok(mut recent) = self.recent.lock()
            && recent.generation == generation
        {
            recent
                .entries
                .insert(code.to_string(), (Instant::now(), market.clone()));
        }
        Ok(found)
    }

    /// The market as the store has it now.
    async fn read(&self, code: &str) -> Result<Option<Market>, ServiceError> {
        rows::find(&self.store, code)
            .await?
            .map(from_row)
            .transpose()
    }

    /// Drops what is remembered of a market this node just changed.
    fn forget(&self, code: &str) {
        if let Ok(mut recent) = self.recent.lock() {
            recent.generation += 1;
            recent.entries.remove(code);
        }
    }

    pub async fn list(&self, after: Option<&str>, limit: i64) -> Result<Vec<Market>, ServiceError> {
        rows::list(&self.store, after, limit)
            .await?
            .into_iter()
            .map(from_row)
            .collect()
    }

    pub async fn create(
        &self,
        caller: &Caller,
        code: &str,
        input: MarketInput,
    ) -> Result<Market, ServiceError> {
        let locale = caller.locale;
        let code = code.trim().to_lowercase();
        let code_ok = (2..=32).contains(&code.len())
            && code
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && code.starts_with(|c: char| c.is_ascii_lowercase());
        if !code_ok {
            return Err(ServiceError::reject(
                "INVALID_CODE",
                &["input", "code"],
                Text::new(
                    "Use 2–32 lower-case letters, digits or hyphens, starting with a letter.",
                    "代码须为 2–32 位小写字母、数字或连字符，并以字母开头。",
                ),
                locale,
            ));
        }
        if rows::find(&self.store, &code).await?.is_some() {
            return Err(ServiceError::reject(
                "CODE_TAKEN",
                &["input", "code"],
                Text::new("A market with this code exists.", "该市场代码已存在。"),
                locale,
            ));
        }
        let (Some(name), Some(centre), Some(radius)) =
            (input.name.clone(), input.centre, input.service_radius_m)
        else {
            return Err(ServiceError::reject(
                "REQUIRED",
                &["input"],
                Text::new(
                    "A new market needs a name, a service-area centre and a radius.",
                    "新建市场须填写名称、服务区域中心和半径。",
                ),
                locale,
            ));
        };
        let now = now_ms();
        let market = Market {
            code: code.clone(),
            name,
            currency: "CNY".into(),
            time_zone: "Asia/Shanghai".into(),
            locale: "zh-CN".into(),
            centre_latitude: centre.0,
            centre_longitude: centre.1,
            service_radius_m: radius,
            order_hours: Vec::new(),
            delivery: DeliverySettings::default(),
            compensation_standard: String::new(),
            created_at: now,
            updated_at: now,
        };
        let market = apply(market, input, now);
        validate(&market, locale)?;
        let mut tx = self.store.begin().await?;
        rows::save(&mut tx, &to_row(&market)).await?;
        AuditEvent::new(caller, "market.create", "market", Some(&code))
            .market(Some(&code))
            .after(&state(&market))
            .append(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(market)
    }

    pub async fn update(
        &self,
        caller: &Caller,
        code: &str,
        input: MarketInput,
    ) -> Result<Market, ServiceError> {
        // Read afresh: the whole row is written back, so a remembered copy
        // could undo a change made on another node.
        let before = self.read(code).await?.ok_or(ServiceError::NotFound)?;
        let now = now_ms();
        let after = apply(before.clone(), input, now);
        validate(&after, caller.locale)?;
        let mut tx = self.store.begin().await?;
        rows::save(&mut tx, &to_row(&after)).await?;
        AuditEvent::new(caller, "market.update", "market", Some(code))
            .market(Some(code))
            .before(&state(&before))
            .after(&state(&after))
            .append(&mut tx)
            .await?;
        tx.commit().await?;
        self.forget(code);
        Ok(after)
    }
}

fn apply(mut m: Market, input: MarketInput, now: i64) -> Market {
    if let Some(v) = input.name {
        m.name = v.trim().to_string();
    }
    if let Some(v) = input.currency {
        m.currency = v.trim().to_uppercase();
    }
    if let Some(v) = input.time_zone {
        m.time_zone = v.trim().to_string();
    }
    if let Some(v) = input.locale {
        m.locale = v.trim().to_string();
    }
    if let Some((lat, lng)) = input.centre {
        m.centre_latitude = lat;
        m.centre_longitude = lng;
    }
    if let Some(v) = input.service_radius_m {
        m.service_radius_m = v;
    }
    if let Some(v) = input.order_hours {
        m.order_hours = v;
    }
    if let Some(v) = input.delivery {
        m.delivery = v;
    }
    if let Some(v) = input.compensation_standard {
        m.compensation_standard = v.trim().to_string();
    }
    m.updated_at = now;
    m
}

fn validate(m: &Market, locale: Locale) -> Result<(), ServiceError> {
    let fail =
        |code, field: &str, text| Err(ServiceError::reject(code, &["input", field], text, locale));
    if m.name.is_empty() || m.name.chars().count() > 100 {
        return fail(
            "INVALID_NAME",
            "name",
            Text::new(
                "Give a name of 1–100 characters.",
                "名称须为 1–100 个字符。",
            ),
        );
    }
    if m.currency != "CNY" {
        return fail(
            "UNSUPPORTED_CURRENCY",
            "currency",
            Text::new("Markets trade in CNY.", "市场仅支持人民币（CNY）。"),
        );
    }
    let zone_ok = m
        .time_zone
        .split_once('/')
        .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty())
        && m.time_zone
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_-+".contains(c));
    if !zone_ok {
        return fail(
            "INVALID_TIME_ZONE",
            "timeZone",
            Text::new(
                "Use an IANA time zone such as Asia/Shanghai.",
                "请使用 IANA 时区，例如 Asia/Shanghai。",
            ),
        );
    }
    if !matches!(m.locale.as_str(), "zh-CN" | "en") {
        return fail(
            "UNSUPPORTED_LOCALE",
            "locale",
            Text::new("Use zh-CN or en.", "语言须为 zh-CN 或 en。"),
        );
    }
    if !(-90.0..=90.0).contains(&m.centre_latitude)
        || !(-180.0..=180.0).contains(&m.centre_longitude)
    {
        return fail(
            "INVALID_CENTRE",
            "centre",
            Text::new(
                "Latitude must be −90…90 and longitude −180…180.",
                "纬度须在 −90…90，经度须在 −180…180。",
            ),
        );
    }
    if !(1..=200_000).contains(&m.service_radius_m) {
        return fail(
            "INVALID_RADIUS",
            "serviceRadiusMeters",
            Text::new(
                "The radius must be 1 m to 200 km.",
                "服务半径须在 1 米到 200 公里之间。",
            ),
        );
    }
    let windows_ok = |ws: &[TimeWindow]| {
        ws.iter()
            .all(|w| matches!((minutes(&w.opens), minutes(&w.closes)), (Some(o), Some(c)) if o < c))
    };
    if !windows_ok(&m.order_hours) {
        return fail(
            "INVALID_HOURS",
            "orderTakingHours",
            Text::new(
                "Each window needs HH:MM times, opening before closing.",
                "每个时段须为 HH:MM 格式，且开始早于结束。",
            ),
        );
    }
    let d = &m.delivery;
    if !windows_ok(&d.delivery_windows) {
        return fail(
            "INVALID_HOURS",
            "delivery",
            Text::new(
                "Each window needs HH:MM times, opening before closing.",
                "每个时段须为 HH:MM 格式，且开始早于结束。",
            ),
        );
    }
    let fees_ok = d.free_distance_m >= 0
        && d.minimum_order_fen >= 0
        && d.out_of_range_fees
            .iter()
            .all(|f| f.fee_fen >= 0 && f.up_to_m > d.free_distance_m)
        && d.out_of_range_fees
            .windows(2)
            .all(|w| w[0].up_to_m < w[1].up_to_m);
    if !fees_ok {
        return fail(
            "INVALID_DELIVERY",
            "delivery",
            Text::new(
                "Distances and amounts cannot be negative, and the fee table must rise in distance beyond the free distance.",
                "距离和金额不能为负，运费表须按距离递增且超出免费配送距离。",
            ),
        );
    }
    if !matches!(d.outside_hours.as_str(), "REFUSE" | "NEXT_SLOT") {
        return fail(
            "INVALID_DELIVERY",
            "delivery",
            Text::new(
                "Outside-hours policy is REFUSE or NEXT_SLOT.",
                "非营业时间策略须为 REFUSE 或 NEXT_SLOT。",
            ),
        );
    }
    if m.compensation_standard.chars().count() > 20_000 {
        return fail(
            "TOO_LONG",
            "compensationStandard",
            Text::new(
                "The compensation standard is too long.",
                "赔偿标准内容过长。",
            ),
        );
    }
    Ok(())
}

fn minutes(hhmm: &str) -> Option<u32> {
    let (h, m) = hhmm.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

fn to_row(m: &Market) -> MarketRow {
    MarketRow {
        code: m.code.clone(),
        name: m.name.clone(),
        currency: m.currency.clone(),
        time_zone: m.time_zone.clone(),
        locale: m.locale.clone(),
        centre_latitude: m.centre_latitude,
        centre_longitude: m.centre_longitude,
        service_radius_m: m.service_radius_m,
        order_hours: serde_json::to_string(&m.order_hours).unwrap_or_else(|_| "[]".into()),
        delivery: serde_json::to_string(&m.delivery).unwrap_or_else(|_| "{}".into()),
        compensation_standard: m.compensation_standard.clone(),
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

fn from_row(r: MarketRow) -> Result<Market, ServiceError> {
    let broken = |what: &str, e: serde_json::Error| {
        ServiceError::Internal(format!("market {} has unreadable {what}: {e}", r.code))
    };
    Ok(Market {
        order_hours: serde_json::from_str(&r.order_hours).map_err(|e| broken("order hours", e))?,
        delivery: serde_json::from_str(&r.delivery).map_err(|e| broken("delivery settings", e))?,
        code: r.code,
        name: r.name,
        currency: r.currency,
        time_zone: r.time_zone,
        locale: r.locale,
        centre_latitude: r.centre_latitude,
        centre_longitude: r.centre_longitude,
        service_radius_m: r.service_radius_m,
        compensation_standard: r.compensation_standard,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

/// The audit view of a market: everything, it is all public.
fn state(m: &Market) -> serde_json::Value {
    json!({
        "code": m.code,
        "name": m.name,
        "currency": m.currency,
        "timeZone": m.time_zone,
        "locale": m.locale,
        "centre": [m.centre_latitude, m.centre_longitude],
        "serviceRadiusM": m.service_radius_m,
        "orderHours": m.order_hours,
        "delivery": m.delivery,
        "compensationStandard": m.compensation_standard,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    async fn two_nodes() -> (Markets, Markets, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        config.database.url = format!("sqlite://{}", dir.path().join("shiji.db").display());
        let store = Store::connect(&config).await.expect("connect");
        store.migrate().await.expect("migrate");
        let other = Store::connect(&config).await.expect("connect again");
        (Markets::new(store), Markets::new(other), dir)
    }

    /// Two nodes sharing a store, with market `dong` ("东环") made through the first.
    async fn two_nodes_with_a_market() -> (Markets, Markets, tempfile::TempDir) {
        let (here, elsewhere, dir) = two_nodes().await;
        let input = MarketInput {
            centre: Some((31.3, 120.6)),
            service_radius_m: Some(5_000),
            ..named("东环")
        };
        here.create(&Caller::system(), "dong", input)
            .await
            .expect("create");
        (here, elsewhere, dir)
    }

    fn named(name: &str) -> MarketInput {
        MarketInput {
            name: Some(name.into()),
            ..MarketInput::default()
        }
    }

    #[tokio::test]
    async fn a_change_is_seen_at_once_here_and_within_a_moment_elsewhere() {
        let (here, elsewhere, _dir) = two_nodes_with_a_market().await;
        let caller = Caller::system();
        // Both nodes remember the market.
        assert_eq!(here.find("dong").await.unwrap().unwrap().name, "东环");
        assert_eq!(elsewhere.find("dong").await.unwrap().unwrap().name, "东环");

        here.update(&caller, "dong", named("东环站"))
            .await
            .expect("update");
        assert_eq!(here.find("dong").await.unwrap().unwrap().name, "东环站");

        // The other node catches up once its copy is older than FRESH_FOR.
        tokio::time::sleep(FRESH_FOR + Duration::from_millis(100)).await;
        assert_eq!(
            elsewhere.find("dong").await.unwrap().unwrap().name,
            "东环站"
        );
    }

    #[tokio::test]
    async fn an_update_starts_from_the_store_not_from_a_remembered_copy() {
        let (here, elsewhere, _dir) = two_nodes_with_a_market().await;
        let caller = Caller::system();
        assert_eq!(here.find("dong").await.unwrap().unwrap().name, "东环");

        // Another node renames it; this node, still remembering the old name,
        // changes something else. The rename must survive.
        elsewhere
            .update(&caller, "dong", named("东环站"))
            .await
            .expect("rename");
        let standard = MarketInput {
            compensation_standard: Some("死虾包赔".into()),
            ..MarketInput::default()
        };
        let after = here
            .update(&caller, "dong", standard)
            .await
            .expect("update");
        assert_eq!(after.name, "东环站");
        assert_eq!(after.compensation_standard, "死虾包赔");
    }
}
