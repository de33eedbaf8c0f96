//! Typed hook calls: size checks on the way in, validation on the way out, and
//! each hook's failure policy.
//!
//! A plugin proposes; the engine disposes. Price adjustments are declarative
//! operations checked here before anything applies them: an adjustment for a
//! line that is not in the cart, one that would make a line or the order
//! negative, or a reason a customer cannot read is refused, and the call
//! falls back to the core's prices as if the plugin had not run.

use wasmtime::Store;

use super::bindings::Plugin;
use super::bindings::shiji::plugin::types::{
    AdjustmentTarget, CartLine, Compensation, CompensationInput, CompensationOutput, DomainEvent,
    FinancingOffer, HookError, Market, PriceInput, PriceOutput, QuoteInput, QuoteOutput,
    ResolveInput, Text, TradeSummary, ValidateInput, ValidateOutput,
};
use super::runtime::{
    CallState, CallStats, Grants, Limits, LoadedPlugin, PluginFault, PluginRuntime,
};

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

/// Runs one export on a fresh instance: the input size check, the call, and
/// the hook's own error. `Ok((None, _))`: the plugin does not implement it.
fn invoke<T>(
    runtime: &PluginRuntime,
    plugin: &LoadedPlugin,
    limits: &Limits,
    grants: Grants,
    input_bytes: usize,
    call: impl FnOnce(&Plugin, &mut Store<CallState>) -> wasmtime::Result<Result<T, HookError>>,
) -> Result<(Option<T>, CallStats), PluginFault> {
    if input_bytes > limits.max_input_bytes {
        return Err(PluginFault::InputTooLarge(limits.max_input_bytes));
    }
    let (result, stats) = runtime.call(plugin, limits, grants, call)?;
    match result {
        Ok(output) => Ok((Some(output), stats)),
        Err(HookError::Unsupported) => Ok((None, stats)),
        Err(HookError::Failed(why)) => Err(PluginFault::Failed(truncate(&why, 500))),
    }
}

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
    let outcome = invoke(
        runtime,
        plugin,
        limits,
        Grants::none(),
        price_input_size(input),
        |instance, store| instance.call_adjust_prices(store, input),
    )
    .and_then(|(output, stats)| match output {
        // A plugin without this hook simply changes nothing.
        None => Ok((empty(), stats)),
        Some(output) => check_price_output(&output, input, limits).map(|()| (output, stats)),
    });
    match outcome {
        Ok((output, stats)) => PriceAdjustments {
            output,
            fallback: None,
            stats,
        },
        Err(fault) => {
            tracing::warn!(plugin = %plugin.id, %fault, "adjust-prices failed; core prices apply");
            PriceAdjustments {
                output: empty(),
                fallback: Some(fault),
                stats: CallStats::default(),
            }
        }
    }
}

/// Calls `quote-delivery`. `Ok(None)`: the plugin does not quote; the
/// caller applies the market's own rule, as it does on an error.
pub fn quote_delivery(
    runtime: &PluginRuntime,
    plugin: &LoadedPlugin,
    limits: &Limits,
    input: &QuoteInput,
) -> Result<Option<QuoteOutput>, PluginFault> {
    let size = market_size(&input.market) + lines_size(&input.lines) + 64;
    let (output, _) = invoke(runtime, plugin, limits, Grants::none(), size, |i, s| {
        i.call_quote_delivery(s, input)
    })?;
    if let Some(output) = &output {
        if output.options.len() > 20 {
            return invalid(format!(
                "{} delivery options; at most 20",
                output.options.len()
            ));
        }
        for option in &output.options {
            if option.fee < 0 {
                return invalid(format!(
                    "delivery option `{}` has a negative fee",
                    option.mode
                ));
            }
            check_code("delivery mode", &option.mode)?;
            check_text("delivery option reason", &option.reason)?;
        }
    }
    Ok(output)
}

/// Calls `validate`. The caller refuses the flow when this fails: a rule
/// that could not be checked is not a rule that passed.
pub fn validate(
    runtime: &PluginRuntime,
    plugin: &LoadedPlugin,
    limits: &Limits,
    input: &ValidateInput,
) -> Result<Option<ValidateOutput>, PluginFault> {
    let size = market_size(&input.market) + input.document_json.len() + 64;
    let (output, _) = invoke(runtime, plugin, limits, Grants::none(), size, |i, s| {
        i.call_validate(s, input)
    })?;
    if let Some(output) = &output {
        if output.violations.len() > 100 {
            return invalid(format!(
                "{} violations; at most 100",
                output.violations.len()
            ));
        }
        for violation in &output.violations {
            check_code("violation code", &violation.code)?;
            check_text("violation message", &violation.message)?;
        }
    }
    Ok(output)
}

/// Calls `decide-compensation` (off path: may use its grants).
pub fn decide_compensation(
    runtime: &PluginRuntime,
    plugin: &LoadedPlugin,
    limits: &Limits,
    grants: Grants,
    input: &CompensationInput,
) -> Result<Option<CompensationOutput>, PluginFault> {
    let size =
        market_size(&input.market) + input.complaint_json.len() + input.order_json.len() + 64;
    let (output, _) = invoke(runtime, plugin, limits, grants, size, |i, s| {
        i.call_decide_compensation(s, input)
    })?;
    if let Some(output) = &output {
        if let Compensation::Refund(fen) | Compensation::Coupon(fen) = output.decision
            && fen < 0
        {
            return invalid("a negative refund or coupon".into());
        }
        check_text("compensation reason", &output.reason)?;
    }
    Ok(output)
}

/// Calls `financing-offers` (off path).
pub fn financing_offers(
    runtime: &PluginRuntime,
    plugin: &LoadedPlugin,
    limits: &Limits,
    grants: Grants,
    market: &Market,
    summary: &TradeSummary,
) -> Result<Option<Vec<FinancingOffer>>, PluginFault> {
    let size = market_size(market) + summary.merchant_id.len() + 64;
    let (output, _) = invoke(runtime, plugin, limits, grants, size, |i, s| {
        i.call_financing_offers(s, market, summary)
    })?;
    if let Some(offers) = &output {
        if offers.len() > 20 {
            return invalid(format!("{} offers; at most 20", offers.len()));
        }
        for offer in offers {
            check_code("offer code", &offer.code)?;
            if offer.limit < 0 || offer.term_days == 0 || offer.annual_rate_bp > 100_000 {
                return invalid(format!(
                    "offer `{}` has a negative limit, no term or an impossible rate",
                    offer.code
                ));
            }
            check_text("offer reason", &offer.reason)?;
        }
    }
    Ok(output)
}

/// Calls `handle-event` (off path). `Ok(false)`: the plugin ignores events.
pub fn handle_event(
    runtime: &PluginRuntime,
    plugin: &LoadedPlugin,
    limits: &Limits,
    grants: Grants,
    market: &Market,
    event: &DomainEvent,
) -> Result<bool, PluginFault> {
    let size = market_size(market) + event.payload_json.len() + event.kind.len() + 64;
    let (output, _) = invoke(runtime, plugin, limits, grants, size, |i, s| {
        i.call_handle_event(s, market, event)
    })?;
    Ok(output.is_some())
}

/// Calls `resolve` for one of the plugin's GraphQL fields; the value is JSON.
pub fn resolve(
    runtime: &PluginRuntime,
    plugin: &LoadedPlugin,
    limits: &Limits,
    grants: Grants,
    input: &ResolveInput,
) -> Result<Option<serde_json::Value>, PluginFault> {
    let size = market_size(&input.market)
        + input.arguments_json.len()
        + input.parent_json.as_ref().map_or(0, String::len)
        + 128;
    let (output, _) = invoke(runtime, plugin, limits, grants, size, |i, s| {
        i.call_resolve(s, input)
    })?;
    let Some(json) = output else {
        return Ok(None);
    };
    if json.len() > limits.max_output_bytes {
        return Err(PluginFault::OutputTooLarge(limits.max_output_bytes));
    }
    serde_json::from_str(&json)
        .map(Some)
        .map_err(|e| PluginFault::InvalidOutput(format!("the field's value is not JSON: {e}")))
}

fn invalid<T>(why: String) -> Result<T, PluginFault> {
    Err(PluginFault::InvalidOutput(why))
}

fn check_code(what: &str, code: &str) -> Result<(), PluginFault> {
    if code.is_empty() || code.chars().count() > MAX_CODE_CHARS {
        return invalid(format!(
            "{what} `{}` is empty or too long",
            truncate(code, 80)
        ));
    }
    Ok(())
}

/// Text a person reads: present in both languages, and not a wall.
fn check_text(what: &str, text: &Text) -> Result<(), PluginFault> {
    for value in [&text.zh_cn, &text.en] {
        if value.trim().is_empty() || value.chars().count() > MAX_REASON_CHARS {
            return invalid(format!(
                "{what} needs 1–{MAX_REASON_CHARS} characters in both languages"
            ));
        }
    }
    Ok(())
}

/// The engine's rules for proposed adjustments.
pub(super) fn check_price_output(
    output: &PriceOutput,
    input: &PriceInput,
    limits: &Limits,
) -> Result<(), PluginFault> {
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
        check_code("adjustment code", &adjustment.code)?;
        check_text(
            &format!("adjustment `{}` reason", adjustment.code),
            &adjustment.reason,
        )?;
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
    let customer = input.customer.id.as_ref().map_or(0, String::len)
        + input
            .customer
            .segments
            .iter()
            .map(String::len)
            .sum::<usize>();
    market_size(&input.market) + customer + lines_size(&input.lines) + input.now.len()
}

fn market_size(market: &Market) -> usize {
    market.code.len() + market.time_zone.len() + market.config_json.len()
}

fn lines_size(lines: &[CartLine]) -> usize {
    lines
        .iter()
        .map(|l| {
            48 + l.line_id.len()
                + l.product_id.len()
                + l.variant_id.len()
                + l.merchant_id.len()
                + l.category.len()
                + l.tags.iter().map(String::len).sum::<usize>()
        })
        .sum()
}

fn text_len(text: &Text) -> usize {
    text.zh_cn.len() + text.en.len()
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}
