//! Project chores, run as `cargo xtask <command>`.
//!
//! - `test`: everything CI checks about behaviour — builds the plugin
//!   components, runs the SDK's and the template's unit tests, makes sure
//!   moto's S3 server is installed (the S3 media store's tests run against it),
//!   then every test of the workspace on SQLite and PostgreSQL.
//! - `build-plugins`: builds the template and fixture plugins for wasm32-wasip2.
//! - `bench-http`: builds the release server, starts it on each backend, and
//!   drives it over HTTP from this process; prints requests/s, p50 and p99.
//! - `bench-accounts`: the same for sign-up + sign-in (argon2id, captcha).
//! - `bench-plugins`: the same for a pricing request in a market with 5
//!   plugins enabled against one with none.
//! - `bench-checkout`: checkouts per second (add to cart, check out) in a
//!   market with 3 plugins against one with none.

mod bench_accounts;
mod bench_checkout;
mod bench_http;
mod bench_plugins;
mod plugins;

use std::process::{Command, ExitCode};

use anyhow::{Context as _, bail};

/// The local PostgreSQL the README and CI use when `SHIJI_TEST_POSTGRES_URL` is unset.
pub const LOCAL_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("bench-http") => bench_http::bench(&args[1..]),
        Some("bench-accounts") => bench_accounts::bench(&args[1..]),
        Some("bench-plugins") => bench_plugins::bench(&args[1..]),
        Some("bench-checkout") => bench_checkout::bench(&args[1..]),
        Some("build-plugins") => plugins::build(),
        _ => {
            eprintln!(
                "usage: cargo xtask test [cargo test args]\n       cargo xtask bench-http [--seconds N] [--concurrency N] [--backend sqlite|postgres] [--binary PATH]\n       cargo xtask bench-accounts [same options]\n       cargo xtask bench-plugins [same options]\n       cargo xtask bench-checkout [same options]\n       cargo xtask build-plugins"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs every test of the workspace on both backends.
fn test(extra: &[String]) -> anyhow::Result<()> {
    // The plugin tests run real components: build them (for wasm32-wasip2) first.
    plugins::build()?;
    plugins::test_guests(extra)?;
    ensure_moto()?;
    ensure_label_font()?;
    let postgres =
        std::env::var("SHIJI_TEST_POSTGRES_URL").unwrap_or_else(|_| LOCAL_POSTGRES.into());
    eprintln!("xtask: PostgreSQL tests use {postgres}");
    run(Command::new(cargo())
        .args(["test", "--workspace", "--all-targets"])
        .args(extra)
        .env("SHIJI_TEST_POSTGRES_URL", postgres))
}

/// The S3 media store is tested against moto's S3 server, a Python package.
fn ensure_moto() -> anyhow::Result<()> {
    let importable = Command::new("python3")
        .args(["-c", "import moto.server"])
        .output()
        .context("python3 is needed for moto's S3 server")?
        .status
        .success();
    if importable {
        return Ok(());
    }
    eprintln!("xtask: installing moto's S3 server (pip install 'moto[server]')");
    run(Command::new("python3").args(["-m", "pip", "install", "--quiet", "moto[server]"]))
}

/// Shipping labels print Chinese with a CJK font; the label tests check it
/// is used. Debian's `fonts-wqy-microhei` is the one the engine looks for first.
fn ensure_label_font() -> anyhow::Result<()> {
    const FONTS: &[&str] = &[
        "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
        "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    ];
    if FONTS.iter().any(|f| std::path::Path::new(f).exists()) {
        return Ok(());
    }
    eprintln!(
        "xtask: installing a Chinese font for labels (apt-get install -y fonts-wqy-microhei)"
    );
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    let mut command = if root {
        Command::new("apt-get")
    } else {
        let mut sudo = Command::new("sudo");
        sudo.arg("apt-get");
        sudo
    };
    run(command.args(["install", "-y", "fonts-wqy-microhei"]))
}

pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

pub fn run(command: &mut Command) -> anyhow::Result<()> {
    let shown = format!("{command:?}");
    let status = command
        .status()
        .with_context(|| format!("cannot start {shown}"))?;
    if !status.success() {
        bail!("{shown} failed with {status}");
    }
    Ok(())
}
