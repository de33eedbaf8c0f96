//! The `shiji` command: the server and its operator tools.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use shiji::config::Config;
use shiji::{server, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "shiji",
    version,
    about = "Shiji (市集) headless commerce engine"
)]
struct Cli {
    /// TOML configuration file; `SHIJI_*` environment variables override it.
    #[arg(long, short, global = true, env = "SHIJI_CONFIG")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the GraphQL server (migrates the store first).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Inspect the GraphQL schema.
    Schema {
        #[command(subcommand)]
        command: SchemaCommand,
    },
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
enum SchemaCommand {
    /// Print the SDL the server serves.
    Print,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration, secrets redacted.
    Print,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref(), std::env::vars())?;
    telemetry::init(&config.log);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run(cli.command, config))
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => server::serve(config).await?,
        Command::Migrate => {
            let store = server::open_store(&config).await?;
            let latest = store.applied_migrations(None, i64::MAX).await?;
            println!(
                "store migrated ({}), schema version {}",
                store.backend().as_str(),
                latest.last().map(|m| m.version).unwrap_or_default()
            );
            store.close().await;
        }
        Command::Schema {
            command: SchemaCommand::Print,
        } => {
            // The schema is built exactly as `serve` builds it, on a store that is
            // never touched: printing needs no database.
            let lazy = shiji::store::Store::Sqlite(
                sqlx::sqlite::SqlitePoolOptions::new().connect_lazy("sqlite::memory:")?,
            );
            print!("{}", server::build_api(&config, lazy)?.sdl());
        }
        Command::Config {
            command: ConfigCommand::Print,
        } => print!("{}", config.to_redacted_toml()),
    }
    Ok(())
}
