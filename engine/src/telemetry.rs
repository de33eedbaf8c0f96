//! Structured logs with tracing: text for people, JSON for collectors.
//!
//! Secrets and ID numbers are never passed to a log macro; request logs carry
//! method, path and request id only, never bodies or query strings.

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber. `SHIJI_LOG` (a filter) wins over the config.
pub fn init(config: &LogConfig) {
    let filter = std::env::var("SHIJI_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .or_else(|| EnvFilter::try_new(&config.filter).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match config.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
    if let Err(e) = result {
        eprintln!("logging was already set up: {e}");
    }
}
