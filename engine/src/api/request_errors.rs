//! Codes for errors raised before any resolver runs.
//!
//! async-graphql reports syntax and validation failures as plain messages; this
//! extension stamps each with its stable code and a localised message (the
//! parser's own words kept as detail), so clients and the HTTP layer can tell a
//! syntax error from a query that is merely too deep.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextResolve, NextValidation,
    ResolveInfo,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{
    PathSegment, QueryPathSegment, ServerError, ServerResult, ValidationResult, Value, Variables,
};

use super::RequestContext;
use super::error::ErrorCode;
use crate::i18n::Locale;

pub(super) struct RequestErrorCodes;

impl ExtensionFactory for RequestErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RequestErrorCodes)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for RequestErrorCodes {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let locale = locale(ctx);
        next.run(ctx, query, variables)
            .await
            .map_err(|e| stamp(e, ErrorCode::GraphqlParseFailed, locale))
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let locale = locale(ctx);
        next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|e| {
                    // These two messages are fixed strings in async-graphql's validator.
                    let code = match e.message.as_str() {
                        "Query is nested too deep." => ErrorCode::QueryTooDeep,
                        "Query is too complex." => ErrorCode::QueryTooComplex,
                        _ => ErrorCode::GraphqlValidationFailed,
                    };
                    stamp(e, code, locale)
                })
                .collect()
        })
    }

    /// Field errors that escape a non-null field keep the path to it.
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let path_node = info.path_node;
        next.run(ctx, info).await.map_err(|mut err| {
            if err.path.is_empty() {
                let mut path = Vec::new();
                let mut node = Some(path_node);
                while let Some(current) = node {
                    path.push(match current.segment {
                        QueryPathSegment::Name(name) => PathSegment::Field(name.to_string()),
                        QueryPathSegment::Index(index) => PathSegment::Index(index),
                    });
                    node = current.parent;
                }
                path.reverse();
                err.path = path;
            }
            err
        })
    }
}

fn locale(ctx: &ExtensionContext<'_>) -> Locale {
    ctx.data_opt::<RequestContext>()
        .map(|r| r.caller.locale)
        .unwrap_or_default()
}

/// Gives a request error its code; one that already has a code keeps it.
pub fn stamp(mut error: ServerError, code: ErrorCode, locale: Locale) -> ServerError {
    let ext = error.extensions.get_or_insert_with(Default::default);
    if ext.get("code").is_some() {
        return error;
    }
    ext.set("code", Value::String(code.as_str().to_string()));
    error.message = format!("{} ({})", code.default_text().pick(locale), error.message);
    error
}
