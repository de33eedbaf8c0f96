//! Each hook's failure policy, with the real host on a real store: delivery
//! quotes fall back to the market's rule, validation refuses, events are
//! retried with back-off until the plugin accepts them, and host imports
//! answer only what was granted. Driven through the library (the flows that
//! call these hooks over HTTP — checkout, onboarding, the outbox — come with
//! their domains).

use serde_json::json;
use sqlx::Connection as _;

use shiji::caller::Caller;
use shiji::config::Config;
use shiji::markets::MarketInput;
use shiji::plugins::types::{Address, DomainEvent, QuoteInput, ValidateInput, ValidationSubject};
use shiji::plugins::{MarketContext, PluginFault, PluginHost};
use shiji::server;

use crate::plugin_registry::{artifact, hostile_manifest};

/// A migrated SQLite store in a temporary directory, its plugin host, and
/// a market `alpha` with the hostile fixture installed (granted as asked).
async fn host_with_hostile(grant: &[&str]) -> (PluginHost, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    let store = server::open_store(&config).await.expect("store");
    let services = server::build_services(&config, store)
        .await
        .expect("services");
    let operator = Caller::operator();
    services
        .markets
        .create(
            &operator,
            "alpha",
            MarketInput {
                name: Some("Alpha".into()),
                centre: Some((30.4, 112.9)),
                service_radius_m: Some(8_000),
                ..Default::default()
            },
        )
        .await
        .expect("market");
    let grant: Vec<String> = grant.iter().map(|g| g.to_string()).collect();
    services
        .plugins
        .install(
            &artifact("hostile_plugin"),
            &hostile_manifest(),
            &grant,
            &operator,
        )
        .await
        .expect("install");
    (services.plugins, dir)
}

async fn behave(host: &PluginHost, behaviour: &str) {
    host.enable(
        "alpha",
        "hostile",
        json!({ "behaviour": behaviour }),
        &Caller::operator(),
    )
    .await
    .expect("enable");
}

fn alpha() -> MarketContext {
    MarketContext {
        code: "alpha".into(),
        time_zone: "Asia/Shanghai".into(),
    }
}

fn quote() -> QuoteInput {
    QuoteInput {
        market: shiji::plugins::types::Market {
            code: "alpha".into(),
            time_zone: "Asia/Shanghai".into(),
            config_json: String::new(),
        },
        lines: Vec::new(),
        address: Address {
            latitude: 30.41,
            longitude: 112.91,
            region: "潜江".into(),
        },
        distance_m: 1_200,
        slot: None,
        now: "2026-11-25T08:00:00Z".into(),
    }
}

fn listing() -> ValidateInput {
    ValidateInput {
        market: quote().market,
        subject: ValidationSubject::ProductListing,
        document_json: r#"{"name": "潜江清水小龙虾"}"#.into(),
        now: "2026-11-25T08:00:00Z".into(),
    }
}

fn event(id: &str) -> DomainEvent {
    DomainEvent {
        kind: "order.paid".into(),
        id: id.into(),
        payload_json: "{}".into(),
        at: "2026-11-25T08:00:00Z".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_quote_falls_back_to_the_markets_rule_and_a_failing_validator_refuses() {
    let (host, _dir) = host_with_hostile(&[]).await;

    behave(&host, "none").await;
    let (quote_by, failures) = host.quote_delivery(&alpha(), &quote());
    let (plugin, options) = quote_by.expect("the plugin quotes");
    assert_eq!(plugin, "hostile");
    assert_eq!(options.options[0].fee, 500);
    assert!(failures.is_empty());
    assert!(
        host.validate(&alpha(), &listing())
            .expect("validates")
            .is_empty()
    );

    // A negative fee is refused: the market's own rule applies, and the caller is told.
    behave(&host, "negative-price").await;
    let (quote_by, failures) = host.quote_delivery(&alpha(), &quote());
    assert!(quote_by.is_none());
    assert!(
        matches!(failures[0].fault, PluginFault::InvalidOutput(_)),
        "{failures:?}"
    );

    // A trap in a quote: fallback. A trap in a validator: the flow is refused.
    behave(&host, "trap").await;
    let (quote_by, failures) = host.quote_delivery(&alpha(), &quote());
    assert!(quote_by.is_none());
    assert!(
        matches!(failures[0].fault, PluginFault::Trap(_)),
        "{failures:?}"
    );
    let refused = host.validate(&alpha(), &listing()).unwrap_err();
    assert_eq!(refused.plugin, "hostile");
    assert!(matches!(refused.fault, PluginFault::Trap(_)));

    behave(&host, "violation").await;
    let violations = host.validate(&alpha(), &listing()).expect("validates");
    assert_eq!(violations[0].1.code, "hostile-says-no");
    assert_eq!(violations[0].1.message.en, "the test plugin says no");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_retried_with_back_off_until_the_plugin_accepts_them() {
    let (host, _dir) = host_with_hostile(&["storage"]).await;
    behave(&host, "flaky-events").await;
    // The fixture fails the first two deliveries of each event id.
    let failures = host.deliver_event(&alpha(), &event("evt-1")).await;
    assert!(failures.is_empty(), "{failures:?}");

    // One that never succeeds is reported after the last attempt.
    behave(&host, "trap").await;
    let failures = host.deliver_event(&alpha(), &event("evt-2")).await;
    assert_eq!(failures.len(), 1);
    assert!(matches!(failures[0].fault, PluginFault::Trap(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_imports_answer_only_what_was_granted() {
    // Without the storage grant, the flaky handler cannot even count attempts.
    let (host, _dir) = host_with_hostile(&[]).await;
    behave(&host, "flaky-events").await;
    let failures = host.deliver_event(&alpha(), &event("evt-1")).await;
    assert_eq!(failures.len(), 1, "storage was not granted");
    match &failures[0].fault {
        PluginFault::Failed(why) => assert!(
            why.contains("not-granted") || why.contains("NotGranted"),
            "{why}"
        ),
        other => panic!("{other:?}"),
    }

    // With storage but without `markets:read`, the commerce query is refused.
    let (host, _dir) = host_with_hostile(&["storage"]).await;
    behave(&host, "commerce").await;
    let failures = host.deliver_event(&alpha(), &event("evt-1")).await;
    assert_eq!(failures.len(), 1);

    // Granted both: the plugin reads its own market and keeps the answer.
    let (host, dir) = host_with_hostile(&["storage", "markets:read"]).await;
    behave(&host, "commerce").await;
    let failures = host.deliver_event(&alpha(), &event("evt-1")).await;
    assert!(failures.is_empty(), "{failures:?}");
    let url = format!("sqlite://{}", dir.path().join("shiji.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("sqlite");
    let (value,): (Vec<u8>,) = sqlx::query_as(
        "SELECT value FROM plugin_storage WHERE plugin_id = 'hostile' AND market_code = 'alpha' AND key = 'market'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("stored");
    assert!(String::from_utf8_lossy(&value).contains("\"code\":\"alpha\""));
}
