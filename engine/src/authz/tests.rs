//! Authorisation, as a tour: the default policy, grants and revokes, markets,
//! a second node, the adapter under casbin, and the index against casbin.
//!
//! Each scenario runs on a SQLite file in a temporary directory and on a fresh
//! PostgreSQL database when `SHIJI_TEST_POSTGRES_URL` names a server. Unset,
//! the PostgreSQL half says so and passes; set but unreachable, it fails.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use casbin::{CoreApi, DefaultModel, Enforcer, Filter, MgmtApi};
use futures_util::FutureExt;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use sqlx::Connection;

use super::*;
use crate::config::Config;

const POSTGRES_URL_VAR: &str = "SHIJI_TEST_POSTGRES_URL";

#[derive(Debug, Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A migrated database that exists for one test.
struct TestDb {
    config: Config,
    store: Store,
    _dir: tempfile::TempDir,
}

impl TestDb {
    /// Another pool on the same database: what a second engine node has.
    async fn another_node(&self) -> Store {
        Store::connect(&self.config).await.expect("connect again")
    }
}

/// Runs `scenario` on a fresh database of `backend`, dropping it even if the scenario panics.
async fn run<F, Fut>(backend: Backend, scenario: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    let mut postgres = None;
    match backend {
        Backend::Sqlite => {
            config.database.url = format!("sqlite://{}", dir.path().join("shiji.db").display());
        }
        Backend::Postgres => {
            let Ok(server_url) = std::env::var(POSTGRES_URL_VAR) else {
                eprintln!(
                    "{POSTGRES_URL_VAR} is not set: the PostgreSQL half of this test did not run"
                );
                return;
            };
            let name = format!("shiji_authz_{}", uuid::Uuid::new_v4().simple());
            let mut admin = sqlx::PgConnection::connect(&server_url)
                .await
                .unwrap_or_else(|e| {
                    panic!("{POSTGRES_URL_VAR} is set but PostgreSQL is unreachable: {e}")
                });
            // The name is generated here from a UUID, never from input.
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut admin)
                .await
                .expect("create test database");
            let _ = admin.close().await;
            config.database.url = with_database(&server_url, &name);
            postgres = Some((server_url, name));
        }
    }

    let store = Store::connect(&config).await.expect("connect");
    store.migrate().await.expect("migrate");
    let db = TestDb {
        config,
        store: store.clone(),
        _dir: dir,
    };
    let result = AssertUnwindSafe(scenario(db)).catch_unwind().await;
    store.close().await;
    if let Some((server_url, name)) = postgres {
        let mut admin = sqlx::PgConnection::connect(&server_url)
            .await
            .expect("reconnect to drop the test database");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await
        .expect("drop test database");
        let _ = admin.close().await;
    }
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// Replaces the database name in a PostgreSQL URL.
fn with_database(server_url: &str, name: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (server_url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// Writes a scenario once, runs it on SQLite and on PostgreSQL.
macro_rules! on_both_backends {
    (async fn $name:ident($db:ident: TestDb) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn scenario($db: TestDb) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run(Backend::Sqlite, scenario).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run(Backend::Postgres, scenario).await;
            }
        }
    };
}

fn default_policies() -> Vec<Policy> {
    let mut policies: Vec<Policy> = default_rules()
        .expect("default policy parses")
        .into_iter()
        .filter(|rule| rule.ptype == "p")
        .map(|rule| {
            let [role, market, object, action, ..] = &rule.values;
            Policy::new(role, market, object, action)
        })
        .collect();
    policies.sort_unstable();
    policies
}

#[test]
fn the_default_policy_never_lets_anyone_change_audit_records() {
    let policies = default_policies();
    assert!(policies.len() > 50, "{} default policies", policies.len());
    let audit_actions: HashSet<&str> = policies
        .iter()
        .filter(|p| p.object == "audit_log")
        .map(|p| p.action.as_str())
        .collect();
    assert_eq!(audit_actions, HashSet::from(["read"]));
    // Every role of REQUIREMENTS.md has something to do, and every line is for `*`.
    for role in super::ROLES.iter().copied() {
        assert!(
            policies.iter().any(|p| p.role == role),
            "{role} has no policy"
        );
    }
    assert!(policies.iter().all(|p| p.market == "*"));
}

#[test]
fn values_that_cannot_be_stored_are_refused() {
    for (value, field) in [("", "role"), (" customer", "role"), ("customer\n", "role")] {
        let err = Policy::new(value, "m1", "order", "read")
            .validate()
            .expect_err("refused");
        assert!(matches!(err, AuthzError::Invalid { field: f, .. } if f == field));
    }
    let long = "x".repeat(256);
    assert!(
        RoleGrant::new("user:1", "customer", &long)
            .validate()
            .is_err()
    );
    assert!(RoleGrant::new("user:1", "customer", "*").validate().is_ok());
}

on_both_backends! {
    async fn the_default_policy_is_seeded_once(db: TestDb) {
        let authz = Authz::load(&db.store).await.expect("load");
        assert_eq!(authz.policies(), default_policies());

        // An admin removes a default permission; the next start must not put it back.
        assert!(authz.remove_policy("courier", "*", "order", "read").await.expect("remove"));
        let restarted = Authz::load(&db.store).await.expect("load again");
        assert_eq!(restarted.policies().len(), default_policies().len() - 1);
        assert!(!restarted.policies().contains(&Policy::new("courier", "*", "order", "read")));
    }
}

on_both_backends! {
    async fn a_grant_allows_and_a_revoke_denies_at_once(db: TestDb) {
        let authz = Authz::load(&db.store).await.expect("load");
        let user = "user:7";
        assert!(!authz.check(user, "suzhou-1", "staff", "write"));

        assert!(authz.grant_role(user, "market_admin", "suzhou-1").await.expect("grant"));
        assert!(authz.check(user, "suzhou-1", "staff", "write"));
        assert!(authz.check(user, "suzhou-1", "verification", "review"));
        assert!(!authz.check(user, "suzhou-1", "policy", "write"), "not a platform admin");
        // Granting again changes nothing.
        assert!(!authz.grant_role(user, "market_admin", "suzhou-1").await.expect("grant again"));

        assert!(authz.revoke_role(user, "market_admin", "suzhou-1").await.expect("revoke"));
        assert!(!authz.check(user, "suzhou-1", "staff", "write"));
        assert!(!authz.revoke_role(user, "market_admin", "suzhou-1").await.expect("revoke again"));
    }
}

on_both_backends! {
    async fn a_role_in_one_market_does_not_reach_another(db: TestDb) {
        let authz = Authz::load(&db.store).await.expect("load");
        authz.grant_role("user:1", "market_admin", "qianjiang").await.expect("grant");
        authz.grant_role("token:9", "merchant_staff", "suzhou-1").await.expect("grant");

        assert!(authz.check("user:1", "qianjiang", "market", "write"));
        assert!(!authz.check("user:1", "suzhou-1", "market", "write"));
        assert!(authz.check("token:9", "suzhou-1", "product", "write"));
        assert!(!authz.check("token:9", "qianjiang", "product", "write"));

        // A permission written for one market holds in that market only.
        authz.add_policy("courier", "qianjiang", "settlement", "read").await.expect("add");
        authz.grant_role("user:2", "courier", "qianjiang").await.expect("grant");
        authz.grant_role("user:2", "courier", "suzhou-1").await.expect("grant");
        assert!(authz.check("user:2", "qianjiang", "settlement", "read"));
        assert!(!authz.check("user:2", "suzhou-1", "settlement", "read"));

        assert_eq!(authz.roles_of("user:1", "qianjiang"), ["market_admin"]);
        assert!(authz.roles_of("user:1", "suzhou-1").is_empty());
    }
}

on_both_backends! {
    async fn a_role_granted_in_every_market_reaches_them_all(db: TestDb) {
        let authz = Authz::load(&db.store).await.expect("load");
        authz.grant_role("user:reg", "regulator", "*").await.expect("grant");
        authz.grant_role("user:root", "platform_admin", "*").await.expect("grant");
        authz.grant_role("user:root", "customer", "suzhou-1").await.expect("grant");

        for market in ["qianjiang", "suzhou-1", "a-market-nobody-mentioned"] {
            assert!(authz.check("user:reg", market, "audit_log", "read"), "{market}");
            assert!(!authz.check("user:reg", market, "market", "write"), "read-only");
            assert!(authz.check("user:root", market, "policy", "write"), "{market}");
            assert!(!authz.check("user:root", market, "audit_log", "write"), "no such action");
            assert!(!authz.check("user:root", market, "audit_log", "delete"), "no such action");
        }

        assert_eq!(authz.roles_of("user:root", "suzhou-1"), ["customer", "platform_admin"]);
        assert_eq!(authz.roles_of("user:root", "qianjiang"), ["platform_admin"]);
        assert_eq!(authz.subjects_with_role("regulator", "qianjiang"), ["user:reg"]);
        assert_eq!(authz.subjects_with_role("customer", "suzhou-1"), ["user:root"]);
        assert!(authz.subjects_with_role("customer", "qianjiang").is_empty());
    }
}

on_both_backends! {
    async fn changes_persist_and_reach_a_second_node(db: TestDb) {
        let node_a = Authz::load(&db.store).await.expect("load a");
        let node_b = Authz::load(&db.another_node().await).await.expect("load b");

        node_a.grant_role("user:5", "station_staff", "suzhou-1").await.expect("grant");
        node_a.add_policy("station_staff", "suzhou-1", "label", "print").await.expect("add");
        assert!(!node_b.check("user:5", "suzhou-1", "label", "print"), "not reloaded yet");
        node_b.reload().await.expect("reload");
        assert!(node_b.check("user:5", "suzhou-1", "label", "print"));
        assert!(node_b.check("user:5", "suzhou-1", "order", "write"));

        // A grant the other node already wrote is still taken up here.
        node_b.grant_role("user:6", "courier", "suzhou-1").await.expect("grant on b");
        assert!(node_a.grant_role("user:6", "courier", "suzhou-1").await.expect("grant on a"));
        assert!(node_a.check("user:6", "suzhou-1", "shipment", "write"));

        node_a.revoke_role("user:5", "station_staff", "suzhou-1").await.expect("revoke");
        node_b.reload().await.expect("reload");
        assert!(!node_b.check("user:5", "suzhou-1", "order", "write"));

        // A node started afterwards sees the same rules.
        let node_c = Authz::load(&db.another_node().await).await.expect("load c");
        assert_eq!(node_c.policies(), node_a.policies());
        assert_eq!(node_c.grants(), node_a.grants());
        assert!(node_c.check("user:6", "suzhou-1", "shipment", "write"));
        assert!(!node_c.check("user:5", "suzhou-1", "label", "print"));
    }
}

on_both_backends! {
    async fn an_unreachable_store_is_reported_as_unavailable(db: TestDb) {
        let authz = Authz::load(&db.store).await.expect("load");
        authz.grant_role("user:1", "customer", "suzhou-1").await.expect("grant");
        db.store.close().await;

        let err = authz.grant_role("user:2", "customer", "suzhou-1").await.expect_err("closed");
        assert!(matches!(err, AuthzError::Unavailable(_)), "{err:?}");
        let err = authz.reload().await.expect_err("closed");
        assert!(matches!(err, AuthzError::Unavailable(_)), "{err:?}");
        // Checks keep answering from the last policy the node saw, and a failed
        // reload has not emptied casbin behind the index's back.
        assert!(authz.check("user:1", "suzhou-1", "order", "write"));
        assert!(!authz.check("user:2", "suzhou-1", "order", "write"));
        assert!(authz.enforce_with_casbin("user:1", "suzhou-1", "order", "write").await.expect("enforce"));
    }
}

/// The rows of `casbin_rule`, as casbin sees them.
async fn stored(store: &Store) -> Vec<(String, Vec<String>)> {
    let mut rows: Vec<_> = adapter::load_rules(store)
        .await
        .expect("load rules")
        .into_iter()
        .map(|rule| {
            let values = rule.to_casbin();
            (rule.ptype, values)
        })
        .collect();
    rows.sort();
    rows
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|s| s.to_string()).collect()
}

on_both_backends! {
    async fn the_adapter_carries_every_casbin_operation(db: TestDb) {
        let model = || async { DefaultModel::from_str(MODEL_CONF).await.expect("model") };
        let mut e = Enforcer::new(model().await, StoreAdapter::new(db.store.clone()))
            .await
            .expect("enforcer");
        assert!(e.get_policy().is_empty());

        e.add_policies(vec![
            strings(&["customer", "m1", "order", "read"]),
            strings(&["customer", "m2", "order", "read"]),
            strings(&["courier", "m1", "shipment", "write"]),
        ])
        .await
        .expect("add policies");
        e.add_grouping_policy(strings(&["user:1", "customer", "m1"])).await.expect("grant");
        e.add_grouping_policy(strings(&["user:2", "courier", "m1"])).await.expect("grant");
        assert_eq!(stored(&db.store).await.len(), 5);
        assert!(e.enforce(("user:1", "m1", "order", "read")).expect("enforce"));

        // Filtered removal: every customer permission in m1, by position.
        e.remove_filtered_policy(0, strings(&["customer", "m1"])).await.expect("filtered");
        assert!(!stored(&db.store).await.contains(&("p".into(), strings(&["customer", "m1", "order", "read"]))));
        assert!(stored(&db.store).await.contains(&("p".into(), strings(&["customer", "m2", "order", "read"]))));
        // An empty value matches anything.
        e.remove_filtered_grouping_policy(1, strings(&["", "m1"])).await.expect("filtered");
        assert!(stored(&db.store).await.iter().all(|(ptype, _)| ptype == "p"));

        e.remove_policies(vec![strings(&["customer", "m2", "order", "read"])])
            .await
            .expect("remove policies");
        assert_eq!(stored(&db.store).await, [("p".into(), strings(&["courier", "m1", "shipment", "write"]))]);

        // save_policy replaces the table with casbin's view.
        e.get_mut_model().add_policy("p", "p", strings(&["regulator", "*", "audit_log", "read"]));
        e.save_policy().await.expect("save");
        assert_eq!(stored(&db.store).await.len(), 2);

        // A filtered load keeps only what the filter names, and says so.
        let mut filtered = Enforcer::new(model().await, StoreAdapter::new(db.store.clone()))
            .await
            .expect("enforcer");
        filtered
            .load_filtered_policy(Filter { p: vec!["regulator"], g: vec![] })
            .await
            .expect("filtered load");
        assert!(filtered.is_filtered());
        assert_eq!(filtered.get_policy(), [strings(&["regulator", "*", "audit_log", "read"])]);

        e.clear_policy().await.expect("clear");
        assert!(stored(&db.store).await.is_empty());
    }
}

/// Random requests over a random policy with role chains, `*` grants and
/// direct subject permissions: the index must answer exactly as casbin.
async fn assert_index_agrees_with_casbin(authz: &Authz, rng: &mut StdRng, requests: usize) {
    let subjects: Vec<String> = (0..40).map(|i| format!("user:{i}")).collect();
    let mut names: Vec<&str> = subjects.iter().map(String::as_str).collect();
    names.extend(ROLES);
    names.extend(["customer", "market_admin"]);
    let markets = ["m0", "m1", "m2", "m3", "m4", "*", "never-seen"];
    let objects = ["o0", "o1", "o2", "o3", "order", "staff", "unknown"];
    let actions = ["read", "write", "review", "nope"];
    let mut disagreements = Vec::new();
    let mut allowed = 0;
    for _ in 0..requests {
        let request = (
            *names.choose(rng).unwrap_or(&"user:0"),
            *markets.choose(rng).unwrap_or(&"m0"),
            *objects.choose(rng).unwrap_or(&"o0"),
            *actions.choose(rng).unwrap_or(&"read"),
        );
        let (s, m, o, a) = request;
        let fast = authz.check(s, m, o, a);
        let casbin = authz
            .enforce_with_casbin(s, m, o, a)
            .await
            .expect("enforce");
        if fast != casbin {
            disagreements.push((request, fast, casbin));
        }
        allowed += usize::from(casbin);
    }
    assert!(
        disagreements.is_empty(),
        "index vs casbin: {disagreements:?}"
    );
    // Agreement means little unless both answers were asked for often.
    assert!(
        allowed > requests / 20 && allowed < requests * 19 / 20,
        "{allowed} of {requests} allowed"
    );
}

const ROLES: [&str; 8] = ["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7"];

on_both_backends! {
    async fn the_index_answers_exactly_as_casbin(db: TestDb) {
        let seed: u64 = rand::rng().random();
        eprintln!("random policy seed: {seed}");
        let mut rng = StdRng::seed_from_u64(seed);
        let authz = Authz::load(&db.store).await.expect("load");

        let domains = ["m0", "m1", "m2", "m3", "m4", "*"];
        let objects = ["o0", "o1", "o2", "o3"];
        let actions = ["read", "write", "review"];
        let pick = |rng: &mut StdRng, from: &[&'static str]| from[rng.random_range(0..from.len())];

        let mut policies = Vec::new();
        for _ in 0..200 {
            // Mostly roles, sometimes a subject directly (casbin matches a subject to itself).
            let who = if rng.random_bool(0.1) {
                format!("user:{}", rng.random_range(0..40))
            } else {
                pick(&mut rng, &ROLES).to_string()
            };
            let (d, o, a) = (pick(&mut rng, &domains), pick(&mut rng, &objects), pick(&mut rng, &actions));
            policies.push(Policy::new(&who, d, o, a));
        }
        let mut grants = Vec::new();
        for _ in 0..80 {
            let subject = format!("user:{}", rng.random_range(0..40));
            grants.push(RoleGrant::new(&subject, pick(&mut rng, &ROLES), pick(&mut rng, &domains)));
        }
        // Shipped roles too, so the default policy is part of what is compared.
        for _ in 0..20 {
            let subject = format!("user:{}", rng.random_range(0..40));
            let role = pick(&mut rng, &["customer", "market_admin", "courier"]);
            grants.push(RoleGrant::new(&subject, role, pick(&mut rng, &domains)));
        }
        // Roles holding roles, cycles included, in markets and in `*`.
        for _ in 0..20 {
            grants.push(RoleGrant::new(pick(&mut rng, &ROLES), pick(&mut rng, &ROLES), pick(&mut rng, &domains)));
        }
        authz.add_policies(&policies).await.expect("add policies");
        authz.grant_roles(&grants).await.expect("grant roles");
        assert_index_agrees_with_casbin(&authz, &mut rng, 3_000).await;

        // And again after some of it is taken away.
        for p in policies.iter().take(60) {
            authz.remove_policy(&p.role, &p.market, &p.object, &p.action).await.expect("remove");
        }
        for g in grants.iter().take(30) {
            authz.revoke_role(&g.subject, &g.role, &g.market).await.expect("revoke");
        }
        assert_index_agrees_with_casbin(&authz, &mut rng, 3_000).await;
    }
}

on_both_backends! {
    async fn long_role_chains_stop_where_casbin_stops(db: TestDb) {
        let authz = Authz::load(&db.store).await.expect("load");
        // user:chain → c0 → c1 → … → c11, each link one grant in market `m`.
        let mut grants = vec![RoleGrant::new("user:chain", "c0", "m")];
        let mut policies = Vec::new();
        for i in 0..12 {
            grants.push(RoleGrant::new(&format!("c{i}"), &format!("c{}", i + 1), "m"));
            policies.push(Policy::new(&format!("c{i}"), "m", "depth", &format!("a{i}")));
        }
        authz.grant_roles(&grants).await.expect("grant");
        authz.add_policies(&policies).await.expect("add");
        for i in 0..12 {
            let action = format!("a{i}");
            let fast = authz.check("user:chain", "m", "depth", &action);
            let casbin = authz.enforce_with_casbin("user:chain", "m", "depth", &action).await.expect("enforce");
            assert_eq!(fast, casbin, "depth {}", i + 1);
        }
        assert!(authz.check("user:chain", "m", "depth", "a0"));
        assert!(!authz.check("user:chain", "m", "depth", "a11"), "beyond casbin's role depth");
    }
}

#[test]
fn authz_is_shareable_across_threads() {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    shareable::<Authz>();
}
