//! `cargo xtask bench-checkout`: checkouts per second over HTTP, and the
//! share of a checkout spent in plugins.
//!
//! On a fresh store the release server gets two markets with one shop and
//! a shelf of `PRODUCTS` products each (tagged `special`, a million units of
//! each in stock): `bench-none` with no plugin and `bench-three` with three
//! copies of the template plugin enabled (10 % off `special` lines each).
//! `concurrency` customers then loop: put one unit in the cart, check out
//! with a new idempotency key, paying cash. Two mixes are measured per
//! market: `shelf`, where each customer walks the shelf (different customers
//! mostly buy different products, as in a market's ordinary trade), and
//! `one-sku`, where every customer buys the same variant (a flash sale: every
//! checkout queues for the same stock row). Each market gets the same load;
//! the plugins' share is the difference of the checkout medians (shelf mix)
//! over the three-plugin median. Every checkout is checked to come back PAID with
//! three adjustments (in `bench-three`) and not replayed (each run has its own
//! idempotency keys), so a failure or a replay cannot pass for a fast checkout.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::bench_accounts::{Client, PASSWORD};
use crate::bench_http::{Database, Server, micros, options, release_binary};
use crate::bench_plugins::{ADMIN, copy_manifest, create_admin, install};
use crate::plugins;

const NONE: &str = "bench-none";
const THREE: &str = "bench-three";
const PLUGINS: [&str; 3] = ["hello", "hello-2", "hello-3"];
/// Products on each market's shelf.
const PRODUCTS: usize = 48;

const CREATE_MARKET: &str = "mutation($code: String!) { createMarket(input: {code: $code, name: $code, centre: {latitude: 31.3, longitude: 120.6}, serviceRadiusMeters: 8000}) { market { code } userErrors { code message } } }";
const ENABLE: &str = "mutation($market: String!, $plugin: String!, $config: JSON) { enablePlugin(market: $market, plugin: $plugin, config: $config) { marketPlugin { enabled } userErrors { code field message } } }";
const CATEGORY: &str = "mutation($input: CreateCategoryInput!) { createCategory(input: $input) { category { id } userErrors { code message } } }";
const PRODUCT: &str = "mutation($input: CreateProductInput!) { createProduct(input: $input) { product { id variants { id } } userErrors { code field message } } }";
const LIST: &str =
    "mutation($id: ID!) { setProductStatus(id: $id, status: LISTED) { userErrors { code } } }";
const STOCK: &str = "mutation($id: ID!) { adjustStock(variantId: $id, delta: 1000000, reason: RESTOCK) { userErrors { code } } }";
const ADD: &str = "mutation($m: String!, $v: ID!) { addToCart(market: $m, variantId: $v, quantity: 1) { userErrors { code message } } }";
const CHECKOUT: &str = "mutation($m: String!, $input: CheckoutInput!) { checkout(market: $m, input: $input) { order { status adjustments { plugin } } replayed pricingFallbacks userErrors { code message } } }";

pub fn bench(args: &[String]) -> anyhow::Result<()> {
    let options = options(args)?;
    let binary = release_binary(options.binary.clone())?;
    let wasm_path = plugins::wasm_dir().join("hello_plugin.wasm");
    if !wasm_path.exists() {
        plugins::build()?;
    }
    let wasm = std::fs::read(&wasm_path)?;
    let manifest =
        std::fs::read_to_string(plugins::repo_root().join("examples/hello-plugin/plugin.toml"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    println!(
        "\ncheckout (add one unit to the cart, then check out, cash): {} customers at once, {} s per market and mix after a 2 s warm-up\n",
        options.concurrency, options.seconds
    );
    println!(
        "| backend | market | mix | checkouts/s | checkout p50 | checkout p99 | add-to-cart p50 | errors |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|");
    let mut shares = Vec::new();
    for backend in &options.backends {
        let database = Database::create(backend)?;
        let mut server = Server::start(&binary, &database)?;
        let outcome = (|| -> anyhow::Result<Vec<Outcome>> {
            create_admin(&binary, &database)?;
            runtime.block_on(async {
                let setup = set_up(
                    &server.base,
                    &database.url,
                    &wasm,
                    &manifest,
                    options.concurrency,
                )
                .await?;
                let mut outcomes = Vec::new();
                for (mix, shelf_size) in [("shelf", PRODUCTS), ("one-sku", 1)] {
                    for (market, shelf) in &setup.shelves {
                        let expected = if *market == THREE { PLUGINS.len() } else { 0 };
                        let outcome = drive(
                            &server.base,
                            market,
                            mix,
                            &shelf[..shelf_size],
                            &setup.customers,
                            expected,
                            Duration::from_secs(options.seconds),
                        )
                        .await?;
                        println!(
                            "| {backend} | {market} | {mix} | {:.0} | {} | {} | {} | {} |",
                            outcome.per_second,
                            micros(outcome.p50),
                            micros(outcome.p99),
                            micros(outcome.add_p50),
                            outcome.errors
                        );
                        if let Some(e) = &outcome.first_error {
                            println!("  first error: {e}");
                        }
                        outcomes.push(outcome);
                    }
                }
                Ok(outcomes)
            })
        })();
        server.stop();
        database.drop();
        let outcomes = outcome?;
        if let [none, three, ..] = outcomes.as_slice() {
            let share =
                (three.p50.as_secs_f64() - none.p50.as_secs_f64()) / three.p50.as_secs_f64();
            shares.push(format!(
                "{backend}: +{} per checkout with 3 plugins, {:.0} % of the checkout median",
                micros(three.p50.saturating_sub(none.p50)),
                share * 100.0
            ));
        }
    }
    println!("\nshare of a checkout spent in plugins (difference of medians):");
    for s in shares {
        println!("- {s}");
    }
    Ok(())
}

struct SetUp {
    /// Each market with the variants on its shelf.
    shelves: Vec<(&'static str, Vec<String>)>,
    customers: Vec<String>,
}

async fn set_up(
    base: &str,
    db_url: &str,
    wasm: &[u8],
    manifest: &str,
    customers: usize,
) -> anyhow::Result<SetUp> {
    let mut admin = Client::connect(base, db_url).await?;
    let (token, _) = admin.login(ADMIN).await?;
    admin.token = Some(token);
    for id in PLUGINS {
        let body = install(&admin, wasm, &copy_manifest(manifest, id)?).await?;
        if body["data"]["installPlugin"]["plugin"]["id"] != id {
            bail!("installPlugin {id}: {body}");
        }
    }
    let admin_id = admin
        .sql_text("SELECT id FROM accounts WHERE email = $1", ADMIN)
        .await?;
    let mut shelves = Vec::new();
    for market in [NONE, THREE] {
        let body = admin.post(CREATE_MARKET, json!({ "code": market })).await?;
        if body["data"]["createMarket"]["market"]["code"] != market {
            bail!("createMarket {market}: {body}");
        }
        if market == THREE {
            for id in PLUGINS {
                let body = admin
                    .post(ENABLE, json!({ "market": market, "plugin": id, "config": { "discountPercent": 10 } }))
                    .await?;
                if body["data"]["enablePlugin"]["marketPlugin"]["enabled"] != true {
                    bail!("enablePlugin {id}: {body}");
                }
            }
        }
        // The shop is put in place directly: onboarding is not what is measured.
        let shop = format!("shop-{market}");
        admin.sql_exec(&format!(
            "INSERT INTO merchants (id, market_code, name, status, created_at, updated_at) VALUES ('{shop}', '{market}', '{shop}', 'active', 0, 0)"
        )).await?;
        admin.sql_exec(&format!(
            "INSERT INTO merchant_members (merchant_id, account_id, role, added_at) VALUES ('{shop}', '{admin_id}', 'owner', 0)"
        )).await?;
        let body = admin
            .post(CATEGORY, json!({ "input": { "marketCode": market, "code": "aquatic", "nameZh": "水产", "fresh": true } }))
            .await?;
        let category = body["data"]["createCategory"]["category"]["id"]
            .as_str()
            .with_context(|| format!("createCategory: {body}"))?
            .to_string();
        let mut shelf = Vec::new();
        for n in 0..PRODUCTS {
            let body = admin.post(PRODUCT, json!({ "input": {
                "merchantId": shop, "categoryId": category, "name": format!("潜江清水小龙虾 {n}"), "specification": "4-6两",
                "origin": { "province": "湖北", "city": "潜江", "county": "潜江市" }, "description": "稻田养殖",
                "unit": "BOX", "minimumPackage": "5斤装", "minimumOrderQuantity": 1, "seasonal": true,
                "afterSaleNote": "死虾包赔", "tags": ["special"],
                "variants": [{ "skuCode": format!("QJ-5-{n}"), "name": "5斤装", "priceFen": 4500 }]
            } })).await?;
            let product = &body["data"]["createProduct"]["product"];
            let id = product["id"]
                .as_str()
                .with_context(|| format!("createProduct: {body}"))?;
            let variant = product["variants"][0]["id"]
                .as_str()
                .context("variant")?
                .to_string();
            admin.post(LIST, json!({ "id": id })).await?;
            let body = admin.post(STOCK, json!({ "id": variant })).await?;
            if body["data"]["adjustStock"]["userErrors"] != json!([]) {
                bail!("adjustStock: {body}");
            }
            shelf.push(variant);
        }
        shelves.push((market, shelf));
    }
    let mut tokens = Vec::new();
    for i in 0..customers {
        let login = format!("buyer{i}@bench.example");
        let body = admin
            .post(
                "mutation($input: RegisterInput!) { register(input: $input) { account { id } userErrors { code } } }",
                json!({ "input": { "login": login, "password": PASSWORD, "displayName": "buyer" } }),
            )
            .await?;
        if !body["data"]["register"]["account"]["id"].is_string() {
            bail!("register: {body}");
        }
        tokens.push(admin.login(&login).await?.0);
    }
    Ok(SetUp {
        shelves,
        customers: tokens,
    })
}

struct Outcome {
    per_second: f64,
    p50: Duration,
    p99: Duration,
    add_p50: Duration,
    errors: u64,
    first_error: Option<String>,
}

#[derive(Default)]
struct Samples {
    checkout: Vec<Duration>,
    add: Vec<Duration>,
    errors: u64,
    first_error: Option<String>,
}

/// Every customer loops add + checkout: 2 s warm-up, then `duration` measured.
/// Customer `n` buys `shelf[(n * 7 + i) % len]` on its `i`-th round, so with
/// one variant everyone buys it and with many they rarely meet.
async fn drive(
    base: &str,
    market: &'static str,
    mix: &'static str,
    shelf: &[String],
    customers: &[String],
    adjustments: usize,
    duration: Duration,
) -> anyhow::Result<Outcome> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(customers.len())
        .build()?;
    let url = Arc::new(format!("{base}/graphql"));
    let warm_up = Instant::now() + Duration::from_secs(2);
    let end = warm_up + duration;
    let workers: Vec<_> = customers
        .iter()
        .enumerate()
        .map(|(n, token)| {
            let (http, url, token, shelf) =
                (http.clone(), url.clone(), token.clone(), shelf.to_vec());
            tokio::spawn(async move {
                let mut samples = Samples::default();
                let post = |query: &'static str, variables: Value| {
                    http.post(url.as_str())
                        .bearer_auth(&token)
                        .json(&json!({ "query": query, "variables": variables }))
                        .send()
                };
                let mut i = 0u64;
                loop {
                    let now = Instant::now();
                    if now >= end {
                        break;
                    }
                    i += 1;
                    let variant = &shelf[(n * 7 + i as usize) % shelf.len()];
                    let measured = now >= warm_up;
                    let started = Instant::now();
                    let added: Result<Value, String> =
                        match post(ADD, json!({ "m": market, "v": variant })).await {
                            Ok(r) => r.json().await.map_err(|e| e.to_string()),
                            Err(e) => Err(e.to_string()),
                        };
                    let add_took = started.elapsed();
                    let input = json!({
                        "idempotencyKey": format!("{market}-{mix}-{n}-{i}"), "mode": "INSTANT",
                        "recipient": { "name": "顾客", "phone": "13800000000", "address": "苏州",
                            "location": { "latitude": 31.301, "longitude": 120.6 } },
                        "payment": { "provider": "CASH" }
                    });
                    let started = Instant::now();
                    let answer: Result<Value, String> =
                        match post(CHECKOUT, json!({ "m": market, "input": input })).await {
                            Ok(r) => r.json().await.map_err(|e| e.to_string()),
                            Err(e) => Err(e.to_string()),
                        };
                    let took = started.elapsed();
                    let failure = match (&added, &answer) {
                        (Err(e), _) | (_, Err(e)) => Some(e.clone()),
                        (Ok(a), _) if a["data"]["addToCart"]["userErrors"] != json!([]) => {
                            Some(a.to_string())
                        }
                        (_, Ok(b))
                            if b["data"]["checkout"]["order"]["status"] != "PAID"
                                || b["data"]["checkout"]["replayed"] != false
                                || b["data"]["checkout"]["order"]["adjustments"]
                                    .as_array()
                                    .map(Vec::len)
                                    != Some(adjustments) =>
                        {
                            Some(b.to_string())
                        }
                        _ => None,
                    };
                    // A failure counts in the warm-up too: it can leave a
                    // cart that skews what is measured after it.
                    match failure {
                        None if measured => {
                            samples.checkout.push(took);
                            samples.add.push(add_took);
                        }
                        None => {}
                        Some(e) => {
                            samples.errors += 1;
                            samples
                                .first_error
                                .get_or_insert(e.chars().take(400).collect());
                        }
                    }
                }
                samples
            })
        })
        .collect();
    let mut all = Samples::default();
    for worker in workers {
        let s = worker.await?;
        all.checkout.extend(s.checkout);
        all.add.extend(s.add);
        all.errors += s.errors;
        if all.first_error.is_none() {
            all.first_error = s.first_error;
        }
    }
    if all.checkout.is_empty() {
        bail!("no checkout succeeded: {:?}", all.first_error);
    }
    all.checkout.sort_unstable();
    all.add.sort_unstable();
    let at = |v: &[Duration], q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)];
    Ok(Outcome {
        per_second: all.checkout.len() as f64 / duration.as_secs_f64(),
        p50: at(&all.checkout, 0.5),
        p99: at(&all.checkout, 0.99),
        add_p50: at(&all.add, 0.5),
        errors: all.errors,
        first_error: all.first_error,
    })
}
