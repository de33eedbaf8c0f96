//! Load benchmark of the release server over HTTP.
//!
//! The server runs as its own process; this process is the client, holding
//! `concurrency` keep-alive connections busy for a fixed time after a warm-up.
//! Both share the machine's cores, so the figures are a floor, not a ceiling;
//! compare runs made on the same machine in the same session.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::{LOCAL_POSTGRES, cargo, run};

/// The options every HTTP benchmark takes.
pub struct Options {
    pub seconds: u64,
    pub concurrency: usize,
    pub backends: Vec<&'static str>,
    /// A prebuilt server binary to measure instead of building the workspace's.
    pub binary: Option<PathBuf>,
}

pub fn options(args: &[String]) -> anyhow::Result<Options> {
    let mut options = Options {
        seconds: 10,
        concurrency: 16,
        backends: vec!["sqlite", "postgres"],
        binary: None,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().context(format!("{arg} needs a value"));
        match arg.as_str() {
            "--seconds" => options.seconds = value()?.parse()?,
            "--concurrency" => options.concurrency = value()?.parse()?,
            "--binary" => options.binary = Some(PathBuf::from(value()?)),
            "--backend" => {
                options.backends = match value()?.as_str() {
                    "sqlite" => vec!["sqlite"],
                    "postgres" => vec!["postgres"],
                    other => bail!("unknown backend {other}"),
                }
            }
            other => bail!("unknown option {other}"),
        }
    }
    Ok(options)
}

const SCENARIOS: &[(&str, &str)] = &[
    ("trivial `{ __typename }`", "{ __typename }"),
    (
        "`serverInfo` (reads the store)",
        "query ServerInfo { serverInfo { version database { backend storeId } } }",
    ),
];

/// The server binary to measure: the one given, or a fresh release build.
pub fn release_binary(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match given {
        Some(binary) => Ok(binary),
        None => {
            run(Command::new(cargo()).args(["build", "--release", "--bin", "shiji"]))?;
            Ok(target_dir().join("release/shiji"))
        }
    }
}

pub fn bench(args: &[String]) -> anyhow::Result<()> {
    let options = options(args)?;
    let binary = release_binary(options.binary.clone())?;
    let size = std::fs::metadata(&binary)
        .with_context(|| format!("{} was not built", binary.display()))?
        .len();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    println!(
        "\nrelease binary: {:.1} MiB ({} bytes)",
        size as f64 / 1048576.0,
        size
    );
    println!(
        "load: {} connections, {} s per scenario after a 2 s warm-up\n",
        options.concurrency, options.seconds
    );
    println!("| backend | scenario | requests/s | p50 | p99 | errors |");
    println!("|---|---|---:|---:|---:|---:|");
    let mut rss_lines = Vec::new();
    for backend in &options.backends {
        let database = Database::create(backend)?;
        let mut server = Server::start(&binary, &database)?;
        std::thread::sleep(Duration::from_secs(1));
        let idle = rss_kib(server.pid());
        for (name, query) in SCENARIOS {
            let result = runtime.block_on(load(
                &server.base,
                &Request::query(query),
                options.concurrency,
                Duration::from_secs(options.seconds),
            ))?;
            println!(
                "| {backend} | {name} | {:.0} | {} | {} | {} |",
                result.per_second,
                micros(result.p50),
                micros(result.p99),
                result.errors
            );
        }
        let loaded = rss_kib(server.pid());
        rss_lines.push(format!(
            "{backend}: idle RSS {} MiB, after load {} MiB",
            mib(idle),
            mib(loaded)
        ));
        server.stop();
        database.drop();
    }
    println!();
    for line in rss_lines {
        println!("{line}");
    }
    Ok(())
}

/// The GraphQL request the load driver sends over and over.
pub struct Request {
    /// The JSON body: `query` and `variables`.
    pub body: serde_json::Value,
    /// A bearer token, for operations that need a signed-in caller.
    pub token: Option<String>,
    /// Besides an `errors` entry, text that marks an answer as failed.
    pub failure_marker: Option<&'static str>,
}

impl Request {
    /// An anonymous query without variables.
    pub fn query(query: &str) -> Request {
        Request {
            body: serde_json::json!({ "query": query }),
            token: None,
            failure_marker: None,
        }
    }
}

pub struct LoadResult {
    pub per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
    pub errors: u64,
    /// Why the first failed request failed (its answer, shortened).
    pub first_error: Option<String>,
}

/// Keeps `concurrency` requests in flight for a 2 s warm-up, then for
/// `duration`, measured.
pub async fn load(
    base: &str,
    request: &Request,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<LoadResult> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let url = format!("{base}/graphql");
    let body = serde_json::to_vec(&request.body)?;
    let target = Arc::new(Target {
        client,
        url,
        body,
        token: request.token.clone(),
        failure_marker: request.failure_marker,
    });

    // Warm-up: connections open, caches filled; not measured.
    drive(&target, concurrency, Duration::from_secs(2)).await;
    let started = Instant::now();
    let (mut latencies, errors, first_error) = drive(&target, concurrency, duration).await;
    let elapsed = started.elapsed();
    if latencies.is_empty() {
        bail!("no request succeeded");
    }
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    Ok(LoadResult {
        per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
        errors,
        first_error,
    })
}

/// What every worker sends, and how it judges the answer.
struct Target {
    client: reqwest::Client,
    url: String,
    body: Vec<u8>,
    token: Option<String>,
    failure_marker: Option<&'static str>,
}

impl Target {
    /// Sends the request once; a failure says why.
    async fn send(&self) -> Result<(), String> {
        let mut request = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/graphql-response+json")
            .body(self.body.clone());
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        let text = response.bytes().await.unwrap_or_default();
        let find = |needle: &[u8]| text.windows(needle.len()).position(|w| w == needle);
        let failed =
            find(b"\"errors\":").or_else(|| self.failure_marker.and_then(|m| find(m.as_bytes())));
        if status.is_success() && failed.is_none() {
            return Ok(());
        }
        // From what marked the failure, if anything did: the reason is there.
        let text = String::from_utf8_lossy(&text[failed.unwrap_or(0)..]);
        Err(format!(
            "{status}: {}",
            text.chars().take(400).collect::<String>()
        ))
    }
}

async fn drive(
    target: &Arc<Target>,
    concurrency: usize,
    duration: Duration,
) -> (Vec<Duration>, u64, Option<String>) {
    let deadline = Instant::now() + duration;
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let target = target.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(100_000);
            let mut errors = 0u64;
            let mut first_error = None;
            while Instant::now() < deadline {
                let sent = Instant::now();
                match target.send().await {
                    Ok(()) => latencies.push(sent.elapsed()),
                    Err(why) => {
                        errors += 1;
                        first_error.get_or_insert(why);
                    }
                }
            }
            (latencies, errors, first_error)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for worker in workers {
        if let Ok((latencies, e, why)) = worker.await {
            all.extend(latencies);
            errors += e;
            first_error = first_error.or(why);
        }
    }
    (all, errors, first_error)
}

pub struct Database {
    pub url: String,
    /// The server's data directory (SQLite file, plugin artifacts).
    pub dir: PathBuf,
    postgres: Option<(String, String)>,
}

impl Database {
    pub fn create(backend: &str) -> anyhow::Result<Database> {
        let dir =
            std::env::temp_dir().join(format!("shiji-bench-{}-{backend}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        if backend == "sqlite" {
            return Ok(Database {
                url: format!("sqlite://{}", dir.join("shiji.db").display()),
                dir,
                postgres: None,
            });
        }
        let server =
            std::env::var("SHIJI_BENCH_POSTGRES_URL").unwrap_or_else(|_| LOCAL_POSTGRES.into());
        let name = format!("shiji_bench_{}", std::process::id());
        run(Command::new("psql").arg(&server).args([
            "-q",
            "-c",
            &format!("CREATE DATABASE {name}"),
        ]))?;
        let base = server.rsplit_once('/').map(|(b, _)| b).unwrap_or(&server);
        Ok(Database {
            url: format!("{base}/{name}"),
            dir,
            postgres: Some((server, name)),
        })
    }

    pub fn drop(self) {
        if let Some((server, name)) = &self.postgres {
            let _ = run(Command::new("psql").arg(server).args([
                "-q",
                "-c",
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            ]));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    pub fn start(binary: &Path, database: &Database) -> anyhow::Result<Server> {
        let mut child = Command::new(binary)
            .arg("serve")
            .env("SHIJI_SERVER_LISTEN", "127.0.0.1:0")
            .env("SHIJI_DATABASE_URL", &database.url)
            .env("SHIJI_DATA_DIR", &database.dir)
            // Access logs off: the benchmark measures the engine, not the terminal.
            .env("SHIJI_LOG_FILTER", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the release server")?;
        let stdout = child.stdout.take().context("server stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(addr) = line.strip_prefix("listening on ") {
                        break addr.to_string();
                    }
                }
                _ => bail!("the server exited before listening"),
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Ok(Server { child, base })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stop(&mut self) {
        // SIGTERM through the `kill` command: a graceful stop, as in production.
        let _ = Command::new("kill").arg(self.pid().to_string()).status();
        let _ = self.child.wait();
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse().ok())
        })
        .unwrap_or(0)
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

pub fn micros(d: Duration) -> String {
    if d.as_micros() >= 1000 {
        format!("{:.2} ms", d.as_secs_f64() * 1000.0)
    } else {
        format!("{} µs", d.as_micros())
    }
}
