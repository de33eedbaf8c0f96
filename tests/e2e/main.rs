//! End-to-end tests: each starts the real `shiji` binary and talks to it over
//! HTTP (or runs its CLI), on SQLite and on PostgreSQL.
//!
//! Read them as a tour of what a frontend, an operator and a load balancer can
//! rely on.

mod support;

mod accounts;
mod authz_matrix;
mod catalogue;
mod catalogue_files;
mod cli;
mod database_outage;
mod fulfilment;
mod graphql_over_http;
mod media;
mod media_s3;
mod merchants;
mod nodes;
mod operations;
mod orders;
mod plugin_cli;
mod plugin_hooks;
mod plugin_registry;
mod plugins;
mod schema;
mod shutdown;
mod webhooks;
