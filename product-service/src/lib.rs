//! The product service: the catalog, with literal case-insensitive search, paging, atomic stock
//! adjustments and categories.
//!
//! [`app`] builds the whole router from an [`AppState`], so tests drive it without a socket;
//! [`start`] is what the binary runs after the shared startup in `common::server`.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod models;
mod routes;
pub mod store;

use std::sync::Arc;

use anyhow::Context;
use axum::{Router, extract::FromRef};
use common::{auth::TokenKeys, config::Config, server::ServiceContext};
use mongodb::Database;

use crate::store::ProductStore;

/// Everything the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The configuration.
    pub config: Arc<Config>,
    /// The database.
    pub db: Database,
    /// Products.
    pub products: ProductStore,
    /// Access-token verification.
    pub keys: TokenKeys,
}

impl FromRef<AppState> for TokenKeys {
    fn from_ref(state: &AppState) -> Self {
        state.keys.clone()
    }
}

impl AppState {
    /// Builds the state and creates the indexes the service relies on.
    pub async fn new(config: Config, db: Database) -> anyhow::Result<Self> {
        let products = ProductStore::new(&db);
        products
            .ensure_indexes()
            .await
            .context("could not create the product service's indexes")?;
        Ok(Self {
            keys: TokenKeys::new(&config.jwt_secret, config.access_token_ttl),
            config: Arc::new(config),
            db,
            products,
        })
    }
}

/// The service's router, with the shared routes and layers.
pub fn app(state: AppState) -> Router {
    let config = Arc::clone(&state.config);
    let db = state.db.clone();
    common::http::service_router(routes::router(state), &config, db)
}

/// Builds the service for the binary.
pub async fn start(context: ServiceContext) -> anyhow::Result<Router> {
    Ok(app(AppState::new(context.config, context.db).await?))
}
