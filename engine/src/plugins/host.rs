//! What a plugin may call back into: storage, commerce queries, logging.
//!
//! Each import checks the call's grant first. Hot-path hooks (prices,
//! delivery, validation) are granted nothing: everything they need is in
//! their input. Storage and commerce queries answer `not-granted` until the
//! registry records an administrator's grant for the plugin; logging is
//! always allowed but bounded, so a plugin cannot flood the engine's log.

use super::bindings::shiji::plugin::{commerce, log, storage, types};
use super::runtime::CallState;

/// Most log lines one call may write, and the longest line kept.
const LOG_LINES_PER_CALL: u32 = 50;
const LOG_LINE_BYTES: usize = 1024;

/// The shared types interface has no functions; its trait is empty.
impl types::Host for CallState {}

impl storage::Host for CallState {
    fn get(&mut self, _key: String) -> Result<Option<Vec<u8>>, storage::StorageError> {
        Err(self.refuse_storage())
    }

    fn set(&mut self, _key: String, _value: Vec<u8>) -> Result<(), storage::StorageError> {
        Err(self.refuse_storage())
    }

    fn delete(&mut self, _key: String) -> Result<(), storage::StorageError> {
        Err(self.refuse_storage())
    }

    fn list_keys(&mut self, _prefix: String) -> Result<Vec<String>, storage::StorageError> {
        Err(self.refuse_storage())
    }
}

impl commerce::Host for CallState {
    fn query(
        &mut self,
        scope: String,
        _request_json: String,
    ) -> Result<String, commerce::CommerceError> {
        self.refused_imports += 1;
        tracing::debug!(plugin = %self.plugin_id, %scope, "commerce query refused: not granted");
        Err(commerce::CommerceError::NotGranted)
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
        match level {
            log::Level::Debug => tracing::debug!(plugin, "{message}"),
            log::Level::Info => tracing::info!(plugin, "{message}"),
            log::Level::Warn => tracing::warn!(plugin, "{message}"),
            log::Level::Error => tracing::error!(plugin, "{message}"),
        }
    }
}

impl CallState {
    fn refuse_storage(&mut self) -> storage::StorageError {
        self.refused_imports += 1;
        tracing::debug!(plugin = %self.plugin_id, hot_path = self.hot_path, "storage refused: not granted");
        storage::StorageError::NotGranted
    }
}
