//! The plugin sandbox with real components: the template plugin adjusts
//! prices as configured; hostile fixtures (`tests/plugins/hostile`) loop,
//! exhaust memory, recurse, trap, answer nonsense or call what they were not
//! granted, and each is contained to its own call.
//!
//! The components are built by `cargo xtask test` (`cargo xtask build-plugins`)
//! into `target/plugins/wasm32-wasip2/release/`.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use shiji::plugins::hooks::adjust_prices;
use shiji::plugins::types::{AdjustmentTarget, CartLine, Customer, Market, PriceInput};
use shiji::plugins::{Limits, LoadedPlugin, PluginFault, PluginRuntime};

fn component(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/plugins/wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}. Build the plugins first: `cargo xtask build-plugins` (or run `cargo xtask test`)",
            path.display()
        )
    })
}

fn runtime() -> &'static PluginRuntime {
    static RUNTIME: OnceLock<PluginRuntime> = OnceLock::new();
    RUNTIME.get_or_init(|| PluginRuntime::new().expect("plugin runtime"))
}

fn load(name: &str) -> LoadedPlugin {
    runtime()
        .load(name, &component(name))
        .expect("component loads")
}

fn cart(config: &str, lines: usize) -> PriceInput {
    PriceInput {
        market: Market {
            code: "suzhou-shuangta".into(),
            time_zone: "Asia/Shanghai".into(),
            config_json: config.into(),
        },
        customer: Customer {
            id: Some("user:1".into()),
            segments: vec![],
            orders_placed: 3,
        },
        lines: (0..lines)
            .map(|i| CartLine {
                line_id: format!("line-{i}"),
                product_id: format!("p{i}"),
                variant_id: format!("v{i}"),
                merchant_id: "m1".into(),
                category: "aquatic".into(),
                quantity: 2,
                unit_price: 4_500,
                sold_by_weight: false,
                subtotal: 9_000,
                tags: if i % 2 == 0 {
                    vec!["special".into()]
                } else {
                    vec![]
                },
            })
            .collect(),
        now: "2026-11-25T08:00:00Z".into(),
    }
}

#[test]
fn the_template_plugin_discounts_specials_as_configured() {
    let hello = load("hello_plugin");
    let result = adjust_prices(
        runtime(),
        &hello,
        &Limits::default(),
        &cart(r#"{"discountPercent": 20}"#, 3),
    );
    assert_eq!(result.fallback, None);
    let adjustments = &result.output.adjustments;
    assert_eq!(
        adjustments.len(),
        2,
        "lines 0 and 2 are specials: {adjustments:?}"
    );
    for a in adjustments {
        assert_eq!(a.amount, -1_800, "20% of 90.00 yuan");
        assert!(
            matches!(&a.target, AdjustmentTarget::Line(id) if id == "line-0" || id == "line-2")
        );
        assert!(!a.reason.zh_cn.is_empty() && !a.reason.en.is_empty());
    }
    // The default is 10%.
    let result = adjust_prices(runtime(), &hello, &Limits::default(), &cart("{}", 1));
    assert_eq!(result.output.adjustments[0].amount, -900);
    assert!(
        result.stats.fuel_used > 0 && result.stats.fuel_used < 1_000_000,
        "{:?}",
        result.stats
    );
}

/// Which fault a hostile behaviour must produce.
type FaultCheck = fn(&PluginFault) -> bool;

/// Every hostile behaviour fails its own call, with the fault named, and the
/// core's prices stand.
#[test]
fn hostile_plugins_are_contained_call_by_call() {
    let hostile = load("hostile_plugin");
    let limits = Limits::default();
    let cases: &[(&str, FaultCheck)] = &[
        ("loop", |f| {
            matches!(f, PluginFault::OutOfFuel | PluginFault::Timeout)
        }),
        ("memory-bomb", |f| matches!(f, PluginFault::MemoryLimit)),
        ("recurse", |f| matches!(f, PluginFault::StackOverflow)),
        ("huge-output", |f| {
            matches!(f, PluginFault::MemoryLimit | PluginFault::OutputTooLarge(_))
        }),
        ("trap", |f| matches!(f, PluginFault::Trap(_))),
        ("negative-price", |f| {
            matches!(f, PluginFault::InvalidOutput(_))
        }),
        (
            "ungranted-import",
            |f| matches!(f, PluginFault::Failed(why) if why.contains("not-granted") || why.contains("NotGranted")),
        ),
        ("fuel", |f| matches!(f, PluginFault::OutOfFuel)),
    ];
    // Memory faults are shown with fuel and time to spare, so the memory cap
    // (16 MiB) is what stops them, not the instruction budget.
    let roomy = Limits {
        fuel: 2_000_000_000,
        deadline: Duration::from_secs(10),
        ..Limits::default()
    };
    for (behaviour, expected) in cases {
        let input = cart(&format!(r#"{{"behaviour": "{behaviour}"}}"#), 3);
        let limits_here = if matches!(*behaviour, "memory-bomb" | "huge-output") {
            &roomy
        } else {
            &limits
        };
        let result = adjust_prices(runtime(), &hostile, limits_here, &input);
        let fault = result
            .fallback
            .as_ref()
            .unwrap_or_else(|| panic!("{behaviour}: no fault"));
        assert!(expected(fault), "{behaviour}: unexpected fault {fault:?}");
        assert!(
            result.output.adjustments.is_empty(),
            "{behaviour}: core prices apply"
        );
        // The same plugin still serves a well-behaved call afterwards.
        let calm = adjust_prices(
            runtime(),
            &hostile,
            &limits,
            &cart(r#"{"behaviour": "none"}"#, 3),
        );
        assert_eq!(calm.fallback, None, "after {behaviour}");
    }
}

#[test]
fn limits_are_per_call_and_configurable() {
    let hostile = load("hostile_plugin");
    let input = cart(r#"{"behaviour": "fuel"}"#, 1);
    let generous = Limits {
        fuel: 500_000_000,
        deadline: Duration::from_secs(5),
        ..Limits::default()
    };
    let result = adjust_prices(runtime(), &hostile, &generous, &input);
    assert_eq!(result.fallback, None, "the same work fits a larger budget");
    assert!(result.stats.fuel_used > Limits::default().fuel);

    let tiny = Limits {
        max_input_bytes: 100,
        ..Limits::default()
    };
    let result = adjust_prices(runtime(), &hostile, &tiny, &cart("{}", 20));
    assert!(matches!(
        result.fallback,
        Some(PluginFault::InputTooLarge(_))
    ));
}

#[test]
fn a_component_that_does_not_fit_the_contract_is_refused() {
    let err = runtime().load("garbage", b"\0asm not really").unwrap_err();
    assert!(matches!(err, PluginFault::Incompatible(_)), "{err:?}");
}
