//! `cargo xtask bench-plugins`: what 5 enabled plugins cost a request, end to
//! end over HTTP.
//!
//! On a fresh store the release server gets an administrator, two markets
//! (`bench-none` with no plugin, `bench-five` with five) and five copies of
//! the template plugin (`hello`, `hello-2` … `hello-5`, each 10 % off lines
//! tagged `special`). `simulatePricing` on a 20-line cart runs every enabled
//! plugin's `adjust-prices` hook; the same request against both markets gives
//! the overhead of five plugin calls as the difference of the medians.
//!
//! Before and after each load the five-plugin market is checked to answer one
//! adjustment per plugin per special line, and an answer listing a fallback
//! (a plugin left out) counts as an error, so a breaker tripping or a plugin
//! failing cannot pass for a fast request.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::bench_accounts::{Client, PASSWORD};
use crate::bench_http::{
    Database, LoadResult, Request, Server, load, micros, options, release_binary,
};
use crate::plugins;

pub const ADMIN: &str = "bench-admin@shiji.example";
const NONE: &str = "bench-none";
const FIVE: &str = "bench-five";
const PLUGINS: [&str; 5] = ["hello", "hello-2", "hello-3", "hello-4", "hello-5"];
const CART_LINES: usize = 20;

const SIMULATE: &str = "query($market: String!, $lines: [PricingLineInput!]!) { simulatePricing(market: $market, lines: $lines) { subtotalFen totalFen adjustments { plugin lineId amountFen } fallbacks { plugin reason } } }";
const INSTALL: &str = "mutation($input: InstallPluginInput!) { installPlugin(input: $input) { plugin { id } userErrors { code field message } } }";
const ENABLE: &str = "mutation($market: String!, $plugin: String!, $config: JSON) { enablePlugin(market: $market, plugin: $plugin, config: $config) { marketPlugin { enabled } userErrors { code field message } } }";
const CREATE_MARKET: &str = "mutation($code: String!) { createMarket(input: {code: $code, name: $code, centre: {latitude: 31.3, longitude: 120.6}, serviceRadiusMeters: 8000}) { market { code } userErrors { code message } } }";

pub fn bench(args: &[String]) -> anyhow::Result<()> {
    let options = options(args)?;
    let binary = release_binary(options.binary.clone())?;
    let wasm_path = plugins::wasm_dir().join("hello_plugin.wasm");
    if !wasm_path.exists() {
        plugins::build()?;
    }
    let wasm =
        std::fs::read(&wasm_path).with_context(|| format!("reading {}", wasm_path.display()))?;
    let manifest =
        std::fs::read_to_string(plugins::repo_root().join("examples/hello-plugin/plugin.toml"))?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let seconds = Duration::from_secs(options.seconds);
    println!(
        "\nsimulatePricing, {CART_LINES}-line cart ({} lines tagged special): {} connections, {} s per market after a 2 s warm-up\n",
        special_lines().len(),
        options.concurrency,
        options.seconds
    );
    println!("| backend | market | requests/s | p50 | p99 | errors |");
    println!("|---|---|---:|---:|---:|---:|");
    let mut overheads = Vec::new();
    for backend in &options.backends {
        let database = Database::create(backend)?;
        let mut server = Server::start(&binary, &database)?;
        let outcome = (|| -> anyhow::Result<(LoadResult, LoadResult)> {
            create_admin(&binary, &database)?;
            runtime.block_on(async {
                let admin = set_up(&server.base, &database.url, &wasm, &manifest).await?;
                let mut results = Vec::new();
                for market in [NONE, FIVE] {
                    verify(&admin, market).await?;
                    let result = load(
                        &server.base,
                        &request(&admin, market),
                        options.concurrency,
                        seconds,
                    )
                    .await?;
                    verify(&admin, market).await?;
                    if let Some(why) = &result.first_error {
                        eprintln!("{backend} {market}: first failed request: {why}");
                    }
                    println!(
                        "| {backend} | {market} | {:.0} | {} | {} | {} |",
                        result.per_second,
                        micros(result.p50),
                        micros(result.p99),
                        result.errors
                    );
                    results.push(result);
                }
                let five = results.pop().expect("five");
                let none = results.pop().expect("none");
                Ok((none, five))
            })
        })();
        server.stop();
        database.drop();
        let (none, five) = outcome?;
        overheads.push(format!(
            "{backend}: 5 plugins add {} per request at p50 ({} → {}), {} at p99",
            signed_micros(five.p50, none.p50),
            micros(none.p50),
            micros(five.p50),
            signed_micros(five.p99, none.p99)
        ));
    }
    println!();
    for line in overheads {
        println!("{line}");
    }
    Ok(())
}

/// `a - b`, signed, in the units `micros` uses.
fn signed_micros(a: Duration, b: Duration) -> String {
    if a >= b {
        format!("+{}", micros(a - b))
    } else {
        format!("-{}", micros(b - a))
    }
}

/// The first platform administrator, through the CLI as an operator would.
pub fn create_admin(binary: &Path, database: &Database) -> anyhow::Result<()> {
    let mut child = Command::new(binary)
        .args(["admin", "create", "--email", ADMIN, "--password-stdin"])
        .env_remove("SHIJI_CONFIG")
        .env("SHIJI_DATABASE_URL", &database.url)
        .env("SHIJI_DATA_DIR", &database.dir)
        .env("SHIJI_LOG_FILTER", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting `shiji admin create`")?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(format!("{PASSWORD}\n").as_bytes())?;
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!(
            "`shiji admin create` failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Signs in, creates both markets, installs the five plugins and enables
/// them in `bench-five`.
async fn set_up(base: &str, db_url: &str, wasm: &[u8], manifest: &str) -> anyhow::Result<Client> {
    let mut admin = Client::connect(base, db_url).await?;
    let (token, _) = admin.login(ADMIN).await?;
    admin.token = Some(token);
    for market in [NONE, FIVE] {
        let body = admin.post(CREATE_MARKET, json!({ "code": market })).await?;
        if body["data"]["createMarket"]["market"]["code"] != market {
            bail!("createMarket {market}: {body}");
        }
    }
    for id in PLUGINS {
        let body = install(&admin, wasm, &copy_manifest(manifest, id)?).await?;
        let payload = &body["data"]["installPlugin"];
        if payload["plugin"]["id"] != id {
            bail!("installPlugin {id}: {body}");
        }
        let body = admin
            .post(
                ENABLE,
                json!({ "market": FIVE, "plugin": id, "config": { "discountPercent": 10 } }),
            )
            .await?;
        if body["data"]["enablePlugin"]["marketPlugin"]["enabled"] != true {
            bail!("enablePlugin {id} in {FIVE}: {body}");
        }
    }
    Ok(admin)
}

/// The template's manifest under another id. Copies implement only
/// `adjust-prices` and add no GraphQL (two plugins adding the same field are
/// refused as a schema clash).
pub fn copy_manifest(manifest: &str, id: &str) -> anyhow::Result<String> {
    if id == "hello" {
        return Ok(manifest.to_string());
    }
    let mut in_graphql = false;
    let mut copy = String::new();
    for line in manifest.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            in_graphql = trimmed.starts_with("[graphql") || trimmed.starts_with("[[graphql");
        }
        if in_graphql {
            continue;
        }
        let line = match trimmed {
            "id = \"hello\"" => format!("id = \"{id}\""),
            _ if trimmed.starts_with("hooks =") => "hooks = [\"adjust-prices\"]".to_string(),
            _ => line.to_string(),
        };
        copy.push_str(&line);
        copy.push('\n');
    }
    if !copy.contains(&format!("id = \"{id}\"")) || copy.contains("[graphql") {
        bail!("examples/hello-plugin/plugin.toml changed shape: cannot make the {id} copy");
    }
    Ok(copy)
}

/// `installPlugin` as a GraphQL multipart request (operations + map + file).
pub async fn install(admin: &Client, wasm: &[u8], manifest: &str) -> anyhow::Result<Value> {
    let operations = json!({
        "query": INSTALL,
        "variables": { "input": { "component": null, "manifest": manifest, "grant": ["storage"] } },
    });
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text(
            "map",
            json!({ "0": ["variables.input.component"] }).to_string(),
        )
        .part(
            "0",
            reqwest::multipart::Part::bytes(wasm.to_vec())
                .file_name("plugin.wasm")
                .mime_str("application/wasm")?,
        );
    let token = admin.token.as_deref().context("signed in")?;
    let response = admin
        .http
        .post(&admin.url)
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await?;
    Ok(response.json().await?)
}

/// A 20-line cart; every third line is tagged `special`.
fn cart() -> Value {
    let lines: Vec<Value> = (0..CART_LINES)
        .map(|i| {
            json!({
                "lineId": format!("line-{i}"),
                "productId": format!("product-{i}"),
                "merchantId": format!("merchant-{}", i % 5),
                "category": "aquatic",
                "quantity": 1 + i % 3,
                "unitPriceFen": 3_800,
                "tags": if i % 3 == 0 { vec!["special"] } else { vec![] },
            })
        })
        .collect();
    Value::Array(lines)
}

fn special_lines() -> Vec<String> {
    (0..CART_LINES)
        .filter(|i| i % 3 == 0)
        .map(|i| format!("line-{i}"))
        .collect()
}

fn request(admin: &Client, market: &str) -> Request {
    Request {
        body: json!({ "query": SIMULATE, "variables": { "market": market, "lines": cart() } }),
        token: admin.token.clone(),
        // A plugin left out: its call failed, so the request measured less.
        failure_marker: Some("\"fallbacks\":[{"),
    }
}

/// Checks that the market answers what it should: no adjustment without
/// plugins; with five, one from each plugin on every special line and nothing
/// else. Toggles reach the serving node within about a second, so it retries
/// for a few.
async fn verify(admin: &Client, market: &str) -> anyhow::Result<()> {
    let expected: BTreeSet<(String, String)> = if market == FIVE {
        special_lines()
            .into_iter()
            .flat_map(|line| PLUGINS.map(|p| (p.to_string(), line.clone())))
            .collect()
    } else {
        BTreeSet::new()
    };
    let started = Instant::now();
    loop {
        let body = admin
            .post(SIMULATE, json!({ "market": market, "lines": cart() }))
            .await?;
        let priced = &body["data"]["simulatePricing"];
        let adjustments = priced["adjustments"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let seen: BTreeSet<(String, String)> = adjustments
            .iter()
            .map(|a| {
                (
                    a["plugin"].as_str().unwrap_or_default().to_string(),
                    a["lineId"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let good = priced["fallbacks"] == json!([])
            && seen == expected
            && adjustments.len() == expected.len();
        if good {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(5) {
            bail!(
                "{market} should answer {} adjustments ({} plugins × {} special lines) and no fallback: {body}",
                expected.len(),
                if market == FIVE { PLUGINS.len() } else { 0 },
                special_lines().len()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
