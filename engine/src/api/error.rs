//! Errors as clients see them.
//!
//! Two channels, as in Shopify and Saleor:
//! - **top-level GraphQL errors** with a stable machine-readable code in
//!   `extensions.code`, for requests that cannot be served (bad query, no
//!   database, not allowed);
//! - **`userErrors { code field message }`** inside mutation payloads, for the
//!   expected "no" of a business rule, so a form can put the message next to
//!   the field it concerns.
//!
//! Messages are localised; codes never are. Internal details are logged, not shown.

use async_graphql::{ErrorExtensions, Name, Value};
use indexmap::IndexMap;

use crate::i18n::{Locale, Text};
use crate::store::StoreError;

/// Stable error codes. Clients switch on these; never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The HTTP request is not a GraphQL request (bad JSON, no query, bad variables).
    BadRequest,
    /// The body is larger than `server.body_limit_bytes`.
    PayloadTooLarge,
    /// The body is not `application/json`.
    UnsupportedMediaType,
    /// The client accepts no media type the server can produce.
    NotAcceptable,
    /// A mutation sent with GET, or a method `/graphql` does not serve.
    MethodNotAllowed,
    /// The query text is not valid GraphQL syntax.
    GraphqlParseFailed,
    /// The query does not fit the schema (unknown field, wrong variable type, ...).
    GraphqlValidationFailed,
    /// The query nests deeper than `graphql.max_depth`.
    QueryTooDeep,
    /// The query selects more than `graphql.max_complexity` allows.
    QueryTooComplex,
    /// An argument has a value the field does not accept (e.g. `first: 500`).
    BadUserInput,
    /// The caller must sign in first.
    Unauthenticated,
    /// The caller is signed in but not allowed to do this.
    Forbidden,
    /// The thing asked for does not exist (or the caller may not know it exists).
    NotFound,
    /// A plugin feature is switched off in this market.
    FeatureDisabled,
    /// The plugin answering this field failed (trapped, hit a limit, or
    /// answered something the engine refused); the rest of the answer stands.
    PluginFailed,
    /// The database cannot be reached; retry later.
    DatabaseUnavailable,
    /// The media store (directory or S3 bucket) cannot keep files; retry later.
    MediaStoreUnavailable,
    /// The request took longer than `server.request_timeout_secs`.
    Timeout,
    /// A bug on our side; details are in the server log under the request id.
    InternalServerError,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "BAD_REQUEST",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ErrorCode::NotAcceptable => "NOT_ACCEPTABLE",
            ErrorCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ErrorCode::GraphqlParseFailed => "GRAPHQL_PARSE_FAILED",
            ErrorCode::GraphqlValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            ErrorCode::QueryTooDeep => "QUERY_TOO_DEEP",
            ErrorCode::QueryTooComplex => "QUERY_TOO_COMPLEX",
            ErrorCode::BadUserInput => "BAD_USER_INPUT",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::FeatureDisabled => "FEATURE_DISABLED",
            ErrorCode::PluginFailed => "PLUGIN_FAILED",
            ErrorCode::DatabaseUnavailable => "DATABASE_UNAVAILABLE",
            ErrorCode::MediaStoreUnavailable => "MEDIA_STORE_UNAVAILABLE",
            ErrorCode::Timeout => "TIMEOUT",
            ErrorCode::InternalServerError => "INTERNAL_SERVER_ERROR",
        }
    }

    /// The message shown when nothing more specific is known.
    pub fn default_text(self) -> Text {
        match self {
            ErrorCode::BadRequest => Text::new(
                "The request is not a valid GraphQL request.",
                "请求不是有效的 GraphQL 请求。",
            ),
            ErrorCode::PayloadTooLarge => {
                Text::new("The request body is too large.", "请求体过大。")
            }
            ErrorCode::UnsupportedMediaType => Text::new(
                "Send the request body as application/json.",
                "请求体须为 application/json 格式。",
            ),
            ErrorCode::NotAcceptable => Text::new(
                "The server can answer only application/graphql-response+json or application/json.",
                "服务器只能返回 application/graphql-response+json 或 application/json。",
            ),
            ErrorCode::MethodNotAllowed => Text::new(
                "Mutations must be sent with POST.",
                "变更操作必须使用 POST 请求。",
            ),
            ErrorCode::GraphqlParseFailed => {
                Text::new("The query has a syntax error.", "查询语句存在语法错误。")
            }
            ErrorCode::GraphqlValidationFailed => Text::new(
                "The query does not match the schema.",
                "查询与接口定义不符。",
            ),
            ErrorCode::QueryTooDeep => {
                Text::new("The query is nested too deeply.", "查询嵌套层级过深。")
            }
            ErrorCode::QueryTooComplex => Text::new(
                "The query asks for too many fields at once.",
                "查询一次请求的字段过多。",
            ),
            ErrorCode::BadUserInput => Text::new("An argument is not valid.", "参数无效。"),
            ErrorCode::Unauthenticated => Text::new("Please sign in first.", "请先登录。"),
            ErrorCode::Forbidden => Text::new(
                "You do not have permission to do this.",
                "您没有执行此操作的权限。",
            ),
            ErrorCode::NotFound => Text::new("Not found.", "未找到。"),
            ErrorCode::FeatureDisabled => Text::new(
                "This feature is not enabled in this market.",
                "该功能在本市场未启用。",
            ),
            ErrorCode::PluginFailed => Text::new(
                "This feature is not available right now.",
                "该功能暂时不可用。",
            ),
            ErrorCode::DatabaseUnavailable => Text::new(
                "The service is temporarily unavailable. Please try again shortly.",
                "服务暂时不可用，请稍后重试。",
            ),
            ErrorCode::MediaStoreUnavailable => Text::new(
                "Files cannot be stored right now. Please try again shortly.",
                "文件存储暂时不可用，请稍后重试。",
            ),
            ErrorCode::Timeout => Text::new("The request took too long.", "请求处理超时。"),
            ErrorCode::InternalServerError => {
                Text::new("Something went wrong on our side.", "服务器内部错误。")
            }
        }
    }
}

/// An error a resolver returns: a code, and optionally a more specific message
/// and the argument path it concerns.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub text: Option<Text>,
    pub detail: Option<String>,
    pub field: Vec<String>,
}

impl ApiError {
    pub fn new(code: ErrorCode) -> Self {
        Self {
            code,
            text: None,
            detail: None,
            field: Vec::new(),
        }
    }

    pub fn with_text(mut self, text: Text) -> Self {
        self.text = Some(text);
        self
    }

    /// A technical detail (English) added after the localised message, for developers.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_field(mut self, field: &[&str]) -> Self {
        self.field = field.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn message(&self, locale: Locale) -> String {
        let text = self.text.unwrap_or_else(|| self.code.default_text());
        match &self.detail {
            Some(detail) => format!("{} ({detail})", text.pick(locale)),
            None => text.pick(locale).to_string(),
        }
    }

    /// The GraphQL error for this request's locale, code in `extensions.code`.
    pub fn into_graphql(self, locale: Locale) -> async_graphql::Error {
        let message = self.message(locale);
        let code = self.code.as_str();
        let field = self.field;
        async_graphql::Error::new(message).extend_with(|_, ext| {
            ext.set("code", code);
            if !field.is_empty() {
                ext.set("field", field.clone());
            }
        })
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                ApiError::new(ErrorCode::DatabaseUnavailable)
            }
            other => {
                tracing::error!(error = %other, "store error");
                ApiError::new(ErrorCode::InternalServerError)
            }
        }
    }
}

/// One entry of a mutation payload's `userErrors`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserError {
    pub code: &'static str,
    /// Path to the input field at fault, e.g. `["input", "phone"]`.
    pub field: Vec<String>,
    pub message: String,
}

impl UserError {
    pub fn to_value(&self) -> Value {
        let mut map = IndexMap::new();
        map.insert(Name::new("code"), Value::String(self.code.to_string()));
        map.insert(
            Name::new("field"),
            if self.field.is_empty() {
                Value::Null
            } else {
                Value::List(self.field.iter().cloned().map(Value::String).collect())
            },
        );
        map.insert(Name::new("message"), Value::String(self.message.clone()));
        Value::Object(map)
    }
}

/// The `userErrors` list of a payload: empty means the mutation did what was asked.
pub fn user_errors_value(errors: &[UserError]) -> Value {
    Value::List(errors.iter().map(UserError::to_value).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_follow_the_locale_and_codes_do_not() {
        let err = ApiError::new(ErrorCode::DatabaseUnavailable);
        assert!(err.message(Locale::ZhCn).contains("稍后重试"));
        assert!(err.message(Locale::En).contains("try again"));
        let gql = err.into_graphql(Locale::ZhCn);
        let code = gql.extensions.as_ref().and_then(|e| e.get("code")).cloned();
        assert_eq!(code, Some(Value::String("DATABASE_UNAVAILABLE".into())));
        let err = ApiError::new(ErrorCode::MediaStoreUnavailable);
        assert!(err.message(Locale::ZhCn).contains("文件存储"));
        assert!(err.message(Locale::En).contains("Files cannot be stored"));
    }

    #[test]
    fn user_errors_carry_code_field_and_message() {
        let value = user_errors_value(&[UserError {
            code: "TOO_WEAK",
            field: vec!["input".into(), "password".into()],
            message: "Choose a stronger password.".into(),
        }]);
        let json = value.into_json().unwrap();
        assert_eq!(
            json,
            serde_json::json!([{
                "code": "TOO_WEAK",
                "field": ["input", "password"],
                "message": "Choose a stronger password."
            }])
        );
    }
}
