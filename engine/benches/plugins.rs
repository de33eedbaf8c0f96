//! Cost of a plugin call: a fresh instance from the pooling allocator plus one
//! `adjust-prices` call on the template plugin, for a 20-line and a 200-line
//! cart; and the first compile of the component.
//!
//! Run: `cargo xtask build-plugins && cargo bench --bench plugins`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use shiji::plugins::hooks::adjust_prices;
use shiji::plugins::types::{CartLine, Customer, Market, PriceInput};
use shiji::plugins::{Limits, PluginRuntime};

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
}

criterion_group!(benches, bench);
criterion_main!(benches);
