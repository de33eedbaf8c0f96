//! `hostile`: a test fixture whose `adjust-prices` misbehaves on purpose.
//!
//! The market's `config-json` picks the misbehaviour, e.g.
//! `{"behaviour": "loop"}`:
//!
//! | behaviour          | what `adjust-prices` does                                        |
//! |--------------------|------------------------------------------------------------------|
//! | `loop`             | loops forever                                                    |
//! | `memory-bomb`      | allocates 1 MiB blocks until allocation fails (abort: a trap)    |
//! | `recurse`          | recurses without bound (wasm stack overflow)                     |
//! | `huge-output`      | returns ~100 MB of adjustment codes                              |
//! | `trap`             | executes `unreachable`                                           |
//! | `panic`            | `panic!`s (through std's panic machinery, then abort)            |
//! | `negative-price`   | discounts every line by its subtotal + 1000 fen                  |
//! | `ungranted-import` | calls `storage::set` from the hot path; `Failed` with the error  |
//! | `fuel`             | a finite computation of roughly 50 million wasm instructions     |
//! | anything else      | behaves: an empty `PriceOutput`                                  |
//!
//! `quote-delivery` and `validate` misbehave the same way for `loop`,
//! `memory-bomb`, `recurse`, `trap`, `panic` and `fuel`; otherwise
//! `quote-delivery` offers one option (with a negative fee for
//! `negative-price`) and `validate` reports one violation for `violation`.
//!
//! `handle-event` (off path, with the storage it was granted):
//!
//! | behaviour          | what `handle-event` does                                          |
//! |--------------------|-------------------------------------------------------------------|
//! | `flaky-events`     | fails the first two deliveries of each event id, then accepts it  |
//! | `commerce`         | reads its market through `commerce.query` and stores the answer   |
//! | a misbehaviour     | as above                                                          |
//! | anything else      | accepts the event and counts it in storage                        |
//!
//! Every other export answers `Unsupported`.
//!
//! `std::hint::black_box` keeps the optimiser from proving the loops useless
//! and deleting them.

use std::hint::black_box;

use shiji_sdk::prelude::*;
use shiji_sdk::storage;

struct Hostile;

impl Plugin for Hostile {
    fn adjust_prices(input: PriceInput) -> Result<PriceOutput, HookError> {
        match behaviour(&input.market.config_json) {
            "loop" => spin_forever(),
            "memory-bomb" => memory_bomb(),
            "recurse" => {
                black_box(recurse(black_box(0)));
                Err(HookError::Failed("recursion ended, which it cannot".into()))
            }
            "huge-output" => Ok(huge_output()),
            "trap" => trap(),
            "panic" => panic!("hostile: panic on purpose"),
            "negative-price" => Ok(negative_price(&input)),
            "ungranted-import" => ungranted_import(),
            "fuel" => {
                black_box(burn_fuel(black_box(FUEL_ITERATIONS)));
                Ok(empty())
            }
            _ => Ok(empty()),
        }
    }

    fn quote_delivery(input: QuoteInput) -> Result<QuoteOutput, HookError> {
        let behaviour = behaviour(&input.market.config_json);
        misbehave(behaviour);
        let fee = if behaviour == "negative-price" {
            -500
        } else {
            500
        };
        Ok(QuoteOutput {
            options: vec![delivery_option(
                "hostile",
                None,
                fee,
                text("测试配送", "test delivery"),
            )],
        })
    }

    fn validate(input: ValidateInput) -> Result<ValidateOutput, HookError> {
        let behaviour = behaviour(&input.market.config_json);
        misbehave(behaviour);
        let violations = if behaviour == "violation" {
            vec![violation(
                "hostile-says-no",
                Some("document"),
                "测试插件拒绝",
                "the test plugin says no",
            )]
        } else {
            Vec::new()
        };
        Ok(ValidateOutput { violations })
    }

    fn handle_event(market: Market, event: DomainEvent) -> Result<(), HookError> {
        let behaviour = behaviour(&market.config_json);
        misbehave(behaviour);
        match behaviour {
            "flaky-events" => {
                let attempt = storage::increment(&format!("attempts:{}", event.id))?;
                if attempt < 3 {
                    return Err(HookError::Failed(format!("flaky: attempt {attempt}")));
                }
                Ok(())
            }
            "commerce" => {
                let answer = shiji_sdk::commerce::query("markets:read", "{}")?;
                storage::set("market", answer.as_bytes())?;
                Ok(())
            }
            _ => {
                storage::increment("events")?;
                Ok(())
            }
        }
    }

    // Every other export keeps the trait's default: `Unsupported`.
}

/// The misbehaviours every hook shares; returns for anything else.
fn misbehave(behaviour: &str) {
    match behaviour {
        "loop" => spin_forever(),
        "memory-bomb" => memory_bomb(),
        "recurse" => {
            black_box(recurse(black_box(0)));
        }
        "trap" => trap(),
        "panic" => panic!("hostile: panic on purpose"),
        "fuel" => {
            black_box(burn_fuel(black_box(FUEL_ITERATIONS)));
        }
        _ => {}
    }
}

export_plugin!(Hostile);

fn empty() -> PriceOutput {
    PriceOutput {
        adjustments: Vec::new(),
    }
}

/// The string value of `"behaviour"` in `{"behaviour": "..."}`, or `""`.
/// The SDK's reader needs no JSON library, so the fixture stays small.
fn behaviour(config_json: &str) -> &str {
    config::string(config_json, "behaviour").unwrap_or("")
}

fn spin_forever() -> ! {
    let mut i: u64 = 0;
    loop {
        i = black_box(i.wrapping_add(1));
    }
}

/// Keeps 1 MiB blocks alive until an allocation fails. A failed allocation
/// aborts (Rust's default), which traps: the host sees its memory limit
/// refuse a `memory.grow`, then the trap.
fn memory_bomb() -> ! {
    const MIB: usize = 1 << 20;
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        // Filled with non-zero bytes so every page is really written.
        hoard.push(black_box(vec![0xA5; MIB]));
        black_box(&hoard);
    }
}

/// Unbounded recursion. Only scalars live in each frame, so they stay in wasm
/// locals and the engine's wasm stack limit is what stops it (rather than the
/// shadow stack in linear memory).
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    if black_box(depth) == u64::MAX {
        return depth;
    }
    // Using the result after the call keeps it from being a tail call.
    black_box(recurse(black_box(depth + 1))) ^ depth
}

/// 100 adjustments with a 1 MB code each: ~100 MB the host has to refuse.
fn huge_output() -> PriceOutput {
    const ADJUSTMENTS: usize = 100;
    const CODE_BYTES: usize = 1_000_000;
    let adjustments = (0..ADJUSTMENTS)
        .map(|i| {
            order_adjustment(
                -1,
                "h".repeat(CODE_BYTES),
                text(format!("超大输出 {i}"), format!("huge output {i}")),
            )
        })
        .collect();
    PriceOutput { adjustments }
}

fn trap() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    std::process::abort();
}

/// Makes every line negative; with no lines, makes the order negative.
fn negative_price(input: &PriceInput) -> PriceOutput {
    const CODE: &str = "hostile-negative-price";
    let reason = || text("负价格", "negative price");
    let mut adjustments: Vec<Adjustment> = input
        .lines
        .iter()
        .map(|line| {
            line_adjustment(
                &line.line_id,
                -(line.subtotal.saturating_add(1000)),
                CODE,
                reason(),
            )
        })
        .collect();
    if adjustments.is_empty() {
        adjustments.push(order_adjustment(-1000, CODE, reason()));
    }
    PriceOutput { adjustments }
}

/// Host imports fail for hot-path hooks: report what the host answered.
fn ungranted_import() -> Result<PriceOutput, HookError> {
    match storage::set("hostile", b"written from the hot path") {
        Ok(()) => Ok(empty()),
        Err(error) => Err(HookError::Failed(format!(
            "storage::set from adjust-prices failed: {error:?}"
        ))),
    }
}

/// Iterations of `burn_fuel`'s loop for roughly 50 million wasm instructions
/// in Wasmtime fuel (each iteration costs about 31: a xorshift step, the
/// `black_box` round trip through memory, and the loop itself).
const FUEL_ITERATIONS: u64 = 1_600_000;

/// A finite but long computation: xorshift64 steps.
#[inline(never)]
fn burn_fuel(iterations: u64) -> u64 {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut i = 0;
    while i < iterations {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x = black_box(x);
        i += 1;
    }
    x
}

#[cfg(test)]
mod tests {
    use super::behaviour;

    #[test]
    fn reads_the_behaviour() {
        assert_eq!(behaviour(r#"{"behaviour": "loop"}"#), "loop");
        assert_eq!(behaviour(r#"{ "behaviour" :"fuel" }"#), "fuel");
        assert_eq!(behaviour("{}"), "");
        assert_eq!(behaviour(""), "");
        assert_eq!(behaviour(r#"{"behaviour": 3}"#), "");
    }
}
