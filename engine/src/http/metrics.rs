//! Prometheus metrics: request counts and latency histograms, by route and by
//! GraphQL operation.
//!
//! Operation names come from clients, so the set of label values is capped:
//! a client sending a fresh name per request must not grow memory without bound.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

/// Distinct operation names tracked before new ones are counted as `other`.
const MAX_OPERATION_LABELS: usize = 500;
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    graphql_requests: IntCounterVec,
    graphql_duration: HistogramVec,
    operations: Mutex<HashSet<String>>,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("shiji".into()), None)?;
        let http_requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route and status."),
            &["route", "status"],
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP latency by route.")
                .buckets(LATENCY_BUCKETS.to_vec()),
            &["route"],
        )?;
        let graphql_requests = IntCounterVec::new(
            Opts::new(
                "graphql_requests_total",
                "GraphQL operations by name and outcome (ok, or the first error code).",
            ),
            &["operation", "outcome"],
        )?;
        let graphql_duration = HistogramVec::new(
            HistogramOpts::new(
                "graphql_request_duration_seconds",
                "GraphQL latency by operation name.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["operation"],
        )?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_duration.clone()))?;
        registry.register(Box::new(graphql_requests.clone()))?;
        registry.register(Box::new(graphql_duration.clone()))?;
        Ok(Self {
            registry,
            http_requests,
            http_duration,
            graphql_requests,
            graphql_duration,
            operations: Mutex::new(HashSet::new()),
        })
    }

    /// Adds a collector another part of the engine keeps (e.g. plugin faults).
    pub fn register(
        &self,
        collector: Box<dyn prometheus::core::Collector>,
    ) -> Result<(), prometheus::Error> {
        self.registry.register(collector)
    }

    pub fn observe_http(&self, route: &str, status: u16, elapsed: Duration) {
        self.http_requests
            // Status codes are a small, bounded label set.
            .with_label_values(&[route, status.to_string().as_str()])
            .inc();
        self.http_duration
            .with_label_values(&[route])
            .observe(elapsed.as_secs_f64());
    }

    pub fn observe_graphql(&self, operation: Option<&str>, outcome: &str, elapsed: Duration) {
        let operation = self.operation_label(operation);
        self.graphql_requests
            .with_label_values(&[operation.as_str(), outcome])
            .inc();
        self.graphql_duration
            .with_label_values(&[operation.as_str()])
            .observe(elapsed.as_secs_f64());
    }

    fn operation_label(&self, operation: Option<&str>) -> String {
        let Some(name) = operation else {
            return "anonymous".into();
        };
        let is_graphql_name = !name.is_empty()
            && name.len() <= 100
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !is_graphql_name {
            return "invalid".into();
        }
        let Ok(mut known) = self.operations.lock() else {
            return "other".into();
        };
        if known.contains(name) {
            return name.to_string();
        }
        if known.len() < MAX_OPERATION_LABELS {
            known.insert(name.to_string());
            return name.to_string();
        }
        "other".into()
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let encoder = TextEncoder::new();
        if let Err(e) = encoder.encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_labels_are_bounded() {
        let metrics = Metrics::new().unwrap();
        for i in 0..(MAX_OPERATION_LABELS + 50) {
            metrics.observe_graphql(Some(&format!("Op{i}")), "ok", Duration::from_millis(1));
        }
        metrics.observe_graphql(Some("drop table;"), "ok", Duration::from_millis(1));
        metrics.observe_graphql(None, "ok", Duration::from_millis(1));
        let text = metrics.render();
        assert!(text.contains("operation=\"other\""));
        assert!(text.contains("operation=\"invalid\""));
        assert!(text.contains("operation=\"anonymous\""));
        assert!(!text.contains(&format!("Op{}", MAX_OPERATION_LABELS + 1)));
    }
}
