//! The database going away: `/readyz` turns red, requests get
//! `DATABASE_UNAVAILABLE`, and everything comes back without a restart.
//!
//! Run on PostgreSQL, through a proxy the test can cut. (An embedded SQLite
//! file cannot go away under a running process in the same sense.)

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::proxy::CuttableProxy;
use crate::support::{Backend, Server, TestDb, first_code, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_is_reported_and_recovered_from_without_restart() {
    run(Backend::Postgres, |db: TestDb| async move {
        let url = reqwest::Url::parse(&db.url).expect("postgres url");
        let target = format!(
            "{}:{}",
            url.host_str().unwrap_or("127.0.0.1"),
            url.port().unwrap_or(5432)
        );
        let proxy = CuttableProxy::start(target).await;
        let mut proxied = url.clone();
        proxied.set_host(Some("127.0.0.1")).unwrap();
        proxied.set_port(Some(proxy.port)).unwrap();

        let server = Server::start(
            &db,
            &[
                ("SHIJI_DATABASE_URL", proxied.as_str()),
                ("SHIJI_DATABASE_ACQUIRE_TIMEOUT_MS", "500"),
            ],
        )
        .await;
        let query = "{ serverInfo { version database { backend storeId } } }";
        let ready = || async {
            server
                .http
                .get(server.url("/readyz"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        };
        assert_eq!(ready().await, 200);
        let (_, body) = server.graphql(query, json!({})).await;
        let store_id = body["data"]["serverInfo"]["database"]["storeId"].clone();
        assert!(store_id.is_string(), "{body}");

        proxy.cut();
        assert_eq!(ready().await, 503);
        let (status, body) = server.graphql(query, json!({})).await;
        assert_eq!(status, 200, "a field error still answers 200: {body}");
        assert_eq!(first_code(&body), "DATABASE_UNAVAILABLE", "{body}");
        assert_eq!(body["errors"][0]["path"], json!(["serverInfo", "database"]));
        // What does not need the database still answers.
        assert_eq!(
            body["data"]["serverInfo"]["version"],
            env!("CARGO_PKG_VERSION")
        );
        let health = server
            .http
            .get(server.url("/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            health.status().as_u16(),
            200,
            "liveness does not depend on the database"
        );

        proxy.restore();
        let deadline = Instant::now() + Duration::from_secs(20);
        while ready().await != 200 {
            assert!(Instant::now() < deadline, "the store did not come back");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (status, body) = server.graphql(query, json!({})).await;
        assert_eq!(status, 200);
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(body["data"]["serverInfo"]["database"]["storeId"], store_id);
    })
    .await;
}
