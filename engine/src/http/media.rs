//! `GET /media/<id>`: uploaded files. Content never changes under an id, so
//! responses are cacheable for a year and carry the sha256 as their ETag.
//! Private documents are served to their uploader and platform staff only.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE, ETAG, IF_NONE_MATCH, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::graphql::identify;
use crate::api::media::may_fetch;
use crate::i18n::Locale;
use crate::media::MediaStoreError;

pub(super) async fn get(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let api = state.api.clone();
    let services = api.services();
    let row = match services.media.find(&id).await {
        Ok(Some(row)) => row,
        Ok(None) => return StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "media lookup failed");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let private = row.kind == "private_document";
    if private {
        let caller = identify(&state, &headers, peer, Locale::default()).await;
        if !may_fetch(services, &caller, &row) {
            // Not found rather than forbidden: its existence is private too.
            return StatusCode::NOT_FOUND.into_response();
        }
    }
    let etag = format!("\"{}\"", row.sha256);
    let cache = if private {
        "private, no-store"
    } else {
        "public, max-age=31536000, immutable"
    };
    let mut response = if headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag)
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        match services.media.read(&row).await {
            Ok(bytes) => bytes.into_response(),
            // A row without its file is our bug; a store that does not answer may come back.
            Err(e @ (MediaStoreError::Missing(_) | MediaStoreError::BadKey(_))) => {
                tracing::error!(error = %e, media = %row.id, "media file missing");
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
            Err(e) => {
                tracing::error!(error = %e, media = %row.id, "media store unavailable");
                return StatusCode::SERVICE_UNAVAILABLE.into_response();
            }
        }
    };
    let h = response.headers_mut();
    let set = |h: &mut HeaderMap, name, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    };
    set(h, CONTENT_TYPE, &row.content_type);
    set(h, CACHE_CONTROL, cache);
    set(h, ETAG, &etag);
    set(h, X_CONTENT_TYPE_OPTIONS, "nosniff");
    // The name is cleaned at upload; RFC 5987 keeps non-ASCII names intact.
    let encoded: String = row
        .file_name
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    set(
        h,
        CONTENT_DISPOSITION,
        &format!("inline; filename*=UTF-8''{encoded}"),
    );
    response
}
