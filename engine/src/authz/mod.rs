//! Authorisation: may this subject do this action on this kind of object in this market?
//!
//! casbin is the source of truth: the model in `schema/policy/model.conf`
//! (RBAC with domains, the domain being the market), its management API, and
//! the rules in the `casbin_rule` table through the engine's own adapter. The
//! request path does not call casbin's `enforce`, which scans every policy
//! line; it reads a permission index (`index.rs`) compiled from casbin's model
//! after every change and swapped in atomically, so a check is a few hash
//! lookups whatever the size of the policy.
//!
//! Every change goes through casbin (and so the adapter) first, then rebuilds
//! the index before returning, so a revoke takes effect on this node at once.
//! Each change also bumps a revision counter in the store and, on PostgreSQL,
//! announces it with NOTIFY; other nodes (and this one, after a change made by
//! the CLI) reload on the notification, when a check would otherwise deny, and
//! at the latest on the next one-second poll ([`Authz::refresh_if_stale`]).

mod adapter;
mod index;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use arc_swap::ArcSwap;
use casbin::{CoreApi, DefaultModel, Enforcer, MgmtApi};
use tokio::sync::Mutex;

pub use adapter::StoreAdapter;
use index::{ALL_MARKETS, PermissionIndex};

use crate::store::revision::{self, Counter};
use crate::store::{Store, StoreError};

/// The casbin model, compiled into the engine so a node cannot start with a
/// model that differs from the one its index implements.
pub const MODEL_CONF: &str = include_str!("../../../schema/policy/model.conf");
/// The policy a fresh store starts with.
pub const DEFAULT_POLICY_CSV: &str = include_str!("../../../schema/policy/default_policy.csv");

#[derive(Debug, thiserror::Error)]
pub enum AuthzError {
    /// The policy store cannot be reached right now; callers answer `DATABASE_UNAVAILABLE`.
    #[error("policy store unavailable: {0}")]
    Unavailable(#[source] StoreError),
    /// Any other failure of the policy store: a bug or a broken invariant, logged, never shown.
    #[error("policy store error: {0}")]
    Store(#[source] StoreError),
    /// casbin refused the model or a rule (a bug in the shipped model or policy).
    #[error("casbin error: {0}")]
    Casbin(#[source] casbin::Error),
    /// A value given to a management call cannot be stored as a rule.
    #[error("invalid {field} `{value}`: {reason}")]
    Invalid {
        field: &'static str,
        value: String,
        reason: &'static str,
    },
}

impl From<StoreError> for AuthzError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) => AuthzError::Unavailable(err),
            other => AuthzError::Store(other),
        }
    }
}

impl From<casbin::Error> for AuthzError {
    fn from(err: casbin::Error) -> Self {
        // The adapter boxes store errors inside casbin's; take them back out so
        // "database unavailable" stays distinguishable from a bug.
        match err {
            casbin::Error::AdapterError(casbin::error::AdapterError(inner)) => {
                match inner.downcast::<StoreError>() {
                    Ok(store) => AuthzError::from(*store),
                    Err(other) => AuthzError::Casbin(casbin::Error::AdapterError(
                        casbin::error::AdapterError(other),
                    )),
                }
            }
            other => AuthzError::Casbin(other),
        }
    }
}

/// The roles of REQUIREMENTS.md. Platform-wide ones are granted in `*`.
pub const ROLES: &[&str] = &[
    "platform_admin",
    "market_admin",
    "station_staff",
    "courier",
    "support_agent",
    "merchant_owner",
    "merchant_staff",
    "customer",
    "finance_partner",
    "regulator",
];

/// Roles that run the platform or a market: granting them (to an account or an
/// API token) takes a platform administrator.
pub const PLATFORM_ROLES: &[&str] = &["platform_admin", "market_admin", "regulator"];

/// A permission: `role` may do `action` on `object` in `market` (`*`: wherever the role is held).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Policy {
    pub role: String,
    pub market: String,
    pub object: String,
    pub action: String,
}

impl Policy {
    pub fn new(role: &str, market: &str, object: &str, action: &str) -> Policy {
        Policy {
            role: role.to_string(),
            market: market.to_string(),
            object: object.to_string(),
            action: action.to_string(),
        }
    }

    fn to_rule(&self) -> Vec<String> {
        vec![
            self.role.clone(),
            self.market.clone(),
            self.object.clone(),
            self.action.clone(),
        ]
    }

    fn validate(&self) -> Result<(), AuthzError> {
        check_value("role", &self.role)?;
        check_value("market", &self.market)?;
        check_value("object", &self.object)?;
        check_value("action", &self.action)
    }
}

/// A role grant: `subject` holds `role` in `market` (`*`: in every market).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleGrant {
    pub subject: String,
    pub role: String,
    pub market: String,
}

impl RoleGrant {
    pub fn new(subject: &str, role: &str, market: &str) -> RoleGrant {
        RoleGrant {
            subject: subject.to_string(),
            role: role.to_string(),
            market: market.to_string(),
        }
    }

    fn to_rule(&self) -> Vec<String> {
        vec![self.subject.clone(), self.role.clone(), self.market.clone()]
    }

    fn validate(&self) -> Result<(), AuthzError> {
        check_value("subject", &self.subject)?;
        check_value("role", &self.role)?;
        check_value("market", &self.market)
    }
}

/// Empty values mean "unused" in `casbin_rule`, and padded ones could never be
/// matched by a request, so both are refused rather than stored.
fn check_value(field: &'static str, value: &str) -> Result<(), AuthzError> {
    let reason = if value.is_empty() {
        "must not be empty"
    } else if value.trim() != value {
        "must not start or end with whitespace"
    } else if value.len() > 255 {
        "must be at most 255 bytes"
    } else {
        return Ok(());
    };
    Err(AuthzError::Invalid {
        field,
        value: value.chars().take(64).collect(),
        reason,
    })
}

/// The engine's authorisation: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Authz {
    inner: Arc<Inner>,
}

struct Inner {
    /// casbin with the store adapter; locked only by management calls and reloads,
    /// which also serialises index rebuilds in the order of the changes.
    enforcer: Mutex<Enforcer>,
    index: ArcSwap<PermissionIndex>,
    store: Store,
    /// The store's policy revision the index was built from.
    revision: AtomicI64,
}

impl std::fmt::Debug for Authz {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let index = self.inner.index.load();
        f.debug_struct("Authz")
            .field("policies", &index.policies.len())
            .field("grants", &index.grants.len())
            .finish()
    }
}

impl Authz {
    /// Builds casbin from the shipped model, loads the rules from the store, and
    /// seeds the default policy into an empty table first.
    pub async fn load(store: &Store) -> Result<Authz, AuthzError> {
        if adapter::is_empty(store).await? {
            let rules = default_rules()?;
            // Two nodes starting on a fresh store may both get here; inserts of
            // existing rules are no-ops, so the table ends up seeded once.
            adapter::insert_rules(store, &rules).await?;
            tracing::info!(
                rules = rules.len(),
                "seeded the default authorisation policy"
            );
        }
        // Read before the rules: a change in between shows as a newer revision later.
        let loaded_revision = revision::current(store, Counter::Authz).await?;
        let enforcer = enforcer(store).await?;
        let index = compile(&enforcer);
        tracing::info!(
            policies = index.policies.len(),
            grants = index.grants.len(),
            "authorisation policy loaded"
        );
        Ok(Authz {
            inner: Arc::new(Inner {
                enforcer: Mutex::new(enforcer),
                index: ArcSwap::from_pointee(index),
                store: store.clone(),
                revision: AtomicI64::new(loaded_revision),
            }),
        })
    }

    /// Whether `subject` may do `action` on `object` in `market`. On the request
    /// path: no I/O, no lock, no allocation.
    pub fn check(&self, subject: &str, market: &str, object: &str, action: &str) -> bool {
        self.inner
            .index
            .load()
            .allows(subject, market, object, action)
    }

    /// Grants `role` to `subject` in `market` (`*`: every market). Returns
    /// whether the grant is new to this node.
    pub async fn grant_role(
        &self,
        subject: &str,
        role: &str,
        market: &str,
    ) -> Result<bool, AuthzError> {
        self.grant_roles(&[RoleGrant::new(subject, role, market)])
            .await
    }

    /// Grants several roles in one transaction.
    pub async fn grant_roles(&self, grants: &[RoleGrant]) -> Result<bool, AuthzError> {
        for g in grants {
            g.validate()?;
        }
        let rules = grants.iter().map(RoleGrant::to_rule).collect();
        let changed = self.change(Change::AddGrants(rules)).await?;
        tracing::info!(grants = grants.len(), changed, "roles granted");
        Ok(changed)
    }

    /// Every (role, market) `subject` holds.
    pub fn assignments_of(&self, subject: &str) -> Vec<(String, String)> {
        self.grants()
            .into_iter()
            .filter(|g| g.subject == subject)
            .map(|g| (g.role, g.market))
            .collect()
    }

    /// The (role, market) pairs `subject` holds that apply in `market`.
    pub fn assignments_in(&self, subject: &str, market: &str) -> Vec<(String, String)> {
        self.assignments_of(subject)
            .into_iter()
            .filter(|(_, m)| m == market || m == "*")
            .collect()
    }

    /// Takes `role` in `market` away from `subject`; effective on this node on return.
    pub async fn revoke_role(
        &self,
        subject: &str,
        role: &str,
        market: &str,
    ) -> Result<bool, AuthzError> {
        let grant = RoleGrant::new(subject, role, market);
        grant.validate()?;
        let changed = self.change(Change::RemoveGrant(grant.to_rule())).await?;
        tracing::info!(subject, role, market, changed, "role revoked");
        Ok(changed)
    }

    /// Allows `role` to do `action` on `object` in `market` (`*`: wherever held).
    pub async fn add_policy(
        &self,
        role: &str,
        market: &str,
        object: &str,
        action: &str,
    ) -> Result<bool, AuthzError> {
        self.add_policies(&[Policy::new(role, market, object, action)])
            .await
    }

    /// Adds several permissions in one transaction.
    pub async fn add_policies(&self, policies: &[Policy]) -> Result<bool, AuthzError> {
        for p in policies {
            p.validate()?;
        }
        let rules = policies.iter().map(Policy::to_rule).collect();
        let changed = self.change(Change::AddPolicies(rules)).await?;
        tracing::info!(policies = policies.len(), changed, "permissions added");
        Ok(changed)
    }

    /// Removes a permission; effective on this node on return.
    pub async fn remove_policy(
        &self,
        role: &str,
        market: &str,
        object: &str,
        action: &str,
    ) -> Result<bool, AuthzError> {
        let policy = Policy::new(role, market, object, action);
        policy.validate()?;
        let changed = self.change(Change::RemovePolicy(policy.to_rule())).await?;
        tracing::info!(role, market, object, action, changed, "permission removed");
        Ok(changed)
    }

    /// Roles `subject` holds in `market`, directly or through other roles,
    /// including those granted in `*`; sorted.
    pub fn roles_of(&self, subject: &str, market: &str) -> Vec<String> {
        self.inner.index.load().roles_of(subject, market)
    }

    /// Subjects granted `role` directly in `market` or in `*`; sorted.
    pub fn subjects_with_role(&self, role: &str, market: &str) -> Vec<String> {
        let index = self.inner.index.load();
        let mut subjects: Vec<String> = index
            .grants
            .iter()
            .filter(|g| g.role == role && (g.market == market || g.market == ALL_MARKETS))
            .map(|g| g.subject.clone())
            .collect();
        subjects.sort_unstable();
        subjects.dedup();
        subjects
    }

    /// Every permission, sorted.
    pub fn policies(&self) -> Vec<Policy> {
        let mut policies = self.inner.index.load().policies.clone();
        policies.sort_unstable();
        policies
    }

    /// Every role grant, sorted.
    pub fn grants(&self) -> Vec<RoleGrant> {
        let mut grants = self.inner.index.load().grants.clone();
        grants.sort_unstable();
        grants
    }

    /// Re-reads every rule from the store: how a node picks up changes made on another.
    pub async fn reload(&self) -> Result<(), AuthzError> {
        let mut current = self.inner.enforcer.lock().await;
        let loaded_revision = revision::current(&self.inner.store, Counter::Authz).await?;
        // casbin's `load_policy` empties its model before reading the store, so
        // a failed read would leave it empty; a fresh enforcer replaces the
        // current one only once it has loaded.
        let fresh = enforcer(&self.inner.store).await?;
        self.inner.index.store(Arc::new(compile(&fresh)));
        *current = fresh;
        self.inner.revision.store(loaded_revision, Ordering::SeqCst);
        Ok(())
    }

    /// Reloads when the store's policy revision differs from the loaded one.
    /// Returns whether it reloaded. One small query when nothing changed.
    pub async fn refresh_if_stale(&self) -> Result<bool, AuthzError> {
        let current = revision::current(&self.inner.store, Counter::Authz).await?;
        if current == self.inner.revision.load(Ordering::SeqCst) {
            return Ok(false);
        }
        self.reload().await?;
        tracing::info!(
            revision = current,
            "authorisation policy reloaded after a change elsewhere"
        );
        Ok(true)
    }

    /// Like [`Authz::check`], but a denial first makes sure the policy is
    /// current, so a grant made on another node is honoured at once.
    pub async fn check_fresh(
        &self,
        subject: &str,
        market: &str,
        object: &str,
        action: &str,
    ) -> bool {
        if self.check(subject, market, object, action) {
            return true;
        }
        // Check again even when this call did not reload: the watcher may
        // have swapped in the new policy between the first check and now.
        match self.refresh_if_stale().await {
            Ok(_) => self.check(subject, market, object, action),
            Err(e) => {
                tracing::warn!(error = %e, "could not check the policy revision");
                false
            }
        }
    }

    /// casbin's own `enforce`: the reference the index is tested against. It
    /// scans every policy line; never call it on the request path.
    pub async fn enforce_with_casbin(
        &self,
        subject: &str,
        market: &str,
        object: &str,
        action: &str,
    ) -> Result<bool, AuthzError> {
        let enforcer = self.inner.enforcer.lock().await;
        Ok(enforcer.enforce((subject, market, object, action))?)
    }

    /// Applies one change through casbin (persisted by the adapter), then
    /// recompiles the index. Returns whether this node's policy changed.
    async fn change(&self, change: Change) -> Result<bool, AuthzError> {
        let mut enforcer = self.inner.enforcer.lock().await;
        let result = match change {
            // casbin adds a batch all-or-nothing in memory: one rule it already
            // holds would drop the rest, so only new rules are passed on.
            Change::AddPolicies(mut rules) => {
                let mut seen = HashSet::new();
                rules
                    .retain(|rule| !enforcer.has_policy(rule.clone()) && seen.insert(rule.clone()));
                if rules.is_empty() {
                    return Ok(false);
                }
                enforcer.add_policies(rules).await
            }
            Change::AddGrants(mut rules) => {
                let mut seen = HashSet::new();
                rules.retain(|rule| {
                    !enforcer.has_grouping_policy(rule.clone()) && seen.insert(rule.clone())
                });
                if rules.is_empty() {
                    return Ok(false);
                }
                enforcer.add_grouping_policies(rules).await
            }
            Change::RemovePolicy(rule) => enforcer.remove_policy(rule).await,
            Change::RemoveGrant(rule) => enforcer.remove_grouping_policy(rule).await,
        };
        // Rebuild even on failure: casbin may have changed its model before the
        // error surfaced, and the index must never disagree with it.
        self.inner.index.store(Arc::new(compile(&enforcer)));
        let changed = result?;
        if changed {
            // Tell the other nodes. If the counter moved by more than this one
            // change, someone else changed the policy too: keep the old revision
            // so the next refresh reloads everything.
            let before = self.inner.revision.load(Ordering::SeqCst);
            let now = revision::bump(&self.inner.store, Counter::Authz).await?;
            if now == before + 1 {
                self.inner.revision.store(now, Ordering::SeqCst);
            }
        }
        Ok(changed)
    }
}

/// A policy change, as casbin rules.
enum Change {
    AddPolicies(Vec<Vec<String>>),
    AddGrants(Vec<Vec<String>>),
    RemovePolicy(Vec<String>),
    RemoveGrant(Vec<String>),
}

/// casbin with the shipped model and every rule in the store.
async fn enforcer(store: &Store) -> Result<Enforcer, AuthzError> {
    let model = DefaultModel::from_str(MODEL_CONF).await?;
    Ok(Enforcer::new(model, StoreAdapter::new(store.clone())).await?)
}

/// Compiles casbin's current model into the request-path index.
fn compile(enforcer: &Enforcer) -> PermissionIndex {
    let policies = enforcer
        .get_policy()
        .into_iter()
        .filter_map(|rule| match rule.as_slice() {
            [role, market, object, action] => Some(Policy::new(role, market, object, action)),
            _ => {
                tracing::warn!(?rule, "ignoring a permission without four values");
                None
            }
        })
        .collect();
    let grants = enforcer
        .get_grouping_policy()
        .into_iter()
        .filter_map(|rule| match rule.as_slice() {
            [subject, role, market] => Some(RoleGrant::new(subject, role, market)),
            _ => {
                tracing::warn!(?rule, "ignoring a role grant without three values");
                None
            }
        })
        .collect();
    PermissionIndex::build(policies, grants)
}

/// The rules of `default_policy.csv`: `ptype, values…` per line, `#` comments.
fn default_rules() -> Result<Vec<adapter::Rule>, AuthzError> {
    DEFAULT_POLICY_CSV
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let mut fields = line.split(',').map(str::trim);
            let ptype = fields.next().unwrap_or_default();
            let values: Vec<String> = fields.map(str::to_string).collect();
            Ok(adapter::Rule::new(ptype, &values)?)
        })
        .collect()
}

#[cfg(test)]
mod tests;
