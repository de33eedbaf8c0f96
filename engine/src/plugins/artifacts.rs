//! Compiled plugins on disk, so a node (re)starting or picking up a plugin
//! another node installed loads machine code instead of compiling again.
//!
//! Files are keyed by the component's sha256 and by wasmtime's compatibility
//! hash (its version and every setting that changes generated code), so an
//! upgraded engine never loads code compiled for another one: it misses and
//! compiles afresh.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::component::Component;

use super::runtime::{PluginFault, PluginRuntime};

#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: Option<PathBuf>,
}

/// Where a component came from: the cache, or a fresh compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Cache,
    Compiled,
}

impl ArtifactCache {
    /// A cache in `dir` (created on first write).
    pub fn at(dir: impl Into<PathBuf>) -> ArtifactCache {
        ArtifactCache {
            dir: Some(dir.into()),
        }
    }

    /// No cache: always compile (tests, the CLI's one-off checks).
    pub fn disabled() -> ArtifactCache {
        ArtifactCache { dir: None }
    }

    fn path(&self, runtime: &PluginRuntime, sha256: &str) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        let mut hasher = std::hash::DefaultHasher::new();
        runtime
            .engine()
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        Some(dir.join(format!("{sha256}-{:016x}.cwasm", hasher.finish())))
    }

    /// The compiled component for `wasm` (whose sha256 the caller computed).
    pub fn component(
        &self,
        runtime: &PluginRuntime,
        sha256: &str,
        wasm: &[u8],
    ) -> Result<(Component, Origin), PluginFault> {
        let Some(path) = self.path(runtime, sha256) else {
            return Ok((runtime.compile(wasm)?, Origin::Compiled));
        };
        if path.exists() {
            // SAFETY: wasmtime requires that deserialized bytes come from
            // `Component::serialize` of a compatible engine. Only this cache
            // writes these files, atomically (rename), under the engine's data
            // directory, and the name carries the engine's compatibility hash;
            // wasmtime also checks the header and refuses a mismatch.
            match unsafe { Component::deserialize_file(runtime.engine(), &path) } {
                Ok(component) => return Ok((component, Origin::Cache)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "compiled plugin unusable; compiling again");
                }
            }
        }
        let component = runtime.compile(wasm)?;
        if let Err(e) = write(&path, &component) {
            // The cache only saves time; a read-only disk costs a compile per start.
            tracing::warn!(path = %path.display(), error = %e, "could not cache a compiled plugin");
        }
        Ok((component, Origin::Compiled))
    }
}

fn write(path: &Path, component: &Component) -> std::io::Result<()> {
    let bytes = component.serialize().map_err(std::io::Error::other)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let temporary = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)
}
