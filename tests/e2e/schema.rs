//! The schema a frontend sees: GraphiQL, introspection, `serverInfo`, Relay
//! pagination and `Query.node`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Backend, Server, first_code};

/// The introspection query GraphiQL sends on load (graphql-js `getIntrospectionQuery`).
const INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) {
    name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason
  }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }
}
"#;

on_both_backends! {
    async fn graphiql_loads_and_can_introspect_the_whole_schema(db: TestDb) {
        let server = Server::start(&db, &[]).await;
        let page = server
            .http
            .get(server.url("/graphql"))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(page.status().as_u16(), 200);
        let html = page.text().await.unwrap();
        assert!(html.contains("graphiql"), "GraphiQL page expected");

        // With the default depth and complexity limits, GraphiQL's own introspection fits.
        let (status, body) = server.graphql(INTROSPECTION, json!({})).await;
        assert_eq!(status, 200, "{body}");
        let types = body["data"]["__schema"]["types"].as_array().expect("types");
        let names: Vec<&str> = types.iter().filter_map(|t| t["name"].as_str()).collect();
        for expected in ["Query", "ServerInfo", "Node", "PageInfo", "DateTime"] {
            assert!(names.contains(&expected), "{expected} missing from {names:?}");
        }
        let server_info = types.iter().find(|t| t["name"] == "ServerInfo").unwrap();
        assert!(server_info["description"].as_str().is_some_and(|d| !d.is_empty()));
    }
}

on_both_backends! {
    async fn server_info_names_the_backend_and_a_stable_store_id(db: TestDb) {
        let query = "{ serverInfo { version database { backend storeId createdAt } } }";
        let first_id = {
            let server = Server::start(&db, &[]).await;
            let (status, body) = server.graphql(query, json!({})).await;
            assert_eq!(status, 200, "{body}");
            let database = &body["data"]["serverInfo"]["database"];
            let expected = match db.backend {
                Backend::Sqlite => "SQLITE",
                Backend::Postgres => "POSTGRES",
            };
            assert_eq!(database["backend"], expected);
            assert!(database["createdAt"].as_str().unwrap().ends_with('Z'));
            database["storeId"].as_str().unwrap().to_string()
        };
        // A restart (or a second node) on the same store reports the same identity.
        let server = Server::start(&db, &[]).await;
        let (_, body) = server.graphql(query, json!({})).await;
        assert_eq!(body["data"]["serverInfo"]["database"]["storeId"], first_id.as_str());
    }
}

on_both_backends! {
    async fn connections_page_with_first_and_after_and_cap_at_100(db: TestDb) {
        let server = Server::start(&db, &[]).await;
        let query = "query Page($first: Int, $after: String) { serverInfo { database {
            migrations(first: $first, after: $after) {
              edges { cursor node { id version description installedAt } }
              pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } } }";
        let page = |body: &Value| body["data"]["serverInfo"]["database"]["migrations"].clone();

        let (_, body) = server.graphql(query, json!({ "first": 100 })).await;
        let all = page(&body);
        let total = all["edges"].as_array().unwrap().len();
        assert!(total >= 1, "{body}");
        assert_eq!(all["pageInfo"]["hasNextPage"], false);
        assert_eq!(all["edges"][0]["node"]["version"], 1);

        // Walk the list one at a time: every item once, in order, then the end.
        let mut after = Value::Null;
        let mut seen = Vec::new();
        loop {
            let (_, body) = server.graphql(query, json!({ "first": 1, "after": after })).await;
            let p = page(&body);
            let edges = p["edges"].as_array().unwrap();
            if edges.is_empty() {
                assert_eq!(p["pageInfo"]["hasNextPage"], false);
                break;
            }
            seen.push(edges[0]["node"]["version"].as_i64().unwrap());
            assert_eq!(p["pageInfo"]["hasPreviousPage"], !after.is_null());
            if p["pageInfo"]["hasNextPage"] == false {
                break;
            }
            after = p["pageInfo"]["endCursor"].clone();
        }
        assert_eq!(seen.len(), total);
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");

        let (_, body) = server.graphql(query, json!({ "first": 0 })).await;
        assert_eq!(page(&body)["edges"], json!([]));
        assert_eq!(page(&body)["pageInfo"]["hasNextPage"], true);

        for (first, after) in [(json!(101), Value::Null), (json!(-1), Value::Null), (json!(5), json!("garbage"))] {
            let (status, body) = server.graphql(query, json!({ "first": first, "after": after })).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(first_code(&body), "BAD_USER_INPUT", "{body}");
        }
    }
}

on_both_backends! {
    async fn node_fetches_by_global_id_and_refuses_garbage(db: TestDb) {
        let server = Server::start(&db, &[]).await;
        let (_, body) = server
            .graphql("{ serverInfo { database { migrations(first: 1) { edges { node { id version } } } } } }", json!({}))
            .await;
        let node = &body["data"]["serverInfo"]["database"]["migrations"]["edges"][0]["node"];
        let id = node["id"].as_str().unwrap().to_string();

        let query = "query Node($id: ID!) { node(id: $id) { __typename id ... on SchemaMigration { version } } }";
        let (status, body) = server.graphql(query, json!({ "id": id })).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["node"]["__typename"], "SchemaMigration");
        assert_eq!(body["data"]["node"]["version"], node["version"]);

        // A well-formed id that names nothing is null, not an error.
        let nowhere = URL_SAFE_NO_PAD.encode("SchemaMigration:9999");
        let (_, body) = server.graphql(query, json!({ "id": nowhere })).await;
        assert_eq!(body["data"]["node"], Value::Null);
        assert!(body.get("errors").is_none(), "{body}");

        let (_, body) = server.graphql(query, json!({ "id": "not an id" })).await;
        assert_eq!(first_code(&body), "BAD_USER_INPUT");
    }
}
