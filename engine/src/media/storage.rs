//! Where the bytes of uploads live: a directory (the default, one node) or a
//! bucket of an S3-compatible object store (several nodes share it). Either
//! way a file is written whole or not at all, and named by a key from `key_for`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, PutPayload, RetryConfig};

use crate::config::{Config, MediaConfig, MediaStoreKind};

/// Why a file could not be kept or fetched. Messages name the key or the
/// store, never credentials.
#[derive(Debug, thiserror::Error)]
pub enum MediaStoreError {
    /// Keys are made by `key_for`; anything else could leave the directory.
    #[error("media key `{0}` is not valid")]
    BadKey(String),
    /// The store answered, but has nothing under the key.
    #[error("no media file under `{0}`")]
    Missing(String),
    /// The directory could not be read or written.
    #[error("media directory: {0}")]
    Io(std::io::Error),
    /// The object store could not be reached or refused the request.
    #[error("media object store: {0}")]
    Object(object_store::Error),
    /// The S3 settings do not make a client.
    #[error("cannot set up the S3 media store: {0}")]
    Setup(object_store::Error),
}

#[derive(Debug, Clone)]
pub enum MediaStore {
    /// A directory on this node's disk.
    Local { dir: PathBuf },
    /// A bucket, with every key under `prefix`.
    Object {
        store: Arc<dyn ObjectStore>,
        prefix: Vec<String>,
    },
}

/// The key of an upload: fanned out by the id's last characters (uuid v7 ids
/// share their time-ordered prefix).
pub fn key_for(id: &str) -> String {
    let tail = &id[id.len().saturating_sub(2)..];
    format!("{tail}/{id}")
}

fn valid_key(key: &str) -> Result<&str, MediaStoreError> {
    if key.is_empty() || key.contains("..") || key.starts_with('/') || key.contains('\\') {
        return Err(MediaStoreError::BadKey(key.to_string()));
    }
    Ok(key)
}

impl MediaStore {
    /// The store `config` asks for. Building an S3 client does not contact it.
    pub fn from_config(config: &Config) -> Result<MediaStore, MediaStoreError> {
        let media = &config.media;
        match media.store {
            MediaStoreKind::Local => Ok(MediaStore::Local {
                dir: if media.dir.is_empty() {
                    config.data_dir.join("media")
                } else {
                    PathBuf::from(&media.dir)
                },
            }),
            MediaStoreKind::S3 => Ok(MediaStore::Object {
                store: Arc::new(s3_client(media).map_err(MediaStoreError::Setup)?),
                prefix: media
                    .s3_prefix
                    .split('/')
                    .filter(|p| !p.is_empty())
                    .map(str::to_string)
                    .collect(),
            }),
        }
    }

    /// Keeps `bytes` under `key`, whole: a reader never sees half a file.
    pub async fn write(&self, key: &str, bytes: &[u8]) -> Result<(), MediaStoreError> {
        let key = valid_key(key)?;
        match self {
            MediaStore::Local { dir } => {
                let path = dir.join(key);
                if let Some(parent) = path.parent() {
                    tokio::fs::create_dir_all(parent)
                        .await
                        .map_err(MediaStoreError::Io)?;
                }
                // Written aside, then renamed: a rename is atomic on one file system.
                let temporary = path.with_extension("part");
                tokio::fs::write(&temporary, bytes)
                    .await
                    .map_err(MediaStoreError::Io)?;
                tokio::fs::rename(&temporary, &path)
                    .await
                    .map_err(MediaStoreError::Io)
            }
            // A single PUT: S3 makes an object visible only once it is complete.
            MediaStore::Object { store, prefix } => store
                .put(&object_path(prefix, key), PutPayload::from(bytes.to_vec()))
                .await
                .map(|_| ())
                .map_err(MediaStoreError::Object),
        }
    }

    pub async fn read(&self, key: &str) -> Result<Vec<u8>, MediaStoreError> {
        let key = valid_key(key)?;
        match self {
            MediaStore::Local { dir } => match tokio::fs::read(dir.join(key)).await {
                Ok(bytes) => Ok(bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    Err(MediaStoreError::Missing(key.to_string()))
                }
                Err(e) => Err(MediaStoreError::Io(e)),
            },
            MediaStore::Object { store, prefix } => {
                let fetched = match store.get(&object_path(prefix, key)).await {
                    Ok(fetched) => fetched.bytes().await,
                    Err(e) => Err(e),
                };
                match fetched {
                    Ok(bytes) => Ok(bytes.to_vec()),
                    Err(object_store::Error::NotFound { .. }) => {
                        Err(MediaStoreError::Missing(key.to_string()))
                    }
                    Err(e) => Err(MediaStoreError::Object(e)),
                }
            }
        }
    }

    /// Removes a file, if it is there; failures are logged, as an orphan file
    /// is harmless (nothing refers to it) and the caller is already failing.
    pub async fn remove(&self, key: &str) {
        let Ok(key) = valid_key(key) else {
            return;
        };
        let outcome = match self {
            MediaStore::Local { dir } => match tokio::fs::remove_file(dir.join(key)).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(MediaStoreError::Io(e)),
                _ => Ok(()),
            },
            MediaStore::Object { store, prefix } => store
                .delete(&object_path(prefix, key))
                .await
                .map_err(MediaStoreError::Object),
        };
        if let Err(e) = outcome {
            tracing::warn!(error = %e, key, "an orphan media file was left behind");
        }
    }
}

fn object_path(prefix: &[String], key: &str) -> ObjectPath {
    ObjectPath::from_iter(
        prefix
            .iter()
            .map(String::as_str)
            .chain(key.split('/').filter(|p| !p.is_empty())),
    )
}

fn s3_client(media: &MediaConfig) -> object_store::Result<object_store::aws::AmazonS3> {
    let endpoint = media.s3_endpoint.trim();
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(media.s3_bucket.trim())
        .with_region(&media.s3_region)
        // Bounded well inside `server.request_timeout_secs`, so an unreachable
        // store gives the client a clear error, not a gateway timeout.
        .with_retry(RetryConfig {
            max_retries: 3,
            retry_timeout: Duration::from_secs(10),
            ..RetryConfig::default()
        })
        .with_client_options(
            ClientOptions::new()
                .with_connect_timeout(Duration::from_secs(5))
                .with_timeout(Duration::from_secs(20)),
        );
    if !endpoint.is_empty() {
        builder = builder
            .with_endpoint(endpoint)
            .with_allow_http(endpoint.starts_with("http://"));
    }
    if !media.s3_access_key_id.is_empty() {
        builder = builder
            .with_access_key_id(&media.s3_access_key_id)
            .with_secret_access_key(media.s3_secret_access_key.expose());
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_fan_out_and_stay_inside_the_store() {
        assert_eq!(key_for("0190-abcd-ef12"), "12/0190-abcd-ef12");
        assert!(valid_key("12/0190-abcd-ef12").is_ok());
        for bad in ["", "../etc/passwd", "/etc/passwd", "a\\b", "12/../../x"] {
            assert!(valid_key(bad).is_err(), "{bad}");
        }
        let path = object_path(&["shiji".into(), "media".into()], "12/0190-abcd-ef12");
        assert_eq!(path.as_ref(), "shiji/media/12/0190-abcd-ef12");
        assert_eq!(object_path(&[], "12/x").as_ref(), "12/x");
    }

    #[tokio::test]
    async fn the_local_store_writes_whole_files_and_reports_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = MediaStore::Local {
            dir: dir.path().to_path_buf(),
        };
        store.write("ab/one", b"bytes").await.unwrap();
        assert_eq!(store.read("ab/one").await.unwrap(), b"bytes");
        assert!(!dir.path().join("ab/one.part").exists());
        store.remove("ab/one").await;
        assert!(matches!(
            store.read("ab/one").await,
            Err(MediaStoreError::Missing(_))
        ));
        store.remove("ab/one").await;
    }
}
