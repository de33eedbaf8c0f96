//! What an authorisation check costs at 10,000 policies across 100 markets.
//!
//! The policy: the default policy, plus 100 permissions per market (10 roles ×
//! 10 of 40 object/action pairs), plus 1,000 subjects holding one to three
//! roles in random markets and 10 holding roles in `*`. Requests are drawn at
//! random, so almost every (subject, market, object, action) is asked for the
//! first time; denied requests include markets the subject holds nothing in,
//! actions its roles lack, and subjects the policy has never heard of.
//!
//! Criterion reports means; the percentile loop times individual checks with
//! `Instant` (about 20–30 ns of which is the clock itself) and prints p50/p99.
//! casbin's own `enforce` runs on the same store for comparison, on fewer
//! requests because a denied one scans every policy line.
//!
//! Run: `cargo bench --bench authz`. `SHIJI_BENCH_CASBIN_SAMPLES` sets how many
//! requests casbin's percentile loop times (default 500 of each kind).

use std::hint::black_box;
use std::time::{Duration, Instant};

use casbin::{CoreApi, DefaultModel, Enforcer};
use criterion::{Criterion, criterion_group, criterion_main};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shiji::authz::{Authz, MODEL_CONF, Policy, ROLES, RoleGrant, StoreAdapter};
use shiji::config::Config;
use shiji::store::Store;

const MARKETS: usize = 100;
const OBJECTS: usize = 20;
const ACTIONS: [&str; 2] = ["read", "write"];
const PAIRS_PER_ROLE: usize = 10;
const SUBJECTS: usize = 1_000;
const REQUESTS: usize = 100_000;

type Request = (String, String, String, String);

struct Fixture {
    authz: Authz,
    casbin: Enforcer,
    allowed: Vec<Request>,
    denied: Vec<Request>,
    policies: usize,
    grants: usize,
    _dir: tempfile::TempDir,
}

fn market(i: usize) -> String {
    format!("market-{i:02}")
}

/// The object/action pairs role `r` holds in every market.
fn pairs_of(r: usize) -> impl Iterator<Item = (String, &'static str)> {
    (0..PAIRS_PER_ROLE).map(move |k| {
        let pair = (4 * r + k) % (OBJECTS * ACTIONS.len());
        (format!("obj-{:02}", pair / 2), ACTIONS[pair % 2])
    })
}

fn fixture() -> Fixture {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        config.database.url = format!("sqlite://{}", dir.path().join("bench.db").display());
        let store = Store::connect(&config).await.expect("store");
        store.migrate().await.expect("migrate");
        let authz = Authz::load(&store).await.expect("load");

        let mut policies = Vec::new();
        for m in 0..MARKETS {
            for (r, role) in ROLES.iter().enumerate() {
                for (object, action) in pairs_of(r) {
                    policies.push(Policy::new(role, &market(m), &object, action));
                }
            }
        }
        authz.add_policies(&policies).await.expect("add policies");

        let mut rng = StdRng::seed_from_u64(20_240_601);
        let mut grants = Vec::new();
        // (subject, role index, market index) for drawing allowed requests.
        let mut held = Vec::new();
        for s in 0..SUBJECTS {
            let subject = format!("user:{s:04}");
            for _ in 0..rng.random_range(1..=3) {
                let (r, m) = (
                    rng.random_range(0..ROLES.len()),
                    rng.random_range(0..MARKETS),
                );
                grants.push(RoleGrant::new(&subject, ROLES[r], &market(m)));
                held.push((subject.clone(), r, m));
            }
        }
        for s in 0..10 {
            grants.push(RoleGrant::new(&format!("user:staff-{s}"), "regulator", "*"));
        }
        authz.grant_roles(&grants).await.expect("grant roles");

        let mut allowed = Vec::with_capacity(REQUESTS);
        while allowed.len() < REQUESTS {
            let (subject, r, m) = &held[rng.random_range(0..held.len())];
            let pairs: Vec<_> = pairs_of(*r).collect();
            let (object, action) = &pairs[rng.random_range(0..pairs.len())];
            allowed.push((
                subject.clone(),
                market(*m),
                object.clone(),
                action.to_string(),
            ));
        }
        let mut denied = Vec::with_capacity(REQUESTS);
        while denied.len() < REQUESTS {
            // One in ten subjects is unknown to the policy altogether.
            let subject = if rng.random_bool(0.1) {
                format!("user:{}", rng.random_range(10_000..1_000_000))
            } else {
                format!("user:{:04}", rng.random_range(0..SUBJECTS))
            };
            let m = market(rng.random_range(0..MARKETS));
            let object = format!("obj-{:02}", rng.random_range(0..OBJECTS));
            let action = ACTIONS[rng.random_range(0..ACTIONS.len())];
            if !authz.check(&subject, &m, &object, action) {
                denied.push((subject, m, object, action.to_string()));
            }
        }
        for (s, m, o, a) in allowed.iter().take(1_000) {
            assert!(authz.check(s, m, o, a), "{s} {m} {o} {a} should be allowed");
        }

        let model = DefaultModel::from_str(MODEL_CONF).await.expect("model");
        let casbin = Enforcer::new(model, StoreAdapter::new(store.clone()))
            .await
            .expect("casbin");
        let (policies, grants) = (authz.policies().len(), authz.grants().len());
        Fixture {
            authz,
            casbin,
            allowed,
            denied,
            policies,
            grants,
            _dir: dir,
        }
    })
}

/// Times each request on its own; returns (p50, p99, max).
fn percentiles(requests: &[Request], mut check: impl FnMut(&Request) -> bool) -> [Duration; 3] {
    let mut times: Vec<Duration> = requests
        .iter()
        .map(|request| {
            let start = Instant::now();
            black_box(check(black_box(request)));
            start.elapsed()
        })
        .collect();
    times.sort_unstable();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    [at(0.50), at(0.99), at(1.0)]
}

fn report(label: &str, requests: &[Request], check: impl FnMut(&Request) -> bool) {
    let [p50, p99, max] = percentiles(requests, check);
    println!(
        "{label:<24} n={:<7} p50={:>10.2?} p99={:>10.2?} max={:>10.2?}",
        requests.len(),
        p50,
        p99,
        max
    );
}

fn bench(c: &mut Criterion) {
    let f = fixture();
    let casbin_samples: usize = std::env::var("SHIJI_BENCH_CASBIN_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);

    println!(
        "\npolicy: {} permissions, {} role grants, {MARKETS} markets",
        f.policies, f.grants
    );
    // `cargo test --all-targets` runs benches once as a smoke test (without
    // `--bench`); the percentile loops are for real measurement runs only.
    let measuring = std::env::args().any(|a| a == "--bench");
    let fast = |(s, m, o, a): &Request| f.authz.check(s, m, o, a);
    let casbin = |(s, m, o, a): &Request| {
        f.casbin
            .enforce((s.as_str(), m.as_str(), o.as_str(), a.as_str()))
            .unwrap_or(false)
    };
    if measuring {
        report("fast path, allowed", &f.allowed, fast);
        report("fast path, denied", &f.denied, fast);
        report(
            "casbin enforce, allowed",
            &f.allowed[..casbin_samples],
            casbin,
        );
        report(
            "casbin enforce, denied",
            &f.denied[..casbin_samples],
            casbin,
        );
        println!();
    }

    let mut group = c.benchmark_group("authz_check");
    for (name, requests) in [("allowed", &f.allowed), ("denied", &f.denied)] {
        let mut i = 0;
        group.bench_function(format!("fast/{name}"), |b| {
            b.iter(|| {
                i = (i + 1) % requests.len();
                fast(&requests[i])
            })
        });
    }
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    for (name, requests) in [("allowed", &f.allowed), ("denied", &f.denied)] {
        let mut i = 0;
        group.bench_function(format!("casbin/{name}"), |b| {
            b.iter(|| {
                i = (i + 1) % requests.len();
                casbin(&requests[i])
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
