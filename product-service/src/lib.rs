//! The product service: the catalog, with literal case-insensitive search, filters, sorts, paging,
//! atomic stock adjustments and categories.
//!
//! Writes go to MongoDB; lists, searches, counts and categories are answered from the in-memory
//! [`catalog`], which MongoDB feeds. [`app`] builds the whole router from an [`AppState`], so tests
//! drive it without a socket; [`start`] is what the binary runs after the shared startup in
//! `common_platform::server`.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod catalog;
pub mod categories;
pub mod images;
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
    catalog::{Catalog, feed},
    categories::Categories,
    images::ImageStore,
    store::ProductStore,
};

/// Everything the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The configuration.
    pub config: Arc<Config>,
    /// The database.
    pub db: Database,
    /// Products: writes and reads by id.
    pub products: ProductStore,
    /// The read model that answers lists.
    pub catalog: Catalog,
    /// Product images (GridFS).
    pub images: ImageStore,
    /// Categories: their documents in memory, and the flows that change them.
    pub categories: Categories,
    /// Access-token verification.
    pub keys: TokenKeys,
}

impl FromRef<AppState> for TokenKeys {
    fn from_ref(state: &AppState) -> Self {
        state.keys.clone()
    }
}

/// Settings of the catalog read model.
#[derive(Clone, Debug)]
pub struct CatalogSettings {
    /// How often the catalog is reloaded where MongoDB has no change streams (a standalone
    /// server), and how often every instance reloads the categories and runs their upkeep;
    /// `CATALOG_POLL_SECS`, 1 to 3600, default 5.
    pub poll_interval: Duration,
}

/// How many image uploads are received at once: `MAX_CONCURRENT_UPLOADS`, 1 to 1024, default
/// [`images::DEFAULT_CONCURRENT_UPLOADS`].
pub fn concurrent_uploads_from_env() -> Result<usize, ConfigError> {
    let env = Env::new(|name| std::env::var(name).ok());
    env.parse_in_range(
        "MAX_CONCURRENT_UPLOADS",
        images::DEFAULT_CONCURRENT_UPLOADS,
        1..=1024,
    )
}

impl Default for CatalogSettings {
    fn default() -> Self {
        Self {
            poll_interval: feed::DEFAULT_POLL_INTERVAL,
        }
    }
}

impl CatalogSettings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let env = Env::new(|name| std::env::var(name).ok());
        let default = feed::DEFAULT_POLL_INTERVAL.as_secs();
        Ok(Self {
            poll_interval: Duration::from_secs(env.parse_in_range(
                "CATALOG_POLL_SECS",
                default,
                1..=3600,
            )?),
        })
    }
}

impl AppState {
    /// Builds the state with default catalog settings, loading the catalog; it is kept current
    /// for as long as the runtime runs.
    pub async fn new(config: Config, db: Database) -> anyhow::Result<Self> {
        Self::with_catalog(config, db, CatalogSettings::default(), Shutdown::never()).await
    }

    /// Builds the state, loading the catalog and the categories (after their upkeep: unfinished
    /// renames, documents for categories products use) and keeping them current until `shutdown`.
    pub async fn with_catalog(
        config: Config,
        db: Database,
        settings: CatalogSettings,
        shutdown: Shutdown,
    ) -> anyhow::Result<Self> {
        let catalog = feed::start(&db, settings.poll_interval, shutdown.clone())
            .await
            .context("could not load the catalog")?;
        tracing::info!(products = catalog.len(), "catalog loaded");
        let images = ImageStore::new(&db);
        images
            .ensure_indexes()
            .await
            .context("could not create the image indexes")?;
        let categories = Categories::start(&db, catalog.clone(), settings.poll_interval, shutdown)
            .await
            .context("could not load the categories")?;
        Ok(Self {
            keys: TokenKeys::new(&config.jwt_secret, config.access_token_ttl),
            config: Arc::new(config),
            products: ProductStore::new(&db),
            catalog,
            images,
            categories,
            db,
        })
    }
}

/// The service's router, with the shared routes and layers.
pub fn app(state: AppState) -> Router {
    let config = Arc::clone(&state.config);
    let db = state.db.clone();
    common_platform::http::service_router(routes::router(state), &config, db)
}

/// Builds the service for the binary and starts the image sweep (now, then periodically).
pub async fn start(context: ServiceContext) -> anyhow::Result<Router> {
    let settings = CatalogSettings::from_env()?;
    let uploads = concurrent_uploads_from_env()?;
    let shutdown = context.shutdown;
    let mut state =
        AppState::with_catalog(context.config, context.db, settings, shutdown.clone()).await?;
    state.images = state.images.with_concurrent_uploads(uploads);
    let orphan_age = images::orphan_age(state.config.request_timeout);
    tokio::spawn(
        state
            .images
            .clone()
            .sweep_periodically(orphan_age, shutdown),
    );
    Ok(app(state))
}
