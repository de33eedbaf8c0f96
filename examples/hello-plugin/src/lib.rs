//! `hello`: the Shiji template plugin.
//!
//! It implements two hooks of the `shiji:plugin@0.1.0` contract
//! (`schema/wit/v0.1/plugin.wit`), through the `shiji-sdk` crate:
//!
//! - `adjust-prices` (hot path): a "special of the day". Cart lines tagged
//!   `special` get a percentage off, configured per market.
//! - `resolve` (off path): answers the GraphQL field `Query.helloGreeting`
//!   declared in `plugin.toml`, counting greetings in the plugin's storage.
//!
//! Every other hook keeps the `Plugin` trait's default answer,
//! `HookError::Unsupported`, which tells the engine this plugin has nothing to
//! say there.
//!
//! # Rules for guest code
//!
//! The host links no WASI: a component that calls into WASI traps. In practice:
//! no `println!`/`eprintln!` (use `shiji_sdk::log` instead), no `std::env`, no
//! `std::time` (the time comes in each input as `now`), no `std::fs`/`std::net`,
//! and no `HashMap` with its default, randomly seeded hasher (use `BTreeMap`).
//! A panic traps too; the host contains it and applies the hook's failure
//! policy, but a plugin that answers `Err(HookError::Failed(..))` is kinder to
//! whoever reads the logs.

// The prelude brings the `Plugin` trait, `export_plugin!`, the contract's types
// (`PriceInput`, `CartLine`, `HookError`, ...) and the helpers (`config`,
// `percent_of`, `line_adjustment`, `text`, ...).
use shiji_sdk::prelude::*;
use shiji_sdk::storage;

/// The tag a catalogue manager puts on a product to make it today's special.
const SPECIAL_TAG: &str = "special";
/// The stable code reports group this plugin's adjustments by.
const ADJUSTMENT_CODE: &str = "hello-special-of-the-day";
/// Used when the market's configuration does not set `discountPercent`.
const DEFAULT_DISCOUNT_PERCENT: u8 = 10;
/// The most the configuration may ask for (the manifest's schema says so too).
const MAX_DISCOUNT_PERCENT: u8 = 90;
/// The storage key holding how many greetings were served in this market.
const GREETINGS_KEY: &str = "greetings";

/// The plugin. It holds no state: every call gets everything in its input,
/// and anything that must outlive a call goes to the `storage` import.
struct Hello;

impl Plugin for Hello {
    /// Special of the day: `discountPercent` % off every line tagged `special`.
    fn adjust_prices(input: PriceInput) -> Result<PriceOutput, HookError> {
        let percent = discount_percent(&input.market.config_json);
        let adjustments = if percent == 0 {
            Vec::new()
        } else {
            input
                .lines
                .iter()
                .filter(|line| line.tags.iter().any(|tag| tag == SPECIAL_TAG))
                .filter_map(|line| special_price(line, percent))
                .collect()
        };
        Ok(PriceOutput { adjustments })
    }

    /// Answers `Query.helloGreeting(market:)`, the field `plugin.toml` adds to
    /// the schema. The engine has already resolved the `market` argument: it
    /// is `input.market`, and the storage below is that market's.
    fn resolve(input: ResolveInput) -> Result<String, HookError> {
        if input.type_name != "Query" || input.field != "helloGreeting" {
            return Err(HookError::Failed(format!(
                "hello does not resolve {}.{}",
                input.type_name, input.field
            )));
        }
        // The value is JSON: a String! field answers a JSON string. The text
        // is fixed, so it needs no escaping.
        Ok(match storage::increment(GREETINGS_KEY) {
            Ok(count) => format!("\"你好, Shiji (#{count})\""),
            // Storage is unavailable, full, or not granted: still greet.
            Err(_) => "\"你好, Shiji\"".to_string(),
        })
    }

    // quote-delivery, validate, decide-compensation, financing-offers and
    // handle-event: not implemented, so the trait answers `Unsupported`.
}

// Makes `Hello` the component's implementation of the contract's exports.
export_plugin!(Hello);

/// The discount for one line, or `None` when there is nothing to take off.
///
/// Amounts are whole fen; the discount is rounded down (`percent_of` rounds
/// toward zero), so the customer never pays less than
/// `subtotal × (100 − percent) / 100` rounded up.
fn special_price(line: &CartLine, percent: u8) -> Option<Adjustment> {
    if line.subtotal <= 0 {
        return None;
    }
    let off = percent_of(line.subtotal, i64::from(percent));
    if off == 0 {
        return None;
    }
    Some(line_adjustment(
        &line.line_id,
        // Negative: a discount. It is at most 90 % of the subtotal, so the
        // line stays positive, which the engine checks anyway.
        -off,
        ADJUSTMENT_CODE,
        text(
            format!("今日特价 {} 折", zhe(percent)),
            format!("Special of the day: {percent}% off"),
        ),
    ))
}

/// A discount in the Chinese way of saying it: 10 % off is "9 折" (you pay
/// nine tenths), 15 % off is "8.5 折".
fn zhe(percent: u8) -> String {
    let pay = 100 - u32::from(percent);
    if pay % 10 == 0 {
        format!("{}", pay / 10)
    } else {
        format!("{}.{}", pay / 10, pay % 10)
    }
}

/// Reads `discountPercent` from the market's configuration, e.g.
/// `{"discountPercent": 15}`.
///
/// The engine validated the configuration against the manifest's JSON Schema
/// (an object whose only property is an integer `discountPercent`) when an
/// administrator enabled the plugin; `config::integer` picks the value out
/// without a JSON library, which keeps the component far smaller. (A plugin
/// with a richer configuration enables `shiji-sdk`'s `json` feature and uses
/// `config::parse`.) Anything unexpected falls back to the default rather
/// than failing the checkout; huge values saturate and are clamped to 90.
fn discount_percent(config_json: &str) -> u8 {
    config::integer(config_json, "discountPercent")
        .map(|percent| percent.clamp(0, i64::from(MAX_DISCOUNT_PERCENT)) as u8)
        .unwrap_or(DEFAULT_DISCOUNT_PERCENT)
}

// Plain unit tests run on the build machine: `cargo test --target <host triple>`
// (the imports are not available there, so test the pure functions).
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration() {
        assert_eq!(discount_percent(""), 10);
        assert_eq!(discount_percent("{}"), 10);
        assert_eq!(discount_percent(r#"{"discountPercent": 15}"#), 15);
        assert_eq!(discount_percent(r#"{ "discountPercent" :0 }"#), 0);
        assert_eq!(discount_percent(r#"{"discountPercent": 95}"#), 90);
        assert_eq!(discount_percent(r#"{"discountPercent": -5}"#), 0);
        assert_eq!(
            discount_percent(r#"{"discountPercent": 99999999999999999999999}"#),
            90
        );
        assert_eq!(discount_percent(r#"{"discountPercent": "x"}"#), 10);
    }

    #[test]
    fn zhe_reads_as_chinese_shops_write_it() {
        assert_eq!(zhe(10), "9");
        assert_eq!(zhe(15), "8.5");
        assert_eq!(zhe(90), "1");
        assert_eq!(zhe(0), "10");
    }

    #[test]
    fn special_price_rounds_the_discount_down() {
        let line = CartLine {
            line_id: "l1".into(),
            product_id: "p".into(),
            variant_id: "v".into(),
            merchant_id: "m".into(),
            category: "veg".into(),
            quantity: 1,
            unit_price: 999,
            sold_by_weight: false,
            subtotal: 999,
            tags: vec!["special".into()],
        };
        let adjustment = special_price(&line, 10).unwrap();
        assert_eq!(adjustment.target, AdjustmentTarget::Line("l1".into()));
        assert_eq!(adjustment.amount, -99);
        assert_eq!(adjustment.code, "hello-special-of-the-day");
        assert_eq!(adjustment.reason.zh_cn, "今日特价 9 折");
        assert_eq!(adjustment.reason.en, "Special of the day: 10% off");
        // 10 % of 5 fen rounds down to nothing: no adjustment at all.
        let tiny = CartLine {
            subtotal: 5,
            ..line.clone()
        };
        assert!(special_price(&tiny, 10).is_none());
        // A free or negative line gets nothing off.
        let free = CartLine {
            subtotal: 0,
            ..line
        };
        assert!(special_price(&free, 10).is_none());
    }

    #[test]
    fn adjust_prices_discounts_only_special_lines() {
        let line = |id: &str, subtotal: i64, tags: &[&str]| CartLine {
            line_id: id.into(),
            product_id: "p".into(),
            variant_id: "v".into(),
            merchant_id: "m".into(),
            category: "veg".into(),
            quantity: 1,
            unit_price: subtotal,
            sold_by_weight: false,
            subtotal,
            tags: tags.iter().map(|t| t.to_string()).collect(),
        };
        let input = |config: &str| PriceInput {
            market: Market {
                code: "suzhou-shuangta".into(),
                time_zone: "Asia/Shanghai".into(),
                config_json: config.into(),
            },
            customer: Customer {
                id: None,
                segments: Vec::new(),
                orders_placed: 0,
            },
            lines: vec![
                line("a", 1000, &["special"]),
                line("b", 1000, &["fresh"]),
                line("c", 2001, &["fresh", "special"]),
            ],
            now: "2026-05-01T08:00:00Z".into(),
        };
        let output = Hello::adjust_prices(input(r#"{"discountPercent": 15}"#)).unwrap();
        let amounts: Vec<(AdjustmentTarget, i64)> = output
            .adjustments
            .iter()
            .map(|a| (a.target.clone(), a.amount))
            .collect();
        assert_eq!(
            amounts,
            [
                (AdjustmentTarget::Line("a".into()), -150),
                (AdjustmentTarget::Line("c".into()), -300),
            ]
        );
        assert_eq!(output.adjustments[0].reason.zh_cn, "今日特价 8.5 折");
        // 0 % configured: nothing at all.
        let none = Hello::adjust_prices(input(r#"{"discountPercent": 0}"#)).unwrap();
        assert!(none.adjustments.is_empty());
    }

    #[test]
    fn other_hooks_are_unsupported() {
        let market = Market {
            code: "m".into(),
            time_zone: "Asia/Shanghai".into(),
            config_json: "{}".into(),
        };
        let event = DomainEvent {
            kind: "order.paid".into(),
            id: "e1".into(),
            payload_json: "{}".into(),
            at: "2026-05-01T08:00:00Z".into(),
        };
        assert_eq!(
            Hello::handle_event(market, event),
            Err(HookError::Unsupported)
        );
    }
}
