//! Resolvers for accounts, sign-in, sessions, API tokens, addresses and
//! real-name verification. Thin: read arguments, call `Accounts`, shape values.

use async_graphql::Value;
use async_graphql::dynamic::{FieldFuture, FieldValue, ResolverContext};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::Services;
use super::binding::Resolvers;
use super::guard::Access;
use super::payload::{
    FieldResult, bad_argument, caller, done, enum_field, object_arg, opt, opt_f64_field,
    opt_str_field, payload, services, str_field, top_level,
};
use super::relay::{self, PageRequest, object};
use crate::accounts::password;
use crate::accounts::verification::Decision;
use crate::accounts::{AddressInput, ProfileInput, RegisterInput, VerificationInput};
use crate::caller::{Actor, Caller};
use crate::i18n::{Locale, Text};
use crate::service_error::ServiceError;
use crate::store::accounts::{AccountRow, ApiTokenRow, SessionRow};
use crate::store::profiles::{AddressRow, VerificationRow};
use crate::store::rfc3339;

pub(super) fn bind(r: &mut Resolvers) {
    r.guarded("Query.captcha", Access::Public, |ctx| {
        FieldFuture::new(async move {
            let issued = services(&ctx)?
                .accounts
                .issue_captcha()
                .await
                .map_err(|e| top_level(&ctx, e))?;
            Ok(Some(FieldValue::value(object([
                ("id", Value::String(issued.id)),
                ("imagePng", Value::String(STANDARD.encode(issued.png))),
                ("expiresAt", Value::String(rfc3339(issued.expires_at))),
            ]))))
        })
    })
    .record("Captcha")
    .guarded("Query.passwordStrength", Access::Public, |ctx| {
        FieldFuture::new(async move {
            let locale = caller(&ctx)?.locale;
            let candidate = ctx.args.try_get("password")?.string()?;
            let inputs: Vec<String> = match ctx.args.get("userInputs") {
                Some(list) if !list.is_null() => list
                    .list()?
                    .iter()
                    .filter_map(|v| v.string().ok().map(str::to_string))
                    .collect(),
                _ => Vec::new(),
            };
            let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
            let strength = password::strength(candidate, &inputs, locale);
            let minimum = services(&ctx)?.accounts.min_password_score();
            Ok(Some(FieldValue::value(object([
                ("score", Value::Number(strength.score.into())),
                ("acceptable", Value::Boolean(strength.score >= minimum)),
                ("warning", opt(strength.warning)),
                (
                    "suggestions",
                    Value::List(
                        strength
                            .suggestions
                            .into_iter()
                            .map(Value::String)
                            .collect(),
                    ),
                ),
            ]))))
        })
    })
    .record("PasswordStrength")
    .guarded("Query.me", Access::Public, |ctx| {
        FieldFuture::new(async move {
            let caller = caller(&ctx)?;
            let Some(id) = caller.actor.account_id() else {
                return Ok(None);
            };
            let services = services(&ctx)?;
            let Some(row) = services
                .accounts
                .account(id)
                .await
                .map_err(|e| top_level(&ctx, e))?
            else {
                return Ok(None);
            };
            let value = account_value(services, caller, &row)
                .await
                .map_err(|e| top_level(&ctx, e))?;
            Ok(Some(FieldValue::value(value)))
        })
    })
    .record("Account")
    .record("RoleAssignment")
    .record("Address")
    .record("Verification")
    .guarded(
        "Query.account",
        Access::platform("account", "lookup"),
        |ctx| {
            FieldFuture::new(async move {
                let services = services(&ctx)?;
                let id = ctx.args.try_get("id")?.string()?;
                let row = services
                    .accounts
                    .account(id)
                    .await
                    .map_err(|e| top_level(&ctx, e))?;
                match row {
                    Some(row) => {
                        let value = account_value(services, caller(&ctx)?, &row)
                            .await
                            .map_err(|e| top_level(&ctx, e))?;
                        Ok(Some(FieldValue::value(value)))
                    }
                    None => Ok(None),
                }
            })
        },
    )
    .guarded(
        "Query.mySessions",
        Access::platform("session", "read"),
        |ctx| {
            FieldFuture::new(async move {
                let page = PageRequest::from_args(&ctx).map_err(|e| super::fail(ctx.ctx, e))?;
                let before = split_cursor(page.after.as_deref());
                let caller = caller(&ctx)?;
                let rows = services(&ctx)?
                    .accounts
                    .my_sessions(caller, before, page.fetch_limit())
                    .await
                    .map_err(|e| top_level(&ctx, e))?;
                let current = match &caller.actor {
                    Actor::Account { session_id, .. } => Some(session_id.as_str()),
                    _ => None,
                };
                let rows = rows
                    .iter()
                    .map(|s| {
                        (
                            format!("{}|{}", s.created_at, s.id),
                            session_value(s, current),
                        )
                    })
                    .collect();
                Ok(Some(FieldValue::value(relay::connection(&page, rows))))
            })
        },
    )
    .record("Session")
    .record("SessionConnection")
    .record("SessionEdge")
    .guarded(
        "Query.verifications",
        Access::platform("verification", "review"),
        |ctx| {
            FieldFuture::new(async move {
                let page = PageRequest::from_args(&ctx).map_err(|e| super::fail(ctx.ctx, e))?;
                let status = ctx.args.try_get("status")?.enum_name()?.to_string();
                let services = services(&ctx)?;
                let rows = services
                    .accounts
                    .verifications_by_status(
                        &status,
                        split_cursor(page.after.as_deref()),
                        page.fetch_limit(),
                    )
                    .await
                    .map_err(|e| top_level(&ctx, e))?;
                let viewer = caller(&ctx)?;
                let mut edges = Vec::with_capacity(rows.len());
                for row in &rows {
                    let value = verification_value(services, viewer, row)
                        .map_err(|e| top_level(&ctx, e))?;
                    edges.push((format!("{}|{}", row.submitted_at, row.id), value));
                }
                Ok(Some(FieldValue::value(relay::connection(&page, edges))))
            })
        },
    )
    .record("VerificationConnection")
    .record("VerificationEdge")
    .record("ApiToken")
    .record("DonePayload")
    .record("AccountPayload")
    .record("LoginPayload")
    .record("PasswordResetPayload")
    .record("AddressPayload")
    .record("VerificationPayload")
    .record("ApiTokenPayload")
    .guarded("Mutation.register", Access::Public, |ctx| {
        FieldFuture::new(async move {
            let input = object_arg(&ctx, "input")?;
            let locale = match opt_str_field(&input, "locale") {
                Some(tag) => Some(parse_locale(&ctx, &tag)?),
                None => None,
            };
            let register = RegisterInput {
                login: str_field(&input, "login")?,
                password: str_field(&input, "password")?,
                display_name: str_field(&input, "displayName")?,
                locale,
            };
            let caller = caller(&ctx)?;
            let services = services(&ctx)?;
            let outcome = match services.accounts.register(caller, register).await {
                Ok(row) => account_value(services, caller, &row)
                    .await
                    .map(|v| vec![("account", v)]),
                Err(e) => Err(e),
            };
            payload(&ctx, outcome, &["account"])
        })
    })
    .guarded("Mutation.login", Access::Public, |ctx| {
        FieldFuture::new(async move {
            let input = object_arg(&ctx, "input")?;
            let caller = caller(&ctx)?;
            let services = services(&ctx)?;
            let user_agent = ctx.ctx.data::<super::RequestContext>()?.user_agent.clone();
            let outcome = services
                .accounts
                .login(
                    caller,
                    &str_field(&input, "login")?,
                    str_field(&input, "password")?,
                    &str_field(&input, "captchaId")?,
                    &str_field(&input, "captchaAnswer")?,
                    user_agent,
                )
                .await;
            let outcome = match outcome {
                Ok(signed_in) => {
                    // The new session views its own account.
                    let viewer = Caller {
                        actor: Actor::Account {
                            account_id: signed_in.account.id.clone(),
                            session_id: signed_in.session.id.clone(),
                        },
                        ..caller.clone()
                    };
                    account_value(services, &viewer, &signed_in.account)
                        .await
                        .map(|account| {
                            vec![
                                ("token", Value::String(signed_in.token)),
                                (
                                    "session",
                                    session_value(&signed_in.session, Some(&signed_in.session.id)),
                                ),
                                ("account", account),
                            ]
                        })
                }
                Err(e) => Err(e),
            };
            payload(&ctx, outcome, &["token", "session", "account"])
        })
    })
    .guarded(
        "Mutation.logout",
        Access::platform("session", "write"),
        |ctx| {
            FieldFuture::new(async move {
                let outcome = services(&ctx)?.accounts.logout(caller(&ctx)?).await;
                done(&ctx, outcome)
            })
        },
    )
    .guarded(
        "Mutation.revokeSession",
        Access::platform("session", "write"),
        |ctx| {
            FieldFuture::new(async move {
                let id = ctx.args.try_get("id")?.string()?.to_string();
                let outcome = services(&ctx)?
                    .accounts
                    .revoke_session(caller(&ctx)?, &id)
                    .await;
                done(&ctx, outcome)
            })
        },
    )
    .guarded(
        "Mutation.changePassword",
        Access::platform("profile", "write"),
        |ctx| {
            FieldFuture::new(async move {
                let input = object_arg(&ctx, "input")?;
                let outcome = services(&ctx)?
                    .accounts
                    .change_password(
                        caller(&ctx)?,
                        str_field(&input, "currentPassword")?,
                        str_field(&input, "newPassword")?,
                    )
                    .await;
                done(&ctx, outcome)
            })
        },
    )
    .guarded(
        "Mutation.issuePasswordReset",
        Access::platform("account", "reset_password"),
        |ctx| {
            FieldFuture::new(async move {
                let id = ctx.args.try_get("accountId")?.string()?.to_string();
                let outcome = services(&ctx)?
                    .accounts
                    .issue_password_reset(caller(&ctx)?, &id)
                    .await
                    .map(|(code, expires_at)| {
                        vec![
                            ("code", Value::String(code)),
                            ("expiresAt", Value::String(rfc3339(expires_at))),
                        ]
                    });
                payload(&ctx, outcome, &["code", "expiresAt"])
            })
        },
    )
    .guarded("Mutation.resetPassword", Access::Public, |ctx| {
        FieldFuture::new(async move {
            let input = object_arg(&ctx, "input")?;
            let outcome = services(&ctx)?
                .accounts
                .reset_password(
                    caller(&ctx)?,
                    &str_field(&input, "login")?,
                    &str_field(&input, "code")?,
                    str_field(&input, "newPassword")?,
                )
                .await;
            done(&ctx, outcome)
        })
    })
    .guarded(
        "Mutation.updateProfile",
        Access::platform("profile", "write"),
        |ctx| {
            FieldFuture::new(async move {
                let input = object_arg(&ctx, "input")?;
                let locale = match opt_str_field(&input, "locale") {
                    Some(tag) => Some(parse_locale(&ctx, &tag)?),
                    None => None,
                };
                let profile = ProfileInput {
                    display_name: opt_str_field(&input, "displayName"),
                    locale,
                };
                let caller = caller(&ctx)?;
                let services = services(&ctx)?;
                let outcome = match services.accounts.update_profile(caller, profile).await {
                    Ok(row) => account_value(services, caller, &row)
                        .await
                        .map(|v| vec![("account", v)]),
                    Err(e) => Err(e),
                };
                payload(&ctx, outcome, &["account"])
            })
        },
    )
    .guarded(
        "Mutation.addAddress",
        Access::platform("profile", "write"),
        |ctx| FieldFuture::new(async move { save_address(&ctx, None).await }),
    )
    .guarded(
        "Mutation.updateAddress",
        Access::platform("profile", "write"),
        |ctx| {
            FieldFuture::new(async move {
                let id = ctx.args.try_get("id")?.string()?.to_string();
                save_address(&ctx, Some(id)).await
            })
        },
    )
    .guarded(
        "Mutation.removeAddress",
        Access::platform("profile", "write"),
        |ctx| {
            FieldFuture::new(async move {
                let id = ctx.args.try_get("id")?.string()?.to_string();
                let outcome = services(&ctx)?
                    .accounts
                    .remove_address(caller(&ctx)?, &id)
                    .await;
                done(&ctx, outcome)
            })
        },
    )
    .guarded(
        "Mutation.submitVerification",
        Access::platform("verification", "submit"),
        |ctx| {
            FieldFuture::new(async move {
                let input = object_arg(&ctx, "input")?;
                let document_ids = input
                    .try_get("documentIds")?
                    .list()?
                    .iter()
                    .filter_map(|v| v.string().ok().map(str::to_string))
                    .collect();
                let submission = VerificationInput {
                    kind: enum_field(&input, "kind")?,
                    legal_name: str_field(&input, "legalName")?,
                    number: str_field(&input, "number")?,
                    document_ids,
                };
                let caller = caller(&ctx)?;
                let services = services(&ctx)?;
                let outcome = services
                    .accounts
                    .submit_verification(caller, submission)
                    .await
                    .and_then(|row| verification_value(services, caller, &row))
                    .map(|v| vec![("verification", v)]);
                payload(&ctx, outcome, &["verification"])
            })
        },
    )
    .guarded(
        "Mutation.reviewVerification",
        Access::platform("verification", "review"),
        |ctx| {
            FieldFuture::new(async move {
                let input = object_arg(&ctx, "input")?;
                let decision = match enum_field(&input, "decision")?.as_str() {
                    "APPROVE" => Decision::Approve,
                    _ => Decision::Reject,
                };
                let caller = caller(&ctx)?;
                let services = services(&ctx)?;
                let outcome = services
                    .accounts
                    .review_verification(
                        caller,
                        &str_field(&input, "id")?,
                        decision,
                        opt_str_field(&input, "reason"),
                    )
                    .await
                    .and_then(|row| verification_value(services, caller, &row))
                    .map(|v| vec![("verification", v)]);
                payload(&ctx, outcome, &["verification"])
            })
        },
    )
    .guarded(
        "Mutation.createApiToken",
        Access::in_market("api_token", "write", "input.marketCode"),
        |ctx| {
            FieldFuture::new(async move {
                let input = object_arg(&ctx, "input")?;
                let caller = caller(&ctx)?;
                let services = services(&ctx)?;
                let platform = caller
                    .actor
                    .subject()
                    .is_some_and(|s| services.authz.check(&s, "*", "policy", "write"));
                let outcome = services
                    .accounts
                    .create_api_token(
                        caller,
                        &str_field(&input, "name")?,
                        &str_field(&input, "role")?,
                        &str_field(&input, "marketCode")?,
                        platform,
                    )
                    .await
                    .map(|(token, row)| {
                        vec![
                            ("token", Value::String(token)),
                            ("apiToken", api_token_value(&row)),
                        ]
                    });
                payload(&ctx, outcome, &["token", "apiToken"])
            })
        },
    )
    .guarded("Mutation.revokeApiToken", Access::Resolver, |ctx| {
        // The market is the token's own, known only after looking it up.
        FieldFuture::new(async move {
            let id = ctx.args.try_get("id")?.string()?.to_string();
            let services = services(&ctx)?;
            let token = services
                .accounts
                .api_token(&id)
                .await
                .map_err(|e| top_level(&ctx, e))?;
            let market = token.as_ref().map_or("*", |t| t.market_code.as_str());
            super::guard::require(
                ctx.ctx,
                "api_token",
                "write",
                market,
                "Mutation.revokeApiToken",
            )
            .await?;
            if token.is_none() {
                return Err(top_level(&ctx, ServiceError::NotFound));
            }
            let outcome = services
                .accounts
                .revoke_api_token(caller(&ctx)?, &id)
                .await
                .map(|_| ());
            done(&ctx, outcome)
        })
    });
}

async fn save_address<'a>(ctx: &ResolverContext<'a>, id: Option<String>) -> FieldResult<'a> {
    let input = object_arg(ctx, "input")?;
    let address = AddressInput {
        recipient: str_field(&input, "recipient")?,
        phone: str_field(&input, "phone")?,
        region: opt_str_field(&input, "region").unwrap_or_default(),
        detail: str_field(&input, "detail")?,
        latitude: opt_f64_field(&input, "latitude"),
        longitude: opt_f64_field(&input, "longitude"),
        is_default: input
            .get("isDefault")
            .and_then(|v| v.boolean().ok())
            .unwrap_or(false),
    };
    let outcome = services(ctx)?
        .accounts
        .save_address(caller(ctx)?, id.as_deref(), address)
        .await
        .map(|row| vec![("address", address_value(&row))]);
    payload(ctx, outcome, &["address"])
}

fn parse_locale(ctx: &ResolverContext<'_>, tag: &str) -> Result<Locale, async_graphql::Error> {
    match tag {
        "zh-CN" => Ok(Locale::ZhCn),
        "en" => Ok(Locale::En),
        _ => Err(bad_argument(
            ctx,
            "locale",
            Text::new("Use zh-CN or en.", "语言须为 zh-CN 或 en。"),
        )),
    }
}

/// Cursor keys of the form `<millis>|<id>`.
fn split_cursor(key: Option<&str>) -> Option<(i64, String)> {
    let (at, id) = key?.split_once('|')?;
    Some((at.parse().ok()?, id.to_string()))
}

/// An account as `viewer` may see it.
pub(super) async fn account_value(
    services: &Services,
    viewer: &Caller,
    row: &AccountRow,
) -> Result<Value, ServiceError> {
    let subject = viewer.actor.subject();
    let is_self = viewer.actor.account_id() == Some(row.id.as_str());
    let may = |object: &str, action: &str| {
        subject
            .as_deref()
            .is_some_and(|s| services.authz.check(s, "*", object, action))
    };
    let sees_contact = is_self || may("account", "read_contact");
    let verification = match services.accounts.latest_verification_of(&row.id).await? {
        Some(v) => verification_value(services, viewer, &v)?,
        None => Value::Null,
    };
    let addresses = if is_self {
        services
            .accounts
            .addresses(&row.id)
            .await?
            .iter()
            .map(address_value)
            .collect()
    } else {
        Vec::new()
    };
    let roles = role_assignments(services.authz.assignments_of(&format!("user:{}", row.id)));
    Ok(object([
        ("id", Value::String(row.id.clone())),
        (
            "email",
            if sees_contact {
                opt(row.email.clone())
            } else {
                Value::Null
            },
        ),
        (
            "phone",
            opt(row.phone.as_deref().map(|p| {
                if sees_contact {
                    p.to_string()
                } else {
                    crate::accounts::identity_documents::mask_phone(p)
                }
            })),
        ),
        ("displayName", Value::String(row.display_name.clone())),
        ("locale", Value::String(row.locale.clone())),
        ("createdAt", Value::String(rfc3339(row.created_at))),
        (
            "passwordChangeRecommended",
            Value::Boolean(services.accounts.password_change_recommended(row)),
        ),
        ("verification", verification),
        ("roles", roles),
        ("addresses", Value::List(addresses)),
    ]))
}

/// `[RoleAssignment!]!` from (role, market) pairs.
pub(super) fn role_assignments(pairs: Vec<(String, String)>) -> Value {
    Value::List(
        pairs
            .into_iter()
            .map(|(role, market)| {
                object([
                    ("role", Value::String(role)),
                    ("market", Value::String(market)),
                ])
            })
            .collect(),
    )
}

/// A verification; the number in full only for viewers with `account/read_id_number`.
pub(super) fn verification_value(
    services: &Services,
    viewer: &Caller,
    row: &VerificationRow,
) -> Result<Value, ServiceError> {
    let may_read = viewer
        .actor
        .subject()
        .is_some_and(|s| services.authz.check(&s, "*", "account", "read_id_number"));
    let number = if may_read {
        services.accounts.reveal_number(row)?
    } else {
        row.number_masked.clone()
    };
    let documents: Vec<String> = serde_json::from_str(&row.document_ids).unwrap_or_default();
    Ok(object([
        ("id", Value::String(row.id.clone())),
        ("accountId", Value::String(row.account_id.clone())),
        ("kind", Value::Enum(async_graphql::Name::new(&row.kind))),
        ("legalName", Value::String(row.legal_name.clone())),
        ("number", Value::String(number)),
        (
            "documentIds",
            Value::List(documents.into_iter().map(Value::String).collect()),
        ),
        ("status", Value::Enum(async_graphql::Name::new(&row.status))),
        ("reason", opt(row.reason.clone())),
        ("submittedAt", Value::String(rfc3339(row.submitted_at))),
        ("reviewedAt", opt(row.reviewed_at.map(rfc3339))),
    ]))
}

fn session_value(s: &SessionRow, current: Option<&str>) -> Value {
    object([
        ("id", Value::String(s.id.clone())),
        ("createdAt", Value::String(rfc3339(s.created_at))),
        ("lastSeenAt", Value::String(rfc3339(s.last_seen_at))),
        ("sourceAddress", opt(s.source_address.clone())),
        ("userAgent", opt(s.user_agent.clone())),
        ("current", Value::Boolean(current == Some(s.id.as_str()))),
    ])
}

fn address_value(a: &AddressRow) -> Value {
    object([
        ("id", Value::String(a.id.clone())),
        ("recipient", Value::String(a.recipient.clone())),
        ("phone", Value::String(a.phone.clone())),
        ("region", Value::String(a.region.clone())),
        ("detail", Value::String(a.detail.clone())),
        ("latitude", a.latitude.map_or(Value::Null, Value::from)),
        ("longitude", a.longitude.map_or(Value::Null, Value::from)),
        ("isDefault", Value::Boolean(a.is_default)),
    ])
}

fn api_token_value(t: &ApiTokenRow) -> Value {
    object([
        ("id", Value::String(t.id.clone())),
        ("name", Value::String(t.name.clone())),
        ("role", Value::String(t.role.clone())),
        ("market", Value::String(t.market_code.clone())),
        ("createdAt", Value::String(rfc3339(t.created_at))),
    ])
}
