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

struct Options {
    seconds: u64,
    concurrency: usize,
    backends: Vec<&'static str>,
    /// A prebuilt server binary to measure instead of building the workspace's.
    binary: Option<PathBuf>,
}

fn options(args: &[String]) -> anyhow::Result<Options> {
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
                query,
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

struct LoadResult {
    per_second: f64,
    p50: Duration,
    p99: Duration,
    errors: u64,
}

async fn load(
    base: &str,
    query: &str,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<LoadResult> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let url = Arc::new(format!("{base}/graphql"));
    let body = Arc::new(serde_json::to_vec(&serde_json::json!({ "query": query }))?);

    // Warm-up: connections open, caches filled; not measured.
    drive(&client, &url, &body, concurrency, Duration::from_secs(2)).await;
    let started = Instant::now();
    let (mut latencies, errors) = drive(&client, &url, &body, concurrency, duration).await;
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
    })
}

async fn drive(
    client: &reqwest::Client,
    url: &Arc<String>,
    body: &Arc<Vec<u8>>,
    concurrency: usize,
    duration: Duration,
) -> (Vec<Duration>, u64) {
    let deadline = Instant::now() + duration;
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, url, body) = (client.clone(), url.clone(), body.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(100_000);
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let sent = Instant::now();
                let ok = match client
                    .post(url.as_str())
                    .header("content-type", "application/json")
                    .header("accept", "application/graphql-response+json")
                    .body(body.as_ref().clone())
                    .send()
                    .await
                {
                    Ok(response) => {
                        let good = response.status().is_success();
                        let text = response.bytes().await.unwrap_or_default();
                        good && !text.windows(9).any(|w| w == b"\"errors\":")
                    }
                    Err(_) => false,
                };
                if ok {
                    latencies.push(sent.elapsed());
                } else {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for worker in workers {
        if let Ok((latencies, e)) = worker.await {
            all.extend(latencies);
            errors += e;
        }
    }
    (all, errors)
}

pub struct Database {
    pub url: String,
    dir: PathBuf,
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
