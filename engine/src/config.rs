//! Effective configuration: built-in defaults, then a TOML file, then `SHIJI_*`
//! environment variables, in that order of precedence.
//!
//! With nothing configured the engine runs on an embedded SQLite file under
//! `./data/` and listens on 127.0.0.1:8080, so `shiji serve` needs nothing
//! installed. Every mistake is reported with the key (or variable) that holds it,
//! because a typo that silently falls back to a default is how production ends
//! up on the wrong database.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::events::EventsConfig;

/// Environment variables that start with `SHIJI_` but are not settings.
const NON_SETTING_VARS: &[&str] = &["SHIJI_CONFIG", "SHIJI_LOG"];
/// Prefixes of variables used by the test suite and tooling, never by the server.
const NON_SETTING_PREFIXES: &[&str] = &["SHIJI_TEST_", "SHIJI_BENCH_"];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file named with `--config` or `SHIJI_CONFIG` could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    /// A key has a value of the wrong type or shape, or is unknown.
    #[error("config key `{key}`{source_hint}: {message}")]
    Invalid {
        key: String,
        source_hint: String,
        message: String,
    },
    /// A `SHIJI_*` variable names no setting.
    #[error("environment variable {var} names no setting (known: {known})")]
    UnknownVariable { var: String, known: String },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the engine keeps its files (SQLite database, compiled plugins, uploads).
    pub data_dir: PathBuf,
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub graphql: GraphqlConfig,
    pub accounts: AccountsConfig,
    pub security: SecurityConfig,
    pub media: MediaConfig,
    pub catalogue: CatalogueConfig,
    pub orders: OrdersConfig,
    pub events: EventsConfig,
    pub labels: LabelsConfig,
    pub cold_chain: ColdChainConfig,
    pub log: LogConfig,
}

/// Shipping labels (FUL-1).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LabelsConfig {
    /// A TrueType/OpenType font (or collection) with Chinese glyphs. Empty:
    /// the usual system paths are tried (WenQuanYi, Noto CJK, Droid). With
    /// none found, labels keep their QR code and print ASCII only.
    pub font_path: String,
}

/// A temperature band, inclusive, in degrees Celsius.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TemperatureBand {
    pub min_celsius: f64,
    pub max_celsius: f64,
}

/// The cold-chain bands goods travel in (FUL-2; Q 5.4, DB42/T 1490).
/// Readings outside the band of any line of an order are a breach.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ColdChainConfig {
    /// Live aquatic goods and poultry: not frozen, not overheated. 0–30 ℃ is
    /// deliberately wide (it flags freezing and heat stress, the two ways live
    /// goods die in transport); a market tightens it for its species.
    pub live: TemperatureBand,
    /// Chilled goods: 0–4 ℃.
    pub chilled: TemperatureBand,
    /// Frozen goods: at or below −18 ℃ (the lower limit only catches a broken probe).
    pub frozen: TemperatureBand,
}

impl Default for ColdChainConfig {
    fn default() -> Self {
        Self {
            live: TemperatureBand {
                min_celsius: 0.0,
                max_celsius: 30.0,
            },
            chilled: TemperatureBand {
                min_celsius: 0.0,
                max_celsius: 4.0,
            },
            frozen: TemperatureBand {
                min_celsius: -60.0,
                max_celsius: -18.0,
            },
        }
    }
}

impl ColdChainConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        for (name, band) in [
            ("live", self.live),
            ("chilled", self.chilled),
            ("frozen", self.frozen),
        ] {
            if band.min_celsius.is_nan()
                || band.max_celsius.is_nan()
                || band.min_celsius > band.max_celsius
            {
                return Err(ConfigError::Invalid {
                    key: format!("cold_chain.{name}"),
                    source_hint: String::new(),
                    message: "min_celsius must not be above max_celsius".into(),
                });
            }
        }
        Ok(())
    }
}

/// Browsing (CAT-4).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogueConfig {
    /// How long a public product page, once read, is served again from
    /// memory; 0 turns the page cache off.
    pub page_cache_ms: u64,
}

impl Default for CatalogueConfig {
    fn default() -> Self {
        Self {
            page_cache_ms: 1_000,
        }
    }
}

/// Checkout, payment and the station's clocks (ORD-2, ORD-4, ORD-5).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OrdersConfig {
    /// Station staff verify a paid order within this (S 8.2.2.2: 30 minutes).
    pub verify_within_secs: u64,
    /// How often the verification clock looks for late orders.
    pub verification_sweep_secs: u64,
    /// An instant delivery is promised within this long.
    pub instant_delivery_minutes: u64,
    /// A payment provider that has not answered by then has timed out.
    pub payment_timeout_ms: u64,
}

impl Default for OrdersConfig {
    fn default() -> Self {
        Self {
            verify_within_secs: 30 * 60,
            verification_sweep_secs: 60,
            instant_delivery_minutes: 60,
            payment_timeout_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// Where uploaded files are kept: `local` (a directory) or `s3` (a bucket
    /// of any S3-compatible store, which several nodes can share).
    pub store: MediaStoreKind,
    /// With the local store: the directory; empty means `<data_dir>/media`.
    pub dir: String,
    /// Largest image accepted (PNG, JPEG, WebP).
    pub image_max_bytes: usize,
    /// Largest document accepted (PDF or an image of it).
    pub document_max_bytes: usize,
    /// With the S3 store: the bucket (required; it must exist).
    pub s3_bucket: String,
    /// e.g. `http://127.0.0.1:9000` for MinIO; empty means AWS itself.
    pub s3_endpoint: String,
    pub s3_region: String,
    /// Keys go under this prefix in the bucket (`shiji/media`); empty: the root.
    pub s3_prefix: String,
    /// Empty: the instance's own credentials (AWS instance metadata).
    pub s3_access_key_id: String,
    /// Best given as `SHIJI_MEDIA_S3_SECRET_ACCESS_KEY`; never printed or logged.
    pub s3_secret_access_key: Secret,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MediaStoreKind {
    #[default]
    Local,
    S3,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            store: MediaStoreKind::Local,
            dir: String::new(),
            image_max_bytes: 5 * 1024 * 1024,
            document_max_bytes: 10 * 1024 * 1024,
            s3_bucket: String::new(),
            s3_endpoint: String::new(),
            s3_region: "us-east-1".into(),
            s3_prefix: String::new(),
            s3_access_key_id: String::new(),
            s3_secret_access_key: Secret::default(),
        }
    }
}

impl MediaConfig {
    /// Settings that only make sense together; checked once everything is loaded.
    fn validate(&self, source_hint: &str) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: &str| ConfigError::Invalid {
            key: key.into(),
            source_hint: source_hint.into(),
            message: message.into(),
        };
        if self.store != MediaStoreKind::S3 {
            return Ok(());
        }
        if self.s3_bucket.trim().is_empty() {
            return Err(invalid(
                "media.s3_bucket",
                "media.store = \"s3\" needs a bucket (SHIJI_MEDIA_S3_BUCKET)",
            ));
        }
        let endpoint = self.s3_endpoint.trim();
        if !endpoint.is_empty()
            && !endpoint.starts_with("http://")
            && !endpoint.starts_with("https://")
        {
            return Err(invalid(
                "media.s3_endpoint",
                "must start with http:// or https:// (or be empty for AWS)",
            ));
        }
        match (
            self.s3_access_key_id.is_empty(),
            self.s3_secret_access_key.is_empty(),
        ) {
            (false, true) => Err(invalid(
                "media.s3_secret_access_key",
                "media.s3_access_key_id is set but the secret is not (SHIJI_MEDIA_S3_SECRET_ACCESS_KEY)",
            )),
            (true, false) => Err(invalid(
                "media.s3_access_key_id",
                "a secret access key is set but the key id is not",
            )),
            _ => Ok(()),
        }
    }
}

/// A setting that must never be shown: `Debug` prints `****`, and
/// `Config::to_redacted_toml` replaces it. Read it with `expose`.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn redacted(&self) -> Secret {
        match self.0.is_empty() {
            true => Secret::default(),
            false => Secret("****".into()),
        }
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.redacted().expose(), f)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AccountsConfig {
    /// Failed logins in a row that lock an account.
    pub lockout_threshold: u32,
    /// How long a locked account stays locked.
    pub lockout_secs: u64,
    /// A session unused for this long is over.
    pub session_idle_secs: u64,
    /// After this many days `me.passwordChangeRecommended` turns true.
    pub password_max_age_days: u64,
    /// Lowest password strength (0–4, zxcvbn) registration and changes accept.
    pub min_password_score: u8,
    /// How long a login captcha can be answered.
    pub captcha_ttl_secs: u64,
    /// How long a password-reset code issued by staff stays valid.
    pub password_reset_ttl_secs: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityConfig {
    /// Base64 of 32 random bytes: the key that encrypts ID numbers at rest.
    /// Empty: a key file under `data_dir` is created and used (one node only;
    /// every node on a shared PostgreSQL must be given the same key).
    pub id_number_key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port to listen on; port 0 picks a free port.
    pub listen: String,
    /// Largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// Largest multipart request (GraphQL file uploads: plugin components,
    /// images, documents), in bytes.
    pub upload_limit_bytes: usize,
    /// A request that takes longer than this is answered with a timeout error.
    pub request_timeout_secs: u64,
    /// On SIGTERM/Ctrl-C, how long in-flight requests get to finish.
    pub shutdown_grace_secs: u64,
    /// Origins allowed by CORS; empty allows none, `["*"]` allows any.
    pub cors_allowed_origins: Vec<String>,
    /// The address the public reaches this server at, e.g.
    /// `https://shiji.example`: the traceability QR codes on labels point
    /// there. Empty: `http://` and the address the server listens on.
    pub public_url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://path/to/file.db` or `postgres://user:password@host:port/db`.
    /// Empty means `<data_dir>/shiji.db`.
    pub url: String,
    pub max_connections: u32,
    /// How long a request waits for a connection before `DATABASE_UNAVAILABLE`.
    pub acquire_timeout_ms: u64,
    /// How long SQLite waits on a locked database before giving up.
    pub sqlite_busy_timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct GraphqlConfig {
    /// Deepest selection nesting a query may have.
    pub max_depth: usize,
    /// Most fields (weighted) one query may select.
    pub max_complexity: usize,
    /// Serve the GraphiQL IDE on `GET /graphql`.
    pub graphiql: bool,
    /// Allow schema introspection (GraphiQL needs it).
    pub introspection: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A tracing filter such as `info` or `shiji=debug,sqlx=warn`.
    pub filter: String,
    /// `text` for people, `json` for log collectors.
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            server: ServerConfig::default(),
            database: DatabaseConfig::default(),
            graphql: GraphqlConfig::default(),
            accounts: AccountsConfig::default(),
            security: SecurityConfig::default(),
            media: MediaConfig::default(),
            catalogue: CatalogueConfig::default(),
            orders: OrdersConfig::default(),
            events: EventsConfig::default(),
            labels: LabelsConfig::default(),
            cold_chain: ColdChainConfig::default(),
            log: LogConfig::default(),
        }
    }
}

impl Default for AccountsConfig {
    fn default() -> Self {
        Self {
            lockout_threshold: 5,
            lockout_secs: 300,
            session_idle_secs: 900,
            password_max_age_days: 90,
            min_password_score: 3,
            captcha_ttl_secs: 300,
            password_reset_ttl_secs: 1800,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            body_limit_bytes: 1024 * 1024,
            upload_limit_bytes: 16 * 1024 * 1024,
            request_timeout_secs: 30,
            shutdown_grace_secs: 30,
            cors_allowed_origins: Vec::new(),
            public_url: String::new(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            max_connections: 16,
            acquire_timeout_ms: 3_000,
            sqlite_busy_timeout_ms: 5_000,
        }
    }
}

impl Default for GraphqlConfig {
    fn default() -> Self {
        Self {
            max_depth: 15,
            max_complexity: 1_000,
            graphiql: true,
            introspection: true,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            filter: "info".into(),
            format: LogFormat::Text,
        }
    }
}

impl Config {
    /// Loads defaults, then `file` if given, then the `SHIJI_*` variables in `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table = match file {
            Some(path) => read_table(path)?,
            None => toml::Table::new(),
        };
        let source_hint = file
            .map(|p| format!(" (in {})", p.display()))
            .unwrap_or_default();
        // Check the file on its own first so its errors name the file, not a variable.
        from_table(&table, &source_hint)?;

        let mut env: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("SHIJI_"))
            .collect();
        env.sort();
        let defaults = defaults_table();
        for (var, raw) in env {
            if NON_SETTING_VARS.contains(&var.as_str())
                || NON_SETTING_PREFIXES.iter().any(|p| var.starts_with(p))
            {
                continue;
            }
            let path =
                setting_for_var(&var, &defaults).ok_or_else(|| ConfigError::UnknownVariable {
                    var: var.clone(),
                    known: known_vars(&defaults).join(", "),
                })?;
            let value = parse_env_value(&var, &raw, lookup(&defaults, &path))?;
            insert(&mut table, &path, value);
        }
        let config = from_table(&table, " (after SHIJI_* environment variables)")?;
        // Checked on the final result: a file may leave a setting to the environment.
        config.media.validate("")?;
        config.cold_chain.validate()?;
        Ok(config)
    }

    /// The database URL in effect: the configured one, or the default SQLite file.
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("shiji.db").display())
        } else {
            self.database.url.clone()
        }
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server
            .listen
            .parse()
            .map_err(|e: std::net::AddrParseError| ConfigError::Invalid {
                key: "server.listen".into(),
                source_hint: String::new(),
                message: format!("`{}` is not an address:port ({e})", self.server.listen),
            })
    }

    /// The effective configuration as TOML, with secrets replaced by `****`.
    pub fn to_redacted_toml(&self) -> String {
        let mut shown = self.clone();
        shown.database.url = redact_url(&self.database_url());
        if !shown.security.id_number_key.is_empty() {
            shown.security.id_number_key = "****".into();
        }
        shown.media.s3_secret_access_key = self.media.s3_secret_access_key.redacted();
        toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

/// Hides the password part of a connection URL.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:****@{host}"),
        None => url.to_string(),
    }
}

fn read_table(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    text.parse::<toml::Table>()
        .map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: e.message().to_string(),
        })
}

fn from_table(table: &toml::Table, source_hint: &str) -> Result<Config, ConfigError> {
    let value = toml::Value::Table(table.clone());
    let config: Config = serde_path_to_error::deserialize(value).map_err(|e| {
        let key = e.path().to_string();
        ConfigError::Invalid {
            key: if key == "." {
                "(top level)".into()
            } else {
                key
            },
            source_hint: source_hint.to_string(),
            message: e.into_inner().to_string(),
        }
    })?;
    config.listen_addr()?;
    Ok(config)
}

fn defaults_table() -> toml::Table {
    match toml::Value::try_from(Config::default()) {
        Ok(toml::Value::Table(t)) => t,
        _ => toml::Table::new(),
    }
}

/// Every setting path (`["server", "listen"]`) in the defaults.
fn setting_paths(table: &toml::Table, prefix: &[String], out: &mut Vec<Vec<String>>) {
    for (key, value) in table {
        let mut path = prefix.to_vec();
        path.push(key.clone());
        match value {
            toml::Value::Table(inner) => setting_paths(inner, &path, out),
            _ => out.push(path),
        }
    }
}

fn var_name(path: &[String]) -> String {
    format!("SHIJI_{}", path.join("_").to_uppercase())
}

fn known_vars(defaults: &toml::Table) -> Vec<String> {
    let mut paths = Vec::new();
    setting_paths(defaults, &[], &mut paths);
    paths.iter().map(|p| var_name(p)).collect()
}

/// `SHIJI_SERVER_BODY_LIMIT_BYTES` → `["server", "body_limit_bytes"]`.
/// Matching against the known settings lets names keep their underscores.
fn setting_for_var(var: &str, defaults: &toml::Table) -> Option<Vec<String>> {
    let mut paths = Vec::new();
    setting_paths(defaults, &[], &mut paths);
    paths.into_iter().find(|p| var_name(p) == var)
}

fn lookup<'a>(table: &'a toml::Table, path: &[String]) -> Option<&'a toml::Value> {
    let (last, parents) = path.split_last()?;
    let mut current = table;
    for key in parents {
        current = current.get(key)?.as_table()?;
    }
    current.get(last)
}

fn insert(table: &mut toml::Table, path: &[String], value: toml::Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = table;
    for key in parents {
        let entry = current
            .entry(key.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        let toml::Value::Table(inner) = entry else {
            return;
        };
        current = inner;
    }
    current.insert(last.clone(), value);
}

/// Environment values are text; the default's type says how to read them.
fn parse_env_value(
    var: &str,
    raw: &str,
    default: Option<&toml::Value>,
) -> Result<toml::Value, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        key: var.to_string(),
        source_hint: String::new(),
        message,
    };
    Ok(match default {
        Some(toml::Value::Integer(_)) => toml::Value::Integer(
            raw.trim()
                .parse()
                .map_err(|_| invalid(format!("expected a whole number, got `{raw}`")))?,
        ),
        Some(toml::Value::Float(_)) => toml::Value::Float(
            raw.trim()
                .parse()
                .map_err(|_| invalid(format!("expected a number, got `{raw}`")))?,
        ),
        Some(toml::Value::Boolean(_)) => match raw.trim() {
            "true" | "1" | "yes" | "on" => toml::Value::Boolean(true),
            "false" | "0" | "no" | "off" => toml::Value::Boolean(false),
            _ => return Err(invalid(format!("expected true or false, got `{raw}`"))),
        },
        Some(toml::Value::Array(_)) => toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_string()))
                .collect(),
        ),
        _ => toml::Value::String(raw.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn nothing_configured_means_sqlite_under_data_on_8080() {
        let config = Config::load(None, env(&[])).unwrap();
        assert_eq!(config.server.listen, "127.0.0.1:8080");
        assert_eq!(config.database_url(), "sqlite://data/shiji.db");
    }

    #[test]
    fn environment_overrides_file_and_keeps_underscored_names() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("shiji.toml");
        std::fs::write(
            &file,
            "[server]\nlisten = \"0.0.0.0:9000\"\nbody_limit_bytes = 10\n",
        )
        .unwrap();
        let config = Config::load(
            Some(&file),
            env(&[
                ("SHIJI_SERVER_BODY_LIMIT_BYTES", "2048"),
                (
                    "SHIJI_SERVER_CORS_ALLOWED_ORIGINS",
                    "https://a.example, https://b.example",
                ),
                ("SHIJI_DATABASE_URL", "postgres://u:p@db/shiji"),
                ("SHIJI_TEST_POSTGRES_URL", "ignored"),
                ("PATH", "/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(config.server.listen, "0.0.0.0:9000");
        assert_eq!(config.server.body_limit_bytes, 2048);
        assert_eq!(
            config.server.cors_allowed_origins,
            vec!["https://a.example", "https://b.example"]
        );
        assert_eq!(config.database_url(), "postgres://u:p@db/shiji");
    }

    #[test]
    fn errors_name_the_key_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("shiji.toml");
        std::fs::write(&file, "[server]\nbody_limit_bytes = \"big\"\n").unwrap();
        let err = Config::load(Some(&file), env(&[])).unwrap_err().to_string();
        assert!(err.contains("server.body_limit_bytes"), "{err}");
        assert!(err.contains("shiji.toml"), "{err}");

        std::fs::write(&file, "[server]\nlisten_on = \"x\"\n").unwrap();
        let err = Config::load(Some(&file), env(&[])).unwrap_err().to_string();
        assert!(err.contains("listen_on"), "{err}");

        let err = Config::load(None, env(&[("SHIJI_GRAPHQL_MAX_DEPTH", "deep")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("SHIJI_GRAPHQL_MAX_DEPTH"), "{err}");
        assert!(err.contains("whole number"), "{err}");

        let err = Config::load(None, env(&[("SHIJI_DATABSE_URL", "x")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("SHIJI_DATABSE_URL"), "{err}");
        assert!(err.contains("SHIJI_DATABASE_URL"), "{err}");

        let err = Config::load(None, env(&[("SHIJI_SERVER_LISTEN", "localhost")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("server.listen"), "{err}");
    }

    #[test]
    fn an_s3_media_store_needs_a_bucket_and_both_halves_of_a_key() {
        let err = Config::load(None, env(&[("SHIJI_MEDIA_STORE", "s3")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("media.s3_bucket"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("shiji.toml");
        std::fs::write(
            &file,
            "[media]\nstore = \"s3\"\ns3_access_key_id = \"AKID\"\n",
        )
        .unwrap();
        // The bucket may come from the environment; the missing secret is still named.
        let err = Config::load(Some(&file), env(&[("SHIJI_MEDIA_S3_BUCKET", "media")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("media.s3_secret_access_key"), "{err}");

        let err = Config::load(
            None,
            env(&[
                ("SHIJI_MEDIA_STORE", "s3"),
                ("SHIJI_MEDIA_S3_BUCKET", "media"),
                ("SHIJI_MEDIA_S3_ENDPOINT", "127.0.0.1:9000"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("media.s3_endpoint"), "{err}");

        let err = Config::load(None, env(&[("SHIJI_MEDIA_STORE", "ftp")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("SHIJI_MEDIA_STORE") || err.contains("media.store"),
            "{err}"
        );

        // The local store (the default) ignores the S3 settings.
        let config = Config::load(None, env(&[])).unwrap();
        assert_eq!(config.media.store, MediaStoreKind::Local);
        assert_eq!(config.media.s3_region, "us-east-1");
    }

    #[test]
    fn the_s3_secret_is_never_printed_or_debug_formatted() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("shiji.toml");
        std::fs::write(
            &file,
            "[media]\nstore = \"s3\"\ns3_bucket = \"media\"\ns3_access_key_id = \"AKID\"\ns3_secret_access_key = \"from-the-file\"\n",
        )
        .unwrap();
        let config = Config::load(Some(&file), env(&[])).unwrap();
        assert_eq!(config.media.s3_secret_access_key.expose(), "from-the-file");

        // The environment wins over the file, as for every setting.
        let config = Config::load(
            Some(&file),
            env(&[("SHIJI_MEDIA_S3_SECRET_ACCESS_KEY", "wJalrXUtnFEMI")]),
        )
        .unwrap();
        assert_eq!(config.media.s3_secret_access_key.expose(), "wJalrXUtnFEMI");
        let printed = config.to_redacted_toml();
        assert!(!printed.contains("wJalrXUtnFEMI"), "{printed}");
        assert!(
            printed.contains("s3_secret_access_key = \"****\""),
            "{printed}"
        );
        assert!(printed.contains("s3_access_key_id = \"AKID\""), "{printed}");
        let debugged = format!("{config:?}");
        assert!(!debugged.contains("wJalrXUtnFEMI"), "{debugged}");
        assert!(
            debugged.contains("s3_secret_access_key: \"****\""),
            "{debugged}"
        );

        // An unset secret shows as unset, not as `****`.
        let unset = Config::load(None, env(&[])).unwrap();
        assert!(
            unset
                .to_redacted_toml()
                .contains("s3_secret_access_key = \"\"")
        );
    }

    #[test]
    fn printing_hides_the_database_password() {
        let config = Config::load(
            None,
            env(&[(
                "SHIJI_DATABASE_URL",
                "postgres://shiji:s3cret@db:5432/shiji",
            )]),
        )
        .unwrap();
        let printed = config.to_redacted_toml();
        assert!(!printed.contains("s3cret"), "{printed}");
        assert!(
            printed.contains("postgres://shiji:****@db:5432/shiji"),
            "{printed}"
        );
    }
}
