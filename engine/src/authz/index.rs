//! The permission index: casbin's policy compiled into hash lookups.
//!
//! casbin evaluates its matcher against every policy line in turn, so a denied
//! request costs a full scan (about 1 ms at 1,000 policies) and every new
//! (subject, market, object, action) is a cache miss. A check on the request
//! path must cost microseconds, so each policy change rebuilds this index from
//! casbin's model and the request path reads only the index.
//!
//! The index answers exactly what `schema/policy/model.conf` says:
//! allowed iff some name N among the subject itself, the roles the subject
//! reaches through grants in the market, and those it reaches through grants
//! in `*`, has a permission (N, market or `*`, object, action). Role chains are
//! followed within one domain and to the same depth as casbin's role manager.
//! A test compares it with casbin's own `enforce` on random requests.

use std::collections::{HashMap, HashSet, VecDeque};

use super::{Policy, RoleGrant};

/// The domain that stands for every market.
pub(super) const ALL_MARKETS: &str = "*";

/// casbin's `DefaultRoleManager::new(10)`: its breadth-first walk yields nodes
/// fewer than 10 links away from the subject.
const MAX_ROLE_DEPTH: usize = 9;

type Id = u32;

fn pair(a: Id, b: Id) -> u64 {
    (u64::from(a) << 32) | u64::from(b)
}

fn quad(name: Id, domain: Id, object: Id, action: Id) -> u128 {
    (u128::from(name) << 96)
        | (u128::from(domain) << 64)
        | (u128::from(object) << 32)
        | u128::from(action)
}

/// One immutable snapshot of the policy, swapped whole after each change.
#[derive(Debug, Default)]
pub(super) struct PermissionIndex {
    /// Every string in the policy (names, markets, objects, actions), numbered.
    ids: HashMap<Box<str>, Id>,
    strings: Vec<Box<str>>,
    all_markets: Option<Id>,
    /// (name, domain) → every role reachable from the name through grants in that domain.
    reachable: HashMap<u64, Box<[Id]>>,
    /// (name, domain, object, action) of every permission.
    permits: HashSet<u128>,
    /// The rules the index was built from, for listing.
    pub policies: Vec<Policy>,
    pub grants: Vec<RoleGrant>,
}

impl PermissionIndex {
    pub fn build(policies: Vec<Policy>, grants: Vec<RoleGrant>) -> PermissionIndex {
        let mut index = PermissionIndex::default();

        for p in &policies {
            let key = quad(
                index.intern(&p.role),
                index.intern(&p.market),
                index.intern(&p.object),
                index.intern(&p.action),
            );
            index.permits.insert(key);
        }

        // Grants as edges, per domain: name → roles granted to it there.
        let mut edges: HashMap<Id, HashMap<Id, Vec<Id>>> = HashMap::new();
        for g in &grants {
            let (subject, role, market) = (
                index.intern(&g.subject),
                index.intern(&g.role),
                index.intern(&g.market),
            );
            let targets = edges.entry(market).or_default().entry(subject).or_default();
            if subject != role && !targets.contains(&role) {
                targets.push(role);
            }
        }
        for (&domain, graph) in &edges {
            for &start in graph.keys() {
                let roles = walk(graph, start);
                if !roles.is_empty() {
                    index.reachable.insert(pair(start, domain), roles.into());
                }
            }
        }

        index.all_markets = index.ids.get(ALL_MARKETS).copied();
        index.policies = policies;
        index.grants = grants;
        index
    }

    fn intern(&mut self, s: &str) -> Id {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        // More than 4 billion distinct strings cannot be held in memory anyway.
        let id = Id::try_from(self.strings.len()).unwrap_or(Id::MAX);
        self.strings.push(s.into());
        self.ids.insert(s.into(), id);
        id
    }

    fn id(&self, s: &str) -> Option<Id> {
        self.ids.get(s).copied()
    }

    fn roles(&self, name: Id, domain: Option<Id>) -> &[Id] {
        domain
            .and_then(|d| self.reachable.get(&pair(name, d)))
            .map_or(&[], |roles| roles)
    }

    /// The request-path check: a handful of hash lookups, no allocation.
    pub fn allows(&self, subject: &str, market: &str, object: &str, action: &str) -> bool {
        // A string the policy never mentions cannot match a rule.
        let (Some(subject), Some(object), Some(action)) =
            (self.id(subject), self.id(object), self.id(action))
        else {
            return false;
        };
        let market = self.id(market);
        let all = self.all_markets;
        let permitted = |name: Id| {
            [market, all]
                .into_iter()
                .flatten()
                .any(|domain| self.permits.contains(&quad(name, domain, object, action)))
        };
        permitted(subject)
            || self.roles(subject, market).iter().any(|&r| permitted(r))
            || self.roles(subject, all).iter().any(|&r| permitted(r))
    }

    /// Roles the subject holds in `market`, directly or through other roles,
    /// including those held in every market; sorted.
    pub fn roles_of(&self, subject: &str, market: &str) -> Vec<String> {
        let Some(subject) = self.id(subject) else {
            return Vec::new();
        };
        let mut roles: Vec<String> = self
            .roles(subject, self.id(market))
            .iter()
            .chain(self.roles(subject, self.all_markets))
            .map(|&r| self.strings[r as usize].to_string())
            .collect();
        roles.sort_unstable();
        roles.dedup();
        roles
    }
}

/// Breadth-first from `start` to depth `MAX_ROLE_DEPTH`, as casbin walks role links.
fn walk(graph: &HashMap<Id, Vec<Id>>, start: Id) -> Vec<Id> {
    let mut seen = HashSet::from([start]);
    let mut found = Vec::new();
    let mut queue = VecDeque::from([(start, 0usize)]);
    while let Some((node, depth)) = queue.pop_front() {
        if depth == MAX_ROLE_DEPTH {
            continue;
        }
        for &next in graph.get(&node).into_iter().flatten() {
            if seen.insert(next) {
                found.push(next);
                queue.push_back((next, depth + 1));
            }
        }
    }
    found
}
