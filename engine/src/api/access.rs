//! Resolvers for the audit log and for editing authorisation: role assignments
//! and policy rules. Every change is audited; the audit log itself has no
//! mutation at all.

use async_graphql::Value;
use async_graphql::dynamic::{FieldFuture, FieldValue, ResolverContext};
use serde_json::json;

use super::binding::Resolvers;
use super::guard::{self, Access};
use super::payload::{
    FieldResult, caller, done, object_arg, opt, opt_str_field, services, str_field, top_level,
};
use super::relay::{self, PageRequest, object};
use crate::audit::AuditEvent;
use crate::i18n::Text;
use crate::service_error::ServiceError;
use crate::store::audit::AuditFilter;
use crate::store::{parse_rfc3339, rfc3339};

pub(super) fn bind(r: &mut Resolvers) {
    r.guarded("Query.auditLog", Access::Resolver, |ctx| {
        FieldFuture::new(async move { audit_log(&ctx).await })
    })
    .record("AuditRecord")
    .record("AuditRecordConnection")
    .record("AuditRecordEdge")
    .record("PolicyRule")
    .guarded(
        "Query.policies",
        Access::platform("policy", "read"),
        |ctx| {
            FieldFuture::new(async move {
                let rules = services(&ctx)?
                    .authz
                    .policies()
                    .into_iter()
                    .map(|p| {
                        object([
                            ("role", Value::String(p.role)),
                            ("market", Value::String(p.market)),
                            ("object", Value::String(p.object)),
                            ("action", Value::String(p.action)),
                        ])
                    })
                    .collect();
                Ok(Some(FieldValue::value(Value::List(rules))))
            })
        },
    )
    .guarded(
        "Query.roleAssignments",
        Access::in_market("market_staff", "read", "marketCode"),
        |ctx| {
            FieldFuture::new(async move {
                let account = ctx.args.try_get("accountId")?.string()?;
                let market = ctx.args.try_get("marketCode")?.string()?;
                let pairs = services(&ctx)?
                    .authz
                    .assignments_in(&format!("user:{account}"), market);
                Ok(Some(FieldValue::value(super::accounts::role_assignments(
                    pairs,
                ))))
            })
        },
    )
    .guarded("Mutation.assignRole", Access::Resolver, |ctx| {
        FieldFuture::new(async move { change_role(&ctx, true).await })
    })
    .guarded("Mutation.removeRole", Access::Resolver, |ctx| {
        FieldFuture::new(async move { change_role(&ctx, false).await })
    })
    .guarded(
        "Mutation.addPolicy",
        Access::platform("policy", "write"),
        |ctx| FieldFuture::new(async move { change_policy(&ctx, true).await }),
    )
    .guarded(
        "Mutation.removePolicy",
        Access::platform("policy", "write"),
        |ctx| FieldFuture::new(async move { change_policy(&ctx, false).await }),
    );
}

async fn audit_log<'a>(ctx: &ResolverContext<'a>) -> FieldResult<'a> {
    let page = PageRequest::from_args(ctx).map_err(|e| super::fail(ctx.ctx, e))?;
    let before_id = page
        .after_as::<i64>()
        .map_err(|e| super::fail(ctx.ctx, e))?;
    let mut filter = AuditFilter::default();
    if let Some(f) = ctx.args.get("filter").filter(|v| !v.is_null()) {
        let f = f.object()?;
        let time = |name: &str| -> Result<Option<i64>, async_graphql::Error> {
            match opt_str_field(&f, name) {
                None => Ok(None),
                Some(text) => parse_rfc3339(&text).map(Some).ok_or_else(|| {
                    super::payload::bad_argument(
                        ctx,
                        name,
                        Text::new("Use an RFC 3339 time.", "请使用 RFC 3339 时间格式。"),
                    )
                }),
            }
        };
        filter = AuditFilter {
            actor: opt_str_field(&f, "actor"),
            action: opt_str_field(&f, "action"),
            object_type: opt_str_field(&f, "objectType"),
            object_id: opt_str_field(&f, "objectId"),
            market_code: opt_str_field(&f, "marketCode"),
            from_ms: time("from")?,
            until_ms: time("until")?,
        };
    }
    // Market staff read their market's records; the whole log needs a platform-wide grant.
    let market = filter.market_code.clone().unwrap_or_else(|| "*".into());
    guard::require(ctx.ctx, "audit_log", "read", &market, "Query.auditLog").await?;
    let records = crate::audit::search(
        &services(ctx)?.store,
        &filter,
        before_id,
        page.fetch_limit(),
    )
    .await
    .map_err(|e| top_level(ctx, e.into()))?;
    let rows = records
        .into_iter()
        .map(|r| {
            let key = r.id.to_string();
            let value = object([
                ("id", Value::String(r.id.to_string())),
                ("at", Value::String(rfc3339(r.at))),
                ("actor", Value::String(r.actor)),
                ("action", Value::String(r.action)),
                ("objectType", Value::String(r.object_type)),
                ("objectId", opt(r.object_id)),
                ("marketCode", opt(r.market_code)),
                ("before", opt(r.before_state)),
                ("after", opt(r.after_state)),
                ("sourceAddress", opt(r.source_address)),
                ("requestId", opt(r.request_id)),
                ("outcome", Value::Enum(async_graphql::Name::new(&r.outcome))),
            ]);
            (key, value)
        })
        .collect();
    Ok(Some(FieldValue::value(relay::connection(&page, rows))))
}

async fn change_role<'a>(ctx: &ResolverContext<'a>, assign: bool) -> FieldResult<'a> {
    let input = object_arg(ctx, "input")?;
    let account_id = str_field(&input, "accountId")?;
    let role = str_field(&input, "role")?;
    let market = str_field(&input, "marketCode")?;
    let coordinate = if assign {
        "Mutation.assignRole"
    } else {
        "Mutation.removeRole"
    };
    // A market's administrators hand out its staff roles; roles that run the
    // platform or a market, and grants in every market, need a platform administrator.
    if market == "*" || crate::authz::PLATFORM_ROLES.contains(&role.as_str()) {
        guard::require(ctx.ctx, "policy", "write", "*", coordinate).await?;
    } else {
        guard::require(ctx.ctx, "market_staff", "write", &market, coordinate).await?;
    }
    let caller = caller(ctx)?;
    let services = services(ctx)?;
    let locale = caller.locale;
    if !crate::authz::ROLES.contains(&role.as_str()) {
        return done(
            ctx,
            Err(ServiceError::reject(
                "UNKNOWN_ROLE",
                &["input", "role"],
                Text::new("There is no such role.", "没有该角色。"),
                locale,
            )),
        );
    }
    let known_market = market == "*"
        || services
            .markets
            .find(&market)
            .await
            .map_err(|e| top_level(ctx, e))?
            .is_some();
    let known_account = services
        .accounts
        .account(&account_id)
        .await
        .map_err(|e| top_level(ctx, e))?
        .is_some();
    if !known_market || !known_account {
        return Err(top_level(ctx, ServiceError::NotFound));
    }
    let subject = format!("user:{account_id}");
    let result = if assign {
        services.authz.grant_role(&subject, &role, &market).await
    } else {
        services.authz.revoke_role(&subject, &role, &market).await
    };
    result.map_err(|e| top_level(ctx, ServiceError::Internal(e.to_string())))?;
    AuditEvent::new(
        caller,
        if assign { "role.assign" } else { "role.remove" },
        "account",
        Some(&account_id),
    )
    .market(Some(&market))
    .after(&json!({ "role": role, "market": market }))
    .append_alone(&services.store)
    .await;
    done(ctx, Ok(()))
}

async fn change_policy<'a>(ctx: &ResolverContext<'a>, add: bool) -> FieldResult<'a> {
    let input = object_arg(ctx, "input")?;
    let fields = ["role", "market", "object", "action"]
        .map(|name| str_field(&input, name).map(|v| v.trim().to_string()));
    let [role, market, object_name, action] = fields;
    let (role, market, object_name, action) = (role?, market?, object_name?, action?);
    let caller = caller(ctx)?;
    let services = services(ctx)?;
    let word = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    let market_ok = market == "*" || (word(&market.replace('-', "_")));
    if !(word(&role) && word(&object_name) && word(&action) && market_ok) {
        return done(
            ctx,
            Err(ServiceError::reject(
                "INVALID_RULE",
                &["input"],
                Text::new(
                    "Role, object and action are lower-case words; the market is a code or *.",
                    "角色、对象和操作须为小写单词；市场须为市场代码或 *。",
                ),
                caller.locale,
            )),
        );
    }
    let result = if add {
        services
            .authz
            .add_policy(&role, &market, &object_name, &action)
            .await
    } else {
        services
            .authz
            .remove_policy(&role, &market, &object_name, &action)
            .await
    };
    result.map_err(|e| top_level(ctx, ServiceError::Internal(e.to_string())))?;
    AuditEvent::new(
        caller,
        if add { "policy.add" } else { "policy.remove" },
        "policy",
        None,
    )
    .market(Some(&market))
    .after(&json!({ "role": role, "market": market, "object": object_name, "action": action }))
    .append_alone(&services.store)
    .await;
    done(ctx, Ok(()))
}
