//! Cost of a plugin call: a fresh instance from the pooling allocator plus one
//! `adjust-prices` call on the template plugin, for a 20-line and a 200-line
//! cart; the first compile of the component; and a cold load from the
//! artifact cache (deserialize the compiled code + link), which is what a node
//! does on start or when another node installed a plugin; and five plugins
//! (five components) called in a row, as a market with five plugins prices a
//! cart.
//!
//! Run: `cargo xtask build-plugins && cargo bench --bench plugins`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use shiji::plugins::hooks::adjust_prices;
use shiji::plugins::types::{CartLine, Customer, Market, PriceInput};
use shiji::plugins::{ArtifactCache, Limits, Origin, PluginRuntime, sha256_hex};

fn cart(lines: usize) -> PriceInput {
    PriceInput {
        market: Market {
            code: "suzhou-shuangta".into(),
            time_zone: "Asia/Shanghai".into(),
            config_json: r#"{"discountPercent": 15}"#.into(),
        },
        customer: Customer {
            id: Some("user:1".into()),
            segments: vec!["regular".into()],
            orders_placed: 12,
        },
        lines: (0..lines)
            .map(|i| CartLine {
                line_id: format!("line-{i}"),
                product_id: format!("product-{i}"),
                variant_id: format!("variant-{i}"),
                merchant_id: format!("merchant-{}", i % 5),
                category: "aquatic".into(),
                quantity: 1 + (i % 3) as u32,
                unit_price: 3_800,
                sold_by_weight: i % 4 == 0,
                subtotal: 3_800 * (1 + (i % 3) as i64),
                tags: if i % 3 == 0 {
                    vec!["special".into()]
                } else {
                    vec![]
                },
            })
            .collect(),
        now: "2026-11-25T08:00:00Z".into(),
    }
}

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    (at(0.5), at(0.99))
}

fn bench(c: &mut Criterion) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/plugins/wasm32-wasip2/release/hello_plugin.wasm");
    let Ok(wasm) = std::fs::read(&path) else {
        eprintln!(
            "{} is missing: run `cargo xtask build-plugins` first",
            path.display()
        );
        return;
    };
    let runtime = PluginRuntime::new().expect("runtime");
    let started = Instant::now();
    let plugin = runtime.load("hello", &wasm).expect("load");
    let measuring = std::env::args().any(|a| a == "--bench");
    println!(
        "\nhello-plugin: {} bytes, first compile + link {:.2?}",
        wasm.len(),
        started.elapsed()
    );
    let (_dir, cache) = cold_load(c, &runtime, &wasm, measuring);
    let limits = Limits::default();
    for lines in [20, 200] {
        let input = cart(lines);
        let probe = adjust_prices(&runtime, &plugin, &limits, &input);
        assert!(probe.fallback.is_none(), "{:?}", probe.fallback);
        if measuring {
            let samples = (0..5_000)
                .map(|_| {
                    let t = Instant::now();
                    let r = adjust_prices(&runtime, &plugin, &limits, &input);
                    std::hint::black_box(r);
                    t.elapsed()
                })
                .collect();
            let (p50, p99) = percentiles(samples);
            println!(
                "{lines:>3}-line cart: instantiate + adjust-prices p50={p50:.2?} p99={p99:.2?} fuel={} peak memory={} KiB",
                probe.stats.fuel_used,
                probe.stats.peak_memory / 1024
            );
        }
        c.bench_function(&format!("plugin/adjust_prices/{lines}_lines"), |b| {
            b.iter(|| adjust_prices(&runtime, &plugin, &limits, &input))
        });
    }
    five_in_a_row(c, &runtime, &cache, &wasm, measuring);
}

/// Five plugins' `adjust-prices` on a 20-line cart, one after the other. Each
/// is its own component deserialized from the cache, as on a node where five
/// plugins are installed (even with the same code).
fn five_in_a_row(
    c: &mut Criterion,
    runtime: &PluginRuntime,
    cache: &ArtifactCache,
    wasm: &[u8],
    measuring: bool,
) {
    let sha256 = sha256_hex(wasm);
    let plugins: Vec<_> = ["hello", "hello-2", "hello-3", "hello-4", "hello-5"]
        .iter()
        .map(|id| {
            let (component, _) = cache.component(runtime, &sha256, wasm).expect("load");
            runtime.link(id, &component).expect("link")
        })
        .collect();
    let limits = Limits::default();
    let input = cart(20);
    let all = || {
        for plugin in &plugins {
            let r = adjust_prices(runtime, plugin, &limits, &input);
            assert!(r.fallback.is_none(), "{:?}", r.fallback);
            std::hint::black_box(r);
        }
    };
    all();
    if measuring {
        let samples = (0..2_000)
            .map(|_| {
                let t = Instant::now();
                all();
                t.elapsed()
            })
            .collect();
        let (p50, p99) = percentiles(samples);
        println!("5 plugins in a row, 20-line cart: p50={p50:.2?} p99={p99:.2?}");
    }
    c.bench_function("plugin/adjust_prices/5_plugins_20_lines", |b| b.iter(all));
}

/// Loading from the artifact cache against compiling: the cache in a temporary
/// directory is filled by one miss, then every load deserializes the compiled
/// code from disk (the page cache, in practice) and links it.
fn cold_load(
    c: &mut Criterion,
    runtime: &PluginRuntime,
    wasm: &[u8],
    measuring: bool,
) -> (tempfile::TempDir, ArtifactCache) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let cache = ArtifactCache::at(dir.path());
    let sha256 = sha256_hex(wasm);
    let started = Instant::now();
    let (component, origin) = cache.component(runtime, &sha256, wasm).expect("compile");
    runtime.link("hello", &component).expect("link");
    let first = started.elapsed();
    assert_eq!(origin, Origin::Compiled, "the cache should start empty");
    let load = || {
        let (component, origin) = cache.component(runtime, &sha256, wasm).expect("load");
        assert_eq!(origin, Origin::Cache);
        runtime.link("hello", &component).expect("link")
    };
    // What came from the cache must run.
    let probe = adjust_prices(runtime, &load(), &Limits::default(), &cart(20));
    assert!(probe.fallback.is_none(), "{:?}", probe.fallback);
    println!("cache miss: compile + write + link {first:.2?}");
    if measuring {
        let compiles: Vec<Duration> = (0..10)
            .map(|_| {
                let t = Instant::now();
                let plugin = runtime.load("hello", wasm).expect("load");
                std::hint::black_box(plugin);
                t.elapsed()
            })
            .collect();
        let (p50, _) = percentiles(compiles);
        let samples = (0..200)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(load());
                t.elapsed()
            })
            .collect();
        let (cache_p50, cache_p99) = percentiles(samples);
        println!(
            "cold load from the artifact cache (deserialize + link): p50={cache_p50:.2?} p99={cache_p99:.2?}; compile + link p50={p50:.2?} (10 runs)"
        );
    }
    c.bench_function("plugin/cold_load_from_cache", |b| b.iter(load));
    (dir, cache)
}

criterion_group!(benches, bench);
criterion_main!(benches);
