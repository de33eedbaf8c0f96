//! Domain events leave the engine (ORD-6, INT-2): every state change wrote an
//! event to the outbox in its own transaction; from there the dispatcher
//! hands it to the market's plugins (`handle-event`) and turns it into one
//! webhook delivery per matching subscription, and the delivery worker POSTs
//! those, signed, retrying with back-off until the receiver says 2xx or the
//! attempts run out.
//!
//! Delivery is at least once, never exactly once: a node that dies between a
//! POST and writing down its answer sends it again, and a plugin may see an
//! event twice. Receivers dedupe on the event id (`Shiji-Delivery` per
//! subscription). Both loops claim their rows (`SKIP LOCKED` on PostgreSQL),
//! so any number of nodes can run them side by side.

pub mod delivery;
pub mod dispatcher;
pub mod signing;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

pub use delivery::{DeliveryWorker, backoff_after};
pub use dispatcher::Dispatcher;
pub use signing::{SecretBox, signature_header, verify_signature};
pub use webhooks::{Delivery, DeliveryAttempt, NewSubscription, Subscription, Webhooks};

use crate::markets::Markets;
use crate::plugins::PluginHost;
use crate::store::Store;

/// The `[events]` section: how often the loops look for work, and how
/// webhook deliveries are sent and retried.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    /// How often the dispatcher and the delivery worker look for new rows
    /// when idle (a node also wakes its own worker as soon as it fans out).
    pub poll_ms: u64,
    /// Rows claimed at a time by each loop.
    pub batch_size: u32,
    /// A webhook POST that has not answered by then has failed.
    pub webhook_timeout_ms: u64,
    /// The pause after a delivery's first failed attempt …
    pub webhook_first_backoff_ms: u64,
    /// … multiplied by this after each further failure …
    pub webhook_backoff_factor: u32,
    /// … and never longer than this.
    pub webhook_max_backoff_ms: u64,
    /// After this many attempts a delivery is `failed` and no longer tried.
    pub webhook_max_attempts: u32,
    /// POSTs in flight at once on one node.
    pub webhook_concurrency: u32,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            poll_ms: 500,
            batch_size: 100,
            webhook_timeout_ms: 10_000,
            webhook_first_backoff_ms: 1_000,
            webhook_backoff_factor: 4,
            webhook_max_backoff_ms: 60 * 60 * 1_000,
            webhook_max_attempts: 8,
            webhook_concurrency: 16,
        }
    }
}

impl EventsConfig {
    pub fn poll(&self) -> Duration {
        Duration::from_millis(self.poll_ms.max(10))
    }
}

/// The two background loops of a node, stopped together on shutdown.
pub struct EventLoops {
    dispatcher: JoinHandle<()>,
    delivery: JoinHandle<()>,
}

impl EventLoops {
    /// Starts the dispatcher and the delivery worker on this node.
    pub fn spawn(
        store: Store,
        plugins: PluginHost,
        markets: Markets,
        webhooks: Webhooks,
        config: &EventsConfig,
    ) -> Result<Self, crate::service_error::ServiceError> {
        let wake = Arc::new(Notify::new());
        let dispatcher = Dispatcher::new(store.clone(), plugins, markets, config, wake.clone());
        let worker = DeliveryWorker::new(store, webhooks, config, wake)?;
        Ok(Self {
            dispatcher: tokio::spawn(dispatcher.run()),
            delivery: tokio::spawn(worker.run()),
        })
    }

    pub fn abort(&self) {
        self.dispatcher.abort();
        self.delivery.abort();
    }
}
