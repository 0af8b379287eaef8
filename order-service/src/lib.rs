//! The order service: all-or-nothing orders that take stock with conditional
//! `find_one_and_update`, never oversell, and lose no stock on a crash; idempotency keys, cancel,
//! reorder and status changes.
//!
//! How an order is placed: [`placing`]; cancelled: [`cancelling`]; what a crash leaves behind
//! and how it is settled: [`recovery`]. [`app`] builds the router from an [`AppState`] (tests
//! drive it without a socket); [`start`] is what the binary runs.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod cancelling;
pub mod models;
pub mod placing;
pub mod recovery;
pub mod releaser;
mod routes;
pub mod store;

use std::{future::Future, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{Router, extract::FromRef};
use common::{
    ApiError, ApiResult,
    auth::TokenKeys,
    config::Config,
    server::{ServiceContext, Shutdown},
};
use mongodb::Database;

use crate::{
    releaser::HoldReleaser,
    store::{Claims, Inventory, OrderStore},
};

/// Timings of the order machinery, derived from the request timeout.
#[derive(Clone, Debug)]
pub struct OrderSettings {
    /// Holds, cancels and keys older than this belong to requests that have stopped:
    /// six request timeouts, and at least a minute.
    pub grace: Duration,
    /// Return markers are cleared after this (twice the grace period).
    pub marker_retention: Duration,
    /// How often the recovery pass runs.
    pub recovery_interval: Duration,
    /// How long the recovery pass may spend finishing one cancel (the request timeout).
    pub step_timeout: Duration,
    /// How long a repeated `Idempotency-Key` waits for the first request's order.
    pub claim_wait: Duration,
    /// How often it looks while waiting.
    pub claim_poll: Duration,
}

impl OrderSettings {
    /// The settings for a request timeout of `request_timeout`.
    pub fn new(request_timeout: Duration) -> Self {
        let grace = (request_timeout * 6).max(Duration::from_secs(60));
        Self {
            grace,
            marker_retention: grace * 2,
            recovery_interval: Duration::from_secs(30),
            step_timeout: request_timeout,
            claim_wait: (request_timeout / 2).min(Duration::from_secs(5)),
            claim_poll: Duration::from_millis(10),
        }
    }
}

/// Everything the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The configuration.
    pub config: Arc<Config>,
    /// The database.
    pub db: Database,
    /// Orders.
    pub orders: OrderStore,
    /// Stock on products.
    pub inventory: Inventory,
    /// Idempotency keys.
    pub claims: Claims,
    /// Batched release of holds.
    pub releaser: HoldReleaser,
    /// Timings.
    pub settings: Arc<OrderSettings>,
    /// Access-token verification.
    pub keys: TokenKeys,
}

impl FromRef<AppState> for TokenKeys {
    fn from_ref(state: &AppState) -> Self {
        state.keys.clone()
    }
}

impl AppState {
    /// Builds the state, creates the indexes and starts the hold releaser, which `shutdown`
    /// lets finish its last batch.
    pub async fn new(config: Config, db: Database, shutdown: Shutdown) -> anyhow::Result<Self> {
        let orders = OrderStore::new(&db);
        let inventory = Inventory::new(&db);
        let claims = Claims::new(&db);
        tokio::try_join!(
            orders.ensure_indexes(),
            inventory.ensure_indexes(),
            claims.ensure_indexes(),
        )
        .context("could not create the order service's indexes")?;
        Ok(Self {
            releaser: HoldReleaser::spawn(inventory.clone(), shutdown),
            settings: Arc::new(OrderSettings::new(config.request_timeout)),
            keys: TokenKeys::new(&config.jwt_secret, config.access_token_ttl),
            config: Arc::new(config),
            db,
            orders,
            inventory,
            claims,
        })
    }
}

impl AppState {
    /// Runs `work` on a task of its own, so that it finishes even if the client goes away: a
    /// dropped request would otherwise leave stock held, or a cancel half done, until the recovery
    /// pass. Bounded by the request timeout, which the recovery pass's grace period relies on.
    pub async fn run_detached<T, F, Fut>(&self, work: F) -> ApiResult<T>
    where
        F: FnOnce(AppState) -> Fut,
        Fut: Future<Output = ApiResult<T>> + Send + 'static,
        T: Send + 'static,
    {
        let limit = self.settings.step_timeout;
        match tokio::spawn(tokio::time::timeout(limit, work(self.clone()))).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ApiError::DbUnavailable(anyhow::anyhow!(
                "order work exceeded {limit:?}"
            ))),
            Err(failed) => Err(ApiError::internal(failed)),
        }
    }
}

/// The service's router, with the shared routes and layers.
pub fn app(state: AppState) -> Router {
    let config = Arc::clone(&state.config);
    let db = state.db.clone();
    common::http::service_router(routes::router(state), &config, db)
}

/// Builds the service for the binary and starts the recovery pass (now, then periodically).
pub async fn start(context: ServiceContext) -> anyhow::Result<Router> {
    let shutdown = context.shutdown;
    let state = AppState::new(context.config, context.db, shutdown.clone()).await?;
    tokio::spawn(recovery::run_periodically(state.clone(), shutdown));
    Ok(app(state))
}
