//! Liveness and readiness.
//!
//! `/healthz` answers while the process runs. `/readyz` answers 200 only while
//! the store takes queries and the node is not shutting down, so a load balancer
//! sends traffic only where it can be served.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::AppState;

/// How long readiness waits for the store before calling it unavailable.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

pub(super) async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub(super) async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    if state.draining.load(Ordering::Relaxed) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "draining", "database": "unknown" })),
        );
    }
    let database = match tokio::time::timeout(PING_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => "ok",
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database unavailable");
            "unavailable"
        }
        Err(_) => {
            tracing::warn!("readiness: database did not answer in time");
            "unavailable"
        }
    };
    let status = if database == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let label = if database == "ok" {
        "ready"
    } else {
        "unavailable"
    };
    (
        status,
        Json(
            json!({ "status": label, "database": database, "backend": state.store.backend().as_str() }),
        ),
    )
}
