//! Plugins as an administrator and a frontend meet them: installed through an
//! admin mutation (a multipart upload), switched on per market with a
//! configuration checked against the plugin's schema, adding a GraphQL field
//! that answers per market, contained when hostile, and seen by every node.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::accounts::create_market;
use crate::on_both_backends;
use crate::support::session::{PASSWORD, bootstrap_admin, login, signed_up, sql_text};
use crate::support::{Server, first_code};

const INSTALL: &str = "mutation($input: InstallPluginInput!) { installPlugin(input: $input) { plugin { id version hooks capabilities grantedCapabilities sha256 } userErrors { code field message } } }";
const UPGRADE: &str = "mutation($input: UpgradePluginInput!) { upgradePlugin(input: $input) { plugin { id version grantedCapabilities } userErrors { code field message } } }";
const ENABLE: &str = "mutation($market: String!, $plugin: String!, $config: JSON) { enablePlugin(market: $market, plugin: $plugin, config: $config) { marketPlugin { enabled config breakerReason } userErrors { code field message } } }";
const DISABLE: &str = "mutation($market: String!, $plugin: String!) { disablePlugin(market: $market, plugin: $plugin) { marketPlugin { enabled } userErrors { code } } }";
const GREETING: &str = "query($market: String!) { helloGreeting(market: $market) }";
const MARKET_PLUGINS: &str = "query($code: String!) { market(code: $code) { plugins { plugin { id } enabled config breakerReason breakerTrippedAt recentFaults } } }";
const SIMULATE: &str = "query($market: String!, $lines: [PricingLineInput!]!) { simulatePricing(market: $market, lines: $lines) { subtotalFen totalFen adjustments { plugin lineId amountFen code reason } fallbacks { plugin reason } } }";

pub fn artifact(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/plugins/wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}. Build the plugins first: `cargo xtask build-plugins`",
            path.display()
        )
    })
}

pub fn manifest(path: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn hello_manifest() -> String {
    manifest("examples/hello-plugin/plugin.toml")
}

pub fn hostile_manifest() -> String {
    manifest("tests/plugins/hostile/plugin.toml")
}

impl Server {
    /// A GraphQL multipart request (the spec's `operations` + `map` + files)
    /// uploading `component` as `variables.input.component`.
    pub async fn upload_as(
        &self,
        token: &str,
        query: &str,
        mut input: Value,
        component: Vec<u8>,
    ) -> (u16, Value) {
        input["component"] = Value::Null;
        let operations = json!({ "query": query, "variables": { "input": input } });
        let form = reqwest::multipart::Form::new()
            .text("operations", operations.to_string())
            .text(
                "map",
                json!({ "0": ["variables.input.component"] }).to_string(),
            )
            .part(
                "0",
                reqwest::multipart::Part::bytes(component)
                    .file_name("plugin.wasm")
                    .mime_str("application/wasm")
                    .expect("mime"),
            );
        let response = self
            .http
            .post(self.url("/graphql"))
            .header("accept", "application/graphql-response+json")
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON response"))
    }
}

pub async fn install(
    server: &Server,
    root: &str,
    wasm: Vec<u8>,
    manifest: &str,
    grant: &[&str],
) -> Value {
    let (_, body) = server
        .upload_as(
            root,
            INSTALL,
            json!({ "manifest": manifest, "grant": grant }),
            wasm,
        )
        .await;
    body["data"]["installPlugin"].clone()
}

pub async fn enable(
    server: &Server,
    root: &str,
    market: &str,
    plugin: &str,
    config: Value,
) -> Value {
    let (_, body) = server
        .graphql_as(
            root,
            ENABLE,
            json!({ "market": market, "plugin": plugin, "config": config }),
        )
        .await;
    body["data"]["enablePlugin"].clone()
}

fn codes(payload: &Value) -> Vec<String> {
    payload["userErrors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["code"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn admin(server: &Server, db: &crate::support::TestDb) -> String {
    bootstrap_admin(db, "root@shiji.example").await;
    login(server, db, "root@shiji.example", PASSWORD).await["token"]
        .as_str()
        .expect("admin token")
        .to_string()
}

fn special_cart() -> Value {
    json!([
        { "lineId": "l1", "productId": "crayfish", "quantity": 2, "unitPriceFen": 4500, "tags": ["special"] },
        { "lineId": "l2", "productId": "lotus-root", "quantity": 1, "unitPriceFen": 1200 },
        // 1.5 kg at ¥38/kg.
        { "lineId": "l3", "productId": "river-fish", "quantity": 1500, "unitPriceFen": 3800, "soldByWeight": true }
    ])
}

on_both_backends! {
    async fn plugins_are_installed_switched_on_per_market_and_answer_there(db: TestDb) {
        let server = Server::start(&db, &[]).await;
        let root = admin(&server, &db).await;
        create_market(&server, &root, "alpha").await;
        create_market(&server, &root, "beta").await;
        let hello = hello_manifest();

        // Refusals name what is wrong and install nothing.
        let refused = install(&server, &root, artifact("hello_plugin"), &hello, &["markets:read"]).await;
        assert_eq!(codes(&refused), ["CAPABILITY_NOT_REQUESTED"], "{refused}");
        let refused = install(&server, &root, b"\0asm not really".to_vec(), &hello, &[]).await;
        assert_eq!(codes(&refused), ["COMPONENT_INCOMPATIBLE"], "{refused}");
        let broken = hello.replace("contract = \"0.1\"", "contract = \"7.0\"");
        let refused = install(&server, &root, artifact("hello_plugin"), &broken, &[]).await;
        assert_eq!(codes(&refused), ["MANIFEST_INVALID"], "{refused}");
        assert!(refused["userErrors"][0]["message"].as_str().unwrap().contains("contract"), "{refused}");

        let installed = install(&server, &root, artifact("hello_plugin"), &hello, &["storage"]).await;
        assert_eq!(codes(&installed), Vec::<String>::new(), "{installed}");
        assert_eq!(installed["plugin"]["id"], "hello");
        assert_eq!(installed["plugin"]["grantedCapabilities"], json!(["storage"]));
        assert_eq!(installed["plugin"]["hooks"], json!(["adjust-prices", "resolve"]));
        assert_eq!(installed["plugin"]["sha256"].as_str().unwrap().len(), 64);
        let again = install(&server, &root, artifact("hello_plugin"), &hello, &["storage"]).await;
        assert_eq!(codes(&again), ["PLUGIN_ALREADY_INSTALLED"]);

        // A second plugin adding the same field is refused, naming both.
        let twin = hello.replace("id = \"hello\"", "id = \"hello-twin\"");
        let clash = install(&server, &root, artifact("hello_plugin"), &twin, &[]).await;
        assert_eq!(codes(&clash), ["SCHEMA_CLASH"], "{clash}");
        let message = clash["userErrors"][0]["message"].as_str().unwrap();
        assert!(message.contains("helloGreeting") && message.contains("plugin:hello"), "{message}");

        // The field is in the schema at once, but off in every market.
        let (_, body) = server.graphql("{ __type(name: \"Query\") { fields { name } } }", json!({})).await;
        assert!(body.to_string().contains("helloGreeting"), "{body}");
        let (_, customer) = signed_up(&server, &db, "shopper@shiji.example").await;
        let (_, body) = server.graphql_as(&customer, GREETING, json!({ "market": "alpha" })).await;
        assert_eq!(first_code(&body), "FEATURE_DISABLED", "{body}");

        // A configuration outside the plugin's schema is refused field by field.
        let bad = enable(&server, &root, "alpha", "hello", json!({ "discountPercent": 95, "colour": "red" })).await;
        assert!(codes(&bad).iter().all(|c| c == "CONFIG_INVALID") && codes(&bad).len() == 2, "{bad}");
        assert!(bad["userErrors"].as_array().unwrap().iter().any(|e| e["field"] == json!(["config", "discountPercent"])), "{bad}");
        let missing = enable(&server, &root, "nowhere", "hello", json!({})).await;
        assert_eq!(codes(&missing), ["MARKET_NOT_FOUND"], "{missing}");

        let on = enable(&server, &root, "alpha", "hello", json!({ "discountPercent": 15 })).await;
        assert_eq!(on["marketPlugin"]["enabled"], true, "{on}");

        // On in alpha, for signed-in customers; off in beta.
        let (_, body) = server.graphql_as(&customer, GREETING, json!({ "market": "alpha" })).await;
        assert_eq!(body["data"]["helloGreeting"], "你好, Shiji (#1)", "{body}");
        let (_, body) = server.graphql_as(&customer, GREETING, json!({ "market": "alpha" })).await;
        assert_eq!(body["data"]["helloGreeting"], "你好, Shiji (#2)", "{body}");
        let (_, body) = server.graphql_as(&customer, GREETING, json!({ "market": "beta" })).await;
        assert_eq!(first_code(&body), "FEATURE_DISABLED");
        let (_, body) = server.graphql(GREETING, json!({ "market": "alpha" })).await;
        assert_eq!(first_code(&body), "UNAUTHENTICATED");

        // Administrators see what is on and how it is configured; customers do not.
        let (_, body) = server.graphql_as(&root, MARKET_PLUGINS, json!({ "code": "alpha" })).await;
        let plugins = &body["data"]["market"]["plugins"];
        assert_eq!(plugins[0]["plugin"]["id"], "hello", "{body}");
        assert_eq!(plugins[0]["config"], json!({ "discountPercent": 15 }));
        assert_eq!(plugins[0]["breakerReason"], Value::Null);
        let (_, body) = server.graphql_as(&customer, MARKET_PLUGINS, json!({ "code": "alpha" })).await;
        assert_eq!(first_code(&body), "FORBIDDEN", "{body}");

        // The promotion applies in alpha only: 15 % off the special line.
        let (_, body) = server.graphql_as(&root, SIMULATE, json!({ "market": "alpha", "lines": special_cart() })).await;
        let priced = &body["data"]["simulatePricing"];
        assert_eq!(priced["subtotalFen"], 9_000 + 1_200 + 5_700, "{body}");
        assert_eq!(priced["adjustments"][0]["lineId"], "l1");
        assert_eq!(priced["adjustments"][0]["amountFen"], -1_350);
        assert_eq!(priced["adjustments"][0]["reason"], "Special of the day: 15% off");
        assert_eq!(priced["totalFen"], 15_900 - 1_350);
        assert_eq!(priced["fallbacks"], json!([]));
        let (_, body) = server.graphql_as(&root, SIMULATE, json!({ "market": "beta", "lines": special_cart() })).await;
        assert_eq!(body["data"]["simulatePricing"]["adjustments"], json!([]), "{body}");

        // Off again: the field says so; storage stays for when it comes back.
        let (_, body) = server.graphql_as(&root, DISABLE, json!({ "market": "alpha", "plugin": "hello" })).await;
        assert_eq!(body["data"]["disablePlugin"]["marketPlugin"]["enabled"], false, "{body}");
        let (_, body) = server.graphql_as(&customer, GREETING, json!({ "market": "alpha" })).await;
        assert_eq!(first_code(&body), "FEATURE_DISABLED");

        // An upgrade keeps toggles and storage.
        enable(&server, &root, "alpha", "hello", json!({ "discountPercent": 15 })).await;
        let newer = hello.replace("version = \"0.1.0\"", "version = \"0.2.0\"");
        let (_, body) = server.upload_as(&root, UPGRADE, json!({ "manifest": newer }), artifact("hello_plugin")).await;
        let upgraded = &body["data"]["upgradePlugin"];
        assert_eq!(upgraded["plugin"]["version"], "0.2.0", "{body}");
        assert_eq!(upgraded["plugin"]["grantedCapabilities"], json!(["storage"]));
        let (_, body) = server.graphql_as(&customer, GREETING, json!({ "market": "alpha" })).await;
        assert_eq!(body["data"]["helloGreeting"], "你好, Shiji (#3)", "{body}");

        // Storage is per market: beta counts from one.
        enable(&server, &root, "beta", "hello", json!({})).await;
        let (_, body) = server.graphql_as(&customer, GREETING, json!({ "market": "beta" })).await;
        assert_eq!(body["data"]["helloGreeting"], "你好, Shiji (#1)", "{body}");

        // Uninstalled: the field leaves the schema.
        let (_, body) = server.graphql_as(&root, "mutation { uninstallPlugin(id: \"hello\") { done userErrors { code } } }", json!({})).await;
        assert_eq!(body["data"]["uninstallPlugin"]["done"], true, "{body}");
        let (_, body) = server.graphql_as(&customer, GREETING, json!({ "market": "alpha" })).await;
        assert_eq!(first_code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");

        // Every change is in the audit log.
        for action in ["plugin.install", "plugin.enable", "plugin.disable", "plugin.upgrade", "plugin.uninstall"] {
            let found = sql_text(&db, "SELECT action FROM audit_log WHERE action = $1", action).await;
            assert_eq!(found.as_deref(), Some(action));
        }

        // Only platform administrators install.
        let (_, body) = server.upload_as(&customer, INSTALL, json!({ "manifest": hello, "grant": [] }), artifact("hello_plugin")).await;
        assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
    }
}

on_both_backends! {
    async fn hostile_plugins_fail_their_call_only_and_trip_the_breaker(db: TestDb) {
        let server = Server::start(&db, &[]).await;
        let root = admin(&server, &db).await;
        create_market(&server, &root, "alpha").await;
        let installed = install(&server, &root, artifact("hostile_plugin"), &hostile_manifest(), &["storage"]).await;
        assert_eq!(codes(&installed), Vec::<String>::new(), "{installed}");
        let hello = install(&server, &root, artifact("hello_plugin"), &hello_manifest(), &[]).await;
        assert_eq!(codes(&hello), Vec::<String>::new(), "{hello}");
        enable(&server, &root, "alpha", "hello", json!({ "discountPercent": 10 })).await;
        // Installed without its storage grant, hello greets without counting:
        // the import answered `not-granted`.
        let (_, body) = server.graphql_as(&root, GREETING, json!({ "market": "alpha" })).await;
        assert_eq!(body["data"]["helloGreeting"], "你好, Shiji", "{body}");

        // Each misbehaviour fails that call only: the honest plugin's discount
        // still applies, the hostile one is listed as left out, and the
        // server carries on.
        let cases = [
            // Whichever comes first stops a loop: 10 M fuel or 50 ms.
            ("loop", &["fuel", "deadline"][..]),
            ("memory-bomb", &["memory limit"]),
            ("recurse", &["stack"]),
            ("huge-output", &["memory limit"]),
            ("trap", &["trapped"]),
            ("negative-price", &["negative"]),
            ("ungranted-import", &["NotGranted"]),
            ("fuel", &["fuel"]),
        ];
        for (behaviour, expected) in cases {
            let on = enable(&server, &root, "alpha", "hostile", json!({ "behaviour": behaviour })).await;
            assert_eq!(on["marketPlugin"]["enabled"], true, "{on}");
            let (status, body) = server.graphql_as(&root, SIMULATE, json!({ "market": "alpha", "lines": special_cart() })).await;
            assert_eq!(status, 200, "{behaviour}: {body}");
            let priced = &body["data"]["simulatePricing"];
            assert_eq!(priced["adjustments"][0]["plugin"], "hello", "{behaviour}: {body}");
            assert_eq!(priced["totalFen"], 15_900 - 900, "{behaviour}: {body}");
            assert_eq!(priced["fallbacks"][0]["plugin"], "hostile", "{behaviour}: {body}");
            let reason = priced["fallbacks"][0]["reason"].as_str().unwrap_or_default();
            assert!(
                expected.iter().any(|e| reason.contains(e)),
                "{behaviour}: `{reason}` should mention one of {expected:?}"
            );
            let health = server.http.get(server.url("/healthz")).send().await.unwrap();
            assert_eq!(health.status().as_u16(), 200, "{behaviour}");
        }

        // Repeated faults trip the breaker: the plugin is switched off in the
        // market with the reason, and the flow runs without it.
        enable(&server, &root, "alpha", "hostile", json!({ "behaviour": "trap" })).await;
        for _ in 0..5 {
            let (_, body) = server.graphql_as(&root, SIMULATE, json!({ "market": "alpha", "lines": special_cart() })).await;
            assert_eq!(body["data"]["simulatePricing"]["totalFen"], 15_000, "{body}");
        }
        let started = Instant::now();
        let tripped = loop {
            let (_, body) = server.graphql_as(&root, MARKET_PLUGINS, json!({ "code": "alpha" })).await;
            let hostile = body["data"]["market"]["plugins"]
                .as_array()
                .and_then(|list| list.iter().find(|p| p["plugin"]["id"] == "hostile").cloned())
                .expect("hostile listed");
            if hostile["enabled"] == false {
                break hostile;
            }
            assert!(started.elapsed() < Duration::from_secs(5), "breaker not recorded: {body}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let reason = tripped["breakerReason"].as_str().expect("a reason");
        assert!(reason.contains("adjust-prices") && reason.contains("trapped"), "{reason}");
        assert!(tripped["breakerTrippedAt"].is_string());
        let (_, body) = server.graphql_as(&root, SIMULATE, json!({ "market": "alpha", "lines": special_cart() })).await;
        assert_eq!(body["data"]["simulatePricing"]["fallbacks"], json!([]), "{body}");
        let found = sql_text(&db, "SELECT actor FROM audit_log WHERE action = $1", "plugin.breaker_tripped").await;
        assert_eq!(found.as_deref(), Some("engine"));

        // Faults are counted for monitoring.
        let metrics = server.http.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(
            metrics.contains(r#"shiji_plugin_faults_total{fault="trap",hook="adjust-prices",plugin="hostile"} 6"#),
            "{metrics}"
        );

        // Re-enabling resets it.
        let on = enable(&server, &root, "alpha", "hostile", json!({ "behaviour": "none" })).await;
        assert_eq!(on["marketPlugin"]["enabled"], true);
        assert_eq!(on["marketPlugin"]["breakerReason"], Value::Null);
    }
}

on_both_backends! {
    async fn a_toggle_on_one_node_holds_on_another(db: TestDb) {
        let a = Server::start(&db, &[]).await;
        let b = Server::start(&db, &[]).await;
        let root = admin(&a, &db).await;
        create_market(&a, &root, "alpha").await;
        let (_, customer) = signed_up(&a, &db, "shopper@shiji.example").await;
        let installed = install(&a, &root, artifact("hello_plugin"), &hello_manifest(), &["storage"]).await;
        assert_eq!(codes(&installed), Vec::<String>::new(), "{installed}");

        let seen_on_b = |expect_on: bool| {
            let b = &b;
            let customer = customer.clone();
            async move {
                let started = Instant::now();
                loop {
                    let (_, body) = b.graphql_as(&customer, GREETING, json!({ "market": "alpha" })).await;
                    let on = body["data"]["helloGreeting"].is_string();
                    if on == expect_on {
                        return started.elapsed();
                    }
                    assert!(started.elapsed() < Duration::from_secs(3), "node B still says {body}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        };
        enable(&a, &root, "alpha", "hello", json!({})).await;
        let on_after = seen_on_b(true).await;
        let (_, body) = a.graphql_as(&root, DISABLE, json!({ "market": "alpha", "plugin": "hello" })).await;
        assert_eq!(body["data"]["disablePlugin"]["marketPlugin"]["enabled"], false);
        let off_after = seen_on_b(false).await;
        eprintln!("node B saw the toggle after {on_after:?} (on) and {off_after:?} (off)");
    }
}
