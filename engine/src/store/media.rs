//! Rows of uploaded media. The bytes are in the media store, not here.

use super::{Store, StoreError};
use crate::on_pool;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MediaRow {
    pub id: String,
    /// `image`, `document` (public, e.g. a licence on the shop page) or
    /// `private_document` (e.g. a signed agreement: never served publicly).
    pub kind: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub sha256: String,
    pub storage_key: String,
    pub file_name: String,
    pub uploaded_by: String,
    pub created_at: i64,
}

const COLUMNS: &str = "id, kind, content_type, size_bytes, width, height, sha256, storage_key, \
     file_name, uploaded_by, created_at";

pub async fn insert(store: &Store, m: &MediaRow) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO media ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    );
    on_pool!(store, pool => {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&m.id)
            .bind(&m.kind)
            .bind(&m.content_type)
            .bind(m.size_bytes)
            .bind(m.width)
            .bind(m.height)
            .bind(&m.sha256)
            .bind(&m.storage_key)
            .bind(&m.file_name)
            .bind(&m.uploaded_by)
            .bind(m.created_at)
            .execute(pool)
            .await?;
    });
    Ok(())
}

pub async fn find(store: &Store, id: &str) -> Result<Option<MediaRow>, StoreError> {
    store
        .row_by_key(format!("SELECT {COLUMNS} FROM media WHERE id = $1"), id)
        .await
}
