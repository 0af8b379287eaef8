//! The order service: all-or-nothing orders that take stock with conditional
//! `find_one_and_update`, never oversell, and lose no stock on a crash; idempotency keys, cancel,
//! reorder and status changes.
//!
//! This file only wires the parts together: it builds the stores and the [`OrderEngine`] (which
//! places, cancels and recovers orders; see [`engine`]), the router ([`app`], which tests drive
//! without a socket), and, in [`start`], the periodic recovery pass the binary runs.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod engine;
pub mod models;
mod routes;
pub mod store;

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use axum::{Router, extract::FromRef};
use common_api::auth::TokenKeys;
use common_platform::{
    config::{Config, ConfigError, Env},
    server::{ServiceContext, Shutdown},
};
use mongodb::Database;

use crate::{
    engine::{OrderEngine, OrderSettings},
    store::{Claims, Inventory, OrderStore},
};

/// Everything the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The configuration.
    pub config: Arc<Config>,
    /// The database.
    pub db: Database,
    /// Orders, for reads and status changes; placing, cancelling and recovery go through
    /// [`AppState::engine`].
    pub orders: OrderStore,
    /// Places, cancels and recovers orders.
    pub engine: OrderEngine,
    /// Access-token verification.
    pub keys: TokenKeys,
}

impl FromRef<AppState> for TokenKeys {
    fn from_ref(state: &AppState) -> Self {
        state.keys.clone()
    }
}

impl AppState {
    /// Builds the state with the timings derived from the request timeout, creates the indexes
    /// and starts the hold releaser, which `shutdown` lets finish its last batch.
    pub async fn new(config: Config, db: Database, shutdown: Shutdown) -> anyhow::Result<Self> {
        let settings = OrderSettings::new(config.request_timeout);
        Self::with_settings(config, db, settings, shutdown).await
    }

    /// As [`AppState::new`], with the given timings (a test may shorten the grace period);
    /// refused if they break the engine's invariants ([`OrderSettings::check`]).
    pub async fn with_settings(
        config: Config,
        db: Database,
        settings: OrderSettings,
        shutdown: Shutdown,
    ) -> anyhow::Result<Self> {
        let orders = OrderStore::new(&db);
        let inventory = Inventory::new(&db);
        let claims = Claims::new(&db);
        let engine = OrderEngine::new(
            orders.clone(),
            inventory.clone(),
            claims.clone(),
            settings,
            shutdown,
        )
        .context("refusing unsafe order timings")?;
        tokio::try_join!(
            orders.ensure_indexes(),
            inventory.ensure_indexes(),
            claims.ensure_indexes(),
        )
        .context("could not create the order service's indexes")?;
        Ok(Self {
            keys: TokenKeys::new(&config.jwt_secret, config.access_token_ttl),
            config: Arc::new(config),
            db,
            orders,
            engine,
        })
    }
}

/// The service's router, with the shared routes and layers.
pub fn app(state: AppState) -> Router {
    let config = Arc::clone(&state.config);
    let db = state.db.clone();
    common_platform::http::service_router(routes::router(state), &config, db)
}

/// The order timings for `config`, with `ORDER_RECOVERY_GRACE_SECS` (1 to 86 400) as the grace
/// period when it is set; [`OrderSettings::check`] later refuses one under three request
/// timeouts.
pub fn settings_from_env(config: &Config) -> Result<OrderSettings, ConfigError> {
    let derived = OrderSettings::new(config.request_timeout);
    let env = Env::new(|name| std::env::var(name).ok());
    let grace = env.parse_in_range(
        "ORDER_RECOVERY_GRACE_SECS",
        derived.grace.as_secs(),
        1..=86_400,
    )?;
    Ok(derived.with_grace(Duration::from_secs(grace)))
}

/// Builds the service for the binary and starts the recovery pass (now, then periodically).
pub async fn start(context: ServiceContext) -> anyhow::Result<Router> {
    let shutdown = context.shutdown;
    let settings = settings_from_env(&context.config)?;
    let state =
        AppState::with_settings(context.config, context.db, settings, shutdown.clone()).await?;
    tokio::spawn(state.engine.clone().recover_periodically(shutdown));
    Ok(app(state))
}
