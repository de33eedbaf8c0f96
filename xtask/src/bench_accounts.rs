//! Load benchmark of sign-up and sign-in over HTTP: what argon2id and the
//! captcha cost a real deployment.
//!
//! Each worker loops: fetch a captcha, register a new account, fetch another
//! captcha, log in. Captcha answers are read from the store, as a person
//! would read the picture. Reports completed sign-up + sign-in pairs per
//! second and the latency of the `login` and `register` requests alone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::bench_http::{Database, Server, micros, release_binary};

pub const PASSWORD: &str = "Qingshui-crayfish-2026!";

/// Reads captcha answers from the server's store.
#[derive(Clone)]
enum Answers {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Answers {
    async fn connect(url: &str) -> anyhow::Result<Answers> {
        Ok(if url.starts_with("sqlite:") {
            Answers::Sqlite(sqlx::SqlitePool::connect(url).await?)
        } else {
            Answers::Postgres(sqlx::PgPool::connect(url).await?)
        })
    }

    async fn text(&self, sql: &str, bind: &str) -> anyhow::Result<String> {
        Ok(match self {
            Answers::Sqlite(pool) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
                    .bind(bind)
                    .fetch_one(pool)
                    .await?
            }
            Answers::Postgres(pool) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
                    .bind(bind)
                    .fetch_one(pool)
                    .await?
            }
        })
    }

    async fn exec(&self, sql: &str) -> anyhow::Result<()> {
        match self {
            Answers::Sqlite(pool) => {
                sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                    .execute(pool)
                    .await?;
            }
            Answers::Postgres(pool) => {
                sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                    .execute(pool)
                    .await?;
            }
        }
        Ok(())
    }

    async fn answer(&self, id: &str) -> anyhow::Result<String> {
        let sql = "SELECT answer FROM captchas WHERE id = $1";
        Ok(match self {
            Answers::Sqlite(pool) => sqlx::query_scalar(sql).bind(id).fetch_one(pool).await?,
            Answers::Postgres(pool) => sqlx::query_scalar(sql).bind(id).fetch_one(pool).await?,
        })
    }
}

/// A GraphQL client that can answer captchas.
pub struct Client {
    pub http: reqwest::Client,
    /// The server's `/graphql` URL.
    pub url: String,
    answers: Answers,
    /// Sent as a bearer token once set (after `login`).
    pub token: Option<String>,
}

impl Client {
    pub async fn connect(base: &str, db_url: &str) -> anyhow::Result<Client> {
        Ok(Client {
            http: reqwest::Client::new(),
            url: format!("{base}/graphql"),
            answers: Answers::connect(db_url).await?,
            token: None,
        })
    }

    pub async fn post(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .post(&self.url)
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        Ok(request.send().await?.json().await?)
    }

    /// Signs in with [`PASSWORD`], answering a captcha first; returns the
    /// bearer token and how long the `login` request alone took.
    pub async fn login(&self, login: &str) -> anyhow::Result<(String, Duration)> {
        let (captcha_id, answer) = self.captcha().await?;
        let started = Instant::now();
        let body = self
            .post(
                "mutation($input: LoginInput!) { login(input: $input) { token userErrors { code } } }",
                json!({ "input": { "login": login, "password": PASSWORD, "captchaId": captcha_id, "captchaAnswer": answer } }),
            )
            .await?;
        let took = started.elapsed();
        match body["data"]["login"]["token"].as_str() {
            Some(token) => Ok((token.to_string(), took)),
            None => bail!("login failed: {body}"),
        }
    }

    /// One text value straight from the server's store (set-up only).
    pub async fn sql_text(&self, sql: &str, bind: &str) -> anyhow::Result<String> {
        self.answers.text(sql, bind).await
    }

    /// A statement straight on the server's store (set-up only).
    pub async fn sql_exec(&self, sql: &str) -> anyhow::Result<()> {
        self.answers.exec(sql).await
    }

    async fn captcha(&self) -> anyhow::Result<(String, String)> {
        let body = self.post("{ captcha { id } }", json!({})).await?;
        let id = body["data"]["captcha"]["id"]
            .as_str()
            .context("no captcha")?
            .to_string();
        let answer = self.answers.answer(&id).await?;
        Ok((id, answer))
    }
}

#[derive(Default)]
struct Samples {
    register: Vec<Duration>,
    login: Vec<Duration>,
    pairs: u64,
    errors: u64,
}

pub fn bench(args: &[String]) -> anyhow::Result<()> {
    let mut seconds = 10u64;
    let mut concurrency = 16usize;
    let mut binary = None;
    let mut backends = vec!["sqlite", "postgres"];
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().context(format!("{arg} needs a value"));
        match arg.as_str() {
            "--seconds" => seconds = value()?.parse()?,
            "--concurrency" => concurrency = value()?.parse()?,
            "--binary" => binary = Some(std::path::PathBuf::from(value()?)),
            "--backend" => {
                backends = vec![if value()? == "sqlite" {
                    "sqlite"
                } else {
                    "postgres"
                }]
            }
            other => bail!("unknown option {other}"),
        }
    }
    let binary = release_binary(binary)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    println!("\nsign-up + sign-in: {concurrency} workers, {seconds} s after a 2 s warm-up\n");
    println!(
        "| backend | pairs/s | register p50 | register p99 | login p50 | login p99 | errors |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for backend in backends {
        let database = Database::create(backend)?;
        let mut server = Server::start(&binary, &database)?;
        let samples = runtime.block_on(load(&server.base, &database.url, concurrency, seconds))?;
        let mut register = samples.register.clone();
        let mut login = samples.login.clone();
        register.sort_unstable();
        login.sort_unstable();
        let at = |v: &[Duration], q: f64| {
            v.get(((v.len() as f64 * q) as usize).min(v.len().saturating_sub(1)))
                .copied()
                .unwrap_or_default()
        };
        println!(
            "| {backend} | {:.1} | {} | {} | {} | {} | {} |",
            samples.pairs as f64 / seconds as f64,
            micros(at(&register, 0.5)),
            micros(at(&register, 0.99)),
            micros(at(&login, 0.5)),
            micros(at(&login, 0.99)),
            samples.errors
        );
        server.stop();
        database.drop();
    }
    Ok(())
}

async fn load(
    base: &str,
    db_url: &str,
    concurrency: usize,
    seconds: u64,
) -> anyhow::Result<Samples> {
    let client = Arc::new(Client::connect(base, db_url).await?);
    let warm_up = Instant::now() + Duration::from_secs(2);
    let deadline = warm_up + Duration::from_secs(seconds);
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        let client = client.clone();
        workers.push(tokio::spawn(async move {
            let mut samples = Samples::default();
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let login = format!("bench-{worker}-{n}@shiji.example");
                let measured = Instant::now() >= warm_up;
                match pair(&client, &login).await {
                    Ok((register, login)) if measured => {
                        samples.register.push(register);
                        samples.login.push(login);
                        samples.pairs += 1;
                    }
                    Ok(_) => {}
                    Err(_) if measured => samples.errors += 1,
                    Err(_) => {}
                }
            }
            samples
        }));
    }
    let mut all = Samples::default();
    for worker in workers {
        let s = worker.await?;
        all.register.extend(s.register);
        all.login.extend(s.login);
        all.pairs += s.pairs;
        all.errors += s.errors;
    }
    Ok(all)
}

/// One sign-up and one sign-in; returns the two requests' latencies.
async fn pair(client: &Client, login: &str) -> anyhow::Result<(Duration, Duration)> {
    let started = Instant::now();
    let body = client
        .post(
            "mutation($input: RegisterInput!) { register(input: $input) { account { id } userErrors { code } } }",
            json!({ "input": { "login": login, "password": PASSWORD, "displayName": "bench" } }),
        )
        .await?;
    let register = started.elapsed();
    if !body["data"]["register"]["account"]["id"].is_string() {
        bail!("register failed: {body}");
    }
    let (_, login_took) = client.login(login).await?;
    Ok((register, login_took))
}
