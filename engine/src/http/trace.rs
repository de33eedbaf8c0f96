//! `GET /t/<code>`: the public traceability page behind a label's QR code,
//! server-rendered HTML in Chinese or English (`?lang=`, else
//! `Accept-Language`, else Chinese: the people scanning are shoppers in
//! Chinese markets). And `GET /orders/<id>/label.png|pdf`: a package's
//! shipping label for the station and couriers, with the bearer token
//! GraphQL takes.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::header::{ACCEPT_LANGUAGE, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::graphql::identify;
use crate::fulfilment::LabelFormat;
use crate::fulfilment::trace::{not_found, render};
use crate::i18n::Locale;
use crate::service_error::ServiceError;

fn page_locale(query: &HashMap<String, String>, headers: &HeaderMap) -> Locale {
    match query.get("lang").map(|l| l.to_ascii_lowercase()) {
        Some(l) if l.starts_with("zh") => return Locale::ZhCn,
        Some(l) if l.starts_with("en") => return Locale::En,
        _ => {}
    }
    match headers.get(ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()) {
        Some(header) => Locale::from_accept_language(Some(header)),
        None => Locale::ZhCn,
    }
}

fn html(status: StatusCode, body: String, cache: &'static str) -> Response {
    (
        status,
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        body,
    )
        .into_response()
}

pub(super) async fn page(
    State(state): State<AppState>,
    Path(code): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let locale = page_locale(&query, &headers);
    match state.api.services().fulfilment.trace(&code).await {
        // Readings keep arriving while the package travels: cache briefly.
        Ok(Some(view)) => html(
            StatusCode::OK,
            render(&view, &code, locale),
            "public, max-age=60",
        ),
        Ok(None) => html(
            StatusCode::NOT_FOUND,
            not_found(locale),
            "public, max-age=60",
        ),
        Err(e) => {
            tracing::warn!(error = %e, "trace page failed");
            html(
                StatusCode::SERVICE_UNAVAILABLE,
                not_found(locale),
                "no-store",
            )
        }
    }
}

pub(super) async fn label_png(
    state: State<AppState>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    id: Path<String>,
    query: Query<HashMap<String, String>>,
) -> Response {
    label(state, peer, headers, id, query, LabelFormat::Png).await
}

pub(super) async fn label_pdf(
    state: State<AppState>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    id: Path<String>,
    query: Query<HashMap<String, String>>,
) -> Response {
    label(state, peer, headers, id, query, LabelFormat::Pdf).await
}

async fn label(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    format: LabelFormat,
) -> Response {
    let locale =
        Locale::from_accept_language(headers.get(ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()));
    let caller = identify(&state, &headers, peer, locale).await;
    let package = match query.get("package").map(|p| p.parse::<i64>()) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => return (StatusCode::BAD_REQUEST, "package: a number").into_response(),
    };
    let outcome = state
        .api
        .services()
        .fulfilment
        .label(&caller, &id, package, format)
        .await;
    let bytes = match outcome {
        Ok(bytes) => bytes,
        Err(ServiceError::Unauthenticated(_)) => {
            return (
                StatusCode::UNAUTHORIZED,
                [(axum::http::header::WWW_AUTHENTICATE, "Bearer")],
                "UNAUTHENTICATED",
            )
                .into_response();
        }
        Err(ServiceError::Forbidden) => {
            return (StatusCode::FORBIDDEN, "FORBIDDEN").into_response();
        }
        Err(ServiceError::NotFound) => return (StatusCode::NOT_FOUND, "NOT_FOUND").into_response(),
        Err(ServiceError::Rejected(errors)) => {
            let body = errors
                .iter()
                .map(|e| format!("{}: {}", e.code, e.message))
                .collect::<Vec<_>>()
                .join("\n");
            return (StatusCode::CONFLICT, body).into_response();
        }
        Err(ServiceError::Store(e)) => {
            tracing::warn!(error = %e, "label: store unavailable");
            return (StatusCode::SERVICE_UNAVAILABLE, "DATABASE_UNAVAILABLE").into_response();
        }
        Err(e) => {
            tracing::error!(error = %e, "label failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR").into_response();
        }
    };
    let (content_type, extension) = match format {
        LabelFormat::Png => ("image/png", "png"),
        LabelFormat::Pdf => ("application/pdf", "pdf"),
    };
    let mut response = bytes.into_response();
    let h = response.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    // The label names the recipient: never kept by a shared cache.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    let name: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"label-{name}.{extension}\""))
    {
        h.insert(CONTENT_DISPOSITION, v);
    }
    response
}
