//! Bad input gets the right status and a coded error, and the server keeps serving.

use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Server, first_code};

const MODERN: &str = "application/graphql-response+json";
const LEGACY: &str = "application/json";

/// After every bad request, a good one still works.
async fn still_serving(server: &Server) {
    let (status, body) = server
        .graphql("{ serverInfo { version } }", json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["serverInfo"]["version"],
        env!("CARGO_PKG_VERSION")
    );
}

async fn raw_post(
    server: &Server,
    content_type: &str,
    accept: &str,
    body: Vec<u8>,
) -> (u16, String, Value) {
    let response = server
        .http
        .post(server.url("/graphql"))
        .header("content-type", content_type)
        .header("accept", accept)
        .body(body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let media = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = response.json().await.expect("JSON error body");
    (status, media, body)
}

on_both_backends! {
    async fn malformed_json_is_a_bad_request(db: TestDb) {
        let server = Server::start(&db, &[]).await;
        for accept in [MODERN, LEGACY] {
            let (status, _, body) =
                raw_post(&server, "application/json", accept, b"{\"query\": \"{ serverInfo".to_vec()).await;
            assert_eq!(status, 400, "{body}");
            assert_eq!(first_code(&body), "BAD_REQUEST");
            assert!(body.get("data").is_none(), "a request error has no data entry: {body}");
        }
        let (status, _, body) =
            raw_post(&server, "application/json", MODERN, br#"{"query": "{ serverInfo { version } }", "variables": [1]}"#.to_vec()).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(first_code(&body), "BAD_REQUEST");
        let (status, _, body) = raw_post(&server, "application/json", MODERN, br#"{"variables": {}}"#.to_vec()).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(first_code(&body), "BAD_REQUEST");
        still_serving(&server).await;
    }
}

on_both_backends! {
    async fn syntax_errors_are_400_for_modern_clients_and_200_for_legacy_ones(db: TestDb) {
        let server = Server::start(&db, &[]).await;
        let request = json!({ "query": "{ serverInfo { version }" });
        let (status, body) = server.post_json(request.clone(), MODERN).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(first_code(&body), "GRAPHQL_PARSE_FAILED");
        assert!(body["errors"][0]["locations"].is_array(), "{body}");
        assert!(body.get("data").is_none(), "{body}");

        // GraphQL over HTTP: application/json clients get 200 for any well-formed request.
        let (status, body) = server.post_json(request, LEGACY).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(first_code(&body), "GRAPHQL_PARSE_FAILED");
        still_serving(&server).await;
    }
}

on_both_backends! {
    async fn unknown_fields_and_wrong_variable_types_fail_validation(db: TestDb) {
        let server = Server::start(&db, &[]).await;
        let (status, body) = server.graphql("{ serverInfo { nope } }", json!({})).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(first_code(&body), "GRAPHQL_VALIDATION_FAILED");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("nope"), "{body}");

        let query = "query Page($first: Int) { serverInfo { database { migrations(first: $first) { edges { cursor } } } } }";
        let (status, body) = server.graphql(query, json!({ "first": "ten" })).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(first_code(&body), "GRAPHQL_VALIDATION_FAILED");

        let (status, body) = server
            .post_json(json!({ "query": "{ serverInfo { version } }", "operationName": "Missing" }), MODERN)
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(first_code(&body), "BAD_REQUEST");
        still_serving(&server).await;
    }
}

on_both_backends! {
    async fn too_deep_and_too_complex_queries_are_refused_before_running(db: TestDb) {
        let server = Server::start(&db, &[("SHIJI_GRAPHQL_MAX_COMPLEXITY", "200")]).await;
        let mut deep = String::from("name");
        for _ in 0..20 {
            deep = format!("ofType {{ {deep} }}");
        }
        let (status, body) = server
            .graphql(&format!("{{ __type(name: \"Query\") {{ fields {{ type {{ {deep} }} }} }} }}"), json!({}))
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(first_code(&body), "QUERY_TOO_DEEP");

        let wide: String = (0..250).map(|i| format!("a{i}: serverInfo {{ version }} ")).collect();
        let (status, body) = server.graphql(&format!("{{ {wide} }}"), json!({})).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(first_code(&body), "QUERY_TOO_COMPLEX");

        // Chinese clients read the reason in Chinese; the code stays the same.
        let response = server
            .http
            .post(server.url("/graphql"))
            .header("accept", MODERN)
            .header("accept-language", "zh-CN,zh;q=0.9")
            .json(&json!({ "query": format!("{{ {wide} }}") }))
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        assert_eq!(first_code(&body), "QUERY_TOO_COMPLEX");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("字段过多"), "{body}");
        still_serving(&server).await;
    }
}

on_both_backends! {
    async fn oversized_bodies_wrong_media_types_and_get_mutations_are_refused(db: TestDb) {
        let server = Server::start(&db, &[("SHIJI_SERVER_BODY_LIMIT_BYTES", "4096")]).await;
        let padding = "x".repeat(8192);
        let big = json!({ "query": format!("{{ serverInfo {{ version }} }} # {padding}") });
        let (status, _, body) =
            raw_post(&server, "application/json", MODERN, serde_json::to_vec(&big).unwrap()).await;
        assert_eq!(status, 413, "{body}");
        assert_eq!(first_code(&body), "PAYLOAD_TOO_LARGE");

        let (status, _, body) =
            raw_post(&server, "text/plain", MODERN, b"{ serverInfo { version } }".to_vec()).await;
        assert_eq!(status, 415, "{body}");
        assert_eq!(first_code(&body), "UNSUPPORTED_MEDIA_TYPE");

        let (status, _, body) = raw_post(&server, "application/json", "text/csv", b"{}".to_vec()).await;
        assert_eq!(status, 406, "{body}");
        assert_eq!(first_code(&body), "NOT_ACCEPTABLE");

        // A link or a prefetch must never change anything: mutations need POST.
        let response = server
            .http
            .get(server.url("/graphql"))
            .query(&[("query", "mutation { anything }")])
            .header("accept", MODERN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 405);
        assert_eq!(response.headers()["allow"], "POST");
        let body: Value = response.json().await.unwrap();
        assert_eq!(first_code(&body), "METHOD_NOT_ALLOWED");
        still_serving(&server).await;
    }
}

on_both_backends! {
    async fn queries_run_over_get_and_answer_in_the_negotiated_media_type(db: TestDb) {
        let server = Server::start(&db, &[]).await;
        let response = server
            .http
            .get(server.url("/graphql"))
            .query(&[
                ("query", "query Version($x: Int) { serverInfo { version database { migrations(first: $x) { edges { cursor } } } } }"),
                ("variables", "{\"x\": 1}"),
            ])
            .header("accept", "application/graphql-response+json, application/json;q=0.9")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with(MODERN));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["data"]["serverInfo"]["version"], env!("CARGO_PKG_VERSION"));

        // No Accept header means application/json, per the specification.
        // (Raw HTTP: client libraries add `Accept: */*` on their own.)
        let addr = server.base.trim_start_matches("http://").to_string();
        let body = r#"{"query":"{ serverInfo { version } }"}"#;
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let request = format!(
            "POST /graphql HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        tokio::io::AsyncWriteExt::write_all(&mut stream, request.as_bytes()).await.unwrap();
        let mut response = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.to_ascii_lowercase().contains("content-type: application/json"), "{response}");
    }
}

on_both_backends! {
    async fn field_errors_keep_the_rest_of_the_answer(db: TestDb) {
        let server = Server::start(&db, &[]).await;
        let (status, body) = server
            .graphql("{ broken: node(id: \"%%%\") { id } serverInfo { version } }", json!({}))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["broken"], Value::Null);
        assert_eq!(body["data"]["serverInfo"]["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(first_code(&body), "BAD_USER_INPUT");
        assert_eq!(body["errors"][0]["path"], json!(["broken"]));
    }
}
