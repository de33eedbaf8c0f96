//! The author's test harness: one hook call on a component in the real host,
//! with a given input, configuration and storage, reporting the output, fuel,
//! peak memory and time (like Shopify's function-runner). `shiji plugin run`
//! is its command line.
//!
//! Inputs are the contract's records as JSON with Rust field names
//! (`line_id`, `zh_cn`); variants are `{"Line": "l1"}` or `"Order"`. The
//! market's `config_json` comes from the configuration given, checked against
//! the manifest's schema as an administrator's would be.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::bindings::shiji::plugin::types::{
    CompensationInput, DomainEvent, HookError, Market, PriceInput, QuoteInput, ResolveInput,
    TradeSummary, ValidateInput,
};
use super::manifest::{HOOKS, Manifest};
use super::runtime::{
    CallStats, Grants, KeyValue, LoadedPlugin, PluginFault, PluginRuntime, StorageFault,
};
use super::storage::MemoryKeyValue;

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("`{0}` is not a hook ({list})", list = HOOKS.join(", "))]
    UnknownHook(String),
    #[error("the manifest does not declare the hook `{0}`")]
    Undeclared(String),
    #[error("the input does not fit `{hook}`: {message}")]
    Input { hook: String, message: String },
    #[error("the configuration does not fit the plugin's schema: {0}")]
    Config(String),
}

/// What one call did.
#[derive(Debug, Clone)]
pub struct Report {
    /// The hook's answer as JSON, or the fault that ended the call.
    pub output: Result<Value, PluginFault>,
    pub stats: CallStats,
    /// Storage after the call (values as UTF-8 where they are, else bytes).
    pub storage: BTreeMap<String, Value>,
}

impl Report {
    pub fn to_json(&self) -> Value {
        json!({
            "output": match &self.output {
                Ok(value) => value.clone(),
                Err(_) => Value::Null,
            },
            "fault": self.output.as_ref().err().map(ToString::to_string),
            "fuelUsed": self.stats.fuel_used,
            "peakMemoryBytes": self.stats.peak_memory,
            "elapsedMicros": self.stats.elapsed.as_micros() as u64,
            "storage": self.storage,
        })
    }
}

/// Shares the in-memory storage with the call, to read it back afterwards.
struct SharedStorage(Arc<Mutex<MemoryKeyValue>>);

impl KeyValue for SharedStorage {
    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, StorageFault> {
        let mut kv = self.0.lock().map_err(|_| StorageFault::Unavailable)?;
        kv.get(key)
    }
    fn set(&mut self, key: &str, value: &[u8]) -> Result<(), StorageFault> {
        let mut kv = self.0.lock().map_err(|_| StorageFault::Unavailable)?;
        kv.set(key, value)
    }
    fn delete(&mut self, key: &str) -> Result<(), StorageFault> {
        let mut kv = self.0.lock().map_err(|_| StorageFault::Unavailable)?;
        kv.delete(key)
    }
    fn list_keys(&mut self, prefix: &str) -> Result<Vec<String>, StorageFault> {
        let mut kv = self.0.lock().map_err(|_| StorageFault::Unavailable)?;
        kv.list_keys(prefix)
    }
}

fn parse<T: DeserializeOwned>(hook: &str, value: Value) -> Result<T, HarnessError> {
    serde_json::from_value(value).map_err(|e| HarnessError::Input {
        hook: hook.to_string(),
        message: e.to_string(),
    })
}

/// Puts the configuration into `market.config_json` of an input object.
fn with_config(mut input: Value, config: &str) -> Value {
    if let Some(market) = input.get_mut("market").and_then(Value::as_object_mut) {
        market.insert("config_json".into(), Value::String(config.to_string()));
    }
    input
}

/// The hook's answer as JSON, or its error as a fault.
fn answer<T: serde::Serialize>(result: Result<T, HookError>) -> Result<Value, PluginFault> {
    match result {
        Ok(output) => {
            serde_json::to_value(output).map_err(|e| PluginFault::InvalidOutput(e.to_string()))
        }
        Err(HookError::Unsupported) => Err(PluginFault::Failed("unsupported".into())),
        Err(HookError::Failed(why)) => Err(PluginFault::Failed(why)),
    }
}

/// Runs `hook` once. Storage is granted when the manifest asks for it and
/// the hook is off-path, as an administrator's grant would allow.
pub fn run(
    runtime: &PluginRuntime,
    plugin: &LoadedPlugin,
    manifest: &Manifest,
    hook: &str,
    input: Value,
    config: &Value,
    storage: MemoryKeyValue,
) -> Result<Report, HarnessError> {
    if !HOOKS.contains(&hook) {
        return Err(HarnessError::UnknownHook(hook.to_string()));
    }
    if !manifest.implements(hook) {
        return Err(HarnessError::Undeclared(hook.to_string()));
    }
    manifest.check_config(config).map_err(|problems| {
        HarnessError::Config(
            problems
                .iter()
                .map(|p| format!("{} {}", p.path, p.message))
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    let input = with_config(input, &config.to_string());
    let shared = Arc::new(Mutex::new(storage));
    let hot_path = matches!(hook, "adjust-prices" | "quote-delivery" | "validate");
    let grants = if hot_path || !manifest.capabilities.contains("storage") {
        Grants::none()
    } else {
        Grants {
            market: input["market"]["code"].as_str().unwrap_or("").to_string(),
            storage: Some(Box::new(SharedStorage(shared.clone()))),
            commerce: None,
        }
    };
    let limits = &manifest.limits;
    let outcome = match hook {
        "adjust-prices" => {
            let input: PriceInput = parse(hook, input)?;
            runtime.call(plugin, limits, grants, |i, s| {
                Ok(answer(i.call_adjust_prices(s, &input)?))
            })
        }
        "quote-delivery" => {
            let input: QuoteInput = parse(hook, input)?;
            runtime.call(plugin, limits, grants, |i, s| {
                Ok(answer(i.call_quote_delivery(s, &input)?))
            })
        }
        "validate" => {
            let input: ValidateInput = parse(hook, input)?;
            runtime.call(plugin, limits, grants, |i, s| {
                Ok(answer(i.call_validate(s, &input)?))
            })
        }
        "decide-compensation" => {
            let input: CompensationInput = parse(hook, input)?;
            runtime.call(plugin, limits, grants, |i, s| {
                Ok(answer(i.call_decide_compensation(s, &input)?))
            })
        }
        "financing-offers" => {
            let market: Market = parse(hook, input["market"].clone())?;
            let summary: TradeSummary = parse(hook, input["summary"].clone())?;
            runtime.call(plugin, limits, grants, |i, s| {
                Ok(answer(i.call_financing_offers(s, &market, &summary)?))
            })
        }
        "handle-event" => {
            let market: Market = parse(hook, input["market"].clone())?;
            let event: DomainEvent = parse(hook, input["event"].clone())?;
            runtime.call(plugin, limits, grants, |i, s| {
                Ok(answer(i.call_handle_event(s, &market, &event)?))
            })
        }
        _ => {
            let input: ResolveInput = parse(hook, input)?;
            runtime.call(plugin, limits, grants, |i, s| {
                Ok(answer(i.call_resolve(s, &input)?).and_then(|v| match v {
                    // `resolve` answers JSON text; show it parsed.
                    Value::String(text) => serde_json::from_str(&text).map_err(|e| {
                        PluginFault::InvalidOutput(format!("the field's value is not JSON: {e}"))
                    }),
                    other => Ok(other),
                }))
            })
        }
    };
    let (output, stats) = match outcome {
        Ok((output, stats)) => (output, stats),
        Err(fault) => (Err(fault), CallStats::default()),
    };
    let storage = shared
        .lock()
        .map(|kv| {
            kv.entries
                .iter()
                .map(|(k, v)| {
                    let value = match std::str::from_utf8(v) {
                        Ok(text) => Value::String(text.to_string()),
                        Err(_) => json!(v),
                    };
                    (k.clone(), value)
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Report {
        output,
        stats,
        storage,
    })
}
