//! What every end-to-end test stands on: a fresh database on each backend, the
//! real `shiji` binary started against it, and a GraphQL client.
//!
//! PostgreSQL tests read the server URL from `SHIJI_TEST_POSTGRES_URL` (any
//! database on the server; each test creates its own and drops it afterwards).
//! Unset, the PostgreSQL half of each test says so and passes; set but
//! unreachable, it fails, so CI can never silently skip the second backend.

#![allow(dead_code)]

pub mod moto;
pub mod proxy;
pub mod session;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use serde_json::{Value, json};
use sqlx::Connection;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const POSTGRES_URL_VAR: &str = "SHIJI_TEST_POSTGRES_URL";

/// Writes a test once, runs it on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($(#[$meta:meta])* async fn $name:ident($db:ident: TestDb) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $(#[$meta])*
            async fn scenario($db: $crate::support::TestDb) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::support::run($crate::support::Backend::Sqlite, scenario).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::support::run($crate::support::Backend::Postgres, scenario).await;
            }
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists for one test.
pub struct TestDb {
    pub backend: Backend,
    /// What the engine is given as `SHIJI_DATABASE_URL`.
    pub url: String,
    /// The engine's data directory for this test.
    pub data_dir: tempfile::TempDir,
    /// For PostgreSQL: the server URL and database name, to drop it afterwards.
    postgres: Option<(String, String)>,
}

impl TestDb {
    pub async fn create(backend: Backend) -> Option<TestDb> {
        let data_dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => Some(TestDb {
                backend,
                url: format!("sqlite://{}", data_dir.path().join("shiji.db").display()),
                data_dir,
                postgres: None,
            }),
            Backend::Postgres => {
                let Ok(server_url) = std::env::var(POSTGRES_URL_VAR) else {
                    eprintln!(
                        "{POSTGRES_URL_VAR} is not set: the PostgreSQL half of this test did not run"
                    );
                    return None;
                };
                let name = format!("shiji_test_{}", uuid::Uuid::new_v4().simple());
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
                let url = with_database(&server_url, &name);
                Some(TestDb {
                    backend,
                    url,
                    data_dir,
                    postgres: Some((server_url, name)),
                })
            }
        }
    }

    /// The environment that points a `shiji` process at this database.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("SHIJI_DATABASE_URL".into(), self.url.clone()),
            (
                "SHIJI_DATA_DIR".into(),
                self.data_dir.path().display().to_string(),
            ),
            // Tests read what they just wrote; the page cache has its own test.
            ("SHIJI_CATALOGUE_PAGE_CACHE_MS".into(), "0".into()),
        ]
    }
}

/// Replaces the database name in a PostgreSQL URL.
pub fn with_database(server_url: &str, name: &str) -> String {
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

/// Runs `scenario` on a fresh database of `backend`, dropping it even if the scenario panics.
pub async fn run<F, Fut>(backend: Backend, scenario: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let cleanup = db.postgres.clone();
    let result = AssertUnwindSafe(scenario(db)).catch_unwind().await;
    if let Some((server_url, name)) = cleanup {
        drop_postgres_database(&server_url, &name).await;
    }
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

async fn drop_postgres_database(server_url: &str, name: &str) {
    let mut admin = sqlx::PgConnection::connect(server_url)
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

/// A running `shiji serve`, killed when dropped.
pub struct Server {
    child: Child,
    pub base: String,
    pub http: reqwest::Client,
    logs: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `shiji serve` on a free port against `db`, with `extra` environment.
    pub async fn start(db: &TestDb, extra: &[(&str, &str)]) -> Server {
        let mut env = db.env();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Self::start_with_env(env).await
    }

    pub async fn start_with_env(env: Vec<(String, String)>) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_shiji"));
        command
            .arg("serve")
            .env("SHIJI_SERVER_LISTEN", "127.0.0.1:0")
            .env("SHIJI_LOG_FORMAT", "json")
            .env("SHIJI_LOG_FILTER", "info")
            .env_remove("SHIJI_CONFIG")
            .env_remove("SHIJI_LOG")
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("start shiji serve");

        let logs = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = logs.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut logs = sink.lock().expect("log buffer");
                logs.push_str(&line);
                logs.push('\n');
            }
        });

        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let base = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    return Some(addr.to_string());
                }
            }
            None
        })
        .await
        .ok()
        .flatten();
        let Some(base) = base else {
            let _ = child.kill().await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            panic!(
                "shiji serve did not start; its log:\n{}",
                logs.lock().unwrap()
            );
        };
        // Keep reading stdout so the process never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        Server {
            child,
            base,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
            logs,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("server still running")
    }

    /// Everything the server has logged so far.
    pub fn logs(&self) -> String {
        self.logs.lock().expect("log buffer").clone()
    }

    /// POSTs a GraphQL request the way a modern client does; returns status and body.
    pub async fn graphql(&self, query: &str, variables: Value) -> (u16, Value) {
        self.post_json(
            json!({ "query": query, "variables": variables }),
            "application/graphql-response+json",
        )
        .await
    }

    /// POSTs `body` as JSON with the given Accept header.
    pub async fn post_json(&self, body: Value, accept: &str) -> (u16, Value) {
        let response = self
            .http
            .post(self.url("/graphql"))
            .header("accept", accept)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let body = response.json().await.expect("JSON response");
        (status, body)
    }

    /// Waits for the process to exit; returns its exit code.
    pub async fn wait(&mut self, limit: Duration) -> Option<i32> {
        tokio::time::timeout(limit, self.child.wait())
            .await
            .ok()
            .and_then(|r| r.ok())
            .and_then(|status| status.code())
    }
}

/// The `extensions.code` of the first error in a GraphQL response.
pub fn first_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}
