//! The dispatcher: claims undispatched outbox events, hands each to the
//! plugins of its market that handle events, writes one pending webhook
//! delivery per active subscription that wants its kind, and marks the
//! event dispatched in the same transaction as that fan-out.
//!
//! A crash after the plugins ran but before the commit leaves the event to be
//! claimed again once its lease ends: plugins may see it twice (they are told
//! to be idempotent), webhook deliveries are not doubled (one per
//! subscription and event, by a unique key). A plugin that still fails after
//! its own retries (see `PluginHost::deliver_event`) is logged and counted by
//! the breaker; it does not hold up the market's webhooks.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::EventsConfig;
use super::webhooks::{Subscription, from_row};
use crate::markets::Markets;
use crate::plugins::{MarketContext, PluginHost, types::DomainEvent};
use crate::service_error::ServiceError;
use crate::store::outbox::{self, OutboxRow};
use crate::store::webhooks::{self as rows, DeliveryRow};
use crate::store::{Store, now_ms, rfc3339};

/// How long a claimed batch is ours before another node may take it.
const LEASE_MS: i64 = 5 * 60 * 1_000;

pub struct Dispatcher {
    store: Store,
    plugins: PluginHost,
    markets: Markets,
    batch: i64,
    poll: Duration,
    /// Wakes this node's delivery worker when there is new work.
    wake: Arc<Notify>,
}

impl Dispatcher {
    pub fn new(
        store: Store,
        plugins: PluginHost,
        markets: Markets,
        config: &EventsConfig,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            plugins,
            markets,
            batch: i64::from(config.batch_size.max(1)),
            poll: config.poll(),
            wake,
        }
    }

    /// Runs until aborted: a full batch is followed at once by the next.
    pub async fn run(self) {
        loop {
            match self.dispatch_batch().await {
                Ok(n) if n as i64 >= self.batch => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "dispatching events failed; retrying"),
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// Claims and dispatches one batch; returns how many events it held.
    pub async fn dispatch_batch(&self) -> Result<usize, ServiceError> {
        let now = now_ms();
        let events = outbox::claim(&self.store, now, now + LEASE_MS, self.batch).await?;
        if events.is_empty() {
            return Ok(0);
        }
        let mut zones: HashMap<String, String> = HashMap::new();
        let mut subscriptions: HashMap<String, Vec<Subscription>> = HashMap::new();
        for event in &events {
            if !zones.contains_key(&event.market_code) {
                let zone = self
                    .markets
                    .find(&event.market_code)
                    .await?
                    .map(|m| m.time_zone)
                    .unwrap_or_else(|| "Asia/Shanghai".to_string());
                zones.insert(event.market_code.clone(), zone);
                let subs = rows::subscriptions_in(&self.store, &event.market_code, true)
                    .await?
                    .iter()
                    .map(from_row)
                    .collect();
                subscriptions.insert(event.market_code.clone(), subs);
            }
            self.to_plugins(event, &zones[&event.market_code]).await;
        }

        let at = now_ms();
        let mut fanned_out = 0usize;
        let mut tx = self.store.begin_write().await?;
        for event in &events {
            for sub in subscriptions[&event.market_code]
                .iter()
                .filter(|s| s.wants(&event.kind))
            {
                rows::insert_delivery(
                    &mut tx,
                    &DeliveryRow {
                        id: uuid::Uuid::now_v7().to_string(),
                        subscription_id: sub.id.clone(),
                        event_id: event.id.clone(),
                        event_kind: event.kind.clone(),
                        market_code: event.market_code.clone(),
                        status: "pending".into(),
                        attempts: 0,
                        next_attempt_at: at,
                        last_status_code: None,
                        last_error: None,
                        last_attempt_at: None,
                        created_at: at,
                        delivered_at: None,
                    },
                )
                .await?;
                fanned_out += 1;
            }
        }
        let ids: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
        rows::mark_events_dispatched(&mut tx, &ids, at).await?;
        tx.commit().await?;
        if fanned_out > 0 {
            self.wake.notify_one();
        }
        tracing::debug!(
            events = events.len(),
            deliveries = fanned_out,
            "events dispatched"
        );
        Ok(events.len())
    }

    async fn to_plugins(&self, event: &OutboxRow, time_zone: &str) {
        let market = MarketContext {
            code: event.market_code.clone(),
            time_zone: time_zone.to_string(),
        };
        let domain = DomainEvent {
            kind: event.kind.clone(),
            id: event.id.clone(),
            payload_json: event.payload.clone(),
            at: rfc3339(event.created_at),
        };
        for failure in self.plugins.deliver_event(&market, &domain).await {
            tracing::warn!(
                plugin = %failure.plugin,
                market = %event.market_code,
                kind = %event.kind,
                event = %event.id,
                fault = ?failure.fault,
                "a plugin did not take an event after its retries"
            );
        }
    }
}
