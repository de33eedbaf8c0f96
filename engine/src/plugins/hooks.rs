//! Typed hook calls: size checks on the way in, validation on the way out, and
//! each hook's failure policy.
//!
//! A plugin proposes; the engine disposes. Price adjustments are declarative
//! operations checked here before anything applies them: an adjustment for a
//! line that is not in the cart, one that would make a line or the order
//! negative, or a reason a customer cannot read is refused, and the call
//! falls back to the core's prices as if the plugin had not run.

use super::bindings::shiji::plugin::types::{
    AdjustmentTarget, HookError, PriceInput, PriceOutput, Text,
};
use super::runtime::{CallStats, Limits, LoadedPlugin, PluginFault, PluginRuntime};

/// The outcome of `adjust-prices` after the failure policy: the adjustments to
/// apply (none when the plugin failed) and, if it failed, why — so the caller
/// can tell the customer prices are shown without the promotion.
#[derive(Debug, Clone)]
pub struct PriceAdjustments {
    pub output: PriceOutput,
    pub fallback: Option<PluginFault>,
    pub stats: CallStats,
}

/// Longest code and reason a customer-facing adjustment may carry.
const MAX_CODE_CHARS: usize = 64;
const MAX_REASON_CHARS: usize = 200;

/// Calls `adjust-prices`; on any failure, no adjustments (the core's prices).
pub fn adjust_prices(
    runtime: &PluginRuntime,
    plugin: &LoadedPlugin,
    limits: &Limits,
    input: &PriceInput,
) -> PriceAdjustments {
    let empty = || PriceOutput {
        adjustments: Vec::new(),
    };
    let size = price_input_size(input);
    if size > limits.max_input_bytes {
        return PriceAdjustments {
            output: empty(),
            fallback: Some(PluginFault::InputTooLarge(limits.max_input_bytes)),
            stats: CallStats::default(),
        };
    }
    let outcome = runtime.call(plugin, limits, true, |instance, store| {
        instance.call_adjust_prices(store, input)
    });
    let (result, stats) = match outcome {
        Ok(done) => done,
        Err(fault) => {
            tracing::warn!(plugin = %plugin.id, %fault, "adjust-prices failed; core prices apply");
            return PriceAdjustments {
                output: empty(),
                fallback: Some(fault),
                stats: CallStats::default(),
            };
        }
    };
    let checked = match result {
        Ok(output) => check_price_output(&output, input, limits).map(|()| output),
        // A plugin without this hook simply changes nothing.
        Err(HookError::Unsupported) => Ok(empty()),
        Err(HookError::Failed(why)) => Err(PluginFault::Failed(truncate(&why, 500))),
    };
    match checked {
        Ok(output) => PriceAdjustments {
            output,
            fallback: None,
            stats,
        },
        Err(fault) => {
            tracing::warn!(plugin = %plugin.id, %fault, "adjust-prices refused; core prices apply");
            PriceAdjustments {
                output: empty(),
                fallback: Some(fault),
                stats,
            }
        }
    }
}

/// The engine's rules for proposed adjustments.
fn check_price_output(
    output: &PriceOutput,
    input: &PriceInput,
    limits: &Limits,
) -> Result<(), PluginFault> {
    let invalid = |why: String| Err(PluginFault::InvalidOutput(why));
    let size: usize = output
        .adjustments
        .iter()
        .map(|a| 64 + a.code.len() + text_len(&a.reason))
        .sum();
    if size > limits.max_output_bytes {
        return Err(PluginFault::OutputTooLarge(limits.max_output_bytes));
    }
    if output.adjustments.len() > input.lines.len() * 4 + 8 {
        return invalid(format!(
            "{} adjustments for {} lines",
            output.adjustments.len(),
            input.lines.len()
        ));
    }
    let mut line_totals: Vec<i64> = input.lines.iter().map(|l| l.subtotal).collect();
    let mut order_total: i64 = line_totals.iter().sum();
    for adjustment in &output.adjustments {
        if adjustment.code.is_empty() || adjustment.code.chars().count() > MAX_CODE_CHARS {
            return invalid(format!(
                "adjustment code `{}` is empty or too long",
                truncate(&adjustment.code, 80)
            ));
        }
        for reason in [&adjustment.reason.zh_cn, &adjustment.reason.en] {
            if reason.trim().is_empty() || reason.chars().count() > MAX_REASON_CHARS {
                return invalid(format!(
                    "adjustment `{}` needs a reason of 1–{MAX_REASON_CHARS} characters in both languages",
                    adjustment.code
                ));
            }
        }
        match &adjustment.target {
            AdjustmentTarget::Line(id) => {
                let Some(index) = input.lines.iter().position(|l| &l.line_id == id) else {
                    return invalid(format!(
                        "adjustment `{}` names unknown line `{}`",
                        adjustment.code,
                        truncate(id, 80)
                    ));
                };
                line_totals[index] = line_totals[index].saturating_add(adjustment.amount);
                if line_totals[index] < 0 {
                    return invalid(format!(
                        "adjustment `{}` makes line `{id}` negative",
                        adjustment.code
                    ));
                }
            }
            AdjustmentTarget::Order => {}
        }
        order_total = order_total.saturating_add(adjustment.amount);
    }
    if order_total < 0 {
        return invalid("the adjustments make the order total negative".into());
    }
    Ok(())
}

/// The approximate encoded size of an input: what the plugin must copy in.
fn price_input_size(input: &PriceInput) -> usize {
    let market =
        input.market.code.len() + input.market.time_zone.len() + input.market.config_json.len();
    let customer = input.customer.id.as_ref().map_or(0, String::len)
        + input
            .customer
            .segments
            .iter()
            .map(String::len)
            .sum::<usize>();
    let lines: usize = input
        .lines
        .iter()
        .map(|l| {
            48 + l.line_id.len()
                + l.product_id.len()
                + l.variant_id.len()
                + l.merchant_id.len()
                + l.category.len()
                + l.tags.iter().map(String::len).sum::<usize>()
        })
        .sum();
    market + customer + lines + input.now.len()
}

fn text_len(text: &Text) -> usize {
    text.zh_cn.len() + text.en.len()
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}
