//! Two engine nodes on one store: sessions, revocations and policy changes made
//! through one node hold on the other.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::accounts::create_market;
use crate::on_both_backends;
use crate::support::session::{PASSWORD, bootstrap_admin, login, signed_up};
use crate::support::{Server, first_code};

const UPDATE: &str = "mutation { updateMarket(code: \"alpha\", input: {compensationStandard: \"x\"}) { userErrors { code } } }";
const ROLE: &str = "mutation($input: RoleAssignmentInput!) { assignRole(input: $input) { done } }";
const UNROLE: &str =
    "mutation($input: RoleAssignmentInput!) { removeRole(input: $input) { done } }";

fn allowed(body: &Value) -> bool {
    body.get("errors").is_none()
}

on_both_backends! {
    async fn sessions_and_policy_changes_hold_on_every_node(db: TestDb) {
        let a = Server::start(&db, &[]).await;
        let b = Server::start(&db, &[]).await;
        bootstrap_admin(&db, "root@shiji.example").await;
        let root = login(&a, &db, "root@shiji.example", PASSWORD).await["token"].as_str().unwrap().to_string();
        create_market(&a, &root, "alpha").await;
        let (manager, token) = signed_up(&a, &db, "manager@shiji.example").await;

        // A session made on one node is valid on the other.
        let (_, body) = b.graphql_as(&token, "{ me { id } }", json!({})).await;
        assert_eq!(body["data"]["me"]["id"], manager.as_str());

        // A grant made through node A is honoured by node B on the next request.
        let (_, body) = b.graphql_as(&token, UPDATE, json!({})).await;
        assert_eq!(first_code(&body), "FORBIDDEN");
        let input = json!({ "input": { "accountId": manager, "role": "market_admin", "marketCode": "alpha" } });
        let (_, body) = a.graphql_as(&root, ROLE, input.clone()).await;
        assert_eq!(body["data"]["assignRole"]["done"], true, "{body}");
        let (_, body) = b.graphql_as(&token, UPDATE, json!({})).await;
        assert!(allowed(&body), "grant not seen by node B: {body}");

        // A revocation through node A reaches node B within a second or so.
        let (_, body) = a.graphql_as(&root, UNROLE, input).await;
        assert_eq!(body["data"]["removeRole"]["done"], true, "{body}");
        let started = Instant::now();
        loop {
            let (_, body) = b.graphql_as(&token, UPDATE, json!({})).await;
            if !allowed(&body) {
                assert_eq!(first_code(&body), "FORBIDDEN");
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(3), "node B still allows after {:?}", started.elapsed());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        // Logging out on node A ends the session on node B at once.
        let (_, body) = a.graphql_as(&token, "mutation { logout { done } }", json!({})).await;
        assert_eq!(body["data"]["logout"]["done"], true);
        let (_, body) = b.graphql_as(&token, "{ me { id } }", json!({})).await;
        assert_eq!(body["data"]["me"], Value::Null);
    }
}
