//! The `shiji` command: the server and its operator tools.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use shiji::config::Config;
use shiji::{server, telemetry};

/// A request allocates and frees many small buffers across tokio's threads.
/// In the checkout benchmark glibc's malloc and free took about 8 % of the
/// whole machine's CPU samples (server, database and client together);
/// with mimalloc the server's allocator time is about a third smaller.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod plugin_cli;
mod transfer_cli;

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
    /// Install, upgrade, toggle and try plugins.
    Plugin {
        #[command(subcommand)]
        command: plugin_cli::PluginCommand,
    },
    /// Import a shop's products from a CSV or JSON file.
    Import {
        #[command(subcommand)]
        command: transfer_cli::ImportCommand,
    },
    /// Export a shop's products as CSV or JSON.
    Export {
        #[command(subcommand)]
        command: transfer_cli::ExportCommand,
    },
    /// Operator tasks.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create a platform administrator (the first one, or another).
    /// There are no default accounts: this is how a new installation gets one.
    Create {
        /// The administrator's email, used to sign in.
        #[arg(long)]
        email: String,
        /// Display name; defaults to the email.
        #[arg(long)]
        name: Option<String>,
        /// Read the password from standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
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
            // Built exactly as `serve` builds it, on a throwaway in-memory store:
            // printing needs no database and writes no files.
            let mut scratch = config.clone();
            scratch.database.url = "sqlite::memory:".into();
            scratch.database.max_connections = 1;
            scratch.security.id_number_key = shiji::accounts::random_key();
            let store = server::open_store(&scratch).await?;
            let services = server::build_services(&scratch, store).await?;
            print!("{}", server::build_api(&scratch, services)?.sdl());
        }
        Command::Admin {
            command:
                AdminCommand::Create {
                    email,
                    name,
                    password_stdin,
                },
        } => {
            let password = read_password(password_stdin)?;
            let store = server::open_store(&config).await?;
            let services = server::build_services(&config, store.clone()).await?;
            let account = services
                .accounts
                .create_platform_admin(&email, name.as_deref(), password)
                .await
                .map_err(|e| match e {
                    shiji::service_error::ServiceError::Rejected(errors) => anyhow::anyhow!(
                        "{}",
                        errors
                            .iter()
                            .map(|e| e.message.clone())
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                    other => anyhow::anyhow!(other),
                })?;
            println!("platform administrator created: {} ({email})", account.id);
            store.close().await;
        }
        Command::Config {
            command: ConfigCommand::Print,
        } => print!("{}", config.to_redacted_toml()),
        Command::Plugin { command } => plugin_cli::run(command, config).await?,
        Command::Import { command } => transfer_cli::import(command, config).await?,
        Command::Export { command } => transfer_cli::export(command, config).await?,
    }
    Ok(())
}

/// The password from standard input, or typed at a prompt without echo.
fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    use std::io::{BufRead as _, IsTerminal as _, Write as _};
    let stdin = std::io::stdin();
    if from_stdin || !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("reading the password")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    eprint!("Password: ");
    std::io::stderr().flush().ok();
    let _quiet = terminal::EchoOff::new();
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("reading the password")?;
    eprintln!();
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Turning terminal echo off while a password is typed (restored on drop).
mod terminal {
    pub struct EchoOff(#[cfg(unix)] Option<libc::termios>);

    impl EchoOff {
        #[cfg(unix)]
        pub fn new() -> Self {
            // SAFETY: tcgetattr/tcsetattr on stdin with a zeroed, then filled, termios.
            unsafe {
                let mut term: libc::termios = std::mem::zeroed();
                if libc::tcgetattr(0, &mut term) != 0 {
                    return EchoOff(None);
                }
                let saved = term;
                term.c_lflag &= !libc::ECHO;
                libc::tcsetattr(0, libc::TCSANOW, &term);
                EchoOff(Some(saved))
            }
        }

        #[cfg(not(unix))]
        pub fn new() -> Self {
            EchoOff()
        }
    }

    impl Drop for EchoOff {
        fn drop(&mut self) {
            #[cfg(unix)]
            if let Some(saved) = self.0 {
                // SAFETY: restores the attributes read in `new`.
                unsafe {
                    libc::tcsetattr(0, libc::TCSANOW, &saved);
                }
            }
        }
    }
}
