//! The plugin host: regional features as sandboxed WebAssembly components.
//!
//! A plugin is a component built against the WIT contract in
//! `schema/wit/v0.1/` (`shiji:plugin@0.1.0`) plus a `plugin.toml` manifest.
//! Each call gets a fresh instance from a pre-linked `InstancePre` on the
//! pooling allocator, bounded by fuel, an epoch deadline, a memory cap and
//! input/output size caps, so a plugin that loops, traps, exhausts memory or
//! answers nonsense fails that one call and nothing else. No WASI capability
//! is linked: any WASI import traps.
//!
//! Layers: `manifest` (plugin.toml), `runtime` (engine, limits, instances),
//! `host` (the imports a plugin may call, each checked against its grants:
//! `storage`, `commerce`), `hooks` (typed calls with their output checks),
//! `registry` (installed plugins and per-market toggles in the database,
//! `artifacts` on disk), `dispatch` (the plugins of a market, with failure
//! policies and the `breaker`), `harness` (one call, measured, for authors).

mod artifacts;
mod bindings;
mod breaker;
mod commerce;
mod dispatch;
pub mod harness;
pub mod hooks;
mod host;
pub mod manifest;
mod registry;
pub mod runtime;
mod storage;

pub use artifacts::{ArtifactCache, Origin};
pub use bindings::shiji::plugin::types;
pub use dispatch::{MarketContext, PluginFailure, Pricing};
pub use manifest::Manifest;
pub use registry::{
    Installed, MAX_COMPONENT_BYTES, PluginError, PluginHost, PluginSet, Toggle, sha256_hex,
};
pub use runtime::{CallStats, Grants, Limits, LoadedPlugin, PluginFault, PluginRuntime};
pub use storage::MemoryKeyValue;
