//! Event dispatch throughput (INT-2): N outbox events in one market with one
//! webhook subscription (`*`), then the node's dispatcher and delivery worker
//! are started and timed until (a) every event is dispatched (fanned out into
//! deliveries) and (b) every delivery has been POSTed to a local receiver,
//! signed, answered 200 and written down as succeeded.
//!
//! Everything is the real engine (store, services, both loops) in this
//! process; the receiver is axum on 127.0.0.1. Default `[events]` settings
//! (batches of 100, 16 POSTs in flight), no plugins on.
//!
//! Run: `cargo bench --bench events [-- --backend sqlite|postgres] [--events N]`
//! (both backends, 2,000 events by default; PostgreSQL at
//! `SHIJI_BENCH_POSTGRES_URL` or postgres://postgres@127.0.0.1:5432/postgres,
//! in a database of its own, dropped afterwards). Without `--bench` (as
//! `cargo test --all-targets` runs it) it is a smoke run: 50 events on
//! SQLite; it never fails on timing.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use shiji::caller::Caller;
use shiji::config::{Config, EventsConfig};
use shiji::events::EventLoops;
use shiji::markets::MarketInput;
use shiji::store::outbox::{self, OutboxRow};
use shiji::store::{Store, now_ms};
use sqlx::Connection;

const MARKET: &str = "bench";
const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

struct Options {
    backends: Vec<Backend>,
    events: usize,
    full: bool,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
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
        _ if full => vec![Backend::Sqlite, Backend::Postgres],
        _ => vec![Backend::Sqlite],
    };
    let events = value("--events")
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 2_000 } else { 50 });
    Options {
        backends,
        events,
        full,
    }
}

async fn count(store: &Store, sql: &str) -> i64 {
    shiji::on_pool!(store, pool => {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(pool)
            .await
            .expect("count")
    })
}

async fn run(backend: Backend, events: usize) -> String {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut postgres = None;
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}", data_dir.path().join("shiji.db").display()),
        Backend::Postgres => {
            let server = std::env::var("SHIJI_BENCH_POSTGRES_URL")
                .unwrap_or_else(|_| DEFAULT_POSTGRES.to_string());
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
            let url = format!("{base}/{name}");
            postgres = Some((server, name));
            url
        }
    };
    let mut config = Config {
        data_dir: data_dir.path().to_path_buf(),
        ..Config::default()
    };
    config.database.url = url;
    config.events = EventsConfig {
        poll_ms: 50,
        ..EventsConfig::default()
    };

    let store = shiji::server::open_store(&config).await.expect("store");
    let services = shiji::server::build_services(&config, store.clone())
        .await
        .expect("services");
    let operator = Caller::operator();
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
        .expect("market");

    // The receiver: counts and answers 200.
    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    let app = axum::Router::new().fallback(axum::routing::post(move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::Relaxed);
            "ok"
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("receiver") });
    services
        .webhooks
        .create(
            &operator,
            MARKET,
            &format!("http://{addr}/hook"),
            &["*".to_string()],
        )
        .await
        .expect("subscription");

    let mut tx = store.begin().await.expect("tx");
    let start_ms = now_ms();
    for i in 0..events {
        outbox::append(
            &mut tx,
            &[OutboxRow {
                id: uuid::Uuid::now_v7().to_string(),
                market_code: MARKET.into(),
                kind: "order.paid".into(),
                subject_id: format!("order-{i}"),
                payload: format!(r#"{{"orderId":"order-{i}","totalFen":{}}}"#, 1_000 + i),
                created_at: start_ms + i as i64,
                attempts: 0,
                claimed_until: 0,
                dispatched_at: None,
            }],
        )
        .await
        .expect("append");
    }
    tx.commit().await.expect("commit");

    let started = Instant::now();
    let loops = EventLoops::spawn(
        store.clone(),
        services.plugins.clone(),
        services.markets.clone(),
        services.webhooks.clone(),
        &config.events,
    )
    .expect("loops");
    let mut dispatched_after = None;
    let deadline = started + Duration::from_secs(600);
    loop {
        if dispatched_after.is_none()
            && count(
                &store,
                "SELECT COUNT(*) FROM outbox WHERE dispatched_at IS NULL",
            )
            .await
                == 0
        {
            dispatched_after = Some(started.elapsed());
        }
        if dispatched_after.is_some()
            && count(
                &store,
                "SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'succeeded'",
            )
            .await
                >= events as i64
        {
            break;
        }
        assert!(Instant::now() < deadline, "not delivered within 10 minutes");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let delivered_after = started.elapsed();
    loops.abort();
    let posts = received.load(Ordering::Relaxed);
    store.close().await;
    if let Some((server, name)) = postgres {
        let mut admin = sqlx::PgConnection::connect(&server)
            .await
            .expect("reconnect");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await
        .expect("drop bench database");
    }
    let dispatched_after = dispatched_after.unwrap_or(delivered_after);
    format!(
        "| {backend:?} | {events} | {:.0} | {:.0} | {:.2} s | {posts} |",
        events as f64 / dispatched_after.as_secs_f64(),
        events as f64 / delivered_after.as_secs_f64(),
        delivered_after.as_secs_f64(),
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
            rows.push(run(backend, opts.events).await);
        }
        println!();
        println!(
            "event dispatch, one subscription, batches of 100, 16 POSTs in flight{}",
            if opts.full { "" } else { " (smoke run)" }
        );
        println!(
            "| backend | events | dispatched/s | delivered/s (end to end) | all delivered after | POSTs |"
        );
        println!("|---|---|---|---|---|---|");
        for row in rows {
            println!("{row}");
        }
    });
}
