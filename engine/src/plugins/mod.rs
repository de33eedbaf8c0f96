//! The plugin host: regional features as sandboxed WebAssembly components.
//!
//! A plugin is a component built against the WIT contract in
//! `schema/wit/v0.1/` (`shiji:plugin@0.1.0`). Each call gets a fresh instance
//! from a pre-linked `InstancePre` on the pooling allocator, bounded by fuel,
//! an epoch deadline, a memory cap and input/output size caps, so a plugin
//! that loops, traps, exhausts memory or answers nonsense fails that one call
//! and nothing else. No WASI capability is linked: any WASI import traps.
//!
//! Layers: `runtime` (engine, limits, instances), `host` (the imports a plugin
//! may call, each checked against its grant), `hooks` (typed calls with their
//! output checks and failure policies).

mod bindings;
pub mod hooks;
mod host;
pub mod runtime;

pub use bindings::shiji::plugin::types;
pub use runtime::{CallStats, Limits, LoadedPlugin, PluginFault, PluginRuntime};
