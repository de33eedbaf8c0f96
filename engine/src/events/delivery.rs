//! The delivery worker: POSTs due webhook deliveries, signed, and writes
//! down every attempt.
//!
//! A 2xx answer delivers. Anything else (another status, a redirect, a
//! timeout, a refused connection) is a failed attempt, tried again after
//! `first_backoff × factor^(attempt − 1)` (capped), until
//! `webhook_max_attempts` attempts have failed; then the delivery is
//! `failed` for good. Redirects are never followed, so a receiver cannot
//! bounce signed events to a host nobody subscribed.
//!
//! A worker claims a delivery by pushing its `next_attempt_at` past the
//! request timeout; if the node dies mid-send, the delivery comes due again
//! and is re-sent (at least once).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::EventsConfig;
use super::signing::signature_header;
use super::webhooks::Webhooks;
use crate::service_error::ServiceError;
use crate::store::webhooks::{self as rows, AttemptOutcome, DueDelivery};
use crate::store::{Store, now_ms, rfc3339};

/// Longest error text kept in the log.
const MAX_ERROR_LEN: usize = 500;

/// The pause after `failed_attempts` failed attempts, in milliseconds:
/// `first × factor^(failed_attempts − 1)`, never more than the maximum.
pub fn backoff_after(config: &EventsConfig, failed_attempts: u32) -> u64 {
    let exponent = failed_attempts.saturating_sub(1);
    let factor = u64::from(config.webhook_backoff_factor.max(1));
    let mut pause = config.webhook_first_backoff_ms;
    for _ in 0..exponent {
        pause = pause.saturating_mul(factor);
        if pause >= config.webhook_max_backoff_ms {
            break;
        }
    }
    pause.min(config.webhook_max_backoff_ms)
}

pub struct DeliveryWorker {
    store: Store,
    webhooks: Webhooks,
    http: reqwest::Client,
    config: EventsConfig,
    wake: Arc<Notify>,
}

impl DeliveryWorker {
    pub fn new(
        store: Store,
        webhooks: Webhooks,
        config: &EventsConfig,
        wake: Arc<Notify>,
    ) -> Result<Self, ServiceError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.webhook_timeout_ms.max(1)))
            .connect_timeout(Duration::from_millis(config.webhook_timeout_ms.max(1)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Shiji-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ServiceError::Internal(format!("webhook HTTP client: {e}")))?;
        Ok(Self {
            store,
            webhooks,
            http,
            config: config.clone(),
            wake,
        })
    }

    /// Runs until aborted.
    pub async fn run(self) {
        loop {
            match self.deliver_due().await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "webhook delivery round failed; retrying"),
            }
            tokio::select! {
                () = tokio::time::sleep(self.config.poll()) => {}
                () = self.wake.notified() => {}
            }
        }
    }

    /// Claims the due deliveries (one batch) and sends them; returns how many.
    pub async fn deliver_due(&self) -> Result<usize, ServiceError> {
        let now = now_ms();
        let lease = now + self.config.webhook_timeout_ms as i64 + 60_000;
        let due = rows::claim_due(
            &self.store,
            now,
            lease,
            i64::from(self.config.batch_size.max(1)),
        )
        .await?;
        let count = due.len();
        let concurrency = self.config.webhook_concurrency.max(1) as usize;
        let results: Vec<Result<(), ServiceError>> = futures_util::stream::iter(due)
            .map(|d| async move { self.attempt(&d).await })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        for result in results {
            result?;
        }
        Ok(count)
    }

    async fn attempt(&self, d: &DueDelivery) -> Result<(), ServiceError> {
        let attempt = d.attempts + 1;
        if d.active == 0 {
            return self
                .record(
                    d,
                    attempt,
                    None,
                    Some("the subscription was deleted".into()),
                    0,
                    "failed",
                )
                .await;
        }
        let secret = self.webhooks.open_secret(&d.secret_encrypted)?;
        let body = body(d);
        let timestamp = now_ms().div_euclid(1000);
        let signature = signature_header(&secret, timestamp, &body);
        let started = Instant::now();
        let answer = self
            .http
            .post(&d.url)
            .header("content-type", "application/json")
            .header("shiji-event", &d.event_kind)
            .header("shiji-delivery", &d.id)
            .header("shiji-signature", signature)
            .body(body)
            .send()
            .await;
        let elapsed = started.elapsed().as_millis() as i64;
        let (code, error) = match answer {
            Ok(response) => {
                let status = response.status();
                // Read (a little of) the answer so the connection can be reused.
                drop(response.bytes().await);
                if status.is_success() {
                    (Some(i64::from(status.as_u16())), None)
                } else if status.is_redirection() {
                    (
                        Some(i64::from(status.as_u16())),
                        Some("redirects are not followed".to_string()),
                    )
                } else {
                    (
                        Some(i64::from(status.as_u16())),
                        Some(format!("the receiver answered {status}")),
                    )
                }
            }
            Err(e) => (None, Some(describe(&e))),
        };
        let delivered = error.is_none();
        let max = i64::from(self.config.webhook_max_attempts.max(1));
        let status = if delivered {
            "succeeded"
        } else if attempt >= max {
            tracing::warn!(delivery = %d.id, kind = %d.event_kind, attempts = attempt, "webhook delivery failed for good");
            "failed"
        } else {
            "pending"
        };
        self.record(d, attempt, code, error, elapsed, status).await
    }

    async fn record(
        &self,
        d: &DueDelivery,
        attempt: i64,
        status_code: Option<i64>,
        error: Option<String>,
        duration_ms: i64,
        status: &'static str,
    ) -> Result<(), ServiceError> {
        let at = now_ms();
        let next_attempt_at = if status == "pending" {
            let failed = u32::try_from(attempt).unwrap_or(u32::MAX);
            at + backoff_after(&self.config, failed) as i64
        } else {
            at
        };
        rows::record_attempt(
            &self.store,
            &d.id,
            &AttemptOutcome {
                attempt,
                at,
                status_code,
                error,
                duration_ms,
                status,
                next_attempt_at,
            },
        )
        .await?;
        Ok(())
    }
}

/// `{id, kind, market, subjectId, occurredAt, payload}` as sent.
fn body(d: &DueDelivery) -> Vec<u8> {
    let payload: Value =
        serde_json::from_str(&d.payload).unwrap_or_else(|_| Value::String(d.payload.clone()));
    let body = json!({
        "id": d.event_id,
        "kind": d.event_kind,
        "market": d.market_code,
        "subjectId": d.subject_id,
        "occurredAt": rfc3339(d.occurred_at),
        "payload": payload,
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Why a request got no answer, without the URL (it may carry a token).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut text = format!("{kind}: {}", strip_url(e));
    if text.len() > MAX_ERROR_LEN {
        let mut end = MAX_ERROR_LEN;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

fn strip_url(e: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut innermost = None;
    while let Some(s) = source {
        innermost = Some(s.to_string());
        source = s.source();
    }
    innermost.unwrap_or_else(|| "no answer".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_grows_by_the_factor_and_stops_at_the_cap() {
        let config = EventsConfig::default();
        let schedule: Vec<u64> = (1..=8).map(|n| backoff_after(&config, n)).collect();
        assert_eq!(
            schedule,
            vec![
                1_000, 4_000, 16_000, 64_000, 256_000, 1_024_000, 3_600_000, 3_600_000
            ]
        );
        let short = EventsConfig {
            webhook_first_backoff_ms: 200,
            webhook_backoff_factor: 2,
            webhook_max_backoff_ms: 1_000,
            ..EventsConfig::default()
        };
        let schedule: Vec<u64> = (1..=5).map(|n| backoff_after(&short, n)).collect();
        assert_eq!(schedule, vec![200, 400, 800, 1_000, 1_000]);
        // No overflow for absurd attempt counts.
        assert_eq!(backoff_after(&config, u32::MAX), 3_600_000);
    }
}
