//! What a plugin may call back into: storage, commerce queries, logging.
//!
//! Each import checks the call's grants first. Hot-path hooks (prices,
//! delivery, validation) are granted nothing: everything they need is in
//! their input. Storage and commerce queries answer `not-granted` unless the
//! call carries the grant an administrator gave at install; logging is always
//! allowed but bounded, so a plugin cannot flood the engine's log.

use super::bindings::shiji::plugin::{commerce, log, storage, types};
use super::runtime::{CallState, CommerceFault, StorageFault};

/// Most log lines one call may write, and the longest line kept.
const LOG_LINES_PER_CALL: u32 = 50;
const LOG_LINE_BYTES: usize = 1024;

/// The shared types interface has no functions; its trait is empty.
impl types::Host for CallState {}

fn storage_error(fault: StorageFault) -> storage::StorageError {
    match fault {
        StorageFault::QuotaExceeded => storage::StorageError::QuotaExceeded,
        StorageFault::Unavailable => storage::StorageError::Unavailable,
    }
}

impl storage::Host for CallState {
    fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, storage::StorageError> {
        match self.grants.storage.as_mut() {
            Some(kv) => kv.get(&key).map_err(storage_error),
            None => Err(self.refuse("storage")),
        }
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), storage::StorageError> {
        match self.grants.storage.as_mut() {
            Some(kv) => kv.set(&key, &value).map_err(storage_error),
            None => Err(self.refuse("storage")),
        }
    }

    fn delete(&mut self, key: String) -> Result<(), storage::StorageError> {
        match self.grants.storage.as_mut() {
            Some(kv) => kv.delete(&key).map_err(storage_error),
            None => Err(self.refuse("storage")),
        }
    }

    fn list_keys(&mut self, prefix: String) -> Result<Vec<String>, storage::StorageError> {
        match self.grants.storage.as_mut() {
            Some(kv) => kv.list_keys(&prefix).map_err(storage_error),
            None => Err(self.refuse("storage")),
        }
    }
}

impl commerce::Host for CallState {
    fn query(
        &mut self,
        scope: String,
        request_json: String,
    ) -> Result<String, commerce::CommerceError> {
        match self.grants.commerce.as_mut() {
            Some(reader) if reader.granted(&scope) => {
                reader
                    .query(&scope, &request_json)
                    .map_err(|fault| match fault {
                        CommerceFault::InvalidRequest(why) => {
                            commerce::CommerceError::InvalidRequest(why)
                        }
                        CommerceFault::Unavailable => commerce::CommerceError::Unavailable,
                    })
            }
            _ => {
                self.refused_imports += 1;
                tracing::debug!(plugin = %self.plugin_id, %scope, "commerce query refused: not granted");
                Err(commerce::CommerceError::NotGranted)
            }
        }
    }
}

impl log::Host for CallState {
    fn write(&mut self, level: log::Level, message: String) {
        if self.log_lines >= LOG_LINES_PER_CALL {
            return;
        }
        self.log_lines += 1;
        let mut message = message;
        if message.len() > LOG_LINE_BYTES {
            let mut end = LOG_LINE_BYTES;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
        }
        let plugin = self.plugin_id.as_str();
        let market = self.grants.market.as_str();
        match level {
            log::Level::Debug => tracing::debug!(plugin, market, "{message}"),
            log::Level::Info => tracing::info!(plugin, market, "{message}"),
            log::Level::Warn => tracing::warn!(plugin, market, "{message}"),
            log::Level::Error => tracing::error!(plugin, market, "{message}"),
        }
    }
}

impl CallState {
    fn refuse(&mut self, import: &str) -> storage::StorageError {
        self.refused_imports += 1;
        tracing::debug!(plugin = %self.plugin_id, import, "host import refused: not granted");
        storage::StorageError::NotGranted
    }
}
