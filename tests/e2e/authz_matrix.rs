//! The authorisation matrix: every protected query and every mutation, tried as
//! every role (and anonymously), in the market the role was granted in
//! (`alpha`) and in another one (`beta`). Each cell's expected outcome is
//! written down below; nothing may cross markets.
//!
//! Calls are shaped so that an admitted call is refused by a business rule or
//! finds nothing (a user error or `NOT_FOUND`): the matrix checks who gets past
//! the guard without changing the data the next cell runs against.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::accounts::create_market;
use crate::on_both_backends;
use crate::support::Server;
use crate::support::session::{PASSWORD, bootstrap_admin, login, signed_up, sql_text};

/// Every role in REQUIREMENTS.md, plus signed-out callers.
const ROLES: &[&str] = &[
    "anonymous",
    "customer",
    "platform_admin",
    "market_admin",
    "station_staff",
    "courier",
    "support_agent",
    "merchant_owner",
    "merchant_staff",
    "finance_partner",
    "regulator",
];

/// Roles granted in every market (`*`): the platform's own administrators,
/// supervisors and customer service. The others are granted in `alpha` only.
const PLATFORM_WIDE: &[&str] = &["platform_admin", "regulator", "support_agent"];

/// Every role except signed-out callers.
const ALL_SIGNED_IN: &[&str] = ROLES.split_at(1).1;

#[derive(Clone, Copy)]
enum Scope {
    /// Platform-wide: the same answer in every market.
    Platform,
    /// Names a market; allowed roles are listed for `alpha` and for `beta`.
    Market { in_beta: &'static [&'static str] },
}

struct Operation {
    name: &'static str,
    /// `$MARKET` is replaced by the market under test, `$TOKEN_ID` by that market's API token.
    document: &'static str,
    scope: Scope,
    /// Roles admitted (in `alpha` for market-scoped operations).
    allowed: &'static [&'static str],
}

const ADMINS: &[&str] = &["platform_admin", "market_admin"];
const PLATFORM_ONLY: &[&str] = &["platform_admin"];
const SUPPORT: &[&str] = &["platform_admin", "support_agent"];

/// `order read_all`: the market's work queues and alerts.
const ORDER_QUEUES: &[&str] = &[
    "platform_admin",
    "market_admin",
    "station_staff",
    "courier",
    "support_agent",
];

const OPERATIONS: &[Operation] = &[
    Operation {
        name: "Query.cart",
        document: r#"{ cart(market: "$MARKET") { totalFen } }"#,
        // Every account is a customer everywhere (granted at registration).
        scope: Scope::Market {
            in_beta: ALL_SIGNED_IN,
        },
        allowed: ALL_SIGNED_IN,
    },
    Operation {
        name: "Query.myOrders",
        document: r#"{ myOrders(market: "$MARKET") { edges { cursor } } }"#,
        // Every account is a customer everywhere (granted at registration).
        scope: Scope::Market {
            in_beta: ALL_SIGNED_IN,
        },
        allowed: ALL_SIGNED_IN,
    },
    Operation {
        name: "Query.marketOrders",
        document: r#"{ marketOrders(market: "$MARKET") { edges { cursor } } }"#,
        scope: Scope::Market {
            in_beta: &["platform_admin", "support_agent"],
        },
        allowed: ORDER_QUEUES,
    },
    Operation {
        name: "Query.marketAlerts",
        document: r#"{ marketAlerts(market: "$MARKET") { id } }"#,
        scope: Scope::Market {
            in_beta: &["platform_admin", "support_agent"],
        },
        allowed: ORDER_QUEUES,
    },
    Operation {
        name: "Mutation.addToCart",
        document: r#"mutation { addToCart(market: "$MARKET", variantId: "nobody", quantity: 1) { userErrors { code } } }"#,
        scope: Scope::Market {
            in_beta: ALL_SIGNED_IN,
        },
        allowed: ALL_SIGNED_IN,
    },
    Operation {
        name: "Mutation.checkout",
        document: r#"mutation { checkout(market: "$MARKET", input: {idempotencyKey: "matrix", mode: INSTANT,
            recipient: {name: "x", phone: "13800000000", address: "x", location: {latitude: 0, longitude: 0}},
            payment: {provider: CASH}}) { userErrors { code } } }"#,
        scope: Scope::Market {
            in_beta: ALL_SIGNED_IN,
        },
        allowed: ALL_SIGNED_IN,
    },
    Operation {
        name: "Mutation.createDeliverySlot",
        document: r#"mutation { createDeliverySlot(market: "$MARKET", startsAt: "2020-01-01T00:00:00Z",
            endsAt: "2020-01-01T01:00:00Z", capacity: 1) { userErrors { code } } }"#,
        scope: Scope::Market {
            in_beta: PLATFORM_ONLY,
        },
        allowed: ADMINS,
    },
    Operation {
        name: "Mutation.runVerificationSweep",
        document: r#"mutation { runVerificationSweep(market: "$MARKET") }"#,
        scope: Scope::Market {
            in_beta: PLATFORM_ONLY,
        },
        allowed: ADMINS,
    },
    Operation {
        name: "Query.plugins",
        document: "{ plugins { id } }",
        scope: Scope::Platform,
        allowed: PLATFORM_ONLY,
    },
    Operation {
        name: "Mutation.uninstallPlugin",
        document: r#"mutation { uninstallPlugin(id: "nobody") { userErrors { code } } }"#,
        scope: Scope::Platform,
        allowed: PLATFORM_ONLY,
    },
    Operation {
        name: "Mutation.enablePlugin",
        document: r#"mutation { enablePlugin(market: "$MARKET", plugin: "nobody", config: {}) { userErrors { code } } }"#,
        scope: Scope::Market {
            in_beta: PLATFORM_ONLY,
        },
        allowed: ADMINS,
    },
    Operation {
        name: "Mutation.disablePlugin",
        document: r#"mutation { disablePlugin(market: "$MARKET", plugin: "nobody") { userErrors { code } } }"#,
        scope: Scope::Market {
            in_beta: PLATFORM_ONLY,
        },
        allowed: ADMINS,
    },
    Operation {
        name: "Query.simulatePricing",
        document: r#"{ simulatePricing(market: "$MARKET", lines: []) { totalFen } }"#,
        scope: Scope::Market {
            in_beta: PLATFORM_ONLY,
        },
        allowed: ADMINS,
    },
    Operation {
        name: "Query.account",
        document: r#"{ account(id: "nobody") { id } }"#,
        scope: Scope::Platform,
        allowed: SUPPORT,
    },
    Operation {
        name: "Query.mySessions",
        document: "{ mySessions { edges { cursor } } }",
        scope: Scope::Platform,
        allowed: ALL_SIGNED_IN,
    },
    Operation {
        name: "Query.verifications",
        document: "{ verifications { edges { cursor } } }",
        scope: Scope::Platform,
        allowed: SUPPORT,
    },
    Operation {
        name: "Query.policies",
        document: "{ policies { role } }",
        scope: Scope::Platform,
        allowed: PLATFORM_ONLY,
    },
    Operation {
        name: "Query.auditLog",
        document: r#"{ auditLog(filter: {marketCode: "$MARKET"}, first: 1) { edges { cursor } } }"#,
        scope: Scope::Market {
            in_beta: &["platform_admin", "regulator"],
        },
        allowed: &["platform_admin", "market_admin", "regulator"],
    },
    Operation {
        name: "Query.roleAssignments",
        document: r#"{ roleAssignments(accountId: "nobody", marketCode: "$MARKET") { role } }"#,
        scope: Scope::Market {
            in_beta: PLATFORM_ONLY,
        },
        allowed: ADMINS,
    },
    Operation {
        name: "Mutation.changePassword",
        document: r#"mutation { changePassword(input: {currentPassword: "not-it", newPassword: "x"}) { userErrors { code } } }"#,
        scope: Scope::Platform,
        allowed: ALL_SIGNED_IN,
    },
    Operation {
        name: "Mutation.issuePasswordReset",
        document: r#"mutation { issuePasswordReset(accountId: "nobody") { code } }"#,
        scope: Scope::Platform,
        allowed: SUPPORT,
    },
    Operation {
        name: "Mutation.updateProfile",
        document: r#"mutation { updateProfile(input: {locale: "fr"}) { userErrors { code } } }"#,
        scope: Scope::Platform,
        allowed: ALL_SIGNED_IN,
    },
    Operation {
        name: "Mutation.addAddress",
        document: r#"mutation { addAddress(input: {recipient: "x", phone: "0", detail: "x"}) { userErrors { code } } }"#,
        scope: Scope::Platform,
        allowed: ALL_SIGNED_IN,
    },
    Operation {
        name: "Mutation.updateAddress",
        document: r#"mutation { updateAddress(id: "nowhere", input: {recipient: "x", phone: "0", detail: "x"}) { userErrors { code } } }"#,
        scope: Scope::Platform,
        allowed: ALL_SIGNED_IN,
    },
    Operation {
        name: "Mutation.removeAddress",
        document: r#"mutation { removeAddress(id: "nowhere") { done } }"#,
        scope: Scope::Platform,
        allowed: ALL_SIGNED_IN,
    },
    Operation {
        name: "Mutation.submitVerification",
        document: r#"mutation { submitVerification(input: {kind: PERSON, legalName: "x", number: "123", documentIds: ["u"]}) { userErrors { code } } }"#,
        scope: Scope::Platform,
        allowed: ALL_SIGNED_IN,
    },
    Operation {
        name: "Mutation.reviewVerification",
        document: r#"mutation { reviewVerification(input: {id: "nothing", decision: APPROVE}) { userErrors { code } } }"#,
        scope: Scope::Platform,
        allowed: SUPPORT,
    },
    Operation {
        name: "Mutation.revokeSession",
        document: r#"mutation { revokeSession(id: "nothing") { done } }"#,
        scope: Scope::Platform,
        allowed: ALL_SIGNED_IN,
    },
    Operation {
        name: "Mutation.createMarket",
        document: r#"mutation { createMarket(input: {code: "!", name: "x", centre: {latitude: 0, longitude: 0}, serviceRadiusMeters: 1}) { userErrors { code } } }"#,
        scope: Scope::Platform,
        allowed: PLATFORM_ONLY,
    },
    Operation {
        name: "Mutation.updateMarket",
        document: r#"mutation { updateMarket(code: "$MARKET", input: {name: ""}) { userErrors { code } } }"#,
        scope: Scope::Market {
            in_beta: PLATFORM_ONLY,
        },
        allowed: ADMINS,
    },
    Operation {
        name: "Mutation.createApiToken",
        document: r#"mutation { createApiToken(input: {name: "x", role: "nope", marketCode: "$MARKET"}) { userErrors { code } } }"#,
        scope: Scope::Market {
            in_beta: PLATFORM_ONLY,
        },
        allowed: ADMINS,
    },
    Operation {
        name: "Mutation.revokeApiToken",
        document: r#"mutation { revokeApiToken(id: "$TOKEN_ID") { done } }"#,
        scope: Scope::Market {
            in_beta: PLATFORM_ONLY,
        },
        allowed: ADMINS,
    },
    Operation {
        name: "Mutation.assignRole",
        document: r#"mutation { assignRole(input: {accountId: "nobody", role: "nope", marketCode: "$MARKET"}) { userErrors { code } } }"#,
        scope: Scope::Market {
            in_beta: PLATFORM_ONLY,
        },
        allowed: ADMINS,
    },
    Operation {
        name: "Mutation.removeRole",
        document: r#"mutation { removeRole(input: {accountId: "nobody", role: "nope", marketCode: "$MARKET"}) { userErrors { code } } }"#,
        scope: Scope::Market {
            in_beta: PLATFORM_ONLY,
        },
        allowed: ADMINS,
    },
    Operation {
        name: "Mutation.addPolicy",
        document: r#"mutation { addPolicy(input: {role: "X", market: "*", object: "x", action: "x"}) { userErrors { code } } }"#,
        scope: Scope::Platform,
        allowed: PLATFORM_ONLY,
    },
    Operation {
        name: "Mutation.removePolicy",
        document: r#"mutation { removePolicy(input: {role: "X", market: "*", object: "x", action: "x"}) { userErrors { code } } }"#,
        scope: Scope::Platform,
        allowed: PLATFORM_ONLY,
    },
    Operation {
        name: "Query.webhookSubscriptions",
        document: r#"{ webhookSubscriptions(market: "$MARKET") { id } }"#,
        scope: Scope::Market {
            in_beta: PLATFORM_ONLY,
        },
        allowed: ADMINS,
    },
    Operation {
        name: "Query.webhookDeliveries",
        document: r#"{ webhookDeliveries(market: "$MARKET", subscriptionId: "nothing") { edges { cursor } } }"#,
        scope: Scope::Market {
            in_beta: PLATFORM_ONLY,
        },
        allowed: ADMINS,
    },
    Operation {
        name: "Mutation.createWebhookSubscription",
        document: r#"mutation { createWebhookSubscription(market: "$MARKET", url: "ftp://refused", eventKinds: ["order.paid"]) { userErrors { code } } }"#,
        scope: Scope::Market {
            in_beta: PLATFORM_ONLY,
        },
        allowed: ADMINS,
    },
    Operation {
        name: "Mutation.deleteWebhookSubscription",
        document: r#"mutation { deleteWebhookSubscription(market: "$MARKET", id: "nothing") { done } }"#,
        scope: Scope::Market {
            in_beta: PLATFORM_ONLY,
        },
        allowed: ADMINS,
    },
    // Last: it ends the session the other cells use.
    Operation {
        name: "Mutation.logout",
        document: "mutation { logout { done } }",
        scope: Scope::Platform,
        allowed: ALL_SIGNED_IN,
    },
];

/// Public fields answer everyone, signed in or not.
const PUBLIC: &[(&str, &str)] = &[
    ("Query.serverInfo", "{ serverInfo { version } }"),
    ("Query.node", r#"{ node(id: "TWFya2V0OmFscGhh") { id } }"#),
    ("Query.captcha", "{ captcha { id } }"),
    (
        "Query.passwordStrength",
        r#"{ passwordStrength(password: "x") { score } }"#,
    ),
    ("Query.me", "{ me { id } }"),
    ("Query.market", r#"{ market(code: "alpha") { code } }"#),
    ("Query.markets", "{ markets { edges { cursor } } }"),
    (
        "Mutation.register",
        r#"mutation { register(input: {login: "x", password: "x", displayName: "x"}) { userErrors { code } } }"#,
    ),
    (
        "Mutation.login",
        r#"mutation { login(input: {login: "x", password: "x", captchaId: "x", captchaAnswer: "x"}) { userErrors { code } } }"#,
    ),
    (
        "Mutation.resetPassword",
        r#"mutation { resetPassword(input: {login: "x", code: "x", newPassword: "x"}) { userErrors { code } } }"#,
    ),
];

fn expected(op: &Operation, role: &str, market: &str) -> &'static str {
    let admitted = match (op.scope, market) {
        (Scope::Market { in_beta }, "beta") => in_beta,
        _ => op.allowed,
    };
    if admitted.contains(&role) {
        "ok"
    } else if role == "anonymous" {
        "UNAUTHENTICATED"
    } else {
        "FORBIDDEN"
    }
}

fn outcome(body: &Value) -> String {
    match body["errors"][0]["extensions"]["code"].as_str() {
        Some(code @ ("FORBIDDEN" | "UNAUTHENTICATED")) => code.to_string(),
        // Past the guard: a user error, NOT_FOUND or plain success.
        _ => "ok".to_string(),
    }
}

on_both_backends! {
    async fn every_operation_as_every_role_in_every_market(db: TestDb) {
        let server = Server::start(&db, &[]).await;
        bootstrap_admin(&db, "root@shiji.example").await;
        let root = login(&server, &db, "root@shiji.example", PASSWORD).await["token"].as_str().unwrap().to_string();
        create_market(&server, &root, "alpha").await;
        create_market(&server, &root, "beta").await;

        // One account per role, granted in `alpha` (or everywhere, for platform-wide roles).
        let mut tokens: BTreeMap<&str, Option<String>> = BTreeMap::new();
        tokens.insert("anonymous", None);
        for role in &ROLES[1..] {
            let (account, token) = signed_up(&server, &db, &format!("{role}@shiji.example")).await;
            if *role != "customer" {
                let market = if PLATFORM_WIDE.contains(role) { "*" } else { "alpha" };
                let (_, body) = server
                    .graphql_as(&root, "mutation($input: RoleAssignmentInput!) { assignRole(input: $input) { done userErrors { code } } }",
                        json!({ "input": { "accountId": account, "role": role, "marketCode": market } }))
                    .await;
                assert_eq!(body["data"]["assignRole"]["done"], true, "granting {role}: {body}");
            }
            tokens.insert(role, Some(token));
        }

        let mut token_ids = BTreeMap::new();
        for market in ["alpha", "beta"] {
            let (_, body) = server
                .graphql_as(&root, "mutation($m: String!) { createApiToken(input: {name: \"matrix\", role: \"courier\", marketCode: $m}) { apiToken { id } } }", json!({ "m": market }))
                .await;
            token_ids.insert(market, body["data"]["createApiToken"]["apiToken"]["id"].as_str().unwrap().to_string());
        }

        let mut mismatches = Vec::new();
        let mut cells = 0;
        for op in OPERATIONS {
            let markets: &[&str] = match op.scope {
                Scope::Platform => &["alpha"],
                Scope::Market { .. } => &["alpha", "beta"],
            };
            for market in markets {
                let document = op.document.replace("$MARKET", market).replace("$TOKEN_ID", &token_ids[market]);
                for role in ROLES {
                    let (_, body) = match &tokens[role] {
                        Some(token) => server.graphql_as(token, &document, json!({})).await,
                        None => server.graphql(&document, json!({})).await,
                    };
                    let got = outcome(&body);
                    let want = expected(op, role, market);
                    cells += 1;
                    if got != want {
                        mismatches.push(format!("{} as {role} in {market}: expected {want}, got {got}: {body}", op.name));
                    }
                }
            }
        }
        for (name, document) in PUBLIC {
            let (_, body) = server.graphql(document, json!({})).await;
            cells += 1;
            if outcome(&body) != "ok" {
                mismatches.push(format!("{name} as anonymous: expected ok: {body}"));
            }
        }
        assert!(mismatches.is_empty(), "{} of {cells} cells differ:\n{}", mismatches.len(), mismatches.join("\n"));

        // Every refusal above is a security event in the audit log.
        let denied = sql_text(&db, "SELECT CAST(COUNT(*) AS TEXT) FROM audit_log WHERE outcome = $1", "DENIED").await.unwrap();
        let forbidden_cells = OPERATIONS.iter().flat_map(|op| {
            let markets: &[&str] = match op.scope { Scope::Platform => &["alpha"], Scope::Market { .. } => &["alpha", "beta"] };
            markets.iter().flat_map(move |m| ROLES.iter().filter(move |r| expected(op, r, m) == "FORBIDDEN"))
        }).count();
        assert!(denied.parse::<usize>().unwrap() >= forbidden_cells, "{denied} denials audited, {forbidden_cells} expected");
    }
}
