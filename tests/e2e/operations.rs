//! What operators and load balancers rely on: health, readiness, metrics,
//! request ids, CORS and security headers.

use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::Server;

on_both_backends! {
    async fn health_and_readiness_answer_with_the_store_up(db: TestDb) {
        let server = Server::start(&db, &[]).await;
        let health = server.http.get(server.url("/healthz")).send().await.unwrap();
        assert_eq!(health.status().as_u16(), 200);
        let ready = server.http.get(server.url("/readyz")).send().await.unwrap();
        assert_eq!(ready.status().as_u16(), 200);
        let body: Value = ready.json().await.unwrap();
        assert_eq!(body["database"], "ok");
    }
}

on_both_backends! {
    async fn metrics_count_requests_by_operation_with_latency_histograms(db: TestDb) {
        let server = Server::start(&db, &[]).await;
        for _ in 0..3 {
            server.graphql("query StorefrontVersion { serverInfo { version } }", json!({})).await;
        }
        server.graphql("{ serverInfo { nope } }", json!({})).await;
        let text = server
            .http
            .get(server.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            text.contains(r#"shiji_graphql_requests_total{operation="StorefrontVersion",outcome="ok"} 3"#),
            "{text}"
        );
        assert!(
            text.contains(r#"shiji_graphql_requests_total{operation="anonymous",outcome="GRAPHQL_VALIDATION_FAILED"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"shiji_graphql_request_duration_seconds_bucket{operation="StorefrontVersion",le="#), "{text}");
        assert!(text.contains(r#"shiji_http_requests_total{route="/graphql",status="400"} 1"#), "{text}");
        assert!(text.contains("shiji_http_request_duration_seconds_count{route=\"/graphql\"}"), "{text}");
    }
}

on_both_backends! {
    async fn every_response_carries_a_request_id_and_security_headers(db: TestDb) {
        let server = Server::start(&db, &[]).await;
        let response = server.http.get(server.url("/healthz")).send().await.unwrap();
        let id = response.headers()["x-request-id"].to_str().unwrap().to_string();
        assert_eq!(id.len(), 36, "a UUID: {id}");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");

        // An id from the client or a proxy is kept, so one request can be followed across services.
        let response = server
            .http
            .post(server.url("/graphql"))
            .header("x-request-id", "trace-me-42")
            .json(&json!({ "query": "{ serverInfo { version } }" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["x-request-id"], "trace-me-42");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(server.logs().contains("trace-me-42"), "the request id is in the logs");
    }
}

on_both_backends! {
    async fn cors_allows_only_the_configured_origins(db: TestDb) {
        let server = Server::start(&db, &[("SHIJI_SERVER_CORS_ALLOWED_ORIGINS", "https://shop.example")]).await;
        let preflight = |origin: &'static str| {
            server
                .http
                .request(reqwest::Method::OPTIONS, server.url("/graphql"))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "content-type")
                .send()
        };
        let allowed = preflight("https://shop.example").await.unwrap();
        assert_eq!(allowed.headers()["access-control-allow-origin"], "https://shop.example");
        let refused = preflight("https://evil.example").await.unwrap();
        assert!(refused.headers().get("access-control-allow-origin").is_none());
    }
}
