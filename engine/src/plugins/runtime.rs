//! The wasmtime engine plugins run in, and the limits of one call.
//!
//! One `PluginRuntime` per process: a wasmtime `Engine` with fuel metering,
//! epoch interruption and the pooling allocator (instances come from
//! preallocated slots, which is what makes a fresh instance per call cheap),
//! plus a thread that advances the epoch every millisecond so a deadline is
//! enforced even on a plugin that never yields.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter, Store,
    Trap,
};

use super::bindings::{Plugin, PluginPre};

/// How often the epoch advances: the granularity of deadlines.
const TICK: Duration = Duration::from_millis(1);
/// The largest memory any plugin may be configured for; per-call limits are lower.
pub const POOL_MAX_MEMORY: usize = 64 << 20;
/// Plenty of stack for honest code; deep recursion traps instead of hurting the host.
const WASM_STACK: usize = 512 << 10;

/// The limits of one call. Defaults follow Shopify Functions' order of magnitude.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Fuel: roughly one unit per WebAssembly instruction.
    pub fuel: u64,
    /// Wall-clock deadline, enforced by epochs.
    pub deadline: Duration,
    /// Linear memory a plugin may grow to.
    pub memory_bytes: usize,
    /// Largest input the engine will send (approximate encoded size).
    pub max_input_bytes: usize,
    /// Largest output the engine will accept (approximate encoded size).
    pub max_output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel: 10_000_000,
            deadline: Duration::from_millis(50),
            memory_bytes: 16 << 20,
            max_input_bytes: 1 << 20,
            max_output_bytes: 1 << 20,
        }
    }
}

/// Why a call failed. Each fails that call only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginFault {
    #[error("the component does not fit the contract: {0}")]
    Incompatible(String),
    #[error("the input is larger than the plugin's limit ({0} bytes)")]
    InputTooLarge(usize),
    #[error("the plugin ran out of fuel")]
    OutOfFuel,
    #[error("the plugin missed its deadline")]
    Timeout,
    #[error("the plugin exceeded its memory limit")]
    MemoryLimit,
    #[error("the plugin overflowed its stack")]
    StackOverflow,
    #[error("the plugin trapped: {0}")]
    Trap(String),
    #[error("the output is larger than the plugin's limit ({0} bytes)")]
    OutputTooLarge(usize),
    #[error("the output is not acceptable: {0}")]
    InvalidOutput(String),
    #[error("the plugin reported a failure: {0}")]
    Failed(String),
}

impl PluginFault {
    /// A short, stable name of the kind of fault, for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            PluginFault::Incompatible(_) => "incompatible",
            PluginFault::InputTooLarge(_) => "input_too_large",
            PluginFault::OutOfFuel => "out_of_fuel",
            PluginFault::Timeout => "timeout",
            PluginFault::MemoryLimit => "memory_limit",
            PluginFault::StackOverflow => "stack_overflow",
            PluginFault::Trap(_) => "trap",
            PluginFault::OutputTooLarge(_) => "output_too_large",
            PluginFault::InvalidOutput(_) => "invalid_output",
            PluginFault::Failed(_) => "failed",
        }
    }
}

/// What one call cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CallStats {
    pub fuel_used: u64,
    pub elapsed: Duration,
    /// Largest linear memory the call grew to, in bytes.
    pub peak_memory: usize,
}

/// Per-call state: the limiter, who is calling, what is granted.
pub struct CallState {
    limiter: Limiter,
    pub(super) plugin_id: String,
    pub(super) grants: Grants,
    pub(super) log_lines: u32,
    pub(super) refused_imports: u32,
}

/// What the host imports may reach during one call. Hot-path hooks get
/// [`Grants::none`]: everything they need is in their input.
#[derive(Default)]
pub struct Grants {
    pub market: String,
    /// The (plugin, market) storage, when `storage` was granted.
    pub storage: Option<Box<dyn KeyValue>>,
    /// Granted read scopes of `commerce.query` and who answers them.
    pub commerce: Option<Box<dyn CommerceReader>>,
}

impl Grants {
    pub fn none() -> Grants {
        Grants::default()
    }
}

/// Key-value storage of one (plugin, market), quotas included. Host imports
/// are synchronous, so implementations block; off-path calls therefore run on
/// blocking threads.
pub trait KeyValue: Send {
    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, StorageFault>;
    fn set(&mut self, key: &str, value: &[u8]) -> Result<(), StorageFault>;
    fn delete(&mut self, key: &str) -> Result<(), StorageFault>;
    fn list_keys(&mut self, prefix: &str) -> Result<Vec<String>, StorageFault>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageFault {
    QuotaExceeded,
    Unavailable,
}

/// Answers `commerce.query` for the scopes an administrator granted.
pub trait CommerceReader: Send {
    fn granted(&self, scope: &str) -> bool;
    fn query(&mut self, scope: &str, request_json: &str) -> Result<String, CommerceFault>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommerceFault {
    InvalidRequest(String),
    Unavailable,
}

/// Memory and table growth within the call's limits, remembering a refusal so
/// the resulting trap can be reported as what it is.
struct Limiter {
    memory_bytes: usize,
    peak_memory: usize,
    refused: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.refused = true;
            return Ok(false);
        }
        self.peak_memory = self.peak_memory.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// A plugin compiled and linked, ready to be instantiated per call.
#[derive(Clone)]
pub struct LoadedPlugin {
    pub id: String,
    pre: PluginPre<CallState>,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("id", &self.id)
            .finish()
    }
}

pub struct PluginRuntime {
    engine: Engine,
    linker: Linker<CallState>,
    _ticker: EpochTicker,
}

impl PluginRuntime {
    pub fn new() -> Result<Self, PluginFault> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(256)
            .total_core_instances(1024)
            .total_memories(256)
            .total_tables(512)
            .max_memory_size(POOL_MAX_MEMORY)
            .max_core_instances_per_component(32)
            .max_memories_per_component(8)
            .max_tables_per_component(16);
        let mut config = Config::new();
        config
            .consume_fuel(true)
            .epoch_interruption(true)
            .max_wasm_stack(WASM_STACK)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(|e| PluginFault::Incompatible(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(|e| PluginFault::Incompatible(e.to_string()))?;
        let ticker = EpochTicker::start(engine.clone());
        Ok(Self {
            engine,
            linker,
            _ticker: ticker,
        })
    }

    /// Compiles a component and links it against the contract. Fails if it
    /// imports something the contract does not offer (other than WASI, which
    /// is linked to traps) or lacks an export the contract requires.
    pub fn load(&self, id: &str, wasm: &[u8]) -> Result<LoadedPlugin, PluginFault> {
        self.link(id, &self.compile(wasm)?)
    }

    /// Compiles a component to machine code: the slow part of loading.
    pub fn compile(&self, wasm: &[u8]) -> Result<Component, PluginFault> {
        Component::new(&self.engine, wasm).map_err(|e| PluginFault::Incompatible(format!("{e:#}")))
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Links a compiled component against the contract.
    pub fn link(&self, id: &str, component: &Component) -> Result<LoadedPlugin, PluginFault> {
        let incompatible = |e: wasmtime::Error| PluginFault::Incompatible(format!("{e:#}"));
        // Anything outside the contract (the WASI imports Rust's std brings)
        // is linked to a trap: present, never usable.
        let mut linker = self.linker.clone();
        linker
            .define_unknown_imports_as_traps(component)
            .map_err(incompatible)?;
        let pre = linker.instantiate_pre(component).map_err(incompatible)?;
        let pre = PluginPre::new(pre).map_err(incompatible)?;
        Ok(LoadedPlugin {
            id: id.to_string(),
            pre,
        })
    }

    /// Runs `call` on a fresh instance of `plugin` within `limits`, with the
    /// host imports reaching only what `grants` holds.
    pub(super) fn call<R>(
        &self,
        plugin: &LoadedPlugin,
        limits: &Limits,
        grants: Grants,
        call: impl FnOnce(&Plugin, &mut Store<CallState>) -> wasmtime::Result<R>,
    ) -> Result<(R, CallStats), PluginFault> {
        let mut store = Store::new(
            &self.engine,
            CallState {
                limiter: Limiter {
                    memory_bytes: limits.memory_bytes.min(POOL_MAX_MEMORY),
                    peak_memory: 0,
                    refused: false,
                },
                plugin_id: plugin.id.clone(),
                grants,
                log_lines: 0,
                refused_imports: 0,
            },
        );
        store.limiter(|state| &mut state.limiter);
        store
            .set_fuel(limits.fuel)
            .map_err(|e| PluginFault::Trap(e.to_string()))?;
        let ticks = limits.deadline.as_millis().max(1) as u64 + 1;
        store.set_epoch_deadline(ticks);
        let started = Instant::now();
        let result = plugin
            .pre
            .instantiate(&mut store)
            .and_then(|instance| call(&instance, &mut store));
        let stats = CallStats {
            fuel_used: limits.fuel - store.get_fuel().unwrap_or(0),
            elapsed: started.elapsed(),
            peak_memory: store.data().limiter.peak_memory,
        };
        match result {
            Ok(value) => Ok((value, stats)),
            Err(e) => Err(classify(&e, store.data().limiter.refused)),
        }
    }
}

/// Names a failure by what caused it.
fn classify(error: &wasmtime::Error, memory_refused: bool) -> PluginFault {
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => PluginFault::OutOfFuel,
        Some(Trap::Interrupt) => PluginFault::Timeout,
        Some(Trap::StackOverflow) => PluginFault::StackOverflow,
        // A guest whose allocation was refused usually aborts; say why.
        _ if memory_refused => PluginFault::MemoryLimit,
        Some(trap) => PluginFault::Trap(trap.to_string()),
        None => PluginFault::Trap(format!("{error:#}")),
    }
}

/// Advances the engine's epoch every tick until dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("shiji-plugin-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    engine.increment_epoch();
                }
            })
            .ok();
        Self { stop, thread }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
