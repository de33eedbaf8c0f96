//! Resolvers for plugins: the registry (install, upgrade, uninstall), the
//! per-market toggles, and the fields plugins add to the schema.

use std::io::Read;
use std::sync::Arc;

use async_graphql::dynamic::{FieldFuture, FieldValue, ResolverContext};
use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
use async_graphql::{Name, Value};
use indexmap::IndexMap;

use super::binding::Resolvers;
use super::error::{ApiError, ErrorCode, UserError};
use super::guard::{self, Access};
use super::payload::{FieldResult, caller, done, payload, services, top_level};
use super::relay::object;
use crate::i18n::{Locale, Text};
use crate::plugins::manifest::FieldGuard;
use crate::plugins::types::{Caller as PluginCaller, Market, ResolveInput};
use crate::plugins::{Installed, MarketContext, PluginError, PluginSet, Toggle};
use crate::service_error::ServiceError;
use crate::store::{now_ms, rfc3339};

pub(super) fn bind(r: &mut Resolvers) {
    r.guarded("Query.plugins", Access::platform("plugin", "read"), |ctx| {
        FieldFuture::new(async move {
            let locale = caller(&ctx)?.locale;
            let set = services(&ctx)?.plugins.current();
            let list = set
                .plugins
                .values()
                .map(|p| plugin_value(p, locale))
                .collect();
            Ok(Some(FieldValue::value(Value::List(list))))
        })
    })
    .guarded("Query.plugin", Access::platform("plugin", "read"), |ctx| {
        FieldFuture::new(async move {
            let id = ctx.args.try_get("id")?.string()?;
            let locale = caller(&ctx)?.locale;
            let set = services(&ctx)?.plugins.current();
            Ok(set
                .plugins
                .get(id)
                .map(|p| FieldValue::value(plugin_value(p, locale))))
        })
    })
    .guarded(
        "Mutation.installPlugin",
        Access::platform("plugin", "install"),
        |ctx| FieldFuture::new(async move { install(&ctx, false).await }),
    )
    .guarded(
        "Mutation.upgradePlugin",
        Access::platform("plugin", "install"),
        |ctx| FieldFuture::new(async move { install(&ctx, true).await }),
    )
    .guarded(
        "Mutation.uninstallPlugin",
        Access::platform("plugin", "install"),
        |ctx| {
            FieldFuture::new(async move {
                let id = ctx.args.try_get("id")?.string()?;
                let who = caller(&ctx)?;
                let outcome = services(&ctx)?
                    .plugins
                    .uninstall(id, who)
                    .await
                    .map_err(|e| plugin_error(e, who.locale));
                done(&ctx, outcome)
            })
        },
    )
    .guarded(
        "Mutation.enablePlugin",
        Access::in_market("plugin", "write", "market"),
        |ctx| {
            FieldFuture::new(async move {
                let market = ctx.args.try_get("market")?.string()?;
                let plugin = ctx.args.try_get("plugin")?.string()?;
                let config = match ctx.args.get("config").filter(|v| !v.is_null()) {
                    Some(v) => v.as_value().clone().into_json()?,
                    None => serde_json::json!({}),
                };
                let who = caller(&ctx)?;
                let plugins = &services(&ctx)?.plugins;
                let outcome = plugins.enable(market, plugin, config, who).await;
                toggle_payload(&ctx, market, outcome.map(Some))
            })
        },
    )
    .guarded(
        "Mutation.disablePlugin",
        Access::in_market("plugin", "write", "market"),
        |ctx| {
            FieldFuture::new(async move {
                let market = ctx.args.try_get("market")?.string()?;
                let plugin = ctx.args.try_get("plugin")?.string()?;
                let who = caller(&ctx)?;
                let outcome = services(&ctx)?.plugins.disable(market, plugin, who).await;
                toggle_payload(&ctx, market, outcome)
            })
        },
    )
    .field("Market.plugins", |ctx| {
        FieldFuture::new(async move {
            let code = parent_string(&ctx, "code").unwrap_or_default();
            guard::require(ctx.ctx, "plugin", "read", &code, "Market.plugins").await?;
            let locale = caller(&ctx)?.locale;
            let host = &services(&ctx)?.plugins;
            let set = host.current();
            let list = set
                .toggles
                .get(&code)
                .into_iter()
                .flatten()
                .filter_map(|t| {
                    let plugin = set.plugins.get(&t.plugin_id)?;
                    Some(toggle_value(
                        plugin,
                        t,
                        host.recent_faults(&t.plugin_id, &code),
                        locale,
                    ))
                })
                .collect();
            Ok(Some(FieldValue::value(Value::List(list))))
        })
    });
    for record in [
        "Plugin",
        "MarketPlugin",
        "PluginPayload",
        "MarketPluginPayload",
    ] {
        r.record(record);
    }
}

/// `installPlugin` and `upgradePlugin`: the component arrives as an upload.
async fn install<'a>(ctx: &ResolverContext<'a>, upgrade: bool) -> FieldResult<'a> {
    let input = ctx.args.try_get("input")?.object()?;
    let manifest = input.try_get("manifest")?.string()?.to_string();
    let grants: Option<Vec<String>> = match input.get("grant").filter(|v| !v.is_null()) {
        Some(list) => Some(
            list.list()?
                .iter()
                .map(|g| g.string().map(str::to_string))
                .collect::<Result<_, _>>()?,
        ),
        None => None,
    };
    let upload = input.try_get("component")?.upload()?.value(ctx.ctx)?;
    let mut wasm = Vec::new();
    upload
        .into_read()
        .take(crate::plugins::MAX_COMPONENT_BYTES as u64 + 1)
        .read_to_end(&mut wasm)?;
    let who = caller(ctx)?;
    let host = &services(ctx)?.plugins;
    let outcome = if upgrade {
        host.upgrade(&wasm, &manifest, grants.as_deref(), who).await
    } else {
        host.install(&wasm, &manifest, grants.as_deref().unwrap_or(&[]), who)
            .await
    };
    let outcome = outcome
        .map(|p| vec![("plugin", plugin_value(&p, who.locale))])
        .map_err(|e| plugin_error(e, who.locale));
    payload(ctx, outcome, &["plugin"])
}

fn toggle_payload<'a>(
    ctx: &ResolverContext<'_>,
    market: &str,
    outcome: Result<Option<Toggle>, PluginError>,
) -> FieldResult<'a> {
    let locale = caller(ctx)?.locale;
    let host = &services(ctx)?.plugins;
    let set = host.current();
    let outcome = outcome
        .map(|toggle| {
            let value = toggle
                .and_then(|t| {
                    let plugin = set.plugins.get(&t.plugin_id)?;
                    let faults = host.recent_faults(&t.plugin_id, market);
                    Some(toggle_value(plugin, &t, faults, locale))
                })
                .unwrap_or(Value::Null);
            vec![("marketPlugin", value)]
        })
        .map_err(|e| plugin_error(e, locale));
    payload(ctx, outcome, &["marketPlugin"])
}

fn plugin_value(p: &Installed, locale: Locale) -> Value {
    let m = &p.manifest;
    let strings = |items: &mut dyn Iterator<Item = &String>| {
        Value::List(items.map(|s| Value::String(s.clone())).collect())
    };
    object([
        ("id", Value::String(m.id.clone())),
        ("name", Value::String(m.name.clone())),
        ("version", Value::String(m.version.clone())),
        ("contract", Value::String(m.contract.clone())),
        (
            "description",
            Value::String(match locale {
                Locale::ZhCn => m.description.zh_cn.clone(),
                Locale::En => m.description.en.clone(),
            }),
        ),
        ("hooks", strings(&mut m.hooks.iter())),
        ("capabilities", strings(&mut m.capabilities.iter())),
        ("grantedCapabilities", strings(&mut p.granted.iter())),
        (
            "configSchema",
            Value::from_json(m.config_schema.clone()).unwrap_or(Value::Null),
        ),
        (
            "sdl",
            m.graphql
                .as_ref()
                .map_or(Value::Null, |g| Value::String(g.sdl.clone())),
        ),
        ("sha256", Value::String(p.sha256.clone())),
        ("sizeBytes", Value::from(p.size as i64)),
        ("installedBy", Value::String(p.installed_by.clone())),
        ("installedAt", Value::String(rfc3339(p.installed_at))),
        ("updatedAt", Value::String(rfc3339(p.updated_at))),
    ])
}

fn toggle_value(plugin: &Installed, t: &Toggle, recent_faults: usize, locale: Locale) -> Value {
    object([
        ("plugin", plugin_value(plugin, locale)),
        ("enabled", Value::Boolean(t.enabled)),
        (
            "config",
            Value::from_json(t.config.clone()).unwrap_or(Value::Null),
        ),
        ("changedBy", Value::String(t.changed_by.clone())),
        ("changedAt", Value::String(rfc3339(t.changed_at))),
        (
            "breakerReason",
            t.breaker
                .as_ref()
                .map_or(Value::Null, |(why, _)| Value::String(why.clone())),
        ),
        (
            "breakerTrippedAt",
            t.breaker
                .as_ref()
                .map_or(Value::Null, |(_, at)| Value::String(rfc3339(*at))),
        ),
        ("recentFaults", Value::from(recent_faults as i64)),
    ])
}

/// Registry refusals as user errors; anything else as a top-level error.
fn plugin_error(e: PluginError, locale: Locale) -> ServiceError {
    let one = |code: &'static str, field: &[&str], zh: &str, detail: String| {
        let message = match locale {
            Locale::ZhCn => format!("{zh}：{detail}"),
            Locale::En => detail,
        };
        ServiceError::Rejected(vec![UserError {
            code,
            field: field.iter().map(|s| s.to_string()).collect(),
            message,
        }])
    };
    let detail = e.to_string();
    match e {
        PluginError::Manifest(_) => one(
            "MANIFEST_INVALID",
            &["input", "manifest"],
            "插件清单无效",
            detail,
        ),
        PluginError::Incompatible(_) => one(
            "COMPONENT_INCOMPATIBLE",
            &["input", "component"],
            "组件与插件契约不符",
            detail,
        ),
        PluginError::TooLarge => one(
            "COMPONENT_TOO_LARGE",
            &["input", "component"],
            "组件过大",
            detail,
        ),
        PluginError::AlreadyInstalled(_) => one(
            "PLUGIN_ALREADY_INSTALLED",
            &["input", "manifest"],
            "插件已安装，请使用升级",
            detail,
        ),
        PluginError::NotInstalled(_) => {
            one("PLUGIN_NOT_INSTALLED", &["plugin"], "插件未安装", detail)
        }
        PluginError::IdChanged { .. } => one(
            "PLUGIN_ID_CHANGED",
            &["input", "manifest"],
            "升级不能更改插件标识",
            detail,
        ),
        PluginError::NotRequested(_) => one(
            "CAPABILITY_NOT_REQUESTED",
            &["input", "grant"],
            "插件清单未申请该能力",
            detail,
        ),
        PluginError::SchemaClash(_) => one(
            "SCHEMA_CLASH",
            &["input", "manifest"],
            "插件的 GraphQL 定义与现有接口冲突",
            detail,
        ),
        PluginError::NoMarket(_) => one("MARKET_NOT_FOUND", &["market"], "市场不存在", detail),
        PluginError::Config(problems) | PluginError::ConfigInMarket { problems, .. } => {
            ServiceError::Rejected(
                problems
                    .into_iter()
                    .map(|p| {
                        let mut field = vec!["config".to_string()];
                        field.extend(
                            p.path
                                .split('/')
                                .filter(|s| !s.is_empty())
                                .map(str::to_string),
                        );
                        UserError {
                            code: "CONFIG_INVALID",
                            field,
                            message: match locale {
                                Locale::ZhCn => format!("配置不符合插件的要求：{}", p.message),
                                Locale::En => format!("{detail}: {}", p.message),
                            },
                        }
                    })
                    .collect(),
            )
        }
        PluginError::Store(e) => ServiceError::Store(e),
        PluginError::Policy(why) => ServiceError::Internal(why),
    }
}

fn parent_string(ctx: &ResolverContext<'_>, key: &str) -> Option<String> {
    match super::binding::parent_value(ctx)? {
        Value::Object(map) => match map.get(key)? {
            Value::String(s) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// Resolvers for every field installed plugins add. A plugin's own object
/// types are plain data read from the JSON its `resolve` answers.
pub(super) fn extension_resolvers(set: &PluginSet) -> Resolvers {
    let mut r = Resolvers::new();
    for plugin in set.plugins.values() {
        let Some(graphql) = &plugin.manifest.graphql else {
            continue;
        };
        for type_name in object_types(&graphql.sdl) {
            r.record(&type_name);
        }
        for guard in &graphql.fields {
            let resolver = field_resolver(plugin.id().to_string(), guard.clone());
            let coordinate = guard.coordinate();
            if matches!(guard.type_name.as_str(), "Query" | "Mutation") {
                // The resolver checks the market's toggle, then the permission.
                r.guarded(&coordinate, Access::Resolver, resolver);
            } else {
                r.field(&coordinate, resolver);
            }
        }
    }
    r
}

fn field_resolver(
    plugin: String,
    guard: FieldGuard,
) -> impl for<'a> Fn(ResolverContext<'a>) -> FieldFuture<'a> + Send + Sync + 'static {
    let shared = Arc::new((plugin, guard));
    move |ctx| {
        let shared = shared.clone();
        FieldFuture::new(async move {
            let (plugin, guard) = &*shared;
            plugin_field(&ctx, plugin, guard).await
        })
    }
}

fn object_types(sdl: &str) -> Vec<String> {
    let Ok(document) = async_graphql::parser::parse_schema(sdl) else {
        return Vec::new();
    };
    document
        .definitions
        .iter()
        .filter_map(|d| match d {
            TypeSystemDefinition::Type(t)
                if !t.node.extend && matches!(t.node.kind, TypeKind::Object(_)) =>
            {
                Some(t.node.name.node.to_string())
            }
            _ => None,
        })
        .collect()
}

/// One plugin field: on in this market, allowed for this caller, answered by
/// the plugin's `resolve`.
async fn plugin_field<'a>(
    ctx: &ResolverContext<'a>,
    plugin_id: &str,
    guard: &FieldGuard,
) -> FieldResult<'a> {
    let who = caller(ctx)?;
    let locale = who.locale;
    let coordinate = guard.coordinate();
    let market = match guard.type_name.as_str() {
        "Query" | "Mutation" => ctx.args.try_get("market")?.string()?.to_string(),
        _ => parent_string(ctx, "code").unwrap_or_default(),
    };
    let services = services(ctx)?;
    let host = &services.plugins;
    if !host.is_enabled(&market, plugin_id) {
        return Err(ApiError::new(ErrorCode::FeatureDisabled)
            .with_field(&["market"])
            .into_graphql(locale));
    }
    if !guard.public {
        guard::require(ctx.ctx, &guard.object, &guard.action, &market, &coordinate).await?;
    }
    let Some(found) = services
        .markets
        .find(&market)
        .await
        .map_err(|e| top_level(ctx, e))?
    else {
        return Err(ApiError::new(ErrorCode::NotFound).into_graphql(locale));
    };
    let arguments = Value::Object(
        ctx.args
            .as_index_map()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<IndexMap<Name, Value>>(),
    )
    .into_json()?;
    let parent_json = match super::binding::parent_value(ctx) {
        Some(v @ Value::Object(_)) => Some(v.clone().into_json()?.to_string()),
        _ => None,
    };
    let subject = who.actor.subject();
    let roles = subject
        .as_deref()
        .map(|s| services.authz.roles_of(s, &market))
        .unwrap_or_default();
    let input = ResolveInput {
        market: Market {
            code: market.clone(),
            time_zone: found.time_zone.clone(),
            config_json: String::new(),
        },
        type_name: guard.type_name.clone(),
        field: guard.field.clone(),
        arguments_json: arguments.to_string(),
        parent_json,
        caller: PluginCaller { subject, roles },
        now: rfc3339(now_ms()),
    };
    let context = MarketContext {
        code: market.clone(),
        time_zone: found.time_zone,
    };
    match host.resolve(&context, plugin_id, input).await {
        Ok(json) => Ok(Some(FieldValue::value(Value::from_json(json)?))),
        Err(failure) => {
            tracing::warn!(plugin = plugin_id, field = %coordinate, market = %market, fault = %failure.fault, "plugin field failed");
            Err(ApiError::new(ErrorCode::PluginFailed)
                .with_text(Text::new(
                    "This feature is not available right now.",
                    "该功能暂时不可用。",
                ))
                .into_graphql(locale))
        }
    }
}
