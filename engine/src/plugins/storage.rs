//! The `storage` import: key-value pairs of one plugin in one market, kept in
//! the engine's database so every node sees the same values.
//!
//! Quotas keep one plugin from filling the database: keys up to 256 bytes,
//! values up to 64 KiB, and per (plugin, market) at most 1 MiB and 1,000 keys.

use std::collections::BTreeMap;

use tokio::runtime::Handle;

use super::runtime::{KeyValue, StorageFault};
use crate::store::{self, Store, plugins as rows};

pub const MAX_KEY_BYTES: usize = 256;
pub const MAX_VALUE_BYTES: usize = 64 << 10;
pub const MAX_TOTAL_BYTES: i64 = 1 << 20;
pub const MAX_KEYS: i64 = 1_000;
/// Most keys one `list-keys` answers.
const LIST_LIMIT: i64 = 1_000;

/// Whether a write of `key` = `value` fits beside what else the pair holds.
fn fits(key: &str, value: &[u8], other_bytes: i64, other_keys: i64) -> Result<(), StorageFault> {
    let size = (key.len() + value.len()) as i64;
    if key.is_empty()
        || key.len() > MAX_KEY_BYTES
        || value.len() > MAX_VALUE_BYTES
        || other_keys + 1 > MAX_KEYS
        || other_bytes + size > MAX_TOTAL_BYTES
    {
        return Err(StorageFault::QuotaExceeded);
    }
    Ok(())
}

/// Storage in the database. Each call blocks its thread on the query, so it
/// must run on a blocking thread (`spawn_blocking`), never on a runtime worker.
pub struct DatabaseKeyValue {
    pub store: Store,
    pub handle: Handle,
    pub plugin: String,
    pub market: String,
}

impl DatabaseKeyValue {
    fn run<T>(
        &self,
        what: &str,
        query: impl Future<Output = Result<T, store::StoreError>>,
    ) -> Result<T, StorageFault> {
        self.handle.block_on(query).map_err(|e| {
            tracing::warn!(plugin = %self.plugin, market = %self.market, error = %e, "plugin storage {what} failed");
            StorageFault::Unavailable
        })
    }
}

impl KeyValue for DatabaseKeyValue {
    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, StorageFault> {
        self.run(
            "get",
            rows::storage_get(&self.store, &self.plugin, &self.market, key),
        )
    }

    fn set(&mut self, key: &str, value: &[u8]) -> Result<(), StorageFault> {
        if key.len() > MAX_KEY_BYTES || value.len() > MAX_VALUE_BYTES {
            return Err(StorageFault::QuotaExceeded);
        }
        let (store, plugin, market) = (&self.store, &self.plugin, &self.market);
        // The usage check and the write share a transaction, so two nodes
        // writing at once cannot both squeeze under the quota (on SQLite the
        // write lock serialises them; on PostgreSQL the key's row lock does for
        // one key, and the quota is a bound, not an accounting system).
        self.run("set", async move {
            let mut tx = store.begin().await?;
            let (bytes, keys) = rows::storage_usage(&mut tx, plugin, market, key).await?;
            if let Err(fault) = fits(key, value, bytes, keys) {
                return Ok(Err(fault));
            }
            rows::storage_set(&mut tx, plugin, market, key, value, store::now_ms()).await?;
            tx.commit().await?;
            Ok(Ok(()))
        })?
    }

    fn delete(&mut self, key: &str) -> Result<(), StorageFault> {
        self.run(
            "delete",
            rows::storage_delete(&self.store, &self.plugin, &self.market, key),
        )
    }

    fn list_keys(&mut self, prefix: &str) -> Result<Vec<String>, StorageFault> {
        self.run(
            "list",
            rows::storage_keys(&self.store, &self.plugin, &self.market, prefix, LIST_LIMIT),
        )
    }
}

/// Storage in memory with the same quotas: the test harness's.
#[derive(Debug, Clone, Default)]
pub struct MemoryKeyValue {
    pub entries: BTreeMap<String, Vec<u8>>,
}

impl KeyValue for MemoryKeyValue {
    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, StorageFault> {
        Ok(self.entries.get(key).cloned())
    }

    fn set(&mut self, key: &str, value: &[u8]) -> Result<(), StorageFault> {
        let others = self.entries.iter().filter(|(k, _)| k.as_str() != key);
        let (bytes, keys) = others.fold((0i64, 0i64), |(b, n), (k, v)| {
            (b + (k.len() + v.len()) as i64, n + 1)
        });
        fits(key, value, bytes, keys)?;
        self.entries.insert(key.to_string(), value.to_vec());
        Ok(())
    }

    fn delete(&mut self, key: &str) -> Result<(), StorageFault> {
        self.entries.remove(key);
        Ok(())
    }

    fn list_keys(&mut self, prefix: &str) -> Result<Vec<String>, StorageFault> {
        Ok(self
            .entries
            .keys()
            .filter(|k| k.starts_with(prefix))
            .take(LIST_LIMIT as usize)
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_hold() {
        let mut kv = MemoryKeyValue::default();
        assert_eq!(kv.set("", b"x"), Err(StorageFault::QuotaExceeded));
        assert_eq!(
            kv.set(&"k".repeat(MAX_KEY_BYTES + 1), b"x"),
            Err(StorageFault::QuotaExceeded)
        );
        assert_eq!(
            kv.set("big", &vec![0; MAX_VALUE_BYTES + 1]),
            Err(StorageFault::QuotaExceeded)
        );
        // Fifteen values of 64 KiB fit beside their keys; a sixteenth would pass the megabyte.
        for i in 0..15 {
            kv.set(&format!("v{i:02}"), &vec![1; MAX_VALUE_BYTES])
                .unwrap();
        }
        assert_eq!(
            kv.set("v15", &vec![1; MAX_VALUE_BYTES]),
            Err(StorageFault::QuotaExceeded)
        );
        // Overwriting a key counts its new size only.
        kv.set("v00", &vec![2; MAX_VALUE_BYTES]).unwrap();
        assert_eq!(kv.list_keys("v0").unwrap().len(), 10);
        kv.delete("v00").unwrap();
        assert_eq!(kv.get("v00").unwrap(), None);
    }
}
