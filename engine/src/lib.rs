//! Shiji (市集): a plugin-based headless commerce engine for regional
//! agricultural marketplaces and supply chains.
//!
//! Layers, top to bottom: `http` (axum) → `api` (schema-first GraphQL) →
//! services → `store` (sqlx on SQLite or PostgreSQL). Nothing above `store`
//! writes SQL; nothing below `api` knows GraphQL.

pub mod accounts;
pub mod api;
pub mod audit;
pub mod authz;
pub mod caller;
pub mod catalogue;
pub mod config;
pub mod events;
pub mod fulfilment;
pub mod http;
pub mod i18n;
pub mod markets;
pub mod media;
pub mod merchants;
pub mod money;
pub mod orders;
pub mod plugins;
pub mod sealed;
pub mod server;
pub mod service_error;
pub mod store;
pub mod telemetry;
