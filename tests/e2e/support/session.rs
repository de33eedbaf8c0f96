//! Signing in from a test: captchas are answered by reading the store the test
//! owns (the engine keeps each answer until it is used), then `login` runs
//! exactly as a frontend would call it.

use serde_json::{Value, json};
use sqlx::Connection;

use super::{Backend, Server, TestDb};

/// Reads one text column of one row from the test's own database.
pub async fn sql_text(db: &TestDb, sql: &str, bind: &str) -> Option<String> {
    match db.backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url)
                .await
                .expect("sqlite");
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
                .bind(bind)
                .fetch_optional(&mut conn)
                .await
                .expect("query")
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url)
                .await
                .expect("postgres");
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
                .bind(bind)
                .fetch_optional(&mut conn)
                .await
                .expect("query")
        }
    }
}

/// Runs a statement on the test's database; returns the error text if it failed.
pub async fn sql_exec(db: &TestDb, sql: &str) -> Result<u64, String> {
    match db.backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url)
                .await
                .expect("sqlite");
            sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(&mut conn)
                .await
                .map(|r| r.rows_affected())
                .map_err(|e| e.to_string())
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url)
                .await
                .expect("postgres");
            sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(&mut conn)
                .await
                .map(|r| r.rows_affected())
                .map_err(|e| e.to_string())
        }
    }
}

pub const LOGIN: &str = "mutation Login($input: LoginInput!) {
  login(input: $input) { token account { id displayName } session { id } userErrors { code field message } } }";

pub const REGISTER: &str = "mutation Register($input: RegisterInput!) {
  register(input: $input) { account { id } userErrors { code field message } } }";

/// A strong password for test accounts (zxcvbn 4).
pub const PASSWORD: &str = "Qingshui-crayfish-2026!";

/// A fresh captcha: (id, answer).
pub async fn captcha(server: &Server, db: &TestDb) -> (String, String) {
    let (_, body) = server
        .graphql("{ captcha { id imagePng expiresAt } }", json!({}))
        .await;
    let id = body["data"]["captcha"]["id"]
        .as_str()
        .expect("captcha id")
        .to_string();
    let answer = sql_text(db, "SELECT answer FROM captchas WHERE id = $1", &id)
        .await
        .expect("captcha stored");
    (id, answer)
}

/// Logs in; returns the whole `login` payload.
pub async fn login(server: &Server, db: &TestDb, login: &str, password: &str) -> Value {
    let (captcha_id, answer) = captcha(server, db).await;
    let (_, body) = server
        .graphql(
            LOGIN,
            json!({ "input": { "login": login, "password": password, "captchaId": captcha_id, "captchaAnswer": answer } }),
        )
        .await;
    body["data"]["login"].clone()
}

/// Registers and logs in; returns (account id, bearer token).
pub async fn signed_up(server: &Server, db: &TestDb, login_name: &str) -> (String, String) {
    let (_, body) = server
        .graphql(
            REGISTER,
            json!({ "input": { "login": login_name, "password": PASSWORD, "displayName": login_name } }),
        )
        .await;
    let account = &body["data"]["register"]["account"]["id"];
    assert!(account.is_string(), "register {login_name}: {body}");
    let payload = login(server, db, login_name, PASSWORD).await;
    let token = payload["token"]
        .as_str()
        .unwrap_or_else(|| panic!("login {login_name}: {payload}"));
    (account.as_str().unwrap().to_string(), token.to_string())
}

impl Server {
    /// POSTs a GraphQL request with a bearer token.
    pub async fn graphql_as(&self, token: &str, query: &str, variables: Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url("/graphql"))
            .header("accept", "application/graphql-response+json")
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON response"))
    }
}

/// Creates the first platform administrator through the CLI, as an operator would.
pub async fn bootstrap_admin(db: &TestDb, email: &str) {
    let env = db.env();
    let email = email.to_string();
    let output = tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_shiji"))
            .args(["admin", "create", "--email", &email, "--password-stdin"])
            .env_remove("SHIJI_CONFIG")
            .envs(env)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("shiji admin create");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{PASSWORD}\n").as_bytes())
            .expect("write password");
        child.wait_with_output().expect("wait")
    })
    .await
    .expect("join");
    assert!(
        output.status.success(),
        "admin create failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
