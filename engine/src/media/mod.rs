//! Uploaded media (CAT-6): product images, qualification documents, signed
//! agreements. Files arrive as GraphQL multipart uploads, are checked by what
//! their bytes are (never by the name or the type the client claims), and are
//! kept in the media store (a directory under the data directory, or an
//! S3-compatible bucket), named by id.

mod sniff;
mod storage;

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::audit::AuditEvent;
use crate::caller::Caller;
use crate::config::{Config, MediaConfig};
use crate::i18n::Text;
use crate::service_error::ServiceError;
use crate::store::media::{self as rows, MediaRow};
use crate::store::{Store, now_ms};

pub use sniff::{MediaType, sniff};
pub use storage::{MediaStore, MediaStoreError, key_for};

/// What a file is for, which decides what it may be and who may fetch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    /// A picture shown to the public (products, shops).
    Image,
    /// A document shown to the public (licences on the shop page).
    Document,
    /// A document only its uploader and platform staff may fetch (signed agreements).
    PrivateDocument,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Document => "document",
            MediaKind::PrivateDocument => "private_document",
        }
    }

    pub fn parse(value: &str) -> Option<MediaKind> {
        match value {
            "image" | "IMAGE" => Some(MediaKind::Image),
            "document" | "DOCUMENT" => Some(MediaKind::Document),
            "private_document" | "PRIVATE_DOCUMENT" => Some(MediaKind::PrivateDocument),
            _ => None,
        }
    }

    fn accepts(self, media_type: MediaType) -> bool {
        match self {
            MediaKind::Image => media_type.is_image(),
            MediaKind::Document | MediaKind::PrivateDocument => true,
        }
    }
}

#[derive(Clone)]
pub struct Media {
    store: Store,
    files: MediaStore,
    limits: MediaConfig,
}

impl Media {
    pub fn new(store: Store, config: &Config) -> Result<Media, MediaStoreError> {
        Ok(Media {
            store,
            files: MediaStore::from_config(config)?,
            limits: config.media.clone(),
        })
    }

    /// The largest file of `kind` accepted, in bytes.
    pub fn limit(&self, kind: MediaKind) -> usize {
        match kind {
            MediaKind::Image => self.limits.image_max_bytes,
            _ => self.limits.document_max_bytes,
        }
    }

    /// Checks and keeps an upload; returns its row.
    pub async fn upload(
        &self,
        caller: &Caller,
        kind: MediaKind,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> Result<MediaRow, ServiceError> {
        let locale = caller.locale;
        let Some(account) = caller.actor.account_id() else {
            return Err(ServiceError::Unauthenticated(caller.credential_problem));
        };
        if bytes.len() > self.limit(kind) {
            return Err(ServiceError::reject(
                "FILE_TOO_LARGE",
                &["file"],
                Text::new("The file is too large.", "文件过大。"),
                locale,
            ));
        }
        let media_type = match sniff(&bytes) {
            Some(t) if kind.accepts(t) => t,
            _ => {
                return Err(ServiceError::reject(
                    "FILE_TYPE_NOT_ALLOWED",
                    &["file"],
                    match kind {
                        MediaKind::Image => Text::new(
                            "Images must be PNG, JPEG or WebP.",
                            "图片须为 PNG、JPEG 或 WebP 格式。",
                        ),
                        _ => Text::new(
                            "Documents must be PDF, PNG, JPEG or WebP.",
                            "文件须为 PDF、PNG、JPEG 或 WebP 格式。",
                        ),
                    },
                    locale,
                ));
            }
        };
        let (width, height) = match media_type.is_image() {
            true => match imagesize::blob_size(&bytes) {
                Ok(size) => (Some(size.width as i64), Some(size.height as i64)),
                // A header that claims to be an image but cannot be read is not one.
                Err(_) => {
                    return Err(ServiceError::reject(
                        "FILE_TYPE_NOT_ALLOWED",
                        &["file"],
                        Text::new("The image cannot be read.", "无法读取该图片。"),
                        locale,
                    ));
                }
            },
            false => (None, None),
        };
        let id = uuid::Uuid::now_v7().to_string();
        let row = MediaRow {
            id: id.clone(),
            kind: kind.as_str().to_string(),
            content_type: media_type.content_type().to_string(),
            size_bytes: bytes.len() as i64,
            width,
            height,
            sha256: Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            storage_key: key_for(&id),
            file_name: clean_name(file_name),
            uploaded_by: account.to_string(),
            created_at: now_ms(),
        };
        // The file first, then the row: no file, no row.
        self.files.write(&row.storage_key, &bytes).await?;
        if let Err(e) = rows::insert(&self.store, &row).await {
            // No row, no file: nothing half-kept.
            self.files.remove(&row.storage_key).await;
            return Err(e.into());
        }
        AuditEvent::new(caller, "media.upload", "media", Some(&id))
            .after(&json!({
                "kind": row.kind,
                "contentType": row.content_type,
                "sizeBytes": row.size_bytes,
                "sha256": row.sha256,
            }))
            .append_alone(&self.store)
            .await;
        Ok(row)
    }

    pub async fn find(&self, id: &str) -> Result<Option<MediaRow>, ServiceError> {
        Ok(rows::find(&self.store, id).await?)
    }

    /// The bytes of a stored file.
    pub async fn read(&self, row: &MediaRow) -> Result<Vec<u8>, MediaStoreError> {
        self.files.read(&row.storage_key).await
    }
}

/// The public URL of a file.
pub fn url(id: &str) -> String {
    format!("/media/{id}")
}

/// A file name fit to show and to put in a header: no path, no control
/// characters, at most 120 characters.
fn clean_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .take(120)
        .collect();
    if cleaned.trim().is_empty() {
        "file".into()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::clean_name;

    #[test]
    fn file_names_lose_paths_and_control_characters() {
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name("C:\\docs\\营业执照.pdf"), "营业执照.pdf");
        assert_eq!(clean_name("a\u{0}b\"c\n.png"), "abc.png");
        assert_eq!(clean_name(""), "file");
    }
}
