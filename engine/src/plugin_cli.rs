//! `shiji plugin …`: the registry from the command line, and the author's
//! harness (`shiji plugin run`), which needs no database.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::Subcommand;
use serde_json::Value;

use shiji::caller::Caller;
use shiji::config::Config;
use shiji::plugins::{Installed, Manifest, MemoryKeyValue, PluginError, PluginRuntime, harness};
use shiji::server;

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Install a component with its manifest; shows what it asks for.
    Install {
        /// The component (.wasm).
        component: PathBuf,
        /// Its plugin.toml.
        #[arg(long)]
        manifest: PathBuf,
        /// A capability to grant (repeat); only those the manifest asks for.
        #[arg(long = "grant")]
        grants: Vec<String>,
    },
    /// Replace an installed plugin's component and manifest.
    Upgrade {
        component: PathBuf,
        #[arg(long)]
        manifest: PathBuf,
        /// Capabilities to grant; omitted, the previous grants stay.
        #[arg(long = "grant")]
        grants: Option<Vec<String>>,
    },
    /// Remove a plugin from every market, with its storage.
    Uninstall { id: String },
    /// List installed plugins and where they are on.
    List,
    /// Switch a plugin on in a market.
    Enable {
        id: String,
        #[arg(long)]
        market: String,
        /// The plugin's configuration in that market: inline JSON or a JSON
        /// file; `{}` if omitted. (`--config` is the engine's own TOML file.)
        #[arg(long, default_value = "{}")]
        settings: String,
    },
    /// Switch a plugin off in a market.
    Disable {
        id: String,
        #[arg(long)]
        market: String,
    },
    /// Run one hook of a component in the real host and report output, fuel,
    /// peak memory and time. Needs no database.
    Run {
        component: PathBuf,
        #[arg(long)]
        manifest: PathBuf,
        /// e.g. adjust-prices
        #[arg(long)]
        hook: String,
        /// The hook's input as JSON (a file).
        #[arg(long)]
        input: PathBuf,
        /// The plugin's configuration: inline JSON or a JSON file.
        #[arg(long)]
        settings: Option<String>,
        /// Storage before the call: a JSON object of key → string.
        #[arg(long)]
        storage: Option<PathBuf>,
    },
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// Inline JSON, or the JSON in the file it names.
fn json_arg(value: &str) -> anyhow::Result<Value> {
    let text = if Path::new(value).is_file() {
        read_text(Path::new(value))?
    } else {
        value.to_string()
    };
    serde_json::from_str(&text).with_context(|| format!("not JSON: {value}"))
}

fn refused(e: PluginError) -> anyhow::Error {
    match e {
        PluginError::Config(problems) | PluginError::ConfigInMarket { problems, .. } => {
            let lines: Vec<String> = problems
                .iter()
                .map(|p| {
                    format!(
                        "  {} {}",
                        if p.path.is_empty() { "/" } else { &p.path },
                        p.message
                    )
                })
                .collect();
            anyhow::anyhow!(
                "the configuration does not fit the plugin's schema:\n{}",
                lines.join("\n")
            )
        }
        other => anyhow::anyhow!(other),
    }
}

fn describe(p: &Installed) {
    let m = &p.manifest;
    println!(
        "{} {} ({}), contract {}",
        m.id, m.version, m.name, m.contract
    );
    println!("  {}", m.description.en);
    println!("  {}", m.description.zh_cn);
    println!("  hooks: {}", join(m.hooks.iter()));
    println!("  asks for: {}", join(m.capabilities.iter()));
    println!("  granted: {}", join(p.granted.iter()));
    let missing: Vec<&String> = m.capabilities.difference(&p.granted).collect();
    if !missing.is_empty() {
        println!(
            "  not granted (calls get `not-granted`): {}; grant with `shiji plugin upgrade … {}`",
            join(missing.iter().copied()),
            missing
                .iter()
                .map(|c| format!("--grant {c}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    println!("  sha256 {} · {} bytes", p.sha256, p.size);
}

fn join<'a>(items: impl Iterator<Item = &'a String>) -> String {
    let list: Vec<&str> = items.map(String::as_str).collect();
    if list.is_empty() {
        "-".into()
    } else {
        list.join(", ")
    }
}

pub async fn run(command: PluginCommand, config: Config) -> anyhow::Result<()> {
    if let PluginCommand::Run {
        component,
        manifest,
        hook,
        input,
        settings,
        storage,
    } = command
    {
        return run_harness(&component, &manifest, &hook, &input, settings, storage);
    }
    let store = server::open_store(&config).await?;
    let services = server::build_services(&config, store.clone()).await?;
    let host = services.plugins;
    let operator = Caller::operator();
    match command {
        PluginCommand::Install {
            component,
            manifest,
            grants,
        } => {
            let installed = host
                .install(
                    &read(&component)?,
                    &read_text(&manifest)?,
                    &grants,
                    &operator,
                )
                .await
                .map_err(refused)?;
            println!("installed:");
            describe(&installed);
        }
        PluginCommand::Upgrade {
            component,
            manifest,
            grants,
        } => {
            let installed = host
                .upgrade(
                    &read(&component)?,
                    &read_text(&manifest)?,
                    grants.as_deref(),
                    &operator,
                )
                .await
                .map_err(refused)?;
            println!("upgraded:");
            describe(&installed);
        }
        PluginCommand::Uninstall { id } => {
            host.uninstall(&id, &operator).await.map_err(refused)?;
            println!("uninstalled {id}");
        }
        PluginCommand::List => {
            let set = host.current();
            if set.plugins.is_empty() {
                println!("no plugins installed");
            }
            for plugin in set.plugins.values() {
                describe(plugin);
                for (market, toggles) in &set.toggles {
                    for t in toggles.iter().filter(|t| t.plugin_id == plugin.id()) {
                        let state = match (&t.breaker, t.enabled) {
                            (_, true) => "on".to_string(),
                            (Some((why, _)), false) => format!("off (breaker: {why})"),
                            (None, false) => "off".to_string(),
                        };
                        println!("  market {market}: {state}, config {}", t.config_json);
                    }
                }
            }
        }
        PluginCommand::Enable {
            id,
            market,
            settings,
        } => {
            let config = json_arg(&settings)?;
            host.enable(&market, &id, config, &operator)
                .await
                .map_err(refused)?;
            println!("{id} is on in {market}");
        }
        PluginCommand::Disable { id, market } => {
            host.disable(&market, &id, &operator)
                .await
                .map_err(refused)?;
            println!("{id} is off in {market}");
        }
        PluginCommand::Run { .. } => unreachable!("handled above"),
    }
    store.close().await;
    Ok(())
}

fn run_harness(
    component: &Path,
    manifest: &Path,
    hook: &str,
    input: &Path,
    config: Option<String>,
    storage: Option<PathBuf>,
) -> anyhow::Result<()> {
    let manifest = Manifest::parse(&read_text(manifest)?)?;
    let input: Value = serde_json::from_str(&read_text(input)?).context("the input is not JSON")?;
    let config = match config {
        Some(c) => json_arg(&c)?,
        None => Value::Object(Default::default()),
    };
    let mut kv = MemoryKeyValue::default();
    if let Some(path) = storage {
        let entries: std::collections::BTreeMap<String, String> =
            serde_json::from_str(&read_text(&path)?)
                .context("storage: a JSON object of strings")?;
        kv.entries = entries
            .into_iter()
            .map(|(k, v)| (k, v.into_bytes()))
            .collect();
    }
    let runtime = PluginRuntime::new()?;
    let started = std::time::Instant::now();
    let plugin = runtime.load(&manifest.id, &read(component)?)?;
    let compile = started.elapsed();
    let report = harness::run(&runtime, &plugin, &manifest, hook, input, &config, kv)?;
    let mut json = report.to_json();
    json["compileMicros"] = Value::from(compile.as_micros() as u64);
    println!("{}", serde_json::to_string_pretty(&json)?);
    if report.output.is_err() {
        bail!("the call failed");
    }
    Ok(())
}
