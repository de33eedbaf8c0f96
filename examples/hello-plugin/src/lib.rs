//! `hello`: the Shiji template plugin.
//!
//! It implements two hooks of the `shiji:plugin@0.1.0` contract
//! (`schema/wit/v0.1/plugin.wit`):
//!
//! - `adjust-prices` (hot path): a "special of the day". Cart lines tagged
//!   `special` get a percentage off, configured per market.
//! - `resolve` (off path): answers the GraphQL field `Query.helloGreeting`
//!   declared in `plugin.toml`, counting greetings in the plugin's storage.
//!
//! Every other hook answers `HookError::Unsupported`, which tells the engine
//! this plugin has nothing to say there.
//!
//! # Rules for guest code
//!
//! The host links no WASI: a component that calls into WASI traps. In practice:
//! no `println!`/`eprintln!` (use the `log` import instead), no `std::env`, no
//! `std::time` (the time comes in each input as `now`), no `std::fs`/`std::net`,
//! and no `HashMap` with its default, randomly seeded hasher (use `BTreeMap`).
//! A panic traps too; the host contains it and applies the hook's failure
//! policy, but a plugin that answers `Err(HookError::Failed(..))` is kinder to
//! whoever reads the logs.

// Generates, from the WIT contract:
// - the `Guest` trait below, one method per exported function;
// - the contract's types under `shiji::plugin::types` (re-exported at the
//   crate root for the ones the world `use`s, e.g. `PriceInput`);
// - the host imports as plain functions: `shiji::plugin::storage::get`, ...;
// - the `export!` macro that wires a type implementing `Guest` to the
//   component's exports.
wit_bindgen::generate!({
    path: "../../schema/wit/v0.1",
    world: "plugin",
});

use shiji::plugin::storage;
use shiji::plugin::types::{Adjustment, AdjustmentTarget, CartLine, Text};

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

impl Guest for Hello {
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

    /// Answers `Query.helloGreeting`, the field `plugin.toml` adds to the schema.
    fn resolve(input: ResolveInput) -> Result<String, HookError> {
        if input.type_name != "Query" || input.field != "helloGreeting" {
            return Err(HookError::Failed(format!(
                "hello does not resolve {}.{}",
                input.type_name, input.field
            )));
        }
        // The value is JSON: a String! field answers a JSON string. The text
        // is fixed, so it needs no escaping.
        Ok(match count_greeting() {
            Some(count) => format!("\"你好, Shiji (#{count})\""),
            // Storage is unavailable, full, or not granted: still greet.
            None => "\"你好, Shiji\"".to_string(),
        })
    }

    fn quote_delivery(_: QuoteInput) -> Result<QuoteOutput, HookError> {
        Err(HookError::Unsupported)
    }

    fn validate(_: ValidateInput) -> Result<ValidateOutput, HookError> {
        Err(HookError::Unsupported)
    }

    fn decide_compensation(_: CompensationInput) -> Result<CompensationOutput, HookError> {
        Err(HookError::Unsupported)
    }

    fn financing_offers(_: Market, _: TradeSummary) -> Result<Vec<FinancingOffer>, HookError> {
        Err(HookError::Unsupported)
    }

    fn handle_event(_: Market, _: DomainEvent) -> Result<(), HookError> {
        Err(HookError::Unsupported)
    }
}

// Makes `Hello` the component's implementation of the world's exports.
export!(Hello);

/// The discount for one line, or `None` when there is nothing to take off.
///
/// Amounts are whole fen; the discount is rounded down, so the customer never
/// pays less than `subtotal × (100 − percent) / 100` rounded up.
fn special_price(line: &CartLine, percent: u8) -> Option<Adjustment> {
    if line.subtotal <= 0 {
        return None;
    }
    // i128 so that no subtotal can overflow the multiplication.
    let off = (i128::from(line.subtotal) * i128::from(percent) / 100) as i64;
    if off == 0 {
        return None;
    }
    Some(Adjustment {
        target: AdjustmentTarget::Line(line.line_id.clone()),
        // Negative: a discount. It is at most 90 % of the subtotal, so the
        // line stays positive, which the engine checks anyway.
        amount: -off,
        code: ADJUSTMENT_CODE.to_string(),
        reason: Text {
            zh_cn: format!("今日特价 {} 折", zhe(percent)),
            en: format!("Special of the day: {percent}% off"),
        },
    })
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
/// administrator enabled the plugin, so finding the key and reading the digits
/// after it is enough, and it keeps the component far smaller than a JSON
/// library would. A plugin with a richer configuration should use `serde_json`.
/// Anything unexpected falls back to the default rather than failing the
/// checkout.
fn discount_percent(config_json: &str) -> u8 {
    parse_discount_percent(config_json)
        .map(|percent| percent.clamp(0, i64::from(MAX_DISCOUNT_PERCENT)) as u8)
        .unwrap_or(DEFAULT_DISCOUNT_PERCENT)
}

fn parse_discount_percent(config_json: &str) -> Option<i64> {
    const KEY: &str = "\"discountPercent\"";
    let after_key = &config_json[config_json.find(KEY)? + KEY.len()..];
    let value = after_key.trim_start().strip_prefix(':')?.trim_start();
    let (negative, digits) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let digits_len = digits.bytes().take_while(u8::is_ascii_digit).count();
    if digits_len == 0 {
        return None;
    }
    // Saturates instead of overflowing: anything huge is clamped to 90 later.
    let magnitude = digits[..digits_len].bytes().fold(0i64, |n, digit| {
        n.saturating_mul(10).saturating_add(i64::from(digit - b'0'))
    });
    Some(if negative { -magnitude } else { magnitude })
}

/// Adds one to the greeting counter and returns the new count, or `None` if
/// storage failed. The counter is stored as decimal text, so it reads well in
/// an administrator's storage browser.
fn count_greeting() -> Option<u64> {
    let previous = match storage::get(GREETINGS_KEY).ok()? {
        Some(bytes) => std::str::from_utf8(&bytes)
            .ok()?
            .trim()
            .parse::<u64>()
            .ok()?,
        None => 0,
    };
    let count = previous.saturating_add(1);
    storage::set(GREETINGS_KEY, count.to_string().as_bytes()).ok()?;
    Some(count)
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
        assert_eq!(adjustment.amount, -99);
        assert_eq!(adjustment.reason.zh_cn, "今日特价 9 折");
        assert_eq!(adjustment.reason.en, "Special of the day: 10% off");
        // 10 % of 5 fen rounds down to nothing: no adjustment at all.
        let tiny = CartLine {
            subtotal: 5,
            ..line
        };
        assert!(special_price(&tiny, 10).is_none());
    }
}
