//! `plugin.toml`: what the engine reads before it loads a component.
//!
//! Parsing checks everything that can be checked without the rest of the
//! system: names, the contract version, known hooks and capabilities, a JSON
//! Schema that compiles, GraphQL SDL that parses and whose every new field
//! says who may call it. Clashes with the live schema are checked by the
//! registry, which knows the other plugins.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
use serde::Deserialize;

use super::runtime::{Limits, POOL_MAX_MEMORY};
use super::types::Text;

/// Contract versions this engine loads (folders of `schema/wit/`).
pub const SUPPORTED_CONTRACTS: &[&str] = &["0.1"];

/// The exports of the 0.1 contract a manifest may declare.
pub const HOOKS: &[&str] = &[
    "adjust-prices",
    "quote-delivery",
    "validate",
    "decide-compensation",
    "financing-offers",
    "handle-event",
    "resolve",
];

/// Capabilities a plugin may ask for: storage and read scopes of `commerce.query`.
pub const CAPABILITIES: &[&str] = &["storage", "markets:read"];

/// The most fuel a manifest may ask for per call (Shopify allows 11 M).
const MAX_FUEL: u64 = 100_000_000;
const MAX_DEADLINE: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("plugin.toml is not valid: {0}")]
    Syntax(String),
    #[error("plugin.toml: {field}: {problem}")]
    Invalid { field: String, problem: String },
}

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> ManifestError {
    ManifestError::Invalid {
        field: field.into(),
        problem: problem.into(),
    }
}

/// A parsed, checked manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub id: String,
    pub name: String,
    pub version: String,
    pub contract: String,
    pub description: Text,
    pub hooks: BTreeSet<String>,
    pub capabilities: BTreeSet<String>,
    /// The per-market configuration schema; `{}` (anything) when absent.
    pub config_schema: serde_json::Value,
    pub graphql: Option<GraphqlExtension>,
    pub limits: Limits,
    /// The TOML it was parsed from, kept in the registry as written.
    pub source: String,
}

/// The SDL a plugin adds and who may call each new field.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphqlExtension {
    pub sdl: String,
    pub fields: Vec<FieldGuard>,
}

/// A field the plugin adds (`Type.field`) and the casbin permission it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldGuard {
    pub type_name: String,
    pub field: String,
    pub object: String,
    pub action: String,
    /// Roles given (object, action) in every market when the plugin is installed.
    pub roles: Vec<String>,
    /// Anyone may call it, signed in or not (published information).
    pub public: bool,
}

impl FieldGuard {
    pub fn coordinate(&self) -> String {
        format!("{}.{}", self.type_name, self.field)
    }
}

/// A configuration that does not fit the plugin's schema: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// JSON Pointer into the configuration, e.g. `/discountPercent`.
    pub path: String,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    id: String,
    name: String,
    version: String,
    contract: String,
    description: RawText,
    #[serde(default)]
    hooks: Vec<String>,
    #[serde(default)]
    capabilities: Vec<String>,
    config: Option<RawConfig>,
    graphql: Option<RawGraphql>,
    limits: Option<RawLimits>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawText {
    #[serde(rename = "zh-CN")]
    zh_cn: String,
    en: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    schema: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGraphql {
    sdl: String,
    #[serde(default)]
    fields: Vec<RawField>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    #[serde(rename = "type")]
    type_name: String,
    field: String,
    object: Option<String>,
    action: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    public: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    fuel: Option<u64>,
    deadline_ms: Option<u64>,
    memory_mib: Option<u64>,
}

impl Manifest {
    pub fn parse(source: &str) -> Result<Manifest, ManifestError> {
        let raw: RawManifest = toml::from_str(source)
            .map_err(|e| ManifestError::Syntax(e.to_string().trim_end().replace('\n', " ")))?;
        if !is_identifier(&raw.id) {
            return Err(invalid(
                "id",
                format!(
                    "`{}` must be 2–40 lowercase letters, digits or hyphens, starting with a letter",
                    raw.id
                ),
            ));
        }
        for (field, value) in [
            ("name", &raw.name),
            ("description.zh-CN", &raw.description.zh_cn),
            ("description.en", &raw.description.en),
        ] {
            if value.trim().is_empty() || value.chars().count() > 500 {
                return Err(invalid(field, "must be 1–500 characters"));
            }
        }
        if !is_version(&raw.version) {
            return Err(invalid(
                "version",
                format!("`{}` is not a version like 1.2.3", raw.version),
            ));
        }
        if !SUPPORTED_CONTRACTS.contains(&raw.contract.as_str()) {
            return Err(invalid(
                "contract",
                format!(
                    "`{}` is not a contract this engine loads ({})",
                    raw.contract,
                    SUPPORTED_CONTRACTS.join(", ")
                ),
            ));
        }
        let hooks = known_set("hooks", raw.hooks, HOOKS)?;
        let capabilities = known_set("capabilities", raw.capabilities, CAPABILITIES)?;
        let config_schema = match raw.config {
            None => serde_json::json!({}),
            Some(config) => {
                let schema: serde_json::Value = serde_json::from_str(&config.schema)
                    .map_err(|e| invalid("config.schema", format!("not JSON: {e}")))?;
                jsonschema::validator_for(&schema)
                    .map_err(|e| invalid("config.schema", format!("not a JSON Schema: {e}")))?;
                schema
            }
        };
        let graphql = match raw.graphql {
            None => None,
            Some(graphql) => Some(check_graphql(graphql, &hooks)?),
        };
        let limits = check_limits(raw.limits)?;
        Ok(Manifest {
            id: raw.id,
            name: raw.name,
            version: raw.version,
            contract: raw.contract,
            description: Text {
                zh_cn: raw.description.zh_cn,
                en: raw.description.en,
            },
            hooks,
            capabilities,
            config_schema,
            graphql,
            limits,
            source: source.to_string(),
        })
    }

    pub fn implements(&self, hook: &str) -> bool {
        self.hooks.contains(hook)
    }

    /// Checks a market's configuration against the plugin's schema; every
    /// problem, with where it is.
    pub fn check_config(&self, config: &serde_json::Value) -> Result<(), Vec<ConfigProblem>> {
        let validator = match jsonschema::validator_for(&self.config_schema) {
            Ok(v) => v,
            // Checked at parse time; a manifest read back from the registry
            // was parsed the same way.
            Err(e) => {
                return Err(vec![ConfigProblem {
                    path: String::new(),
                    message: format!("the plugin's schema does not compile: {e}"),
                }]);
            }
        };
        let problems: Vec<ConfigProblem> = validator
            .iter_errors(config)
            .map(|e| ConfigProblem {
                path: e.instance_path().as_str().to_string(),
                message: e.to_string(),
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

fn is_identifier(id: &str) -> bool {
    let len = id.len();
    (2..=40).contains(&len)
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !id.ends_with('-')
}

/// `MAJOR.MINOR.PATCH`, optionally with a `-pre` suffix.
fn is_version(version: &str) -> bool {
    let core = version.split_once('-').map_or(version, |(core, _)| core);
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 9 && p.chars().all(|c| c.is_ascii_digit()))
}

fn known_set(
    field: &str,
    values: Vec<String>,
    known: &[&str],
) -> Result<BTreeSet<String>, ManifestError> {
    let mut set = BTreeSet::new();
    for value in values {
        if !known.contains(&value.as_str()) {
            return Err(invalid(
                field,
                format!("`{value}` is not one of {}", known.join(", ")),
            ));
        }
        if !set.insert(value.clone()) {
            return Err(invalid(field, format!("`{value}` is listed twice")));
        }
    }
    Ok(set)
}

fn check_limits(raw: Option<RawLimits>) -> Result<Limits, ManifestError> {
    let mut limits = Limits::default();
    let Some(raw) = raw else {
        return Ok(limits);
    };
    if let Some(fuel) = raw.fuel {
        if fuel == 0 || fuel > MAX_FUEL {
            return Err(invalid("limits.fuel", format!("must be 1–{MAX_FUEL}")));
        }
        limits.fuel = fuel;
    }
    if let Some(ms) = raw.deadline_ms {
        let deadline = Duration::from_millis(ms);
        if ms == 0 || deadline > MAX_DEADLINE {
            return Err(invalid(
                "limits.deadline_ms",
                format!("must be 1–{}", MAX_DEADLINE.as_millis()),
            ));
        }
        limits.deadline = deadline;
    }
    if let Some(mib) = raw.memory_mib {
        let max = (POOL_MAX_MEMORY >> 20) as u64;
        if mib == 0 || mib > max {
            return Err(invalid("limits.memory_mib", format!("must be 1–{max}")));
        }
        limits.memory_bytes = (mib as usize) << 20;
    }
    Ok(limits)
}

/// Types a plugin may extend with fields of its own. Other core types get
/// plugin fields when their domains grow a way to pass the market along.
const EXTENDABLE: &[&str] = &["Query", "Mutation", "Market"];

fn check_graphql(
    raw: RawGraphql,
    hooks: &BTreeSet<String>,
) -> Result<GraphqlExtension, ManifestError> {
    let document = async_graphql::parser::parse_schema(&raw.sdl)
        .map_err(|e| invalid("graphql.sdl", e.to_string()))?;
    if !hooks.contains("resolve") {
        return Err(invalid(
            "hooks",
            "a plugin with GraphQL fields must implement `resolve`",
        ));
    }
    // Fields the SDL adds to existing types: each needs a guard entry.
    let mut added: BTreeMap<String, bool> = BTreeMap::new();
    for definition in &document.definitions {
        let TypeSystemDefinition::Type(ty) = definition else {
            return Err(invalid(
                "graphql.sdl",
                "only type definitions and extensions are allowed",
            ));
        };
        let ty = &ty.node;
        let name = ty.name.node.as_str();
        if !ty.extend {
            continue;
        }
        if !EXTENDABLE.contains(&name) {
            return Err(invalid(
                "graphql.sdl",
                format!(
                    "plugins may extend {} only, not `{name}`",
                    EXTENDABLE.join(", ")
                ),
            ));
        }
        let TypeKind::Object(object) = &ty.kind else {
            return Err(invalid(
                "graphql.sdl",
                format!("`extend type {name}` must add fields"),
            ));
        };
        for field in &object.fields {
            let field = &field.node;
            let root = name == "Query" || name == "Mutation";
            let takes_market = field
                .arguments
                .iter()
                .any(|a| a.node.name.node == "market" && a.node.ty.node.to_string() == "String!");
            if root && !takes_market {
                return Err(invalid(
                    "graphql.sdl",
                    format!(
                        "{name}.{} must take `market: String!`: a plugin's fields answer per market",
                        field.name.node
                    ),
                ));
            }
            added.insert(format!("{name}.{}", field.name.node), false);
        }
    }
    let mut fields = Vec::new();
    for raw_field in raw.fields {
        let coordinate = format!("{}.{}", raw_field.type_name, raw_field.field);
        let Some(seen) = added.get_mut(&coordinate) else {
            return Err(invalid(
                "graphql.fields",
                format!("{coordinate} is not a field the SDL adds"),
            ));
        };
        if std::mem::replace(seen, true) {
            return Err(invalid(
                "graphql.fields",
                format!("{coordinate} is listed twice"),
            ));
        }
        let (object, action) = match (raw_field.object, raw_field.action, raw_field.public) {
            (Some(object), Some(action), false) => (object, action),
            (None, None, true) => (String::new(), String::new()),
            _ => {
                return Err(invalid(
                    format!("graphql.fields {coordinate}"),
                    "give `object` and `action` (the casbin permission a caller needs), or `public = true`",
                ));
            }
        };
        for (what, value) in [("object", &object), ("action", &action)] {
            if !raw_field.public && !is_policy_word(value) {
                return Err(invalid(
                    format!("graphql.fields {coordinate} {what}"),
                    format!("`{value}` must be lowercase letters, digits, `_` or `-`"),
                ));
            }
        }
        for role in &raw_field.roles {
            if !crate::authz::ROLES.contains(&role.as_str()) {
                return Err(invalid(
                    format!("graphql.fields {coordinate} roles"),
                    format!(
                        "`{role}` is not a role ({})",
                        crate::authz::ROLES.join(", ")
                    ),
                ));
            }
        }
        fields.push(FieldGuard {
            type_name: raw_field.type_name,
            field: raw_field.field,
            object,
            action,
            roles: raw_field.roles,
            public: raw_field.public,
        });
    }
    if let Some((unguarded, _)) = added.iter().find(|(_, seen)| !**seen) {
        return Err(invalid(
            "graphql.fields",
            format!("{unguarded} needs an entry saying who may call it"),
        ));
    }
    Ok(GraphqlExtension {
        sdl: raw.sdl,
        fields,
    })
}

fn is_policy_word(value: &str) -> bool {
    (1..=64).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO: &str = include_str!("../../../examples/hello-plugin/plugin.toml");

    fn with(extra: &str) -> String {
        format!(
            "id = \"demo\"\nname = \"Demo\"\nversion = \"1.0.0\"\ncontract = \"0.1\"\n\
             hooks = [\"adjust-prices\", \"resolve\"]\n{extra}\n\
             [description]\nzh-CN = \"演示\"\nen = \"Demo\"\n"
        )
    }

    #[test]
    fn the_template_manifest_parses() {
        let m = Manifest::parse(HELLO).expect("hello's manifest");
        assert_eq!(m.id, "hello");
        assert!(m.implements("adjust-prices") && m.implements("resolve"));
        assert!(m.capabilities.contains("storage"));
        let graphql = m.graphql.expect("hello adds a field");
        assert_eq!(graphql.fields[0].coordinate(), "Query.helloGreeting");
        assert_eq!(m.limits, Limits::default());
    }

    #[test]
    fn configuration_is_checked_against_the_schema() {
        let m = Manifest::parse(HELLO).unwrap();
        assert!(
            m.check_config(&serde_json::json!({"discountPercent": 15}))
                .is_ok()
        );
        assert!(m.check_config(&serde_json::json!({})).is_ok());
        let problems = m
            .check_config(&serde_json::json!({"discountPercent": 95, "colour": "red"}))
            .unwrap_err();
        assert!(
            problems.iter().any(|p| p.path == "/discountPercent"),
            "{problems:?}"
        );
        assert!(problems.len() >= 2, "{problems:?}");
        let problems = m.check_config(&serde_json::json!("15%")).unwrap_err();
        assert_eq!(problems[0].path, "");
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            (
                HELLO.replace("id = \"hello\"", "id = \"Hello World\""),
                "id",
            ),
            (
                HELLO.replace("contract = \"0.1\"", "contract = \"9.0\""),
                "contract",
            ),
            (
                HELLO.replace("version = \"0.1.0\"", "version = \"one\""),
                "version",
            ),
            (with("capabilities = [\"network\"]"), "capabilities"),
            (with("[limits]\nmemory_mib = 4096"), "limits.memory_mib"),
            (with("[config]\nschema = '{\"type\": 12}'"), "config.schema"),
            (
                with("[graphql]\nsdl = 'extend type Query { x(market: String!): Int }'"),
                "graphql.fields",
            ),
            (
                with(
                    "[graphql]\nsdl = 'extend type Query { x: Int }'\n[[graphql.fields]]\ntype = \"Query\"\nfield = \"x\"\npublic = true",
                ),
                "graphql.sdl",
            ),
            (
                with("[graphql]\nsdl = 'extend type Account { x: Int }'"),
                "graphql.sdl",
            ),
            (
                with(
                    "[graphql]\nsdl = 'extend type Query { x(market: String!): Int }'\n[[graphql.fields]]\ntype = \"Query\"\nfield = \"x\"\nobject = \"x\"",
                ),
                "graphql.fields Query.x",
            ),
            (
                with(
                    "[graphql]\nsdl = 'extend type Query { x(market: String!): Int }'\n[[graphql.fields]]\ntype = \"Query\"\nfield = \"x\"\nobject = \"x\"\naction = \"read\"\nroles = [\"emperor\"]",
                ),
                "graphql.fields Query.x roles",
            ),
        ];
        for (source, field) in cases {
            match Manifest::parse(&source) {
                Err(ManifestError::Invalid { field: got, .. }) => {
                    assert_eq!(got, field, "{source}")
                }
                other => panic!("{source}\n=> {other:?}"),
            }
        }
        assert!(matches!(
            Manifest::parse("id = 3"),
            Err(ManifestError::Syntax(_))
        ));
        assert!(matches!(
            Manifest::parse(&with("surprise = true")),
            Err(ManifestError::Syntax(_))
        ));
    }

    #[test]
    fn limits_override_the_defaults() {
        let m = Manifest::parse(&with(
            "[limits]\nfuel = 2000000\ndeadline_ms = 20\nmemory_mib = 8",
        ))
        .unwrap();
        assert_eq!(m.limits.fuel, 2_000_000);
        assert_eq!(m.limits.deadline, Duration::from_millis(20));
        assert_eq!(m.limits.memory_bytes, 8 << 20);
    }
}
