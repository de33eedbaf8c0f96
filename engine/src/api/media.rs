//! Resolvers for uploads and file details.

use std::io::Read;

use async_graphql::Value;
use async_graphql::dynamic::{FieldFuture, FieldValue};

use super::binding::Resolvers;
use super::guard::Access;
use super::payload::{caller, payload, services, top_level};
use super::relay::object;
use crate::caller::Caller;
use crate::media::{self, MediaKind};
use crate::store::media::MediaRow;
use crate::store::rfc3339;

pub(super) fn bind(r: &mut Resolvers) {
    // The service requires a signed-in caller; any signed-in account may
    // upload (applicants their licences, merchants their product photos).
    r.guarded("Mutation.uploadMedia", Access::Resolver, |ctx| {
        FieldFuture::new(async move {
            let kind = ctx.args.try_get("kind")?.enum_name()?.to_string();
            let kind = MediaKind::parse(&kind).unwrap_or(MediaKind::Image);
            let upload = ctx.args.try_get("file")?.upload()?.value(ctx.ctx)?;
            let file_name = upload.filename.clone();
            let services = services(&ctx)?;
            // Read one byte past the largest allowed, so the service can refuse it.
            let limit = services.media.limit(kind) as u64 + 1;
            let mut bytes = Vec::new();
            upload.into_read().take(limit).read_to_end(&mut bytes)?;
            let outcome = services
                .media
                .upload(caller(&ctx)?, kind, &file_name, bytes)
                .await
                .map(|row| vec![("media", media_value(&row))]);
            payload(&ctx, outcome, &["media"])
        })
    })
    .guarded("Query.media", Access::Resolver, |ctx| {
        FieldFuture::new(async move {
            let id = ctx.args.try_get("id")?.string()?;
            let services = services(&ctx)?;
            let row = services
                .media
                .find(id)
                .await
                .map_err(|e| top_level(&ctx, e))?;
            let who = caller(&ctx)?;
            Ok(row
                .filter(|row| may_fetch(services, who, row))
                .map(|row| FieldValue::value(media_value(&row))))
        })
    });
    r.record("Media").record("MediaPayload");
}

/// Public files answer everyone; private documents their uploader and
/// platform-wide staff who review merchants.
pub fn may_fetch(services: &super::Services, who: &Caller, row: &MediaRow) -> bool {
    if row.kind != MediaKind::PrivateDocument.as_str() {
        return true;
    }
    if who.actor.account_id() == Some(row.uploaded_by.as_str()) {
        return true;
    }
    who.actor
        .subject()
        .is_some_and(|s| services.authz.check(&s, "*", "merchant", "review"))
}

pub fn media_value(row: &MediaRow) -> Value {
    let int = |v: Option<i64>| v.map_or(Value::Null, Value::from);
    object([
        ("id", Value::String(row.id.clone())),
        ("url", Value::String(media::url(&row.id))),
        (
            "kind",
            Value::Enum(async_graphql::Name::new(row.kind.to_ascii_uppercase())),
        ),
        ("contentType", Value::String(row.content_type.clone())),
        ("sizeBytes", Value::from(row.size_bytes)),
        ("width", int(row.width)),
        ("height", int(row.height)),
        ("fileName", Value::String(row.file_name.clone())),
        ("sha256", Value::String(row.sha256.clone())),
        ("createdAt", Value::String(rfc3339(row.created_at))),
    ])
}
