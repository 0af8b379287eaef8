//! The order service: all-or-nothing orders that take stock with conditional
//! `find_one_and_update`, never oversell, and lose no stock on a crash; idempotency keys, cancel,
//! reorder and status changes.
//!
//! Three layers, as in every service: `routes` (HTTP only) call the domain, the
//! [`OrderEngine`] (placing, cancelling and recovering orders, reading them and moving them along;
//! see [`engine`]), which owns the small [`store`]s. This file only wires them: it builds the
//! stores and the engine with the service's [`settings`], the router ([`app`], which tests drive
//! without a socket), and, in [`start`], the periodic recovery pass the binary runs.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod engine;
pub mod events;
pub mod models;
pub mod providers;
mod routes;
pub mod settings;
pub mod store;
pub mod webhooks;

use std::sync::Arc;

use anyhow::Context;
use axum::{Router, extract::FromRef};
use common_api::auth::TokenKeys;
use common_platform::{
    config::Config,
    events::ensure_outbox_index,
    server::{ServiceContext, Shutdown},
    service::Service,
};
use mongodb::Database;

pub use crate::settings::{OrderSettings, WebhookSettings};
use crate::{
    engine::OrderEngine,
    models::{IDEMPOTENCY_KEY_NAME, IDEMPOTENT_REPLAYED_NAME},
    store::{Claims, Inventory, OrderStore},
    webhooks::{
        Webhooks,
        target::{Resolve, system_resolver},
    },
};

/// How often the relay looks for events it was not woken for (left by a crash).
const RELAY_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// Everything the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The configuration.
    pub config: Arc<Config>,
    /// The database.
    pub db: Database,
    /// Every order flow: placing, cancelling, recovering, reading and moving orders along.
    pub engine: OrderEngine,
    /// Access-token verification.
    pub keys: TokenKeys,
    /// Webhook subscriptions, their deliveries and the event log.
    pub webhooks: Webhooks,
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
        Self::with_resolver(config, db, settings, system_resolver(), shutdown).await
    }

    /// As [`AppState::with_settings`], resolving webhook hosts with `resolve`. Besides the hold
    /// releaser, it starts the relay of order events and the webhook dispatcher and worker.
    pub async fn with_resolver(
        config: Config,
        db: Database,
        settings: OrderSettings,
        resolve: Resolve,
        shutdown: Shutdown,
    ) -> anyhow::Result<Self> {
        let relay = events::order_relay(&db, config.currency);
        let webhooks = Webhooks::new(&db, settings.webhooks.clone(), resolve);
        let worker = webhooks
            .worker()
            .context("could not set up TLS for webhook deliveries")?;
        let orders = OrderStore::new(&db).relayed_by(relay.handle());
        let inventory = Inventory::new(&db);
        let claims = Claims::new(&db);
        let engine = OrderEngine::new(
            orders.clone(),
            inventory.clone(),
            claims.clone(),
            config.currency,
            settings,
            shutdown.clone(),
        )
        .context("refusing unsafe order timings")?;
        let outbox = db.collection("orders");
        tokio::try_join!(
            orders.ensure_indexes(),
            inventory.ensure_indexes(),
            claims.ensure_indexes(),
            webhooks.ensure_indexes(),
            ensure_outbox_index(&outbox),
        )
        .context("could not create the order service's indexes")?;
        let converted = orders
            .convert_float_amounts(config.currency)
            .await
            .context("could not convert float amounts of orders to minor units")?;
        tracing::info!(converted, currency = %config.currency, "float amounts of orders converted to minor units");
        worker.start(relay.handle().relayed(), shutdown.clone());
        let keys = common_platform::auth::token_keys(&config, &db, shutdown.clone());
        tokio::spawn(relay.run(RELAY_POLL, shutdown));
        Ok(Self {
            webhooks,
            keys,
            config: Arc::new(config),
            db,
            engine,
        })
    }
}

/// What the shared platform knows of this service.
pub static SERVICE: Service = Service {
    name: "order-service",
    default_port: 8003,
    allow_headers: &[IDEMPOTENCY_KEY_NAME],
    expose_headers: &[IDEMPOTENT_REPLAYED_NAME],
    openapi: routes::openapi,
};

/// The service's router, with the shared routes and layers.
pub fn app(state: AppState) -> Router {
    let config = Arc::clone(&state.config);
    let db = state.db.clone();
    common_platform::http::service_router(&SERVICE, routes::router(state), &config, db)
}

/// Builds the service for the binary and starts the recovery pass (now, then periodically).
pub async fn start(context: ServiceContext, settings: OrderSettings) -> anyhow::Result<Router> {
    let shutdown = context.shutdown;
    let state =
        AppState::with_settings(context.config, context.db, settings, shutdown.clone()).await?;
    tokio::spawn(state.engine.clone().recover_periodically(shutdown.clone()));
    tokio::spawn(state.engine.clone().expire_periodically(shutdown));
    Ok(app(state))
}
