//! `Query.serverInfo` and `Query.node`: what this node is and which store it runs on.

use async_graphql::Value;
use async_graphql::dynamic::{FieldFuture, FieldValue};

use super::binding::Resolvers;
use super::guard::Access;
use super::relay::{self, GlobalId, PageRequest, object};
use super::{Services, fail};
use crate::store::{AppliedMigration, Backend};

const MIGRATION_TYPE: &str = "SchemaMigration";

pub(super) fn bind(resolvers: &mut Resolvers) {
    resolvers
        .guarded("Query.serverInfo", Access::Public, |_| {
            FieldFuture::Value(Some(FieldValue::value(object([(
                "version",
                Value::String(env!("CARGO_PKG_VERSION").to_string()),
            )]))))
        })
        .record("ServerInfo")
        .field("ServerInfo.database", |ctx| {
            FieldFuture::new(async move {
                let services = ctx.data::<Services>()?;
                let identity = services
                    .store
                    .identity()
                    .await
                    .map_err(|e| fail(&ctx, e.into()))?;
                let backend = match services.store.backend() {
                    Backend::Sqlite => "SQLITE",
                    Backend::Postgres => "POSTGRES",
                };
                Ok(Some(FieldValue::value(object([
                    ("backend", Value::Enum(async_graphql::Name::new(backend))),
                    ("storeId", Value::String(identity.store_id)),
                    ("createdAt", Value::String(identity.created_at)),
                ]))))
            })
        })
        .record("DatabaseInfo")
        .field("DatabaseInfo.migrations", |ctx| {
            FieldFuture::new(async move {
                let services = ctx.data::<Services>()?;
                let page = PageRequest::from_args(&ctx).map_err(|e| fail(&ctx, e))?;
                let after = page.after_as::<i64>().map_err(|e| fail(&ctx, e))?;
                let rows = services
                    .store
                    .applied_migrations(after, page.fetch_limit())
                    .await
                    .map_err(|e| fail(&ctx, e.into()))?;
                let rows = rows
                    .into_iter()
                    .map(|m| (m.version.to_string(), migration_value(m)))
                    .collect();
                Ok(Some(FieldValue::value(relay::connection(&page, rows))))
            })
        })
        .record("SchemaMigrationConnection")
        .record("SchemaMigrationEdge")
        .record(MIGRATION_TYPE)
        .guarded("Query.node", Access::Public, |ctx| {
            FieldFuture::new(async move {
                let services = ctx.data::<Services>()?;
                let id = ctx.args.try_get("id")?.string()?;
                let id = GlobalId::decode(id).map_err(|e| fail(&ctx, e))?;
                // Each type that implements Node gets a branch here as it arrives.
                let found = match id.type_name.as_str() {
                    MIGRATION_TYPE => match id.key.parse::<i64>() {
                        Ok(version) => services
                            .store
                            .applied_migration(version)
                            .await
                            .map_err(|e| fail(&ctx, e.into()))?
                            .map(|m| {
                                FieldValue::value(migration_value(m)).with_type(MIGRATION_TYPE)
                            }),
                        Err(_) => None,
                    },
                    super::markets::MARKET_TYPE => services
                        .markets
                        .find(&id.key)
                        .await
                        .map_err(|e| e.into_api())
                        .map_err(|e| fail(&ctx, e))?
                        .map(|m| {
                            FieldValue::value(super::markets::market_value(&m))
                                .with_type(super::markets::MARKET_TYPE)
                        }),
                    _ => None,
                };
                Ok(found)
            })
        });
}

fn migration_value(m: AppliedMigration) -> Value {
    object([
        (
            "id",
            Value::String(GlobalId::new(MIGRATION_TYPE, m.version).encode()),
        ),
        ("version", Value::Number(m.version.into())),
        ("description", Value::String(m.description)),
        ("installedAt", Value::String(m.installed_at)),
    ])
}
