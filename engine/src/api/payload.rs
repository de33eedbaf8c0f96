//! Helpers every resolver uses: the caller, the services, arguments, and
//! mutation payloads with `userErrors`.

use async_graphql::dynamic::{FieldValue, ObjectAccessor, ResolverContext};
use async_graphql::{Name, Value};
use indexmap::IndexMap;

use super::error::{ApiError, ErrorCode, user_errors_value};
use super::{RequestContext, Services};
use crate::caller::Caller;
use crate::i18n::Text;
use crate::service_error::ServiceError;

pub type FieldResult<'a> = Result<Option<FieldValue<'a>>, async_graphql::Error>;

pub fn services<'a>(ctx: &ResolverContext<'a>) -> Result<&'a Services, async_graphql::Error> {
    ctx.ctx.data::<Services>()
}

pub fn caller<'a>(ctx: &ResolverContext<'a>) -> Result<&'a Caller, async_graphql::Error> {
    Ok(&ctx.ctx.data::<RequestContext>()?.caller)
}

/// A service failure as a top-level GraphQL error in the caller's language.
pub fn top_level(ctx: &ResolverContext<'_>, err: ServiceError) -> async_graphql::Error {
    let locale = caller(ctx).map(|c| c.locale).unwrap_or_default();
    err.into_api().into_graphql(locale)
}

/// Shapes a mutation's outcome: `{ <key>: value, userErrors: [] }` on success,
/// `{ <key>: null, userErrors: [...] }` for a business refusal, a top-level
/// error for anything else (not signed in, forbidden, database away).
pub fn payload<'a>(
    ctx: &ResolverContext<'_>,
    outcome: Result<Vec<(&str, Value)>, ServiceError>,
    keys: &[&str],
) -> FieldResult<'a> {
    let mut map = IndexMap::new();
    match outcome {
        Ok(fields) => {
            for (k, v) in fields {
                map.insert(Name::new(k), v);
            }
            map.insert(Name::new("userErrors"), Value::List(vec![]));
        }
        Err(ServiceError::Rejected(errors)) => {
            for k in keys {
                map.insert(Name::new(*k), Value::Null);
            }
            map.insert(Name::new("userErrors"), user_errors_value(&errors));
        }
        Err(other) => return Err(top_level(ctx, other)),
    }
    Ok(Some(FieldValue::value(Value::Object(map))))
}

/// `{ done: true, userErrors: [] }`, or the refusal.
pub fn done<'a>(ctx: &ResolverContext<'_>, outcome: Result<(), ServiceError>) -> FieldResult<'a> {
    match outcome {
        Ok(()) => payload(ctx, Ok(vec![("done", Value::Boolean(true))]), &[]),
        Err(ServiceError::Rejected(errors)) => {
            let mut map = IndexMap::new();
            map.insert(Name::new("done"), Value::Boolean(false));
            map.insert(Name::new("userErrors"), user_errors_value(&errors));
            Ok(Some(FieldValue::value(Value::Object(map))))
        }
        Err(other) => Err(top_level(ctx, other)),
    }
}

pub fn object_arg<'a>(
    ctx: &'a ResolverContext<'a>,
    name: &str,
) -> Result<ObjectAccessor<'a>, async_graphql::Error> {
    ctx.args.try_get(name)?.object()
}

pub fn str_field(obj: &ObjectAccessor<'_>, name: &str) -> Result<String, async_graphql::Error> {
    Ok(obj.try_get(name)?.string()?.to_string())
}

pub fn opt_str_field(obj: &ObjectAccessor<'_>, name: &str) -> Option<String> {
    obj.get(name)
        .filter(|v| !v.is_null())
        .and_then(|v| v.string().ok().map(str::to_string))
}

pub fn opt_f64_field(obj: &ObjectAccessor<'_>, name: &str) -> Option<f64> {
    obj.get(name)
        .filter(|v| !v.is_null())
        .and_then(|v| v.f64().ok())
}

pub fn opt_i64_field(obj: &ObjectAccessor<'_>, name: &str) -> Option<i64> {
    obj.get(name)
        .filter(|v| !v.is_null())
        .and_then(|v| v.i64().ok())
}

pub fn enum_field(obj: &ObjectAccessor<'_>, name: &str) -> Result<String, async_graphql::Error> {
    Ok(obj.try_get(name)?.enum_name()?.to_string())
}

/// A string or null.
pub fn opt(value: Option<String>) -> Value {
    value.map_or(Value::Null, Value::String)
}

/// An error for an argument the service never sees.
pub fn bad_argument(ctx: &ResolverContext<'_>, field: &str, text: Text) -> async_graphql::Error {
    let locale = caller(ctx).map(|c| c.locale).unwrap_or_default();
    ApiError::new(ErrorCode::BadUserInput)
        .with_text(text)
        .with_field(&[field])
        .into_graphql(locale)
}
