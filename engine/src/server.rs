//! Running the server: open the store, migrate, build the API, listen, and stop
//! gracefully.
//!
//! On SIGTERM or Ctrl-C the node stops accepting connections, reports itself
//! not ready, lets in-flight requests finish (up to `server.shutdown_grace_secs`),
//! then closes the store.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::accounts::Accounts;
use crate::api::{Api, SchemaError, Services};
use crate::authz::{Authz, AuthzError};
use crate::catalogue::Catalogue;
use crate::config::{Config, ConfigError, redact_url};
use crate::http::{self, AppState, metrics::Metrics};
use crate::markets::Markets;
use crate::media::{Media, MediaStoreError};
use crate::merchants::service::Merchants;
use crate::plugins::{ArtifactCache, PluginError, PluginHost};
use crate::service_error::ServiceError;
use crate::store::revision::Counter;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("loading the authorisation policy failed")]
    Authz(#[from] AuthzError),
    #[error("setting up a service failed")]
    Service(#[from] ServiceError),
    #[error(transparent)]
    Media(#[from] MediaStoreError),
    #[error("loading the plugins failed")]
    Plugins(#[from] PluginError),
    #[error("the GraphQL schema does not build")]
    Schema(#[from] SchemaError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("setting up metrics failed")]
    Metrics(#[from] prometheus::Error),
    #[error("the server failed")]
    Io(#[from] std::io::Error),
}

/// Opens and migrates the store named by `config`.
pub async fn open_store(config: &Config) -> Result<Store, StoreError> {
    let store = Store::connect(config).await?;
    store.migrate().await?;
    Ok(store)
}

/// The domain services on `store`: authorisation first, everything else asks it.
pub async fn build_services(config: &Config, store: Store) -> Result<Services, ServeError> {
    let authz = Authz::load(&store).await?;
    let accounts = Accounts::new(store.clone(), authz.clone(), config)?;
    let markets = Markets::new(store.clone());
    let catalogue = Catalogue::new(
        store.clone(),
        Duration::from_millis(config.catalogue.page_cache_ms),
    );
    let media = Media::new(store.clone(), config)?;
    let cache = ArtifactCache::at(config.data_dir.join("plugin-cache"));
    let plugins = PluginHost::load(store.clone(), authz.clone(), cache).await?;
    let merchants = Merchants::new(store.clone(), authz.clone(), plugins.clone());
    let orders = crate::orders::Orders::new(
        store.clone(),
        authz.clone(),
        plugins.clone(),
        markets.clone(),
        config.orders.clone(),
    );
    let webhooks = crate::events::Webhooks::new(store.clone(), config)?;
    let fulfilment =
        crate::fulfilment::Fulfilment::new(store.clone(), authz.clone(), orders.clone(), config);
    Ok(Services {
        store,
        authz,
        accounts,
        markets,
        merchants,
        plugins,
        media,
        catalogue,
        orders,
        webhooks,
        fulfilment,
    })
}

/// Builds the API with the installed plugins' fields, failing on any mismatch
/// between SDL, resolvers and guards; rebuilt whenever the plugin set changes.
pub fn build_api(config: &Config, services: Services) -> Result<Arc<Api>, SchemaError> {
    let plugins = services.plugins.clone();
    let api = Arc::new(Api::new(services, config.graphql.clone())?);
    if let Err(e) = api.apply_plugins(&plugins.current()) {
        tracing::error!(error = %e, "installed plugins' GraphQL left out of the schema");
    }
    let weak = Arc::downgrade(&api);
    plugins.on_change(move |set| {
        if let Some(api) = weak.upgrade()
            && let Err(e) = api.apply_plugins(set)
        {
            tracing::error!(error = %e, "plugin GraphQL change not applied; the previous schema stays");
        }
    });
    Ok(api)
}

/// Serves until SIGTERM/Ctrl-C. Prints `listening on http://…` on stdout once bound.
pub async fn serve(config: Config) -> Result<(), ServeError> {
    let addr = config.listen_addr()?;
    tracing::info!(database = %redact_url(&config.database_url()), "opening store");
    let store = open_store(&config).await?;
    let services = build_services(&config, store.clone()).await?;
    let policy_watch = tokio::spawn(watch_shared_state(
        services.authz.clone(),
        services.plugins.clone(),
        store.clone(),
    ));
    // Documents lapse by the calendar, not by requests: sweep every hour.
    let expiry_sweep = tokio::spawn(crate::merchants::qualification::sweep_hourly(
        services.merchants.clone(),
    ));
    // Station staff verify paid orders within 30 minutes; late ones are flagged.
    let verification_clock = services.orders.spawn_verification_clock();
    // Outbox events to plugins and webhooks (INT-2).
    let event_loops = crate::events::EventLoops::spawn(
        store.clone(),
        services.plugins.clone(),
        services.markets.clone(),
        services.webhooks.clone(),
        &config.events,
    )?;
    let plugins_faults = services.plugins.fault_counter();
    let fulfilment = services.fulfilment.clone();
    let api = build_api(&config, services)?;
    let metrics = Arc::new(Metrics::new()?);
    metrics.register(Box::new(plugins_faults))?;
    let state = AppState::new(&config, api, store.clone(), metrics);
    let draining = state.draining.clone();
    let app = http::router(state, &config)?;

    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Listen { addr, source })?;
    let local = listener.local_addr()?;
    tracing::info!(%local, backend = store.backend().as_str(), "listening");
    // A plain line on stdout so scripts and tests can find the port when it was 0.
    println!("listening on http://{local}");
    // Label QR codes point here unless `server.public_url` names the public address.
    fulfilment.listening_on(&format!("http://{local}"));

    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = stop_rx.changed().await;
    });
    let mut server = tokio::spawn(async move { server.await });

    tokio::select! {
        result = &mut server => {
            // The server stopped on its own: an accept loop failure.
            store.close().await;
            return match result {
                Ok(r) => r.map_err(ServeError::Io),
                Err(e) => Err(ServeError::Io(std::io::Error::other(e))),
            };
        }
        () = shutdown_signal() => {}
    }

    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    tracing::info!(
        grace_secs = grace.as_secs(),
        "shutting down: finishing in-flight requests"
    );
    draining.store(true, Ordering::Relaxed);
    let _ = stop_tx.send(true);
    match tokio::time::timeout(grace, &mut server).await {
        Ok(_) => tracing::info!("all requests finished"),
        Err(_) => {
            tracing::warn!("grace period over; abandoning the requests still running");
            server.abort();
        }
    }
    policy_watch.abort();
    expiry_sweep.abort();
    verification_clock.abort();
    event_loops.abort();
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Picks up policy and plugin changes made by other nodes: at once when
/// PostgreSQL announces one, and by polling every second in any case (SQLite,
/// or a listener connection that dropped).
async fn watch_shared_state(authz: Authz, plugins: PluginHost, store: Store) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut listener = match &store {
        Store::Postgres(pool) => listen(pool).await,
        Store::Sqlite(..) => None,
    };
    loop {
        let announced = async {
            match listener.as_mut() {
                Some(l) => l.recv().await.is_ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tick.tick() => {}
            ok = announced => {
                if !ok {
                    listener = None;
                }
            }
        }
        if listener.is_none()
            && let Store::Postgres(pool) = &store
        {
            listener = listen(pool).await;
        }
        if let Err(e) = authz.refresh_if_stale().await {
            tracing::debug!(error = %e, "policy revision check failed");
        }
        if let Err(e) = plugins.refresh_if_stale().await {
            tracing::debug!(error = %e, "plugin revision check failed");
        }
    }
}

async fn listen(pool: &sqlx::PgPool) -> Option<sqlx::postgres::PgListener> {
    let mut listener = sqlx::postgres::PgListener::connect_with(pool).await.ok()?;
    listener
        .listen_all([Counter::Authz.channel(), Counter::Plugins.channel()])
        .await
        .ok()?;
    Some(listener)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
