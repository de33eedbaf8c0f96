//! The plugin registry: installed plugins and their per-market toggles, kept
//! in the database and mirrored in memory on every node.
//!
//! Every change is one transaction (rows + audit record), then a bump of the
//! plugin revision, which other nodes hear through PostgreSQL NOTIFY (or their
//! one-second poll) and answer by reloading. The in-memory [`PluginSet`] is
//! swapped whole, so a request sees one consistent set from start to end.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::artifacts::{ArtifactCache, Origin};
use super::breaker::Breaker;
use super::manifest::{ConfigProblem, Manifest, ManifestError};
use super::runtime::{LoadedPlugin, PluginFault, PluginRuntime};
use crate::api::sdl::{SdlSource, TypeSystem, core_sources};
use crate::audit::AuditEvent;
use crate::authz::{Authz, Policy};
use crate::caller::Caller;
use crate::store::revision::{self, Counter};
use crate::store::{self, Store, StoreError, plugins as rows};

/// The largest component the registry accepts.
pub const MAX_COMPONENT_BYTES: usize = 8 << 20;

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("the component does not fit the contract: {0}")]
    Incompatible(String),
    #[error("the component is larger than {MAX_COMPONENT_BYTES} bytes")]
    TooLarge,
    #[error("plugin `{0}` is already installed; upgrade it instead")]
    AlreadyInstalled(String),
    #[error("no plugin `{0}` is installed")]
    NotInstalled(String),
    #[error("the upgrade changes the plugin id from `{installed}` to `{manifest}`")]
    IdChanged { installed: String, manifest: String },
    #[error("capability `{0}` cannot be granted: the manifest does not ask for it")]
    NotRequested(String),
    #[error("the plugin's GraphQL clashes with the schema: {0}")]
    SchemaClash(String),
    #[error("no market `{0}`")]
    NoMarket(String),
    #[error("the configuration does not fit the plugin's schema")]
    Config(Vec<ConfigProblem>),
    #[error(
        "the new version's configuration schema refuses the configuration of market `{market}`"
    )]
    ConfigInMarket {
        market: String,
        problems: Vec<ConfigProblem>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("authorisation policy: {0}")]
    Policy(String),
}

/// An installed plugin, loaded and ready to call.
#[derive(Debug)]
pub struct Installed {
    pub manifest: Manifest,
    pub loaded: LoadedPlugin,
    pub sha256: String,
    pub size: usize,
    pub granted: BTreeSet<String>,
    pub installed_by: String,
    pub installed_at: i64,
    pub updated_at: i64,
}

impl Installed {
    pub fn id(&self) -> &str {
        &self.manifest.id
    }
}

/// A plugin's state in one market.
#[derive(Debug, Clone, PartialEq)]
pub struct Toggle {
    pub plugin_id: String,
    pub enabled: bool,
    pub config: Value,
    /// The configuration as the plugin receives it.
    pub config_json: String,
    pub changed_by: String,
    pub changed_at: i64,
    /// Why the breaker switched the plugin off, and when.
    pub breaker: Option<(String, i64)>,
}

/// Everything a node knows about plugins at one revision.
#[derive(Debug, Default)]
pub struct PluginSet {
    pub revision: i64,
    pub plugins: BTreeMap<String, Arc<Installed>>,
    /// Per market, in the order the plugins run.
    pub toggles: BTreeMap<String, Vec<Toggle>>,
}

impl PluginSet {
    /// Plugins switched on in `market`, in running order, with their toggle.
    pub fn enabled_in<'a>(
        &'a self,
        market: &str,
    ) -> impl Iterator<Item = (&'a Arc<Installed>, &'a Toggle)> + 'a {
        self.toggles
            .get(market)
            .into_iter()
            .flatten()
            .filter(|t| t.enabled)
            .filter_map(|t| self.plugins.get(&t.plugin_id).map(|p| (p, t)))
    }

    pub fn toggle(&self, market: &str, plugin: &str) -> Option<&Toggle> {
        self.toggles
            .get(market)?
            .iter()
            .find(|t| t.plugin_id == plugin)
    }

    /// The GraphQL SDL of every installed plugin, named by plugin.
    pub fn sdl_sources(&self) -> Vec<SdlSource> {
        self.plugins
            .values()
            .filter_map(|p| {
                let graphql = p.manifest.graphql.as_ref()?;
                Some(SdlSource::new(
                    format!("plugin:{}", p.id()),
                    graphql.sdl.clone(),
                ))
            })
            .collect()
    }
}

type Listener = Box<dyn Fn(&Arc<PluginSet>) + Send + Sync>;

/// The plugin host of one node: runtime, registry mirror, breaker.
#[derive(Clone)]
pub struct PluginHost {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    authz: Authz,
    runtime: PluginRuntime,
    cache: ArtifactCache,
    set: ArcSwap<PluginSet>,
    revision: AtomicI64,
    reload: tokio::sync::Mutex<()>,
    breaker: Breaker,
    /// Failed calls by plugin, hook and kind of fault (served on /metrics).
    faults: prometheus::IntCounterVec,
    listeners: Mutex<Vec<Listener>>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("revision", &self.inner.revision.load(Ordering::Relaxed))
            .finish()
    }
}

/// Hex sha256 of a component.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl PluginHost {
    /// Loads every installed plugin (from the artifact cache where possible).
    pub async fn load(
        store: Store,
        authz: Authz,
        cache: ArtifactCache,
    ) -> Result<PluginHost, PluginError> {
        let runtime = PluginRuntime::new().map_err(|e| PluginError::Incompatible(e.to_string()))?;
        let faults = prometheus::IntCounterVec::new(
            prometheus::Opts::new(
                "plugin_faults_total",
                "Plugin calls that failed, by plugin, hook and kind of fault.",
            ),
            &["plugin", "hook", "fault"],
        )
        .map_err(|e| PluginError::Incompatible(e.to_string()))?;
        let host = PluginHost {
            inner: Arc::new(Inner {
                store,
                authz,
                runtime,
                cache,
                set: ArcSwap::from_pointee(PluginSet::default()),
                revision: AtomicI64::new(-1),
                reload: tokio::sync::Mutex::new(()),
                breaker: Breaker::default(),
                faults,
                listeners: Mutex::new(Vec::new()),
            }),
        };
        host.reload().await?;
        Ok(host)
    }

    pub fn runtime(&self) -> &PluginRuntime {
        &self.inner.runtime
    }

    /// The fault counter, for the node's metrics registry.
    pub fn fault_counter(&self) -> prometheus::IntCounterVec {
        self.inner.faults.clone()
    }

    pub(super) fn count_fault(&self, plugin: &str, hook: &str, fault: &PluginFault) {
        self.inner
            .faults
            .with_label_values(&[plugin, hook, fault.kind()])
            .inc();
    }

    pub(super) fn breaker(&self) -> &Breaker {
        &self.inner.breaker
    }

    pub(super) fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The set requests run against right now.
    pub fn current(&self) -> Arc<PluginSet> {
        self.inner.set.load_full()
    }

    /// Calls `listener` with every new set (the API rebuilds its schema).
    pub fn on_change(&self, listener: impl Fn(&Arc<PluginSet>) + Send + Sync + 'static) {
        if let Ok(mut listeners) = self.inner.listeners.lock() {
            listeners.push(Box::new(listener));
        }
    }

    /// Re-reads the registry and swaps in the new set.
    pub async fn reload(&self) -> Result<(), PluginError> {
        let _one_at_a_time = self.inner.reload.lock().await;
        let store = &self.inner.store;
        let revision = revision::current(store, Counter::Plugins).await?;
        let previous = self.current();
        let mut plugins = BTreeMap::new();
        for row in rows::all_plugins(store).await? {
            // Unchanged plugins keep their compiled, linked component.
            if let Some(same) = previous.plugins.get(&row.id)
                && same.sha256 == row.sha256
                && same.updated_at == row.updated_at
            {
                plugins.insert(row.id.clone(), same.clone());
                continue;
            }
            match self.instantiate_row(&row) {
                Ok(installed) => {
                    plugins.insert(row.id.clone(), Arc::new(installed));
                }
                // One unloadable plugin (e.g. from a newer engine) must not
                // take the others down with it.
                Err(e) => tracing::error!(plugin = %row.id, error = %e, "plugin not loaded"),
            }
        }
        let mut toggles: BTreeMap<String, Vec<Toggle>> = BTreeMap::new();
        for row in rows::all_toggles(store).await? {
            let config: Value = serde_json::from_str(&row.config).unwrap_or(Value::Null);
            toggles.entry(row.market_code).or_default().push(Toggle {
                plugin_id: row.plugin_id,
                enabled: row.enabled,
                config_json: row.config,
                config,
                changed_by: row.changed_by,
                changed_at: row.changed_at,
                breaker: row.breaker_reason.zip(row.breaker_tripped_at),
            });
        }
        let set = Arc::new(PluginSet {
            revision,
            plugins,
            toggles,
        });
        self.inner.set.store(set.clone());
        self.inner.revision.store(revision, Ordering::SeqCst);
        self.inner.breaker.forget_all();
        if let Ok(listeners) = self.inner.listeners.lock() {
            for listener in listeners.iter() {
                listener(&set);
            }
        }
        Ok(())
    }

    /// Reloads when another node changed the registry. One small query otherwise.
    pub async fn refresh_if_stale(&self) -> Result<bool, PluginError> {
        let current = revision::current(&self.inner.store, Counter::Plugins).await?;
        if current == self.inner.revision.load(Ordering::SeqCst) {
            return Ok(false);
        }
        self.reload().await?;
        tracing::info!(
            revision = current,
            "plugins reloaded after a change elsewhere"
        );
        Ok(true)
    }

    fn instantiate_row(&self, row: &rows::PluginRow) -> Result<Installed, PluginError> {
        let manifest = Manifest::parse(&row.manifest)?;
        let (loaded, _) = self.compile(&manifest.id, &row.sha256, &row.wasm)?;
        let granted: BTreeSet<String> = serde_json::from_str(&row.granted).unwrap_or_default();
        Ok(Installed {
            manifest,
            loaded,
            sha256: row.sha256.clone(),
            size: row.wasm.len(),
            granted,
            installed_by: row.installed_by.clone(),
            installed_at: row.installed_at,
            updated_at: row.updated_at,
        })
    }

    fn compile(
        &self,
        id: &str,
        sha256: &str,
        wasm: &[u8],
    ) -> Result<(LoadedPlugin, Origin), PluginError> {
        let runtime = &self.inner.runtime;
        let incompatible = |e: PluginFault| PluginError::Incompatible(e.to_string());
        let (component, origin) = self
            .inner
            .cache
            .component(runtime, sha256, wasm)
            .map_err(incompatible)?;
        Ok((runtime.link(id, &component).map_err(incompatible)?, origin))
    }

    /// Everything installing or upgrading checks before writing anything.
    fn check_candidate(
        &self,
        wasm: &[u8],
        manifest_source: &str,
        grants: &[String],
    ) -> Result<(Manifest, String, BTreeSet<String>), PluginError> {
        if wasm.len() > MAX_COMPONENT_BYTES {
            return Err(PluginError::TooLarge);
        }
        let manifest = Manifest::parse(manifest_source)?;
        let mut granted = BTreeSet::new();
        for grant in grants {
            if !manifest.capabilities.contains(grant) {
                return Err(PluginError::NotRequested(grant.clone()));
            }
            granted.insert(grant.clone());
        }
        let sha256 = sha256_hex(wasm);
        self.compile(&manifest.id, &sha256, wasm)?;
        // The plugin's SDL must merge with the core and every other plugin's.
        if let Some(graphql) = &manifest.graphql {
            let mut sources = core_sources();
            let current = self.current();
            sources.extend(
                current
                    .sdl_sources()
                    .into_iter()
                    .filter(|s| s.origin != format!("plugin:{}", manifest.id)),
            );
            sources.push(SdlSource::new(
                format!("plugin:{}", manifest.id),
                graphql.sdl.clone(),
            ));
            TypeSystem::merge(&sources).map_err(|e| PluginError::SchemaClash(e.to_string()))?;
        }
        Ok((manifest, sha256, granted))
    }

    /// Installs a plugin with the capabilities granted. Nothing is enabled yet.
    pub async fn install(
        &self,
        wasm: &[u8],
        manifest_source: &str,
        grants: &[String],
        caller: &Caller,
    ) -> Result<Arc<Installed>, PluginError> {
        let (manifest, sha256, granted) = self.check_candidate(wasm, manifest_source, grants)?;
        let id = manifest.id.clone();
        let now = store::now_ms();
        let mut tx = self.inner.store.begin().await?;
        if rows::find_plugin(&mut tx, &id).await?.is_some() {
            return Err(PluginError::AlreadyInstalled(id));
        }
        let row = plugin_row(&manifest, wasm, &sha256, &granted, caller, now, now);
        rows::save_plugin(&mut tx, &row).await?;
        AuditEvent::new(caller, "plugin.install", "plugin", Some(&id))
            .after(&summary(&row))
            .append(&mut tx)
            .await?;
        tx.commit().await?;
        self.grant_field_permissions(&manifest).await?;
        self.changed().await?;
        tracing::info!(plugin = %id, version = %manifest.version, "plugin installed");
        self.installed(&id)
    }

    /// Replaces an installed plugin's component and manifest, keeping its
    /// toggles and storage. Every market's configuration must fit the new schema.
    /// `grants: None` keeps what was granted, as far as the new manifest asks for it.
    pub async fn upgrade(
        &self,
        wasm: &[u8],
        manifest_source: &str,
        grants: Option<&[String]>,
        caller: &Caller,
    ) -> Result<Arc<Installed>, PluginError> {
        let probe = Manifest::parse(manifest_source)?;
        let current = self.current();
        let previous_grants: Vec<String> = match current.plugins.get(&probe.id) {
            Some(p) => p
                .granted
                .iter()
                .filter(|g| probe.capabilities.contains(*g))
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        let grants = grants.unwrap_or(&previous_grants);
        let (manifest, sha256, granted) = self.check_candidate(wasm, manifest_source, grants)?;
        let id = manifest.id.clone();
        let now = store::now_ms();
        let mut tx = self.inner.store.begin().await?;
        let Some(old) = rows::find_plugin(&mut tx, &id).await? else {
            return Err(PluginError::NotInstalled(id));
        };
        for (market, toggles) in &current.toggles {
            for toggle in toggles.iter().filter(|t| t.plugin_id == id) {
                if let Err(problems) = manifest.check_config(&toggle.config) {
                    return Err(PluginError::ConfigInMarket {
                        market: market.clone(),
                        problems,
                    });
                }
            }
        }
        let row = plugin_row(
            &manifest,
            wasm,
            &sha256,
            &granted,
            caller,
            old.installed_at,
            now,
        );
        rows::save_plugin(&mut tx, &row).await?;
        AuditEvent::new(caller, "plugin.upgrade", "plugin", Some(&id))
            .before(&summary(&old))
            .after(&summary(&row))
            .append(&mut tx)
            .await?;
        tx.commit().await?;
        if let Ok(old_manifest) = Manifest::parse(&old.manifest) {
            self.revoke_field_permissions(&old_manifest).await?;
        }
        self.grant_field_permissions(&manifest).await?;
        self.changed().await?;
        tracing::info!(plugin = %id, from = %old.version, to = %manifest.version, "plugin upgraded");
        self.installed(&id)
    }

    /// Removes a plugin everywhere, with its toggles and storage.
    pub async fn uninstall(&self, id: &str, caller: &Caller) -> Result<(), PluginError> {
        let mut tx = self.inner.store.begin().await?;
        let Some(old) = rows::find_plugin(&mut tx, id).await? else {
            return Err(PluginError::NotInstalled(id.to_string()));
        };
        rows::delete_plugin(&mut tx, id).await?;
        AuditEvent::new(caller, "plugin.uninstall", "plugin", Some(id))
            .before(&summary(&old))
            .append(&mut tx)
            .await?;
        tx.commit().await?;
        if let Ok(manifest) = Manifest::parse(&old.manifest) {
            self.revoke_field_permissions(&manifest).await?;
        }
        self.changed().await?;
        tracing::info!(plugin = %id, "plugin uninstalled");
        Ok(())
    }

    /// Switches a plugin on in a market with a configuration that fits its schema.
    /// Re-enabling resets the breaker.
    pub async fn enable(
        &self,
        market: &str,
        plugin: &str,
        config: Value,
        caller: &Caller,
    ) -> Result<Toggle, PluginError> {
        let installed = self.installed(plugin)?;
        installed
            .manifest
            .check_config(&config)
            .map_err(PluginError::Config)?;
        let mut tx = self.inner.store.begin().await?;
        if crate::store::markets::find(&self.inner.store, market)
            .await?
            .is_none()
        {
            return Err(PluginError::NoMarket(market.to_string()));
        }
        let before = rows::find_toggle(&mut tx, market, plugin).await?;
        let position = match &before {
            Some(t) => t.position,
            None => rows::next_position(&mut tx, market).await?,
        };
        let row = rows::MarketPluginRow {
            market_code: market.to_string(),
            plugin_id: plugin.to_string(),
            enabled: true,
            config: config.to_string(),
            position,
            changed_by: caller.actor.audit_name(),
            changed_at: store::now_ms(),
            breaker_reason: None,
            breaker_tripped_at: None,
        };
        rows::save_toggle(&mut tx, &row).await?;
        let mut event = AuditEvent::new(caller, "plugin.enable", "plugin", Some(plugin))
            .market(Some(market))
            .after(&toggle_summary(&row));
        if let Some(before) = &before {
            event = event.before(&toggle_summary(before));
        }
        event.append(&mut tx).await?;
        tx.commit().await?;
        self.inner.breaker.reset(plugin, market);
        self.changed().await?;
        tracing::info!(plugin, market, "plugin enabled");
        self.toggle_now(market, plugin)
    }

    /// Switches a plugin off in a market; its configuration and storage stay.
    pub async fn disable(
        &self,
        market: &str,
        plugin: &str,
        caller: &Caller,
    ) -> Result<Option<Toggle>, PluginError> {
        self.installed(plugin)?;
        self.switch_off(market, plugin, None, caller).await?;
        Ok(self.current().toggle(market, plugin).cloned())
    }

    /// Writes a toggle off, with the breaker's reason when it tripped.
    pub(super) async fn switch_off(
        &self,
        market: &str,
        plugin: &str,
        breaker_reason: Option<String>,
        caller: &Caller,
    ) -> Result<(), PluginError> {
        let mut tx = self.inner.store.begin().await?;
        let Some(before) = rows::find_toggle(&mut tx, market, plugin).await? else {
            return Ok(());
        };
        if !before.enabled {
            return Ok(());
        }
        let now = store::now_ms();
        let row = rows::MarketPluginRow {
            enabled: false,
            changed_by: caller.actor.audit_name(),
            changed_at: now,
            breaker_tripped_at: breaker_reason.as_ref().map(|_| now),
            breaker_reason,
            ..before.clone()
        };
        rows::save_toggle(&mut tx, &row).await?;
        let action = if row.breaker_reason.is_some() {
            "plugin.breaker_tripped"
        } else {
            "plugin.disable"
        };
        AuditEvent::new(caller, action, "plugin", Some(plugin))
            .market(Some(market))
            .before(&toggle_summary(&before))
            .after(&toggle_summary(&row))
            .append(&mut tx)
            .await?;
        tx.commit().await?;
        self.changed().await
    }

    pub fn installed(&self, id: &str) -> Result<Arc<Installed>, PluginError> {
        self.current()
            .plugins
            .get(id)
            .cloned()
            .ok_or_else(|| PluginError::NotInstalled(id.to_string()))
    }

    fn toggle_now(&self, market: &str, plugin: &str) -> Result<Toggle, PluginError> {
        self.current()
            .toggle(market, plugin)
            .cloned()
            .ok_or_else(|| PluginError::NotInstalled(plugin.to_string()))
    }

    /// After a write: tell every node (this one included) to reload.
    async fn changed(&self) -> Result<(), PluginError> {
        revision::bump(&self.inner.store, Counter::Plugins).await?;
        self.reload().await
    }

    fn field_policies(manifest: &Manifest) -> Vec<Policy> {
        let Some(graphql) = &manifest.graphql else {
            return Vec::new();
        };
        graphql
            .fields
            .iter()
            .filter(|f| !f.public)
            .flat_map(|f| {
                f.roles
                    .iter()
                    .map(|role| Policy::new(role, "*", &f.object, &f.action))
            })
            .collect()
    }

    async fn grant_field_permissions(&self, manifest: &Manifest) -> Result<(), PluginError> {
        let policies = Self::field_policies(manifest);
        if !policies.is_empty() {
            self.inner
                .authz
                .add_policies(&policies)
                .await
                .map_err(|e| PluginError::Policy(e.to_string()))?;
        }
        Ok(())
    }

    /// Takes back what [`Self::grant_field_permissions`] gave, except what the
    /// default policy or another installed plugin gives too.
    async fn revoke_field_permissions(&self, manifest: &Manifest) -> Result<(), PluginError> {
        let current = self.current();
        let kept: BTreeSet<Policy> = current
            .plugins
            .values()
            .filter(|p| p.id() != manifest.id)
            .flat_map(|p| Self::field_policies(&p.manifest))
            .collect();
        for policy in Self::field_policies(manifest) {
            let default_line = format!(
                "p, {}, {}, {}, {}",
                policy.role, policy.market, policy.object, policy.action
            );
            if kept.contains(&policy)
                || crate::authz::DEFAULT_POLICY_CSV
                    .lines()
                    .any(|l| l.trim() == default_line)
            {
                continue;
            }
            self.inner
                .authz
                .remove_policy(&policy.role, &policy.market, &policy.object, &policy.action)
                .await
                .map_err(|e| PluginError::Policy(e.to_string()))?;
        }
        Ok(())
    }
}

fn plugin_row(
    manifest: &Manifest,
    wasm: &[u8],
    sha256: &str,
    granted: &BTreeSet<String>,
    caller: &Caller,
    installed_at: i64,
    now: i64,
) -> rows::PluginRow {
    rows::PluginRow {
        id: manifest.id.clone(),
        name: manifest.name.clone(),
        version: manifest.version.clone(),
        contract: manifest.contract.clone(),
        manifest: manifest.source.clone(),
        wasm: wasm.to_vec(),
        sha256: sha256.to_string(),
        granted: json!(granted).to_string(),
        installed_by: caller.actor.audit_name(),
        installed_at,
        updated_at: now,
    }
}

/// What the audit log keeps of a plugin: never the bytes.
fn summary(row: &rows::PluginRow) -> Value {
    json!({
        "id": row.id,
        "version": row.version,
        "contract": row.contract,
        "sha256": row.sha256,
        "granted": serde_json::from_str::<Value>(&row.granted).unwrap_or(Value::Null),
    })
}

fn toggle_summary(row: &rows::MarketPluginRow) -> Value {
    json!({
        "enabled": row.enabled,
        "config": serde_json::from_str::<Value>(&row.config).unwrap_or(Value::Null),
        "breakerReason": row.breaker_reason,
    })
}
