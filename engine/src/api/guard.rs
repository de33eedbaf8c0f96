//! Guards: every root field declares who may call it, and start-up fails if one
//! does not (see `Resolvers::check`).
//!
//! A guard resolves the market the call concerns, asks casbin whether the
//! caller's subject may do (object, action) there, and on a refusal answers
//! `FORBIDDEN` and writes a security event to the audit log. Ownership (a
//! customer's own orders, a merchant's own shop) is decided by the services,
//! next to the data.

use async_graphql::Context;
use async_graphql::dynamic::ObjectAccessor;
use serde_json::json;

use super::error::{ApiError, ErrorCode};
use super::{RequestContext, Services};
use crate::audit::{AuditEvent, Outcome};
use crate::i18n::Text;
use crate::service_error::ServiceError;

/// Where the market of a call comes from.
#[derive(Debug, Clone, Copy)]
pub enum MarketScope {
    /// Platform-wide (`*`): only roles granted in every market count.
    Platform,
    /// An argument, by dotted path, e.g. `marketCode` or `input.marketCode`.
    Arg(&'static str),
}

/// Who may call a root field.
#[derive(Debug, Clone, Copy)]
pub enum Access {
    /// Anyone, signed in or not: sign-up, sign-in, published market information.
    Public,
    /// The resolver authorises itself with [`require`] once it knows the market
    /// (e.g. from the object it loads); declared so the choice is visible.
    Resolver,
    /// Signed in, holding the casbin permission (object, action) in the market.
    Permission {
        object: &'static str,
        action: &'static str,
        market: MarketScope,
    },
}

impl Access {
    pub const fn platform(object: &'static str, action: &'static str) -> Access {
        Access::Permission {
            object,
            action,
            market: MarketScope::Platform,
        }
    }

    pub const fn in_market(
        object: &'static str,
        action: &'static str,
        arg: &'static str,
    ) -> Access {
        Access::Permission {
            object,
            action,
            market: MarketScope::Arg(arg),
        }
    }
}

/// Admits the call or answers with the error the client sees.
pub(super) async fn admit(
    ctx: &Context<'_>,
    args: &ObjectAccessor<'_>,
    access: Access,
    coordinate: &str,
) -> Result<(), async_graphql::Error> {
    let Access::Permission {
        object,
        action,
        market,
    } = access
    else {
        return Ok(());
    };
    let market = match market {
        MarketScope::Platform => "*".to_string(),
        MarketScope::Arg(path) => match string_at(args, path) {
            Some(code) => code,
            None => {
                let locale = ctx
                    .data_opt::<RequestContext>()
                    .map(|r| r.caller.locale)
                    .unwrap_or_default();
                return Err(ApiError::new(ErrorCode::BadUserInput)
                    .with_text(Text::new("Name the market.", "请指定市场。"))
                    .with_field(&[path])
                    .into_graphql(locale));
            }
        },
    };
    require(ctx, object, action, &market, coordinate).await
}

/// The caller must hold (object, action) in `market`: `UNAUTHENTICATED` when
/// signed out, `FORBIDDEN` (and a security event in the audit log) when not allowed.
pub async fn require(
    ctx: &Context<'_>,
    object: &str,
    action: &str,
    market: &str,
    coordinate: &str,
) -> Result<(), async_graphql::Error> {
    let request = ctx.data::<RequestContext>()?;
    let services = ctx.data::<Services>()?;
    let caller = &request.caller;
    let locale = caller.locale;
    let Some(subject) = caller.actor.subject() else {
        return Err(ServiceError::Unauthenticated(caller.credential_problem)
            .into_api()
            .into_graphql(locale));
    };
    if services
        .authz
        .check_fresh(&subject, market, object, action)
        .await
    {
        return Ok(());
    }
    AuditEvent::new(caller, "authz.forbidden", object, None)
        .market(Some(market))
        .after(&json!({ "action": action, "field": coordinate }))
        .outcome(Outcome::Denied)
        .append_alone(&services.store)
        .await;
    tracing::info!(%subject, %market, object, action, field = coordinate, "forbidden");
    Err(ApiError::new(ErrorCode::Forbidden).into_graphql(locale))
}

/// Reads a string argument by dotted path (`input.marketCode`).
fn string_at(args: &ObjectAccessor<'_>, path: &str) -> Option<String> {
    match path.split_once('.') {
        None => args.get(path)?.string().ok().map(str::to_string),
        Some((first, rest)) => {
            let inner = args.get(first)?;
            string_at(&inner.object().ok()?, rest)
        }
    }
}
