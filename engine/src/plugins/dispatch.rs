//! Calling the plugins switched on in a market, with each hook's failure policy.
//!
//! Hot-path hooks run inline: a call is tens of microseconds. Off-path
//! exports run on blocking threads, because their host imports (storage,
//! commerce queries) block on the database. Every fault is logged, counted
//! by the breaker, and never escapes the call that caused it.

use std::sync::Arc;
use std::time::Duration;

use super::bindings::shiji::plugin::types::{
    Adjustment, CompensationInput, CompensationOutput, DomainEvent, FinancingOffer, Market,
    PriceInput, PriceOutput, QuoteInput, QuoteOutput, ResolveInput, TradeSummary, ValidateInput,
    Violation,
};
use super::hooks;
use super::registry::{Installed, PluginHost, Toggle};
use super::runtime::{Grants, PluginFault, PluginRuntime};
use super::storage::DatabaseKeyValue;
use crate::caller::Caller;

/// Attempts at delivering one event to one plugin, and the first pause.
const EVENT_ATTEMPTS: u32 = 4;
const EVENT_FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// A market as hooks see it, before each plugin's configuration is added.
#[derive(Debug, Clone)]
pub struct MarketContext {
    pub code: String,
    pub time_zone: String,
}

impl MarketContext {
    fn for_plugin(&self, toggle: &Toggle) -> Market {
        Market {
            code: self.code.clone(),
            time_zone: self.time_zone.clone(),
            config_json: toggle.config_json.clone(),
        }
    }
}

/// A plugin that failed during a flow, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginFailure {
    pub plugin: String,
    pub fault: PluginFault,
}

/// The price adjustments of every plugin in the market, with who proposed
/// each, and the plugins whose proposals were dropped.
#[derive(Debug, Clone, Default)]
pub struct Pricing {
    pub adjustments: Vec<(String, Adjustment)>,
    pub fallbacks: Vec<PluginFailure>,
}

impl PluginHost {
    /// Whether `plugin` is on in `market` and its breaker closed.
    pub fn is_enabled(&self, market: &str, plugin: &str) -> bool {
        self.current()
            .toggle(market, plugin)
            .is_some_and(|t| t.enabled)
            && !self.breaker().is_open(plugin, market)
    }

    /// Faults this node saw recently for a plugin in a market.
    pub fn recent_faults(&self, plugin: &str, market: &str) -> usize {
        self.breaker().recent(plugin, market)
    }

    /// Fault bookkeeping: log, count, and trip the breaker when due.
    fn fault(&self, installed: &Installed, market: &str, hook: &str, fault: &PluginFault) {
        let plugin = installed.id();
        tracing::warn!(plugin, market, hook, %fault, "plugin call failed");
        self.count_fault(plugin, hook, fault);
        if self.breaker().record(plugin, market) {
            let reason = format!("{hook}: {fault}");
            tracing::error!(plugin, market, %reason, "breaker tripped: switching the plugin off in this market");
            let host = self.clone();
            let (plugin, market) = (plugin.to_string(), market.to_string());
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    let system = Caller::system();
                    if let Err(e) = host.switch_off(&market, &plugin, Some(reason), &system).await {
                        tracing::error!(%plugin, %market, error = %e, "could not record the tripped breaker");
                    }
                });
            }
        }
    }

    /// Enabled plugins of a market implementing `hook`, breaker permitting.
    fn runnable<'a>(
        &'a self,
        set: &'a super::registry::PluginSet,
        market: &'a str,
        hook: &'a str,
    ) -> impl Iterator<Item = (&'a std::sync::Arc<Installed>, &'a Toggle)> + 'a {
        set.enabled_in(market).filter(move |(p, _)| {
            p.manifest.implements(hook) && !self.breaker().is_open(p.id(), market)
        })
    }

    /// `adjust-prices` of every plugin in the market, in order. A plugin whose
    /// output fails the checks, alone or together with the earlier plugins',
    /// contributes nothing; the others still apply.
    pub fn adjust_prices(&self, market: &MarketContext, input: &PriceInput) -> Pricing {
        let set = self.current();
        let mut pricing = Pricing::default();
        let mut combined = PriceOutput {
            adjustments: Vec::new(),
        };
        for (plugin, toggle) in self.runnable(&set, &market.code, "adjust-prices") {
            let input = PriceInput {
                market: market.for_plugin(toggle),
                ..input.clone()
            };
            let limits = &plugin.manifest.limits;
            let result = hooks::adjust_prices(self.runtime(), &plugin.loaded, limits, &input);
            let fault = match result.fallback {
                Some(fault) => Some(fault),
                None => {
                    let mut together = combined.adjustments.clone();
                    together.extend(result.output.adjustments.iter().cloned());
                    let together = PriceOutput {
                        adjustments: together,
                    };
                    match hooks::check_price_output(&together, &input, limits) {
                        Ok(()) => {
                            combined = together;
                            pricing.adjustments.extend(
                                result
                                    .output
                                    .adjustments
                                    .into_iter()
                                    .map(|a| (plugin.id().to_string(), a)),
                            );
                            None
                        }
                        Err(fault) => Some(fault),
                    }
                }
            };
            if let Some(fault) = fault {
                self.fault(plugin, &market.code, "adjust-prices", &fault);
                pricing.fallbacks.push(PluginFailure {
                    plugin: plugin.id().to_string(),
                    fault,
                });
            }
        }
        pricing
    }

    /// The first plugin quote in the market, or `None` for the market's own
    /// rule (no plugin quotes, or every quoting plugin failed: listed).
    pub fn quote_delivery(
        &self,
        market: &MarketContext,
        input: &QuoteInput,
    ) -> (Option<(String, QuoteOutput)>, Vec<PluginFailure>) {
        let set = self.current();
        let mut failures = Vec::new();
        for (plugin, toggle) in self.runnable(&set, &market.code, "quote-delivery") {
            let input = QuoteInput {
                market: market.for_plugin(toggle),
                ..input.clone()
            };
            match hooks::quote_delivery(
                self.runtime(),
                &plugin.loaded,
                &plugin.manifest.limits,
                &input,
            ) {
                Ok(Some(quote)) if !quote.options.is_empty() => {
                    return (Some((plugin.id().to_string(), quote)), failures);
                }
                Ok(_) => {}
                Err(fault) => {
                    self.fault(plugin, &market.code, "quote-delivery", &fault);
                    failures.push(PluginFailure {
                        plugin: plugin.id().to_string(),
                        fault,
                    });
                }
            }
        }
        (None, failures)
    }

    /// Every validating plugin's violations. A validator that fails refuses
    /// the flow: `Err` names it.
    pub fn validate(
        &self,
        market: &MarketContext,
        input: &ValidateInput,
    ) -> Result<Vec<(String, Violation)>, PluginFailure> {
        let set = self.current();
        let mut violations = Vec::new();
        for (plugin, toggle) in self.runnable(&set, &market.code, "validate") {
            let input = ValidateInput {
                market: market.for_plugin(toggle),
                ..input.clone()
            };
            match hooks::validate(
                self.runtime(),
                &plugin.loaded,
                &plugin.manifest.limits,
                &input,
            ) {
                Ok(Some(output)) => violations.extend(
                    output
                        .violations
                        .into_iter()
                        .map(|v| (plugin.id().to_string(), v)),
                ),
                Ok(None) => {}
                Err(fault) => {
                    self.fault(plugin, &market.code, "validate", &fault);
                    return Err(PluginFailure {
                        plugin: plugin.id().to_string(),
                        fault,
                    });
                }
            }
        }
        Ok(violations)
    }

    /// What an off-path call of `plugin` in `market` may reach.
    fn grants(&self, plugin: &Installed, market: &str) -> Grants {
        let storage = (plugin.granted.contains("storage")).then(|| {
            Box::new(DatabaseKeyValue {
                store: self.store().clone(),
                handle: tokio::runtime::Handle::current(),
                plugin: plugin.id().to_string(),
                market: market.to_string(),
            }) as Box<dyn super::runtime::KeyValue>
        });
        let commerce = super::commerce::reader(self.store(), plugin, market);
        Grants {
            market: market.to_string(),
            storage,
            commerce,
        }
    }

    /// Enabled plugins of a market implementing an off-path `hook`, owned so
    /// they can travel to blocking threads.
    fn off_path_candidates(
        &self,
        market: &MarketContext,
        hook: &str,
    ) -> Vec<(Arc<Installed>, Toggle)> {
        let set = self.current();
        self.runnable(&set, &market.code, hook)
            .map(|(p, t)| (p.clone(), t.clone()))
            .collect()
    }

    /// Runs an off-path call of `plugin` on a blocking thread (its host
    /// imports block on the database), with the grants it holds in `market`.
    async fn off_path<T: Send + 'static>(
        &self,
        plugin: &Arc<Installed>,
        market: &str,
        call: impl FnOnce(&PluginRuntime, &Installed, Grants) -> Result<T, PluginFault> + Send + 'static,
    ) -> Result<T, PluginFault> {
        let grants = self.grants(plugin, market);
        let host = self.clone();
        let plugin = plugin.clone();
        tokio::task::spawn_blocking(move || call(host.runtime(), &plugin, grants))
            .await
            .unwrap_or_else(|e| Err(PluginFault::Trap(format!("the call did not finish: {e}"))))
    }

    /// The first compensation decision in the market; `None` leaves it to staff.
    pub async fn decide_compensation(
        &self,
        market: &MarketContext,
        input: &CompensationInput,
    ) -> Option<(String, CompensationOutput)> {
        for (plugin, toggle) in self.off_path_candidates(market, "decide-compensation") {
            let input = CompensationInput {
                market: market.for_plugin(&toggle),
                ..input.clone()
            };
            let outcome = self
                .off_path(&plugin, &market.code, move |runtime, p, grants| {
                    hooks::decide_compensation(
                        runtime,
                        &p.loaded,
                        &p.manifest.limits,
                        grants,
                        &input,
                    )
                })
                .await;
            match outcome {
                Ok(Some(decision)) => return Some((plugin.id().to_string(), decision)),
                Ok(None) => {}
                Err(fault) => self.fault(&plugin, &market.code, "decide-compensation", &fault),
            }
        }
        None
    }

    /// Every plugin's financing offers; a failing plugin offers nothing.
    pub async fn financing_offers(
        &self,
        market: &MarketContext,
        summary: &TradeSummary,
    ) -> Vec<(String, FinancingOffer)> {
        let mut offers = Vec::new();
        for (plugin, toggle) in self.off_path_candidates(market, "financing-offers") {
            let market_input = market.for_plugin(&toggle);
            let summary = summary.clone();
            let outcome = self
                .off_path(&plugin, &market.code, move |runtime, p, grants| {
                    hooks::financing_offers(
                        runtime,
                        &p.loaded,
                        &p.manifest.limits,
                        grants,
                        &market_input,
                        &summary,
                    )
                })
                .await;
            match outcome {
                Ok(Some(list)) => offers.extend(
                    list.into_iter()
                        .map(|offer| (plugin.id().to_string(), offer)),
                ),
                Ok(None) => {}
                Err(fault) => self.fault(&plugin, &market.code, "financing-offers", &fault),
            }
        }
        offers
    }

    /// Hands an event to every plugin in the market that handles events,
    /// retrying each with back-off (at least once delivery: handlers must be
    /// idempotent). Returns the plugins that still failed after the last try.
    pub async fn deliver_event(
        &self,
        market: &MarketContext,
        event: &DomainEvent,
    ) -> Vec<PluginFailure> {
        let mut failures = Vec::new();
        for (plugin, toggle) in self.off_path_candidates(market, "handle-event") {
            let mut backoff = EVENT_FIRST_BACKOFF;
            let mut last = None;
            for attempt in 1..=EVENT_ATTEMPTS {
                let market_input = market.for_plugin(&toggle);
                let delivered = event.clone();
                let outcome = self
                    .off_path(&plugin, &market.code, move |runtime, p, grants| {
                        hooks::handle_event(
                            runtime,
                            &p.loaded,
                            &p.manifest.limits,
                            grants,
                            &market_input,
                            &delivered,
                        )
                    })
                    .await;
                match outcome {
                    Ok(_) => {
                        last = None;
                        break;
                    }
                    Err(fault) => {
                        self.fault(&plugin, &market.code, "handle-event", &fault);
                        tracing::info!(plugin = plugin.id(), kind = %event.kind, attempt, "event delivery failed; retrying");
                        last = Some(fault);
                        if attempt < EVENT_ATTEMPTS {
                            tokio::time::sleep(backoff).await;
                            backoff *= 4;
                        }
                    }
                }
            }
            if let Some(fault) = last {
                failures.push(PluginFailure {
                    plugin: plugin.id().to_string(),
                    fault,
                });
            }
        }
        failures
    }

    /// Answers one of a plugin's GraphQL fields in a market where it is on.
    pub async fn resolve(
        &self,
        market: &MarketContext,
        plugin_id: &str,
        input: ResolveInput,
    ) -> Result<serde_json::Value, PluginFailure> {
        let failure = |fault| PluginFailure {
            plugin: plugin_id.to_string(),
            fault,
        };
        let set = self.current();
        let Some((plugin, toggle)) = set
            .enabled_in(&market.code)
            .find(|(p, _)| p.id() == plugin_id)
            .map(|(p, t)| (p.clone(), t.clone()))
        else {
            return Err(failure(PluginFault::Failed("not enabled".into())));
        };
        let input = ResolveInput {
            market: market.for_plugin(&toggle),
            ..input
        };
        let outcome = self
            .off_path(&plugin, &market.code, move |runtime, p, grants| {
                hooks::resolve(runtime, &p.loaded, &p.manifest.limits, grants, &input)
            })
            .await;
        match outcome {
            Ok(Some(value)) => Ok(value),
            Ok(None) => Err(failure(PluginFault::Failed(
                "the plugin does not implement resolve".into(),
            ))),
            Err(fault) => {
                self.fault(&plugin, &market.code, "resolve", &fault);
                Err(failure(fault))
            }
        }
    }
}
