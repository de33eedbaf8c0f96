//! Catalogue read throughput over HTTP (issue 5, "Measured"): requests/s and
//! p50/p99 at concurrency 16 against the release server, for (a) the first
//! page of 20 products with variants, prices and stock, (b) one product by id
//! and (c) a Chinese search.
//!
//! Seeding goes through the library, not HTTP: one market, a category tree,
//! 200 active shops with an owner each, and 10,000 products × 3 variants
//! created with `Catalogue::create_product` (so the search grams are the ones
//! the service writes), then listed and stocked shop by shop in one
//! transaction each with the store functions the service uses.
//!
//! Run: `cargo bench --bench catalogue [-- --backend sqlite|postgres] [--seconds N]`
//! (both backends by default; PostgreSQL at `SHIJI_BENCH_POSTGRES_URL`, or
//! postgres://postgres@127.0.0.1:5432/postgres, in a database of its own that
//! is dropped afterwards; `--keep` keeps it and prints where). Without
//! `--bench` (as `cargo test --all-targets` runs it) it is a smoke test: 200
//! products on SQLite, about a second per scenario, and it never fails on
//! timing.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use shiji::caller::{Actor, Caller};
use shiji::catalogue::{AttributeDef, AttributeKind, CategoryInput, ProductInput, VariantInput};
use shiji::config::Config;
use shiji::markets::MarketInput;
use shiji::store::accounts::{AccountRow, insert_account};
use shiji::store::catalogue::{self as rows, adjust_on_hand, save_product};
use shiji::store::merchants::{self, MerchantRow};
use shiji::store::{Store, now_ms};
use sqlx::Connection;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const MARKET: &str = "bench";
const CONCURRENCY: usize = 16;
const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

const ORIGINS: &[(&str, &str, &str)] = &[
    ("湖北", "潜江", "潜江"),
    ("湖北", "洪湖", "洪湖"),
    ("江苏", "苏州", "阳澄湖"),
    ("江苏", "盱眙", "盱眙"),
    ("江苏", "兴化", "兴化"),
    ("安徽", "巢湖", "巢湖"),
    ("湖南", "岳阳", "君山"),
    ("江西", "鄱阳", "鄱阳"),
    ("浙江", "嘉兴", "嘉善"),
    ("山东", "寿光", "寿光"),
    ("四川", "眉山", "彭山"),
    ("广东", "增城", "增城"),
];
const QUALIFIERS: &[&str] = &[
    "清水", "鲜活", "有机", "特级", "精选", "农家", "野生", "生态", "散养", "当季", "头茬", "新鲜",
];

/// A category: code, Chinese and English name, fresh, the products it holds.
struct CategorySpec {
    code: &'static str,
    zh: &'static str,
    en: &'static str,
    fresh: bool,
    products: &'static [&'static str],
}

const CATEGORIES: &[CategorySpec] = &[
    CategorySpec {
        code: "aquatic",
        zh: "水产",
        en: "Aquatic",
        fresh: true,
        products: &[],
    },
    CategorySpec {
        code: "crayfish",
        zh: "小龙虾",
        en: "Crayfish",
        fresh: true,
        products: &["小龙虾", "虾尾", "龙虾球"],
    },
    CategorySpec {
        code: "crab",
        zh: "螃蟹",
        en: "Crab",
        fresh: true,
        products: &["大闸蟹", "毛蟹", "六月黄"],
    },
    CategorySpec {
        code: "fish",
        zh: "鱼",
        en: "Fish",
        fresh: true,
        products: &["鲫鱼", "草鱼", "鳜鱼", "黄鳝", "泥鳅"],
    },
    CategorySpec {
        code: "vegetables",
        zh: "蔬菜",
        en: "Vegetables",
        fresh: true,
        products: &["青菜", "菠菜", "莴笋", "茭白", "西红柿", "黄瓜"],
    },
    CategorySpec {
        code: "aquatic-veg",
        zh: "水生蔬菜",
        en: "Aquatic vegetables",
        fresh: true,
        products: &["莲藕", "菱角", "藕带", "芡实", "荸荠"],
    },
    CategorySpec {
        code: "eggs",
        zh: "禽蛋",
        en: "Eggs",
        fresh: true,
        products: &["土鸡蛋", "鸭蛋", "咸鸭蛋", "鹌鹑蛋"],
    },
    CategorySpec {
        code: "poultry",
        zh: "禽肉",
        en: "Poultry",
        fresh: true,
        products: &["土鸡", "老母鸡", "麻鸭"],
    },
    CategorySpec {
        code: "rice",
        zh: "粮油",
        en: "Grain and oil",
        fresh: false,
        products: &["大米", "糯米", "菜籽油"],
    },
    CategorySpec {
        code: "tea",
        zh: "茶叶",
        en: "Tea",
        fresh: false,
        products: &["碧螺春", "绿茶", "红茶"],
    },
];

const SEARCHES: &[&str] = &["小龙虾", "潜江", "大闸蟹", "莲藕", "土鸡蛋", "清水小龙虾"];

#[derive(Clone, Copy, PartialEq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

struct Options {
    full: bool,
    backends: Vec<Backend>,
    seconds: u64,
    products: usize,
    merchants: usize,
    /// Keep the seeded database (and print where it is) to inspect it.
    keep: bool,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let full = args.iter().any(|a| a == "--bench");
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let backends = match value("--backend").as_deref() {
        Some("sqlite") => vec![Backend::Sqlite],
        Some("postgres") => vec![Backend::Postgres],
        Some(other) => panic!("--backend takes sqlite or postgres, not {other}"),
        None if full => vec![Backend::Sqlite, Backend::Postgres],
        None => vec![Backend::Sqlite],
    };
    let seconds = value("--seconds")
        .map(|s| s.parse().expect("--seconds takes a whole number"))
        .unwrap_or(if full { 10 } else { 1 });
    Options {
        full,
        backends,
        seconds,
        products: if full { 10_000 } else { 200 },
        merchants: if full { 200 } else { 10 },
        keep: args.iter().any(|a| a == "--keep"),
    }
}

/// A database of its own: a SQLite file in a temp dir, or a PostgreSQL
/// database dropped by `drop_database`.
struct Database {
    url: String,
    data_dir: tempfile::TempDir,
    postgres: Option<(String, String)>,
}

async fn create_database(backend: Backend) -> Database {
    let data_dir = tempfile::tempdir().expect("temp dir");
    match backend {
        Backend::Sqlite => Database {
            url: format!("sqlite://{}", data_dir.path().join("shiji.db").display()),
            data_dir,
            postgres: None,
        },
        Backend::Postgres => {
            let server = std::env::var("SHIJI_BENCH_POSTGRES_URL")
                .unwrap_or_else(|_| DEFAULT_POSTGRES.to_string());
            // The name comes from a UUID, never from input.
            let name = format!("shiji_bench_{}", uuid::Uuid::new_v4().simple());
            let mut admin = sqlx::PgConnection::connect(&server)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL at {server} is unreachable: {e}"));
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut admin)
                .await
                .expect("create bench database");
            let _ = admin.close().await;
            let base = server.rsplit_once('/').map(|(b, _)| b).unwrap_or(&server);
            Database {
                url: format!("{base}/{name}"),
                data_dir,
                postgres: Some((server, name)),
            }
        }
    }
}

async fn drop_database(db: &Database) {
    let Some((server, name)) = &db.postgres else {
        return;
    };
    let mut admin = sqlx::PgConnection::connect(server)
        .await
        .expect("reconnect to drop the bench database");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .expect("drop bench database");
    let _ = admin.close().await;
}

fn account_caller(account_id: &str) -> Caller {
    Caller {
        actor: Actor::Account {
            account_id: account_id.to_string(),
            session_id: "bench".into(),
        },
        ..Caller::anonymous()
    }
}

/// Seeds the catalogue; returns the product ids.
async fn seed(config: &Config, products: usize, merchant_count: usize) -> Vec<String> {
    let store = shiji::server::open_store(config).await.expect("open store");
    let services = shiji::server::build_services(config, store.clone())
        .await
        .expect("services");
    let operator = Caller::operator();
    let mut rng = StdRng::seed_from_u64(20_260_105);

    services
        .markets
        .create(
            &operator,
            MARKET,
            MarketInput {
                name: Some("基准市场".into()),
                centre: Some((30.4, 112.9)),
                service_radius_m: Some(30_000),
                ..MarketInput::default()
            },
        )
        .await
        .expect("create market");

    // The tree: 水产 over crayfish, crab and fish; the rest at the top.
    let mut categories = Vec::new();
    let mut aquatic = None;
    for (i, spec) in CATEGORIES.iter().enumerate() {
        let parent = match spec.code {
            "crayfish" | "crab" | "fish" => aquatic.clone(),
            _ => None,
        };
        let attributes = match spec.code {
            "crayfish" => vec![AttributeDef {
                name: "规格".into(),
                kind: AttributeKind::Enum,
                allowed_values: vec!["2-3钱".into(), "3-5钱".into(), "5-7钱".into()],
                required: true,
                unit: None,
            }],
            "eggs" => vec![AttributeDef {
                name: "枚数".into(),
                kind: AttributeKind::Integer,
                allowed_values: Vec::new(),
                required: false,
                unit: Some("枚".into()),
            }],
            _ => Vec::new(),
        };
        let category = services
            .catalogue
            .create_category(
                &operator,
                CategoryInput {
                    market: MARKET.into(),
                    parent_id: parent,
                    code: spec.code.into(),
                    name_zh: spec.zh.into(),
                    name_en: spec.en.into(),
                    position: i as i64,
                    fresh: spec.fresh,
                    attributes,
                },
            )
            .await
            .expect("create category");
        if spec.code == "aquatic" {
            aquatic = Some(category.row.id.clone());
        }
        categories.push((category.row.id, spec));
    }
    let sellable: Vec<_> = categories
        .iter()
        .filter(|(_, s)| !s.products.is_empty())
        .collect();

    // Shops, active, each with an owner account.
    let now = now_ms();
    let mut shops = Vec::new();
    let mut tx = store.begin().await.expect("begin");
    for i in 0..merchant_count {
        let account = AccountRow {
            id: uuid::Uuid::now_v7().to_string(),
            email: Some(format!("shop{i}@bench.example")),
            phone: None,
            password_hash: "bench-no-login".into(),
            password_changed_at: now,
            display_name: format!("店主{i}"),
            locale: "zh-CN".into(),
            failed_logins: 0,
            locked_until: None,
            created_at: now,
            updated_at: now,
        };
        insert_account(&mut tx, &account).await.expect("account");
        let (_, city, _) = ORIGINS[i % ORIGINS.len()];
        let merchant = MerchantRow {
            id: uuid::Uuid::now_v7().to_string(),
            market_code: MARKET.into(),
            name: format!("{city}鲜货{i}号店"),
            status: "active".into(),
            created_at: now,
            updated_at: now,
        };
        merchants::insert(&mut tx, &merchant)
            .await
            .expect("merchant");
        merchants::add_member(&mut tx, &merchant.id, &account.id, "owner", now)
            .await
            .expect("member");
        shops.push((merchant.id, account.id));
    }
    tx.commit().await.expect("commit shops");

    // Products through the service, shops in parallel (SQLite serialises the writes).
    let per_shop = products.div_ceil(merchant_count);
    let mut jobs = Vec::new();
    for (s, (merchant_id, account_id)) in shops.iter().enumerate() {
        let count = per_shop.min(products.saturating_sub(s * per_shop));
        let mut inputs = Vec::new();
        for k in 0..count {
            let (category_id, spec) = sellable[rng.random_range(0..sellable.len())];
            let item = spec.products[rng.random_range(0..spec.products.len())];
            let (province, city, county) = ORIGINS[rng.random_range(0..ORIGINS.len())];
            let qualifier = QUALIFIERS[rng.random_range(0..QUALIFIERS.len())];
            let base = rng.random_range(500..20_000_i64);
            let attributes = match spec.code {
                "crayfish" => vec![(
                    "规格".to_string(),
                    ["2-3钱", "3-5钱", "5-7钱"][k % 3].to_string(),
                )],
                _ => Vec::new(),
            };
            let input = ProductInput {
                category_id: Some(category_id.clone()),
                name: Some(format!("{city}{qualifier}{item}")),
                specification: Some(format!("{}斤装", 1 + k % 5)),
                origin: Some((province.into(), city.into(), county.into())),
                description: Some(format!(
                    "产地直发，{province}{city}{qualifier}{item}，当天采收，冷链配送。"
                )),
                unit: Some("jin".into()),
                minimum_package: Some("1斤".into()),
                min_order_qty: Some(1),
                seasonal: Some(k % 4 == 0),
                after_sale_note: Some("收货后2小时内反馈质量问题，核实后补发或退款。".into()),
                attributes: Some(attributes),
                tags: Some(vec![qualifier.to_string()]),
                image_ids: None,
            };
            let variants = ["小份", "中份", "大份"]
                .iter()
                .enumerate()
                .map(|(v, size)| VariantInput {
                    sku_code: Some(format!("S{s}-{k}-{v}")),
                    name: Some(format!("{size} {}斤", v + 1)),
                    sold_by_weight: Some(false),
                    price_fen: Some(base * (v as i64 + 1)),
                    estimated_weight_g: None,
                    low_stock_threshold: Some(5),
                })
                .collect::<Vec<_>>();
            inputs.push((input, variants, rng.random_range(20..500_i64)));
        }
        jobs.push((merchant_id.clone(), account_id.clone(), inputs));
    }
    let parallel = if matches!(store, Store::Sqlite(..)) {
        2
    } else {
        8
    };
    let catalogue = services.catalogue.clone();
    let created: Vec<Vec<String>> = futures_util::stream::iter(jobs)
        .map(|(merchant_id, account_id, inputs)| {
            let catalogue = catalogue.clone();
            let store = store.clone();
            async move {
                let caller = account_caller(&account_id);
                let mut made = Vec::new();
                for (input, variants, stock) in inputs {
                    let product = catalogue
                        .create_product(&caller, &merchant_id, input, variants)
                        .await
                        .unwrap_or_else(|e| panic!("create product: {e:?}"));
                    made.push((product, stock));
                }
                // List and stock the shop's products in one transaction, with
                // the store functions `set_status` and `adjust_stock` use.
                let at = now_ms();
                let mut tx = store.begin().await.expect("begin");
                let mut ids = Vec::new();
                for (product, stock) in made {
                    let mut row = product.row.clone();
                    row.status = shiji::catalogue::LISTED.into();
                    row.updated_at = at;
                    save_product(&mut tx, &row).await.expect("list product");
                    for v in &product.variants {
                        adjust_on_hand(&mut tx, &v.id, stock, at)
                            .await
                            .expect("stock");
                    }
                    ids.push(row.id);
                }
                tx.commit().await.expect("commit listing");
                ids
            }
        })
        .buffer_unordered(parallel)
        .collect()
        .await;
    let ids: Vec<String> = created.into_iter().flatten().collect();
    // Fresh statistics, as autovacuum would have them on a live database:
    // right after a bulk load PostgreSQL plans with row estimates of 1.
    if let Store::Postgres(pool) = &store {
        sqlx::query("ANALYZE").execute(pool).await.expect("analyze");
    }
    // The service's own view agrees: a product reads back on sale.
    let check = rows::find_product(&store, &ids[0])
        .await
        .expect("find")
        .expect("seeded product");
    assert_eq!(check.status, shiji::catalogue::LISTED);
    ids
}

/// `shiji serve` (release build) on the seeded database.
struct Server {
    child: Child,
    base: String,
}

async fn start_server(db: &Database) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shiji"))
        .arg("serve")
        .env("SHIJI_DATABASE_URL", &db.url)
        .env("SHIJI_DATA_DIR", db.data_dir.path())
        .env("SHIJI_SERVER_LISTEN", "127.0.0.1:0")
        .env("SHIJI_LOG_FILTER", "warn")
        .env_remove("SHIJI_CONFIG")
        .env_remove("SHIJI_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start shiji serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let base = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(addr) = line.strip_prefix("listening on ") {
                return Some(addr.trim().to_string());
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .expect("shiji serve did not start");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Server { child, base }
}

#[derive(Clone, Copy)]
enum Scenario {
    FirstPage,
    ById,
    Search,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::FirstPage => "(a) first page of 20",
            Scenario::ById => "(b) product by id",
            Scenario::Search => "(c) Chinese search",
        }
    }

    /// The request body for call number `n`.
    fn body(self, n: usize, ids: &[String], rng: &mut StdRng) -> Value {
        const LIST: &str = "query($filter: ProductFilter!) { products(filter: $filter, first: 20) \
            { edges { node { id name variants { priceFen stock { available } } } } } }";
        const ONE: &str = "query($id: ID!) { product(id: $id) \
            { id name variants { priceFen stock { available } } } }";
        match self {
            Scenario::FirstPage => {
                json!({ "query": LIST, "variables": { "filter": { "market": MARKET } } })
            }
            Scenario::ById => {
                json!({ "query": ONE, "variables": { "id": ids[rng.random_range(0..ids.len())] } })
            }
            Scenario::Search => json!({ "query": LIST, "variables": {
                "filter": { "market": MARKET, "query": SEARCHES[n % SEARCHES.len()] } } }),
        }
    }
}

/// Whether a response carries data (and no errors).
fn has_data(scenario: Scenario, body: &Value) -> bool {
    if body.get("errors").is_some() {
        return false;
    }
    match scenario {
        Scenario::ById => body["data"]["product"]["variants"]
            .as_array()
            .is_some_and(|v| !v.is_empty()),
        _ => body["data"]["products"]["edges"]
            .as_array()
            .is_some_and(|e| !e.is_empty() && e[0]["node"]["variants"].is_array()),
    }
}

async fn call(http: &reqwest::Client, url: &str, scenario: Scenario, body: &Value) -> bool {
    match http.post(url).json(body).send().await {
        Ok(response) if response.status().is_success() => match response.json::<Value>().await {
            Ok(v) => has_data(scenario, &v),
            Err(_) => false,
        },
        _ => false,
    }
}

struct Outcome {
    requests: usize,
    errors: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

/// Warm-up, then `seconds` of load at `CONCURRENCY`.
async fn drive(
    http: &reqwest::Client,
    url: &str,
    scenario: Scenario,
    ids: Arc<Vec<String>>,
    warmup: Duration,
    seconds: u64,
) -> Outcome {
    let run = |length: Duration, measure: bool| {
        let stop = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = (0..CONCURRENCY)
            .map(|t| {
                let (http, url, ids, stop) =
                    (http.clone(), url.to_string(), ids.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut rng = StdRng::seed_from_u64(t as u64);
                    let (mut latencies, mut errors, mut n) = (Vec::new(), 0usize, t);
                    while !stop.load(Ordering::Relaxed) {
                        let body = scenario.body(n, &ids, &mut rng);
                        n += CONCURRENCY;
                        let started = Instant::now();
                        let ok = call(&http, &url, scenario, &body).await;
                        if measure {
                            latencies.push(started.elapsed());
                            errors += usize::from(!ok);
                        }
                    }
                    (latencies, errors)
                })
            })
            .collect();
        async move {
            let started = Instant::now();
            tokio::time::sleep(length).await;
            stop.store(true, Ordering::Relaxed);
            let elapsed = started.elapsed();
            let mut outcome = Outcome {
                requests: 0,
                errors: 0,
                elapsed,
                latencies: Vec::new(),
            };
            for task in tasks {
                let (latencies, errors) = task.await.expect("load task");
                outcome.errors += errors;
                outcome.latencies.extend(latencies);
            }
            outcome.requests = outcome.latencies.len();
            outcome
        }
    };
    run(warmup, false).await;
    let mut outcome = run(Duration::from_secs(seconds), true).await;
    outcome.latencies.sort();
    outcome
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

async fn bench_backend(backend: Backend, opts: &Options) -> Vec<String> {
    let db = create_database(backend).await;
    let mut config = Config {
        data_dir: db.data_dir.path().to_path_buf(),
        ..Config::default()
    };
    config.database.url = db.url.clone();

    let started = Instant::now();
    let ids = seed(&config, opts.products, opts.merchants).await;
    let seeding = started.elapsed();
    println!(
        "{}: seeded {} products × 3 variants in {} shops in {:.1} s",
        backend.name(),
        ids.len(),
        opts.merchants,
        seeding.as_secs_f64()
    );

    let server = start_server(&db).await;
    let url = format!("{}/graphql", server.base);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client");
    let ids = Arc::new(ids);
    let mut out = Vec::new();
    for scenario in [Scenario::FirstPage, Scenario::ById, Scenario::Search] {
        // Never measure errors: every scenario must answer with data first.
        let mut rng = StdRng::seed_from_u64(1);
        for n in 0..SEARCHES.len() {
            let body = scenario.body(n, &ids, &mut rng);
            let response: Value = http
                .post(&url)
                .json(&body)
                .send()
                .await
                .expect("request")
                .json()
                .await
                .expect("JSON response");
            assert!(
                has_data(scenario, &response),
                "{} returned no data: {response}",
                scenario.name()
            );
        }
        let warmup = Duration::from_secs(if opts.full { 2 } else { 0 });
        let o = drive(&http, &url, scenario, ids.clone(), warmup, opts.seconds).await;
        let row = format!(
            "| {} | {} | {:.0} | {} | {} | {} |",
            backend.name(),
            scenario.name(),
            o.requests as f64 / o.elapsed.as_secs_f64(),
            ms(percentile(&o.latencies, 0.50)),
            ms(percentile(&o.latencies, 0.99)),
            o.errors
        );
        println!("{row}");
        out.push(row);
    }
    drop(server.child);
    let row = measure_import(backend, &db, &config, opts.products).await;
    println!("{row}");
    out.push(row);
    if opts.keep {
        println!(
            "kept {} (data dir {})",
            db.url,
            db.data_dir.keep().display()
        );
    } else {
        drop_database(&db).await;
    }
    out
}

/// Imports a generated file of `rows` rows (4 variants a product) into a new
/// shop through the release CLI, as a merchant's back office would, and
/// reports the wall time and the process's peak memory (`/usr/bin/time`).
async fn measure_import(backend: Backend, db: &Database, config: &Config, rows: usize) -> String {
    let store = shiji::server::open_store(config).await.expect("open store");
    let now = now_ms();
    let shop = MerchantRow {
        id: uuid::Uuid::now_v7().to_string(),
        market_code: MARKET.into(),
        name: "导入测试店".into(),
        status: "active".into(),
        created_at: now,
        updated_at: now,
    };
    let mut tx = store.begin().await.expect("begin");
    merchants::insert(&mut tx, &shop).await.expect("shop");
    tx.commit().await.expect("commit");
    store.close().await;

    let mut csv = String::from(
        "product,name,category,unit,min_order_qty,after_sale_note,attributes,tags,sku,variant,price_fen,stock,seasonal,sold_by_weight,origin_province,origin_city,origin_county,description\n",
    );
    for r in 0..rows {
        let p = r / 4;
        let grade = ["2-3钱", "3-5钱", "5-7钱"][p % 3];
        csv.push_str(&format!(
            "p{p},潜江清水小龙虾{p}号,crayfish,jin,1,死虾包赔,规格={grade},当季,SKU-{r},{grade} / {}斤装,{},{},true,false,湖北,潜江,潜江市,稻田养殖鲜活发货\n",
            r % 4 + 1,
            3_000 + (r % 4) as i64 * 500,
            100
        ));
    }
    let file = db.data_dir.path().join("import.csv");
    std::fs::write(&file, csv).expect("write import file");
    let output = Command::new("/usr/bin/time")
        .args(["-f", "time-report %e %M"])
        .arg(env!("CARGO_BIN_EXE_shiji"))
        .args(["import", "products"])
        .arg(&file)
        .args(["--merchant", &shop.id])
        .env("SHIJI_DATABASE_URL", &db.url)
        .env("SHIJI_DATA_DIR", db.data_dir.path())
        .env("SHIJI_LOG_FILTER", "warn")
        .env_remove("SHIJI_CONFIG")
        .output()
        .await
        .expect("run shiji import");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "import failed: {stderr} {}",
        String::from_utf8_lossy(&output.stdout)
    );
    let report = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("time-report "))
        .expect("time report");
    let (seconds, kib) = report.split_once(' ').expect("two figures");
    format!(
        "| {} | import of {rows} rows ({} products), CLI | {seconds} s | peak RSS {:.1} MiB |",
        backend.name(),
        rows.div_ceil(4),
        kib.trim().parse::<f64>().unwrap_or(0.0) / 1024.0
    )
}

fn main() {
    let opts = options();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let mut rows = Vec::new();
        for &backend in &opts.backends {
            rows.extend(bench_backend(backend, &opts).await);
        }
        println!();
        println!(
            "catalogue over HTTP, concurrency {CONCURRENCY}, {} s per scenario{}",
            opts.seconds,
            if opts.full {
                " after 2 s warm-up"
            } else {
                " (smoke run)"
            }
        );
        println!("| backend | scenario | requests/s | p50 | p99 | errors |");
        println!("|---|---|---|---|---|---|");
        for row in rows {
            println!("{row}");
        }
        if opts.full {
            println!("target for (a) on SQLite: ≥ 2,000 requests/s with p99 ≤ 25 ms");
        }
    });
}
