//! The media directory: one file per upload, written atomically, named by id.

use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct MediaFiles {
    dir: PathBuf,
}

/// The path of an upload under the media directory: fanned out by the id's
/// last characters (uuid v7 ids share their time-ordered prefix).
pub fn key_for(id: &str) -> String {
    let tail = &id[id.len().saturating_sub(2)..];
    format!("{tail}/{id}")
}

impl MediaFiles {
    pub fn new(dir: PathBuf) -> MediaFiles {
        MediaFiles { dir }
    }

    fn path(&self, key: &str) -> Option<PathBuf> {
        // Keys are made by `key_for`; refuse anything that could leave the directory.
        if key.contains("..") || key.starts_with('/') || key.contains('\\') {
            return None;
        }
        Some(self.dir.join(key))
    }

    pub async fn write(&self, key: &str, bytes: &[u8]) -> std::io::Result<()> {
        let path = self
            .path(key)
            .ok_or_else(|| std::io::Error::other("bad media key"))?;
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let temporary = path.with_extension("part");
        tokio::fs::write(&temporary, bytes).await?;
        tokio::fs::rename(&temporary, &path).await
    }

    pub async fn read(&self, key: &str) -> std::io::Result<Vec<u8>> {
        let path = self
            .path(key)
            .ok_or_else(|| std::io::Error::other("bad media key"))?;
        tokio::fs::read(path).await
    }

    pub async fn remove(&self, key: &str) {
        if let Some(path) = self.path(key) {
            let _ = tokio::fs::remove_file(path).await;
        }
    }
}
