//! `cargo xtask build-plugins`: builds the WebAssembly component plugins of the
//! repository (the template and the test fixtures) for `wasm32-wasip2`.
//!
//! Each plugin is its own Cargo workspace; they share one target directory,
//! `target/plugins`, so the components land in
//! `target/plugins/wasm32-wasip2/release/<crate>.wasm`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{cargo, run};

/// The plugin crates, relative to the repository root.
pub const CRATES: &[&str] = &["examples/hello-plugin", "tests/plugins/hostile"];

/// Guest crates whose unit tests run on the build machine: the SDK's helpers
/// and the template's pure functions (host imports are not there to call).
pub const HOST_TESTED: &[&str] = &["sdk", "examples/hello-plugin"];

/// The target every plugin builds for.
pub const TARGET: &str = "wasm32-wasip2";

/// The repository root (the parent of `xtask/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the repository root")
        .to_path_buf()
}

/// Where `build` puts the target directory shared by all plugins.
pub fn target_dir() -> PathBuf {
    repo_root().join("target").join("plugins")
}

/// Where `build` leaves the release components.
pub fn wasm_dir() -> PathBuf {
    target_dir().join(TARGET).join("release")
}

/// Installs the target (a no-op once present) and builds every plugin in release.
pub fn build() -> anyhow::Result<()> {
    run(Command::new("rustup").args(["target", "add", TARGET]))?;
    let root = repo_root();
    let target_dir = target_dir();
    for krate in CRATES {
        run(Command::new(cargo())
            .args(["build", "--release", "--target", TARGET, "--manifest-path"])
            .arg(root.join(krate).join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target_dir))?;
    }
    eprintln!("xtask: plugins built in {}", wasm_dir().display());
    Ok(())
}

/// Runs the guest crates' own unit tests for the build machine's target.
pub fn test_guests(extra: &[String]) -> anyhow::Result<()> {
    let host = host_triple()?;
    let root = repo_root();
    for krate in HOST_TESTED {
        run(Command::new(cargo())
            .args(["test", "--target", &host, "--manifest-path"])
            .arg(root.join(krate).join("Cargo.toml"))
            .arg("--target-dir")
            .arg(target_dir())
            .args(extra.iter().filter(|a| *a == "--locked")))?;
    }
    Ok(())
}

/// The triple `rustc` builds for by default, e.g. `x86_64-unknown-linux-gnu`.
fn host_triple() -> anyhow::Result<String> {
    let output = Command::new("rustc").arg("-vV").output()?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: ").map(str::to_string))
        .ok_or_else(|| anyhow::anyhow!("`rustc -vV` names no host"))
}
