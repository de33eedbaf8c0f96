//! The HTTP face of the engine: `/graphql`, health and readiness, metrics.
//!
//! Every request gets an id (kept from `x-request-id` when the client or a proxy
//! sent one), a tracing span carrying it, security headers, CORS as configured,
//! and a line in the metrics. Handlers stay thin; the GraphQL work is in `api`.

mod graphql;
mod health;
mod media;
pub mod metrics;
mod trace;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::api::Api;
use crate::config::{Config, ConfigError};
use crate::store::Store;
use metrics::Metrics;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub api: Arc<Api>,
    pub store: Store,
    pub metrics: Arc<Metrics>,
    /// Set once shutdown starts, so `/readyz` tells load balancers to stop sending.
    pub draining: Arc<AtomicBool>,
    pub body_limit: usize,
    pub upload_limit: usize,
    pub request_timeout: Duration,
    pub graphiql: bool,
}

impl AppState {
    pub fn new(config: &Config, api: Arc<Api>, store: Store, metrics: Arc<Metrics>) -> Self {
        Self {
            api,
            store,
            metrics,
            draining: Arc::new(AtomicBool::new(false)),
            body_limit: config.server.body_limit_bytes,
            upload_limit: config.server.upload_limit_bytes,
            request_timeout: Duration::from_secs(config.server.request_timeout_secs.max(1)),
            graphiql: config.graphql.graphiql,
        }
    }
}

pub fn router(state: AppState, config: &Config) -> Result<Router, ConfigError> {
    let cors = cors_layer(&config.server.cors_allowed_origins)?;
    let layers = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request| {
                let request_id = req
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                // Only method and path: query strings may carry variables.
                tracing::info_span!("request", %request_id, method = %req.method(), path = req.uri().path())
            })
            // One access-log line per request, inside the span that carries the id.
            .on_request(())
            .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(CatchPanicLayer::new())
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ));

    let mut app = Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/media/{id}", get(media::get))
        .route("/t/{code}", get(trace::page))
        .route("/orders/{id}/label.png", get(trace::label_png))
        .route("/orders/{id}/label.pdf", get(trace::label_pdf))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(render_metrics))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state);
    if let Some(cors) = cors {
        app = app.layer(cors);
    }
    Ok(app.layer(layers))
}

/// Counts every request by route and status, and times it.
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let started = Instant::now();
    let response = next.run(req).await;
    state
        .metrics
        .observe_http(&route, response.status().as_u16(), started.elapsed());
    response
}

async fn render_metrics(
    State(state): State<AppState>,
) -> ([(header::HeaderName, &'static str); 1], String) {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

fn cors_layer(origins: &[String]) -> Result<Option<CorsLayer>, ConfigError> {
    if origins.is_empty() {
        return Ok(None);
    }
    let allow_origin = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let parsed = origins
            .iter()
            .map(|o| {
                HeaderValue::from_str(o).map_err(|_| ConfigError::Invalid {
                    key: "server.cors_allowed_origins".into(),
                    source_hint: String::new(),
                    message: format!("`{o}` is not a valid origin"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        AllowOrigin::list(parsed)
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                header::ACCEPT,
                header::ACCEPT_LANGUAGE,
                REQUEST_ID,
                HeaderName::from_static("x-shiji-market"),
            ])
            .expose_headers([REQUEST_ID])
            .max_age(Duration::from_secs(600)),
    ))
}
