//! Accounts as a customer, a station operator and an auditor meet them:
//! registration, captcha login, lockout, idle expiry, revocation, masking of ID
//! numbers, and the append-only audit trail.

use std::time::Duration;

use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::session::{
    PASSWORD, REGISTER, bootstrap_admin, captcha, login, signed_up, sql_exec, sql_text,
};
use crate::support::{Server, first_code};

const ME: &str = "{ me { id displayName passwordChangeRecommended roles { role market }
  verification { status number } } }";

/// A resident ID number with a correct GB 11643 check character.
fn id_card(body17: &str) -> String {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let sum: u32 = body17
        .bytes()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    format!("{body17}{}", CHECK[(sum % 11) as usize] as char)
}

fn user_error(payload: &Value) -> &str {
    payload["userErrors"][0]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("expected a user error in {payload}"))
}

on_both_backends! {
    async fn registration_refuses_weak_passwords_and_taken_logins(db: TestDb) {
        let server = Server::start(&db, &[]).await;
        let (_, body) = server
            .graphql("{ passwordStrength(password: \"123456\") { score acceptable warning suggestions } }", json!({}))
            .await;
        assert!(body["data"]["passwordStrength"]["score"].as_i64().unwrap() < 3, "{body}");
        assert_eq!(body["data"]["passwordStrength"]["acceptable"], false);

        let register = |login: &str, password: &str| {
            json!({ "input": { "login": login, "password": password, "displayName": "李娜" } })
        };
        let (_, body) = server.graphql(REGISTER, register("13812345678", "password1")).await;
        assert_eq!(user_error(&body["data"]["register"]), "PASSWORD_TOO_WEAK");
        assert_eq!(body["data"]["register"]["account"], Value::Null);

        let (_, body) = server.graphql(REGISTER, register("not-a-login", PASSWORD)).await;
        assert_eq!(user_error(&body["data"]["register"]), "INVALID_LOGIN");

        let (_, body) = server.graphql(REGISTER, register("+86 138-1234-5678", PASSWORD)).await;
        assert!(body["data"]["register"]["account"]["id"].is_string(), "{body}");
        let (_, body) = server.graphql(REGISTER, register("13812345678", PASSWORD)).await;
        assert_eq!(user_error(&body["data"]["register"]), "LOGIN_TAKEN");

        // The stored password is an argon2id hash, never the password.
        let hash = sql_text(&db, "SELECT password_hash FROM accounts WHERE phone = $1", "13812345678").await.unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains(PASSWORD));

        // A password older than the maximum age (0 days here) is flagged for change.
        drop(server);
        let strict = Server::start(&db, &[("SHIJI_ACCOUNTS_PASSWORD_MAX_AGE_DAYS", "0")]).await;
        let payload = login(&strict, &db, "13812345678", PASSWORD).await;
        let token = payload["token"].as_str().unwrap_or_else(|| panic!("{payload}")).to_string();
        let (_, body) = strict.graphql_as(&token, ME, json!({})).await;
        assert_eq!(body["data"]["me"]["passwordChangeRecommended"], true, "{body}");
        // The phone number is the account's own, so it is shown in full to it.
        let (_, body) = strict.graphql_as(&token, "{ me { phone } }", json!({})).await;
        assert_eq!(body["data"]["me"]["phone"], "13812345678");
    }
}

on_both_backends! {
    async fn each_captcha_works_once_and_expires(db: TestDb) {
        let server = Server::start(&db, &[("SHIJI_ACCOUNTS_CAPTCHA_TTL_SECS", "1")]).await;
        let (id, _) = signed_up(&server, &db, "wang@example.cn").await;
        assert!(!id.is_empty());

        let (captcha_id, answer) = captcha(&server, &db).await;
        let attempt = |captcha_id: String, answer: String| {
            json!({ "input": { "login": "wang@example.cn", "password": PASSWORD,
                               "captchaId": captcha_id, "captchaAnswer": answer } })
        };
        // A wrong answer uses the captcha up: the right answer afterwards is refused too.
        let (_, body) = server.graphql(crate::support::session::LOGIN, attempt(captcha_id.clone(), "WRONG".into())).await;
        assert_eq!(user_error(&body["data"]["login"]), "CAPTCHA_INVALID");
        let (_, body) = server.graphql(crate::support::session::LOGIN, attempt(captcha_id, answer)).await;
        assert_eq!(user_error(&body["data"]["login"]), "CAPTCHA_INVALID");

        // Answers are not case-sensitive; a used captcha cannot be replayed.
        let (captcha_id, answer) = captcha(&server, &db).await;
        let (_, body) = server.graphql(crate::support::session::LOGIN, attempt(captcha_id.clone(), answer.to_lowercase())).await;
        assert!(body["data"]["login"]["token"].is_string(), "{body}");
        let (_, body) = server.graphql(crate::support::session::LOGIN, attempt(captcha_id, answer)).await;
        assert_eq!(user_error(&body["data"]["login"]), "CAPTCHA_INVALID");

        let (captcha_id, answer) = captcha(&server, &db).await;
        tokio::time::sleep(Duration::from_millis(1_300)).await;
        let (_, body) = server.graphql(crate::support::session::LOGIN, attempt(captcha_id, answer)).await;
        assert_eq!(user_error(&body["data"]["login"]), "CAPTCHA_INVALID", "expired");

        let (_, body) = server.graphql("{ captcha { imagePng } }", json!({})).await;
        let png = body["data"]["captcha"]["imagePng"].as_str().unwrap();
        assert!(png.starts_with("iVBORw0KGgo"), "a base64 PNG");
    }
}

on_both_backends! {
    async fn five_wrong_passwords_lock_the_account_for_a_while(db: TestDb) {
        let server = Server::start(&db, &[("SHIJI_ACCOUNTS_LOCKOUT_SECS", "2")]).await;
        signed_up(&server, &db, "13900001111").await;
        for attempt in 1..=4 {
            let payload = login(&server, &db, "13900001111", "Wrong-password-123").await;
            assert_eq!(user_error(&payload), "INVALID_CREDENTIALS", "attempt {attempt}");
        }
        let payload = login(&server, &db, "13900001111", "Wrong-password-123").await;
        assert_eq!(user_error(&payload), "ACCOUNT_LOCKED");
        // Locked means locked: the right password does not open it either.
        let payload = login(&server, &db, "13900001111", PASSWORD).await;
        assert_eq!(user_error(&payload), "ACCOUNT_LOCKED");
        tokio::time::sleep(Duration::from_millis(2_200)).await;
        let payload = login(&server, &db, "13900001111", PASSWORD).await;
        assert!(payload["token"].is_string(), "{payload}");

        let locks = sql_text(&db, "SELECT CAST(COUNT(*) AS TEXT) FROM audit_log WHERE action = $1", "account.lock").await;
        assert_eq!(locks.as_deref(), Some("1"));
    }
}

on_both_backends! {
    async fn idle_sessions_expire_and_revocations_take_effect_at_once(db: TestDb) {
        let server = Server::start(&db, &[("SHIJI_ACCOUNTS_SESSION_IDLE_SECS", "2")]).await;
        let (account, token) = signed_up(&server, &db, "zhao@example.cn").await;
        let (_, body) = server.graphql_as(&token, ME, json!({})).await;
        assert_eq!(body["data"]["me"]["id"], account.as_str());
        assert_eq!(body["data"]["me"]["passwordChangeRecommended"], false);

        // Used within the idle window the session lives on...
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(800)).await;
            let (_, body) = server.graphql_as(&token, ME, json!({})).await;
            assert_eq!(body["data"]["me"]["id"], account.as_str(), "{body}");
        }
        // ...left alone longer, it is over.
        tokio::time::sleep(Duration::from_millis(2_300)).await;
        let (_, body) = server.graphql_as(&token, ME, json!({})).await;
        assert_eq!(body["data"]["me"], Value::Null);
        let (_, body) = server
            .graphql_as(&token, "mutation { updateProfile(input: {displayName: \"x\"}) { userErrors { code } } }", json!({}))
            .await;
        assert_eq!(first_code(&body), "UNAUTHENTICATED");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("expired"), "{body}");

        // Logout ends the session for every later request.
        let payload = login(&server, &db, "zhao@example.cn", PASSWORD).await;
        let token = payload["token"].as_str().unwrap().to_string();
        let second = login(&server, &db, "zhao@example.cn", PASSWORD).await;
        let second_token = second["token"].as_str().unwrap().to_string();
        let (_, body) = server
            .graphql_as(&token, "{ mySessions { edges { node { id current } } } }", json!({}))
            .await;
        assert_eq!(body["data"]["mySessions"]["edges"].as_array().unwrap().len(), 2, "{body}");
        let (_, body) = server.graphql_as(&token, "mutation { logout { done } }", json!({})).await;
        assert_eq!(body["data"]["logout"]["done"], true);
        let (_, body) = server.graphql_as(&token, ME, json!({})).await;
        assert_eq!(body["data"]["me"], Value::Null);

        // Revoking a session from another device works at once too.
        let third = login(&server, &db, "zhao@example.cn", PASSWORD).await;
        let third_token = third["token"].as_str().unwrap().to_string();
        let (_, body) = server
            .graphql_as(&third_token, "mutation($id: ID!) { revokeSession(id: $id) { done } }", json!({ "id": second["session"]["id"] }))
            .await;
        assert_eq!(body["data"]["revokeSession"]["done"], true, "{body}");
        let (_, body) = server.graphql_as(&second_token, ME, json!({})).await;
        assert_eq!(body["data"]["me"], Value::Null);
        // A session of someone else is simply not found.
        let (_, other_token) = signed_up(&server, &db, "qian@example.cn").await;
        let (_, body) = server
            .graphql_as(&other_token, "mutation($id: ID!) { revokeSession(id: $id) { done } }", json!({ "id": third["session"]["id"] }))
            .await;
        assert_eq!(first_code(&body), "NOT_FOUND");
        let (_, body) = server.graphql_as(&third_token, ME, json!({})).await;
        assert_eq!(body["data"]["me"]["id"], account.as_str());
    }
}

on_both_backends! {
    async fn api_tokens_are_shown_once_scoped_and_revocable_at_once(db: TestDb) {
        let server = Server::start(&db, &[]).await;
        bootstrap_admin(&db, "admin@shiji.example").await;
        let admin = login(&server, &db, "admin@shiji.example", PASSWORD).await;
        let admin = admin["token"].as_str().unwrap().to_string();
        create_market(&server, &admin, "qianjiang").await;
        let (_, body) = server
            .graphql_as(&admin, "mutation { createApiToken(input: {name: \"ERP\", role: \"market_admin\", marketCode: \"qianjiang\"}) {
                token apiToken { id role market } userErrors { code } } }", json!({}))
            .await;
        let payload = &body["data"]["createApiToken"];
        let token = payload["token"].as_str().unwrap_or_else(|| panic!("{body}")).to_string();
        assert!(token.starts_with("sjt_"));
        let stored = sql_text(&db, "SELECT token_hash FROM api_tokens WHERE id = $1", payload["apiToken"]["id"].as_str().unwrap()).await.unwrap();
        assert_ne!(stored, token, "only a hash is stored");

        // The token acts with its role in its market, and nowhere else.
        let audit_here = "{ auditLog(filter: {marketCode: \"qianjiang\"}, first: 1) { edges { node { action } } } }";
        let (_, body) = server.graphql_as(&token, "{ roleAssignments(accountId: \"x\", marketCode: \"qianjiang\") { role } }", json!({})).await;
        assert!(body.get("errors").is_none(), "a market administrator reads staff roles in their market: {body}");
        let (_, body) = server.graphql_as(&token, "{ roleAssignments(accountId: \"x\", marketCode: \"suzhou\") { role } }", json!({})).await;
        assert_eq!(first_code(&body), "FORBIDDEN");
        let _ = audit_here;

        let (_, body) = server
            .graphql_as(&admin, "mutation($id: ID!) { revokeApiToken(id: $id) { done } }", json!({ "id": payload["apiToken"]["id"] }))
            .await;
        assert_eq!(body["data"]["revokeApiToken"]["done"], true, "{body}");
        let (_, body) = server.graphql_as(&token, "{ roleAssignments(accountId: \"x\", marketCode: \"qianjiang\") { role } }", json!({})).await;
        assert_eq!(first_code(&body), "UNAUTHENTICATED", "revoked on the very next request");
    }
}

on_both_backends! {
    async fn id_numbers_are_masked_without_permission_and_never_logged(db: TestDb) {
        let server = Server::start(&db, &[("SHIJI_LOG_FILTER", "debug")]).await;
        bootstrap_admin(&db, "admin@shiji.example").await;
        let (_, token) = signed_up(&server, &db, "13711112222").await;
        let number = id_card("32010219900307123");
        let submit = "mutation($input: VerificationInput!) { submitVerification(input: $input) {
            verification { id number status } userErrors { code field } } }";
        let (_, body) = server
            .graphql_as(&token, submit, json!({ "input": { "kind": "PERSON", "legalName": "张伟", "number": "320102199003071230", "documentIds": ["upload-1"] } }))
            .await;
        if number != "320102199003071230" {
            assert_eq!(user_error(&body["data"]["submitVerification"]), "INVALID_NUMBER");
        }
        let (_, body) = server
            .graphql_as(&token, submit, json!({ "input": { "kind": "PERSON", "legalName": "张伟", "number": number, "documentIds": ["upload-1"] } }))
            .await;
        let verification = &body["data"]["submitVerification"]["verification"];
        assert_eq!(verification["status"], "PENDING", "{body}");
        let masked = verification["number"].as_str().unwrap();
        assert_eq!(masked, format!("{}**********{}", &number[..4], &number[14..]));

        // The owner sees it masked; so does anyone else without `account/read_id_number`.
        let (_, body) = server.graphql_as(&token, ME, json!({})).await;
        assert_eq!(body["data"]["me"]["verification"]["number"], masked);
        let admin = login(&server, &db, "admin@shiji.example", PASSWORD).await;
        let admin = admin["token"].as_str().unwrap().to_string();
        let (_, body) = server
            .graphql_as(&admin, "{ verifications(status: PENDING) { edges { node { id number legalName } } } }", json!({}))
            .await;
        let pending = &body["data"]["verifications"]["edges"][0]["node"];
        assert_eq!(pending["number"], number.as_str(), "the platform administrator may read it: {body}");

        // Approving needs no reason; rejecting does.
        let review = "mutation($input: ReviewVerificationInput!) { reviewVerification(input: $input) {
            verification { status reason } userErrors { code } } }";
        let (_, body) = server.graphql_as(&admin, review, json!({ "input": { "id": pending["id"], "decision": "REJECT" } })).await;
        assert_eq!(user_error(&body["data"]["reviewVerification"]), "REASON_REQUIRED");
        let (_, body) = server.graphql_as(&admin, review, json!({ "input": { "id": pending["id"], "decision": "APPROVE" } })).await;
        assert_eq!(body["data"]["reviewVerification"]["verification"]["status"], "APPROVED", "{body}");

        // Stored encrypted, audited masked, never logged.
        let stored = sql_text(&db, "SELECT number_cipher FROM verifications WHERE number_masked = $1", masked).await.unwrap();
        assert!(!stored.contains(&number));
        let audit = sql_text(&db, "SELECT after_state FROM audit_log WHERE action = $1", "verification.submit").await.unwrap();
        assert!(audit.contains(masked) && !audit.contains(&number), "{audit}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let logs = server.logs();
        assert!(logs.contains("request"), "logs were captured");
        assert!(!logs.contains(&number), "the full ID number appeared in the logs");
        assert!(!logs.contains(PASSWORD), "a password appeared in the logs");
        assert!(!logs.contains(&token), "a session token appeared in the logs");
    }
}

on_both_backends! {
    async fn every_write_is_audited_and_the_audit_log_cannot_be_changed(db: TestDb) {
        let server = Server::start(&db, &[]).await;
        bootstrap_admin(&db, "admin@shiji.example").await;
        let (account, token) = signed_up(&server, &db, "sun@example.cn").await;
        let (_, body) = server
            .graphql_as(&token, "mutation { updateProfile(input: {displayName: \"孙丽\"}) { account { displayName } } }", json!({}))
            .await;
        assert_eq!(body["data"]["updateProfile"]["account"]["displayName"], "孙丽");
        let (_, body) = server
            .graphql_as(&token, "mutation { addAddress(input: {recipient: \"孙丽\", phone: \"13500001111\", detail: \"双塔街道 8 号\", latitude: 31.29, longitude: 120.63}) { address { id isDefault } } }", json!({}))
            .await;
        assert_eq!(body["data"]["addAddress"]["address"]["isDefault"], true, "{body}");
        let _ = server.graphql_as(&token, "{ policies { role } }", json!({})).await;

        let admin = login(&server, &db, "admin@shiji.example", PASSWORD).await;
        let admin = admin["token"].as_str().unwrap().to_string();
        let (_, body) = server
            .graphql_as(&admin, "query($actor: String) { auditLog(filter: {actor: $actor}, first: 50) { edges { node { action objectId outcome before after sourceAddress } } } }",
                json!({ "actor": format!("account:{account}") }))
            .await;
        let actions: Vec<&str> = body["data"]["auditLog"]["edges"].as_array().unwrap_or_else(|| panic!("{body}"))
            .iter().map(|e| e["node"]["action"].as_str().unwrap()).collect();
        for expected in ["account.login", "account.update_profile", "address.add", "authz.forbidden"] {
            assert!(actions.contains(&expected), "{expected} missing from {actions:?}");
        }
        let profile = body["data"]["auditLog"]["edges"].as_array().unwrap().iter()
            .find(|e| e["node"]["action"] == "account.update_profile").unwrap();
        assert!(profile["node"]["before"].as_str().unwrap().contains("sun@example.cn"));
        assert!(profile["node"]["after"].as_str().unwrap().contains("孙丽"));
        assert_eq!(profile["node"]["sourceAddress"], "127.0.0.1");
        let denied = body["data"]["auditLog"]["edges"].as_array().unwrap().iter()
            .find(|e| e["node"]["action"] == "authz.forbidden").unwrap();
        assert_eq!(denied["node"]["outcome"], "DENIED");

        // Append-only, enforced by the database itself.
        let update = sql_exec(&db, "UPDATE audit_log SET actor = 'someone-else'").await;
        assert!(update.is_err(), "an audit record was changed");
        assert!(update.unwrap_err().contains("append-only"));
        let delete = sql_exec(&db, "DELETE FROM audit_log").await;
        assert!(delete.is_err(), "audit records were deleted");
        let count = sql_text(&db, "SELECT CAST(COUNT(*) AS TEXT) FROM audit_log WHERE actor <> $1", "").await.unwrap();
        assert!(count.parse::<u32>().unwrap() >= 5, "{count}");
    }
}

on_both_backends! {
    async fn published_market_information_is_public(db: TestDb) {
        let server = Server::start(&db, &[]).await;
        bootstrap_admin(&db, "admin@shiji.example").await;
        let admin = login(&server, &db, "admin@shiji.example", PASSWORD).await;
        let admin = admin["token"].as_str().unwrap().to_string();
        let (_, body) = server.graphql_as(&admin, "mutation($input: CreateMarketInput!) { createMarket(input: $input) { market { code } userErrors { code field } } }", json!({ "input": {
            "code": "suzhou-shuangta", "name": "双塔市集", "centre": { "latitude": 31.2989, "longitude": 120.6353 },
            "serviceRadiusMeters": 5000,
            "orderTakingHours": [{ "opens": "06:30", "closes": "20:00" }],
            "delivery": { "freeDeliveryDistanceMeters": 3000, "minimumOrderFen": 3000,
                          "outOfRangeFees": [{ "upToMeters": 5000, "feeFen": 500 }, { "upToMeters": 8000, "feeFen": 1000 }],
                          "deliveryWindows": [{ "opens": "08:00", "closes": "10:00" }], "outsideOrderHours": "NEXT_SLOT" },
            "compensationStandard": "缺斤少两，假一赔十。" } })).await;
        assert_eq!(body["data"]["createMarket"]["market"]["code"], "suzhou-shuangta", "{body}");

        let (_, body) = server.graphql("{ market(code: \"suzhou-shuangta\") { name currency timeZone
            serviceArea { radiusMeters centre { latitude } } orderTakingHours { opens closes }
            delivery { freeDeliveryDistanceMeters minimumOrderFen outOfRangeFees { upToMeters feeFen } outsideOrderHours }
            compensationStandard } }", json!({})).await;
        let market = &body["data"]["market"];
        assert_eq!(market["name"], "双塔市集");
        assert_eq!(market["currency"], "CNY");
        assert_eq!(market["timeZone"], "Asia/Shanghai");
        assert_eq!(market["delivery"]["outOfRangeFees"][1]["feeFen"], 1000);
        assert_eq!(market["compensationStandard"], "缺斤少两，假一赔十。");

        // A bad fee table is refused and changes nothing.
        let (_, body) = server.graphql_as(&admin, "mutation { updateMarket(code: \"suzhou-shuangta\", input: {delivery: {freeDeliveryDistanceMeters: 3000, minimumOrderFen: 0, outOfRangeFees: [{upToMeters: 2000, feeFen: 100}]}}) { userErrors { code } } }", json!({})).await;
        assert_eq!(body["data"]["updateMarket"]["userErrors"][0]["code"], "INVALID_DELIVERY", "{body}");
        let (_, body) = server.graphql("{ market(code: \"suzhou-shuangta\") { delivery { outOfRangeFees { feeFen } } } }", json!({})).await;
        assert_eq!(body["data"]["market"]["delivery"]["outOfRangeFees"].as_array().unwrap().len(), 2);
    }
}

/// Creates a market as the platform administrator.
pub async fn create_market(server: &Server, admin: &str, code: &str) {
    let (_, body) = server
        .graphql_as(admin, "mutation($code: String!) { createMarket(input: {code: $code, name: $code, centre: {latitude: 30.4, longitude: 112.9}, serviceRadiusMeters: 8000}) { market { code } userErrors { code } } }", json!({ "code": code }))
        .await;
    assert_eq!(
        body["data"]["createMarket"]["market"]["code"], code,
        "{body}"
    );
}
