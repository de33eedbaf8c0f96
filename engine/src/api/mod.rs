//! The GraphQL API, schema-first.
//!
//! The SDL in `schema/graphql/` (plus the SDL of installed plugins) is parsed,
//! merged, and bound to resolvers by `Type.field`; the result is the live schema.
//! Installing a plugin builds a new schema beside the live one and swaps it in
//! atomically: requests in flight finish on the schema they started with, and a
//! schema that fails to build never replaces a working one.

mod access;
mod accounts;
pub mod binding;
mod catalogue;
mod catalogue_files;
pub mod error;
mod fulfilment;
pub mod guard;
mod markets;
pub mod media;
mod merchants;
mod orders;
mod payload;
mod plugins;
mod pricing;
pub mod relay;
mod request_errors;
pub mod sdl;
mod server_info;
mod webhooks;

use std::sync::Arc;

use arc_swap::ArcSwap;
use async_graphql::dynamic::Schema;

pub use binding::Resolvers;
pub use error::{ApiError, ErrorCode, UserError};
pub use request_errors::stamp;
pub use sdl::{SdlSource, TypeSystem};

use crate::accounts::Accounts;
use crate::authz::Authz;
use crate::caller::Caller;
use crate::catalogue::Catalogue;
use crate::config::GraphqlConfig;
use crate::markets::Markets;
use crate::media::Media;
use crate::merchants::service::Merchants;
use crate::plugins::{PluginHost, PluginSet};
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("{origin}: not valid GraphQL SDL: {message}")]
    Parse { origin: String, message: String },
    #[error("type {name} is defined twice: in {first} and in {second}")]
    DuplicateType {
        name: String,
        first: String,
        second: String,
    },
    #[error("field {coordinate} is defined twice: in {first} and in {second}")]
    DuplicateField {
        coordinate: String,
        first: String,
        second: String,
    },
    #[error("{origin} extends type {name}, which no SDL defines")]
    ExtendsUnknownType { name: String, origin: String },
    #[error("the schema has no query type {0}")]
    MissingQueryType(String),
    #[error("{origin}: {what} is not supported")]
    Unsupported { origin: String, what: String },
    #[error("fields without a resolver: {}", .0.join(", "))]
    UnboundFields(Vec<String>),
    #[error("resolvers for fields no SDL declares: {}", .0.join(", "))]
    ResolversWithoutFields(Vec<String>),
    #[error("root fields that declare no access (guard): {}", .0.join(", "))]
    UnguardedFields(Vec<String>),
    #[error("the schema is inconsistent: {0}")]
    Build(String),
}

/// What resolvers reach through `ctx.data::<Services>()`.
#[derive(Clone)]
pub struct Services {
    pub store: Store,
    pub authz: Authz,
    pub accounts: Accounts,
    pub markets: Markets,
    pub merchants: Merchants,
    pub plugins: PluginHost,
    pub media: Media,
    pub catalogue: Catalogue,
    pub orders: crate::orders::Orders,
    pub webhooks: crate::events::Webhooks,
    pub fulfilment: crate::fulfilment::Fulfilment,
}

/// Per-request facts, attached by the HTTP layer.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub caller: Caller,
    pub user_agent: Option<String>,
}

/// The GraphQL error for `err` in the caller's language.
pub fn fail(ctx: &async_graphql::Context<'_>, err: ApiError) -> async_graphql::Error {
    let locale = ctx
        .data_opt::<RequestContext>()
        .map(|r| r.caller.locale)
        .unwrap_or_default();
    err.into_graphql(locale)
}

/// The resolvers of the core contract.
pub fn core_resolvers() -> Resolvers {
    let mut resolvers = Resolvers::new();
    // The convention types of `conventions.graphql` are plain data.
    resolvers.record("PageInfo").record("UserError");
    server_info::bind(&mut resolvers);
    accounts::bind(&mut resolvers);
    markets::bind(&mut resolvers);
    catalogue::bind(&mut resolvers);
    merchants::bind(&mut resolvers);
    access::bind(&mut resolvers);
    plugins::bind(&mut resolvers);
    pricing::bind(&mut resolvers);
    orders::bind(&mut resolvers);
    media::bind(&mut resolvers);
    catalogue_files::bind(&mut resolvers);
    webhooks::bind(&mut resolvers);
    fulfilment::bind(&mut resolvers);
    resolvers
}

/// The live schema and what is needed to rebuild it.
pub struct Api {
    live: ArcSwap<Schema>,
    services: Services,
    limits: GraphqlConfig,
}

impl Api {
    /// Builds the core schema; fails naming every unbound field or stray resolver.
    pub fn new(services: Services, limits: GraphqlConfig) -> Result<Self, SchemaError> {
        let schema = build(&sdl::core_sources(), &core_resolvers(), &services, &limits)?;
        Ok(Self {
            live: ArcSwap::from_pointee(schema),
            services,
            limits,
        })
    }

    /// The schema requests run on right now.
    pub fn schema(&self) -> Arc<Schema> {
        self.live.load_full()
    }

    /// Rebuilds with extra SDL and resolvers (a plugin's) and swaps the result in.
    /// On error the live schema stays as it was.
    pub fn extend(&self, extra_sdl: &[SdlSource], extra: Resolvers) -> Result<(), SchemaError> {
        let mut sources = sdl::core_sources();
        sources.extend_from_slice(extra_sdl);
        let mut resolvers = core_resolvers();
        resolvers.extend(extra);
        let schema = build(&sources, &resolvers, &self.services, &self.limits)?;
        self.live.store(Arc::new(schema));
        Ok(())
    }

    /// Serves the core plus the GraphQL of every installed plugin in `set`.
    pub fn apply_plugins(&self, set: &PluginSet) -> Result<(), SchemaError> {
        self.extend(&set.sdl_sources(), plugins::extension_resolvers(set))
    }

    pub fn services(&self) -> &Services {
        &self.services
    }

    /// The SDL the server serves.
    pub fn sdl(&self) -> String {
        self.schema().sdl()
    }
}

fn build(
    sources: &[SdlSource],
    resolvers: &Resolvers,
    services: &Services,
    limits: &GraphqlConfig,
) -> Result<Schema, SchemaError> {
    let types = TypeSystem::merge(sources)?;
    let builder = Schema::build(&types.query, types.mutation.as_deref(), None);
    let mut builder = resolvers
        .bind(&types, builder)?
        .data(services.clone())
        .extension(request_errors::RequestErrorCodes)
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity);
    if !limits.introspection {
        builder = builder.disable_introspection();
    }
    builder.finish().map_err(|e| SchemaError::Build(e.0))
}

#[cfg(test)]
mod tests {
    use async_graphql::Value;
    use async_graphql::dynamic::{FieldFuture, FieldValue};

    use super::*;

    /// The core API on a fresh, migrated SQLite store (the services need one).
    async fn api() -> (Api, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = crate::config::Config {
            data_dir: dir.path().to_path_buf(),
            ..Default::default()
        };
        let store = crate::server::open_store(&config).await.expect("store");
        let services = crate::server::build_services(&config, store)
            .await
            .expect("services");
        (
            Api::new(services, GraphqlConfig::default()).expect("core schema builds"),
            dir,
        )
    }

    fn greeting_resolvers() -> Resolvers {
        let mut resolvers = Resolvers::new();
        resolvers.guarded("Query.greeting", guard::Access::Public, |_| {
            FieldFuture::Value(Some(FieldValue::value(Value::String("你好".into()))))
        });
        resolvers
    }

    async fn run(api: &Api, query: &str) -> serde_json::Value {
        let response = api.schema().execute(query).await;
        serde_json::to_value(&response).expect("response serialises")
    }

    #[tokio::test]
    async fn extra_sdl_is_served_after_an_atomic_swap() {
        let (api, _dir) = api().await;
        let before = api.schema();
        let plugin = SdlSource::new("plugin:hello", "extend type Query { greeting: String! }");
        api.extend(&[plugin], greeting_resolvers())
            .expect("extension builds");

        let body = run(&api, "{ greeting }").await;
        assert_eq!(body["data"]["greeting"], "你好");
        assert!(api.sdl().contains("greeting: String!"));
        // A request that started before the swap keeps the schema it started with.
        let old = serde_json::to_value(before.execute("{ greeting }").await).unwrap();
        assert!(
            old["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("greeting")
        );
    }

    #[tokio::test]
    async fn a_schema_that_does_not_build_never_replaces_the_live_one() {
        let (api, _dir) = api().await;
        let plugin = SdlSource::new("plugin:hello", "extend type Query { greeting: String! }");
        api.extend(std::slice::from_ref(&plugin), greeting_resolvers())
            .unwrap();

        let unbound = SdlSource::new("plugin:broken", "extend type Query { farewell: String }");
        let err = api
            .extend(&[plugin.clone(), unbound], greeting_resolvers())
            .unwrap_err()
            .to_string();
        assert!(err.contains("Query.farewell (plugin:broken)"), "{err}");
        assert_eq!(run(&api, "{ greeting }").await["data"]["greeting"], "你好");

        let mut stray = greeting_resolvers();
        stray.guarded("Query.nowhere", guard::Access::Public, |_| {
            FieldFuture::Value(None)
        });
        let err = api
            .extend(std::slice::from_ref(&plugin), stray)
            .unwrap_err()
            .to_string();
        assert!(err.contains("Query.nowhere"), "{err}");

        let clash = SdlSource::new("plugin:clash", "extend type Query { serverInfo: String }");
        let err = api
            .extend(&[clash], Resolvers::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("Query.serverInfo"), "{err}");
        assert!(
            err.contains("schema/graphql/server.graphql") && err.contains("plugin:clash"),
            "{err}"
        );

        // A root field must say who may call it.
        let mut unguarded = greeting_resolvers();
        unguarded.field("Query.farewell", |_| FieldFuture::Value(None));
        let farewell = SdlSource::new(
            "plugin:hello",
            "extend type Query { greeting: String! farewell: String }",
        );
        let err = api.extend(&[farewell], unguarded).unwrap_err().to_string();
        assert!(
            err.contains("declare no access") && err.contains("Query.farewell"),
            "{err}"
        );

        let garbage = SdlSource::new("plugin:garbage", "type {");
        let err = api
            .extend(&[garbage], Resolvers::new())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("plugin:garbage"), "{err}");

        let orphan = SdlSource::new("plugin:orphan", "extend type Basket { size: Int }");
        let err = api
            .extend(&[orphan], Resolvers::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("Basket"), "{err}");

        assert_eq!(run(&api, "{ greeting }").await["data"]["greeting"], "你好");
    }
}
