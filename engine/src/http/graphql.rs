//! `/graphql` over HTTP, following the GraphQL-over-HTTP specification.
//!
//! - `POST` with an `application/json` body runs any operation.
//! - `GET` with `?query=` runs queries only (a mutation over GET is refused, so a
//!   link or a prefetch can never change anything); `GET` from a browser with no
//!   query shows GraphiQL.
//! - Clients that accept `application/graphql-response+json` get 4xx statuses for
//!   requests that never executed (bad syntax, validation, limits); legacy
//!   `application/json` clients get 200 for every well-formed request, as the
//!   specification requires. Either way every error carries `extensions.code`.

use std::time::Instant;

use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql::{ServerError, Value, Variables};
use axum::body::Body;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::header::{ACCEPT, ACCEPT_LANGUAGE, ALLOW, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use futures_util::TryStreamExt;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::{Deserialize, Serialize};

use super::AppState;
use crate::api::{ApiError, ErrorCode, RequestContext, stamp};
use crate::caller::{Actor, Caller};
use crate::i18n::Locale;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json; charset=utf-8";
const JSON: &str = "application/json; charset=utf-8";

/// The media type the client gets back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    GraphqlResponseJson,
    LegacyJson,
}

/// The JSON body of a GraphQL-over-HTTP request.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphqlBody {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<serde_json::Value>,
    #[allow(dead_code)]
    extensions: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The query string of a GET request; `variables` is JSON text.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GraphqlParams {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<String>,
}

pub(super) async fn post(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let locale = locale(&headers);
    let format = match negotiate(&headers) {
        Some(format) => format,
        None => return not_acceptable(locale),
    };
    if is_multipart(&headers) {
        return post_multipart(state, peer, headers, body, format, locale).await;
    }
    if !is_json(&headers) {
        return reject(
            format,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::new(ErrorCode::UnsupportedMediaType),
            locale,
        );
    }
    let bytes = match Limited::new(body, state.body_limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return reject(
                format,
                StatusCode::PAYLOAD_TOO_LARGE,
                ApiError::new(ErrorCode::PayloadTooLarge)
                    .with_detail(format!("limit is {} bytes", state.body_limit)),
                locale,
            );
        }
        Err(e) => {
            return reject(
                format,
                StatusCode::BAD_REQUEST,
                ApiError::new(ErrorCode::BadRequest).with_detail(format!("reading body: {e}")),
                locale,
            );
        }
    };
    let body: GraphqlBody = match serde_json::from_slice(&bytes) {
        Ok(body) => body,
        Err(e) => {
            return reject(
                format,
                StatusCode::BAD_REQUEST,
                ApiError::new(ErrorCode::BadRequest).with_detail(format!("body is not JSON: {e}")),
                locale,
            );
        }
    };
    let variables = match body.variables {
        None | Some(serde_json::Value::Null) => Variables::default(),
        Some(v @ serde_json::Value::Object(_)) => Variables::from_json(v),
        Some(_) => return bad_variables(format, locale),
    };
    let Some(query) = body.query else {
        return missing_query(format, locale);
    };
    let request = Incoming {
        peer,
        format,
        locale,
        operation_name: body.operation_name,
        queries_only: false,
    };
    let prepared = async_graphql::Request::new(query).variables(variables);
    execute(&state, &headers, request, prepared).await
}

/// A GraphQL multipart request (file uploads: plugin components, images,
/// documents), up to `server.upload_limit_bytes`. Authentication is by
/// bearer token, never cookies, so a cross-site form post carries no
/// credential.
async fn post_multipart(
    state: AppState,
    peer: SocketAddr,
    headers: HeaderMap,
    body: Body,
    format: Format,
    locale: Locale,
) -> Response {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let limit = state.upload_limit;
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return too_large(format, limit, locale);
    }
    // The stream itself is capped too: a missing or lying Content-Length
    // cannot push more than the limit into memory.
    let stream = http_body_util::BodyStream::new(Limited::new(body, limit))
        .map_ok(frame_bytes)
        .map_err(stream_error)
        .into_async_read();
    let options = async_graphql::http::MultipartOptions::default()
        .max_file_size(limit)
        .max_num_files(8);
    let prepared = match async_graphql::http::receive_body(content_type, stream, options).await {
        Ok(request) => request,
        Err(e) => {
            let text = e.to_string();
            if text.contains("length limit") || text.contains("too large") {
                return too_large(format, limit, locale);
            }
            return reject(
                format,
                StatusCode::BAD_REQUEST,
                ApiError::new(ErrorCode::BadRequest)
                    .with_detail(format!("not a GraphQL multipart request: {text}")),
                locale,
            );
        }
    };
    let request = Incoming {
        peer,
        format,
        locale,
        operation_name: prepared.operation_name.clone(),
        queries_only: false,
    };
    execute(&state, &headers, request, prepared).await
}

fn frame_bytes(frame: http_body::Frame<axum::body::Bytes>) -> axum::body::Bytes {
    // Trailers carry no file data.
    frame.into_data().unwrap_or_default()
}

fn stream_error(e: Box<dyn std::error::Error + Send + Sync + 'static>) -> std::io::Error {
    std::io::Error::other(e)
}

fn too_large(format: Format, limit: usize, locale: Locale) -> Response {
    reject(
        format,
        StatusCode::PAYLOAD_TOO_LARGE,
        ApiError::new(ErrorCode::PayloadTooLarge).with_detail(format!("limit is {limit} bytes")),
        locale,
    )
}

fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
}

pub(super) async fn get(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(params): Query<GraphqlParams>,
) -> Response {
    let locale = locale(&headers);
    let wants_html = headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let Some(query) = params.query else {
        if wants_html && state.graphiql {
            return Html(
                async_graphql::http::GraphiQLSource::build()
                    .endpoint("/graphql")
                    .title("Shiji GraphiQL")
                    .finish(),
            )
            .into_response();
        }
        let format = negotiate(&headers).unwrap_or(Format::GraphqlResponseJson);
        return missing_query(format, locale);
    };
    let format = match negotiate(&headers) {
        Some(format) => format,
        None => return not_acceptable(locale),
    };
    let variables = match params.variables.as_deref().map(serde_json::from_str) {
        None => Variables::default(),
        Some(Ok(v @ serde_json::Value::Object(_))) | Some(Ok(v @ serde_json::Value::Null)) => {
            Variables::from_json(v)
        }
        Some(_) => return bad_variables(format, locale),
    };
    let request = Incoming {
        peer,
        format,
        locale,
        operation_name: params.operation_name,
        queries_only: true,
    };
    let prepared = async_graphql::Request::new(query).variables(variables);
    execute(&state, &headers, request, prepared).await
}

/// What the handler learned about a request before running it.
struct Incoming {
    peer: SocketAddr,
    format: Format,
    locale: Locale,
    operation_name: Option<String>,
    queries_only: bool,
}

async fn execute(
    state: &AppState,
    headers: &HeaderMap,
    incoming: Incoming,
    prepared: async_graphql::Request,
) -> Response {
    let started = Instant::now();
    let Incoming {
        peer,
        format,
        locale,
        operation_name,
        queries_only,
    } = incoming;
    let caller = identify(state, headers, peer, locale).await;
    let user_agent = headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut request = prepared.data(RequestContext { caller, user_agent });
    if let Some(name) = &operation_name {
        request = request.operation_name(name.clone());
    }
    // Parsed once here and kept in the request, so execution does not parse again.
    let (operation_type, operation_name) = operation_of(&mut request, operation_name);
    if queries_only && operation_type.is_some_and(|t| t != OperationType::Query) {
        let mut response = reject(
            format,
            StatusCode::METHOD_NOT_ALLOWED,
            ApiError::new(ErrorCode::MethodNotAllowed),
            locale,
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
        return response;
    }

    let schema = state.api.schema();
    let outcome = tokio::time::timeout(state.request_timeout, schema.execute(request)).await;
    let response = match outcome {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(operation = ?operation_name, "graphql request timed out");
            state
                .metrics
                .observe_graphql(operation_name.as_deref(), "TIMEOUT", started.elapsed());
            return reject(
                format,
                StatusCode::GATEWAY_TIMEOUT,
                ApiError::new(ErrorCode::Timeout),
                locale,
            );
        }
    };

    // A request error never reached a resolver: no data, no error paths.
    let request_failed = matches!(response.data, Value::Null)
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    let errors: Vec<ServerError> = response
        .errors
        .into_iter()
        .map(|e| {
            if request_failed {
                stamp(e, ErrorCode::BadRequest, locale)
            } else {
                stamp(e, ErrorCode::InternalServerError, locale)
            }
        })
        .collect();
    let outcome = errors
        .first()
        .and_then(|e| e.extensions.as_ref())
        .and_then(|ext| ext.get("code"))
        .and_then(|code| match code {
            Value::String(code) => Some(code.clone()),
            _ => None,
        })
        .unwrap_or_else(|| "ok".to_string());
    state
        .metrics
        .observe_graphql(operation_name.as_deref(), &outcome, started.elapsed());
    tracing::debug!(operation = ?operation_name, outcome, elapsed_ms = started.elapsed().as_millis() as u64, "graphql");

    let status = if request_failed && format == Format::GraphqlResponseJson {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    // Serialised straight from the GraphQL value, which keeps fields in query order.
    let body = ResponseBody {
        data: (!request_failed).then_some(&response.data),
        errors: &errors,
    };
    match serde_json::to_string(&body) {
        Ok(text) => json_text(format, status, text),
        Err(e) => {
            tracing::error!(error = %e, "serialising a response failed");
            reject(
                format,
                StatusCode::INTERNAL_SERVER_ERROR,
                ApiError::new(ErrorCode::InternalServerError),
                locale,
            )
        }
    }
}

#[derive(Serialize)]
struct ResponseBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a Value>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [ServerError],
}

/// Who is calling: the bearer credential, if any, checked against the store.
pub(super) async fn identify(
    state: &AppState,
    headers: &HeaderMap,
    peer: SocketAddr,
    locale: Locale,
) -> Caller {
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let credential = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let (actor, credential_problem) = match credential {
        None => (Actor::Anonymous, None),
        Some(token) => match state.api.services().accounts.authenticate(token).await {
            Ok(actor) => (actor, None),
            Err(problem) => (Actor::Anonymous, Some(problem)),
        },
    };
    Caller {
        actor,
        credential_problem,
        source_address: Some(peer.ip().to_string()),
        request_id,
        locale,
    }
}

/// The type and name of the operation the request will run, from the parsed
/// document (clients often send a named operation without `operationName`).
fn operation_of(
    request: &mut async_graphql::Request,
    operation_name: Option<String>,
) -> (Option<OperationType>, Option<String>) {
    let Ok(doc) = request.parsed_query() else {
        // Execution reports the syntax error with its code.
        return (None, operation_name);
    };
    match (&doc.operations, operation_name) {
        (DocumentOperations::Single(op), name) => (Some(op.node.ty), name),
        (DocumentOperations::Multiple(ops), Some(name)) => {
            (ops.get(name.as_str()).map(|op| op.node.ty), Some(name))
        }
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops
            .iter()
            .next()
            .map(|(name, op)| (Some(op.node.ty), Some(name.to_string())))
            .unwrap_or_default(),
        (DocumentOperations::Multiple(_), None) => (None, None),
    }
}

fn locale(headers: &HeaderMap) -> Locale {
    Locale::from_accept_language(headers.get(ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()))
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// Picks the response media type from `Accept`; `None` when nothing we produce is acceptable.
fn negotiate(headers: &HeaderMap) -> Option<Format> {
    let Some(accept) = headers.get(ACCEPT).and_then(|v| v.to_str().ok()) else {
        // The specification: no Accept header means application/json.
        return Some(Format::LegacyJson);
    };
    let mut best: Option<(f32, Format)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q=").map(str::to_string))
            .and_then(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        if q <= 0.0 {
            continue;
        }
        let format = match media.as_str() {
            "application/graphql-response+json" | "application/*" | "*/*" => {
                Format::GraphqlResponseJson
            }
            "application/json" => Format::LegacyJson,
            _ => continue,
        };
        // On equal weight the modern media type wins.
        let better = match best {
            None => true,
            Some((best_q, best_format)) => {
                q > best_q
                    || (q == best_q
                        && format == Format::GraphqlResponseJson
                        && best_format != format)
            }
        };
        if better {
            best = Some((q, format));
        }
    }
    best.map(|(_, format)| format)
}

fn json_response(format: Format, status: StatusCode, body: serde_json::Value) -> Response {
    json_text(format, status, body.to_string())
}

fn json_text(format: Format, status: StatusCode, body: String) -> Response {
    let content_type = match format {
        Format::GraphqlResponseJson => GRAPHQL_RESPONSE_JSON,
        Format::LegacyJson => JSON,
    };
    (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}

/// A request refused before execution: the error alone, no `data` entry.
fn reject(format: Format, status: StatusCode, error: ApiError, locale: Locale) -> Response {
    let code = error.code.as_str();
    let body = serde_json::json!({
        "errors": [{ "message": error.message(locale), "extensions": { "code": code } }]
    });
    json_response(format, status, body)
}

fn not_acceptable(locale: Locale) -> Response {
    reject(
        Format::LegacyJson,
        StatusCode::NOT_ACCEPTABLE,
        ApiError::new(ErrorCode::NotAcceptable),
        locale,
    )
}

fn missing_query(format: Format, locale: Locale) -> Response {
    reject(
        format,
        StatusCode::BAD_REQUEST,
        ApiError::new(ErrorCode::BadRequest).with_detail("`query` is required"),
        locale,
    )
}

fn bad_variables(format: Format, locale: Locale) -> Response {
    reject(
        format,
        StatusCode::BAD_REQUEST,
        ApiError::new(ErrorCode::BadRequest).with_detail("`variables` must be a JSON object"),
        locale,
    )
}
