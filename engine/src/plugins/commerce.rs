//! The `commerce.query` import: read-only commerce data inside the scopes an
//! administrator granted. Scopes grow with the domains; today a plugin can
//! read published market information (`markets:read`).

use serde_json::{Value, json};
use tokio::runtime::Handle;

use super::registry::Installed;
use super::runtime::{CommerceFault, CommerceReader};
use crate::store::{Store, markets};

/// The reader for an off-path call, or `None` when no scope was granted.
pub(super) fn reader(
    store: &Store,
    plugin: &Installed,
    market: &str,
) -> Option<Box<dyn CommerceReader>> {
    let scopes: Vec<String> = plugin
        .granted
        .iter()
        .filter(|g| g.contains(':'))
        .cloned()
        .collect();
    if scopes.is_empty() {
        return None;
    }
    Some(Box::new(StoreReader {
        store: store.clone(),
        handle: Handle::current(),
        scopes,
        market: market.to_string(),
    }))
}

struct StoreReader {
    store: Store,
    handle: Handle,
    scopes: Vec<String>,
    market: String,
}

impl CommerceReader for StoreReader {
    fn granted(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    fn query(&mut self, scope: &str, request_json: &str) -> Result<String, CommerceFault> {
        let request: Value = if request_json.trim().is_empty() {
            json!({})
        } else {
            serde_json::from_str(request_json)
                .map_err(|e| CommerceFault::InvalidRequest(format!("not JSON: {e}")))?
        };
        match scope {
            "markets:read" => {
                // `{"code": "..."}`, or the call's own market.
                let code = request
                    .get("code")
                    .and_then(Value::as_str)
                    .unwrap_or(&self.market)
                    .to_string();
                let row = self
                    .handle
                    .block_on(markets::find(&self.store, &code))
                    .map_err(|_| CommerceFault::Unavailable)?;
                Ok(match row {
                    None => Value::Null,
                    Some(m) => json!({
                        "code": m.code,
                        "name": m.name,
                        "currency": m.currency,
                        "timeZone": m.time_zone,
                        "locale": m.locale,
                        "serviceRadiusMeters": m.service_radius_m,
                    }),
                }
                .to_string())
            }
            other => Err(CommerceFault::InvalidRequest(format!(
                "scope `{other}` has no queries"
            ))),
        }
    }
}
