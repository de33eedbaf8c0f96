//! Webhooks (INT-2): a retailer's system subscribes to a market's events and
//! gets them as signed POSTs from the outbox, retried with back-off until it
//! answers 2xx, each attempt in the delivery log.
//!
//! The receiver runs in the test process on 127.0.0.1. Events are written
//! straight into the outbox table, exactly as a checkout's transaction does.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::accounts::create_market;
use crate::on_both_backends;
use crate::support::session::{PASSWORD, bootstrap_admin, login, signed_up, sql_exec};
use crate::support::{Server, TestDb, first_code};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
    /// What it answered.
    answered: u16,
}

#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    /// Answers per path, in order; once used up, 200.
    script: Arc<Mutex<BTreeMap<String, Vec<u16>>>>,
}

impl Receiver {
    fn on(&self, path: &str) -> Vec<Received> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
}

async fn receive(
    State(receiver): State<Receiver>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let path = uri.path().to_string();
    let answer = {
        let mut script = receiver.script.lock().unwrap();
        match script.get_mut(&path) {
            Some(queue) if !queue.is_empty() => queue.remove(0),
            _ => 200,
        }
    };
    let headers = headers
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("shiji-") || k.as_str() == "content-type")
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    receiver.got.lock().unwrap().push(Received {
        path,
        headers,
        body: body.to_vec(),
        answered: answer,
    });
    StatusCode::from_u16(answer).unwrap()
}

/// Starts the receiver; returns its base URL.
async fn start_receiver(receiver: Receiver) -> String {
    let app = axum::Router::new()
        .fallback(axum::routing::post(receive))
        .with_state(receiver);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// What a receiver does with `Shiji-Signature: t=…,v1=…`, written here
/// without the engine's code: HMAC-SHA256 of "<t>.<body>" with the secret.
fn signature_verifies(secret: &str, header: &str, body: &[u8]) -> bool {
    let parts: BTreeMap<&str, &str> = header
        .split(',')
        .filter_map(|p| p.split_once('='))
        .collect();
    let (Some(t), Some(v1)) = (parts.get("t"), parts.get("v1")) else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    if (now - t.parse::<i64>().unwrap_or(0)).abs() > 300 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    expected == *v1
}

const CREATE: &str = "mutation($market: String!, $url: String!, $kinds: [String!]!) {
  createWebhookSubscription(market: $market, url: $url, eventKinds: $kinds) {
    subscription { id market url eventKinds active }
    secret
    userErrors { code field }
  }
}";

const DELIVERIES: &str = "query($market: String!, $id: ID!) {
  webhookDeliveries(market: $market, subscriptionId: $id, first: 10) {
    edges { node { id eventId eventKind status attempts lastStatusCode lastError deliveredAt
      attemptLog { attempt statusCode error } } }
  }
}";

/// Creates a subscription; returns (id, secret).
async fn subscribe(
    server: &Server,
    token: &str,
    market: &str,
    url: &str,
    kinds: &[&str],
) -> (String, String) {
    let (_, body) = server
        .graphql_as(
            token,
            CREATE,
            json!({ "market": market, "url": url, "kinds": kinds }),
        )
        .await;
    let created = &body["data"]["createWebhookSubscription"];
    assert_eq!(created["userErrors"], json!([]), "{body}");
    assert_eq!(created["subscription"]["active"], true, "{body}");
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{secret}");
    (
        created["subscription"]["id"].as_str().unwrap().to_string(),
        secret,
    )
}

/// Writes an event into the outbox, as a domain transaction does.
async fn emit(db: &TestDb, market: &str, kind: &str, subject: &str, payload: &Value) -> String {
    let id = uuid::Uuid::now_v7().to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let payload = payload.to_string().replace('\'', "''");
    sql_exec(
        db,
        &format!(
            "INSERT INTO outbox (id, market_code, kind, subject_id, payload, created_at, attempts, claimed_until, dispatched_at) \
             VALUES ('{id}', '{market}', '{kind}', '{subject}', '{payload}', {now}, 0, 0, NULL)"
        ),
    )
    .await
    .expect("insert outbox row");
    id
}

async fn deliveries(server: &Server, token: &str, market: &str, id: &str) -> Vec<Value> {
    let (_, body) = server
        .graphql_as(token, DELIVERIES, json!({ "market": market, "id": id }))
        .await;
    body["data"]["webhookDeliveries"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

/// Polls `check` every 50 ms for up to `limit`.
async fn eventually<F: FnMut() -> bool>(limit: Duration, mut check: F) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    check()
}

on_both_backends! {
    async fn webhook_retries_after_the_receiver_fails_twice(db: TestDb) {
        let receiver = Receiver::default();
        receiver.script.lock().unwrap().insert("/main".into(), vec![500, 503]);
        let base = start_receiver(receiver.clone()).await;

        // Short back-off for the test: 200 ms, then 400 ms.
        let server = Server::start(&db, &[
            ("SHIJI_EVENTS_POLL_MS", "50"),
            ("SHIJI_EVENTS_WEBHOOK_FIRST_BACKOFF_MS", "200"),
            ("SHIJI_EVENTS_WEBHOOK_BACKOFF_FACTOR", "2"),
        ]).await;
        bootstrap_admin(&db, "root@shiji.example").await;
        let root = login(&server, &db, "root@shiji.example", PASSWORD).await["token"].as_str().unwrap().to_string();
        create_market(&server, &root, "alpha").await;
        create_market(&server, &root, "beta").await;

        let (main, secret) = subscribe(&server, &root, "alpha", &format!("{base}/main"), &["order.paid"]).await;
        let (refunds, refunds_secret) = subscribe(&server, &root, "alpha", &format!("{base}/refunds"), &["order.refunded"]).await;
        let (elsewhere, elsewhere_secret) = subscribe(&server, &root, "beta", &format!("{base}/beta"), &["*"]).await;

        // A customer cannot subscribe; a bad URL is a user error, not a subscription.
        let (_, customer) = signed_up(&server, &db, "shopper@shiji.example").await;
        let (_, body) = server.graphql_as(&customer, CREATE, json!({ "market": "alpha", "url": format!("{base}/x"), "kinds": ["*"] })).await;
        assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
        for url in ["ftp://example.com/x", "file:///etc/passwd"] {
            let (_, body) = server.graphql_as(&root, CREATE, json!({ "market": "alpha", "url": url, "kinds": ["*"] })).await;
            assert_eq!(body["data"]["createWebhookSubscription"]["userErrors"][0]["code"], "INVALID_URL", "{body}");
        }

        let payload = json!({ "orderId": "order-1", "totalFen": 2590, "note": "小龙虾 2 kg" });
        let event = emit(&db, "alpha", "order.paid", "order-1", &payload).await;

        assert!(
            eventually(Duration::from_secs(20), || receiver.on("/main").len() >= 3).await,
            "the receiver got {:?}", receiver.on("/main")
        );
        let got = receiver.on("/main");
        assert_eq!(got.len(), 3, "exactly three attempts: {got:?}");
        assert_eq!(got.iter().map(|r| r.answered).collect::<Vec<_>>(), vec![500, 503, 200]);
        let delivery_id = got[0].headers["shiji-delivery"].clone();
        for r in &got {
            assert_eq!(r.headers["shiji-event"], "order.paid");
            assert_eq!(r.headers["shiji-delivery"], delivery_id, "one delivery id across retries");
            assert_eq!(r.headers["content-type"], "application/json");
            assert!(signature_verifies(&secret, &r.headers["shiji-signature"], &r.body), "{:?}", r.headers);
            assert!(!signature_verifies(&refunds_secret, &r.headers["shiji-signature"], &r.body));
        }
        let body: Value = serde_json::from_slice(&got[2].body).unwrap();
        assert_eq!(body["id"], event.as_str());
        assert_eq!(body["kind"], "order.paid");
        assert_eq!(body["market"], "alpha");
        assert_eq!(body["subjectId"], "order-1");
        assert_eq!(body["payload"], payload);
        assert!(body["occurredAt"].as_str().unwrap().ends_with('Z'), "{body}");

        // The log catches up with the receiver's last answer.
        let mut log = Vec::new();
        for _ in 0..100 {
            log = deliveries(&server, &root, "alpha", &main).await;
            if log.first().is_some_and(|d| d["status"] == "SUCCEEDED") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(log.len(), 1, "{log:?}");
        let d = &log[0];
        assert_eq!(d["id"], delivery_id.as_str());
        assert_eq!(d["eventId"], event.as_str());
        assert_eq!(d["status"], "SUCCEEDED", "{d}");
        assert_eq!(d["attempts"], 3);
        assert_eq!(d["lastStatusCode"], 200);
        assert!(d["deliveredAt"].is_string());
        let codes: Vec<&Value> = d["attemptLog"].as_array().unwrap().iter().map(|a| &a["statusCode"]).collect();
        assert_eq!(codes, vec![&json!(500), &json!(503), &json!(200)], "{d}");
        assert!(d["attemptLog"][0]["error"].as_str().unwrap().contains("500"), "{d}");

        // Another kind in the same market, and another market, got nothing.
        assert!(receiver.on("/refunds").is_empty());
        assert!(receiver.on("/beta").is_empty());
        assert!(deliveries(&server, &root, "alpha", &refunds).await.is_empty());
        assert!(deliveries(&server, &root, "beta", &elsewhere).await.is_empty());
        // A subscription is found only in its own market.
        let (_, body) = server.graphql_as(&root, DELIVERIES, json!({ "market": "beta", "id": main })).await;
        assert_eq!(first_code(&body), "NOT_FOUND", "{body}");

        // Secrets are in the database only sealed, and never in the log.
        let logs = server.logs();
        for s in [&secret, &refunds_secret, &elsewhere_secret] {
            assert!(!logs.contains(s.as_str()), "a webhook secret was logged");
        }
        let sealed = crate::support::session::sql_text(&db, "SELECT secret_encrypted FROM webhook_subscriptions WHERE id = $1", &main).await.unwrap();
        assert!(!sealed.contains(&secret));
    }
}

on_both_backends! {
    async fn deleted_subscriptions_get_nothing_and_failures_end_after_the_last_attempt(db: TestDb) {
        let receiver = Receiver::default();
        receiver.script.lock().unwrap().insert("/down".into(), vec![500; 10]);
        let base = start_receiver(receiver.clone()).await;
        let server = Server::start(&db, &[
            ("SHIJI_EVENTS_POLL_MS", "50"),
            ("SHIJI_EVENTS_WEBHOOK_FIRST_BACKOFF_MS", "50"),
            ("SHIJI_EVENTS_WEBHOOK_BACKOFF_FACTOR", "2"),
            ("SHIJI_EVENTS_WEBHOOK_MAX_ATTEMPTS", "3"),
        ]).await;
        bootstrap_admin(&db, "root@shiji.example").await;
        let root = login(&server, &db, "root@shiji.example", PASSWORD).await["token"].as_str().unwrap().to_string();
        create_market(&server, &root, "alpha").await;

        let (down, _) = subscribe(&server, &root, "alpha", &format!("{base}/down"), &["*"]).await;
        let (gone, _) = subscribe(&server, &root, "alpha", &format!("{base}/gone"), &["*"]).await;
        let (_, body) = server.graphql_as(&root, "mutation($id: ID!) { deleteWebhookSubscription(market: \"alpha\", id: $id) { done userErrors { code } } }", json!({ "id": gone })).await;
        assert_eq!(body["data"]["deleteWebhookSubscription"]["done"], true, "{body}");
        let (_, body) = server.graphql_as(&root, "{ webhookSubscriptions(market: \"alpha\") { id active } }", json!({})).await;
        let listed = body["data"]["webhookSubscriptions"].as_array().unwrap();
        assert_eq!(listed.len(), 2, "{body}");
        assert!(listed.iter().any(|s| s["id"] == gone.as_str() && s["active"] == false), "{body}");

        emit(&db, "alpha", "order.placed", "order-2", &json!({})).await;

        let mut log = Vec::new();
        for _ in 0..300 {
            log = deliveries(&server, &root, "alpha", &down).await;
            if log.first().is_some_and(|d| d["status"] == "FAILED") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(log[0]["status"], "FAILED", "{log:?}");
        assert_eq!(log[0]["attempts"], 3);
        assert_eq!(log[0]["lastStatusCode"], 500);
        assert_eq!(receiver.on("/down").len(), 3);
        assert!(receiver.on("/gone").is_empty());
        assert!(deliveries(&server, &root, "alpha", &gone).await.is_empty());
    }
}
