//! The product service: the catalog, with literal case-insensitive search, filters, sorts, paging,
//! atomic stock adjustments, categories and images.
//!
//! Three layers, as in every service: `routes` (HTTP only) call the domain, [`Products`]
//! (every product write, kept in the in-memory read model that answers lists, and settled with
//! its category), which owns the small [`store`]s. This file only wires them: it builds the
//! stores and the domain, the relay of the product events ([`events`]), the router ([`app`],
//! which tests drive without a socket), and, in [`start`], the image sweep the binary runs.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod events;
pub mod models;
pub mod products;
mod routes;
pub mod settings;
pub mod store;

use std::sync::Arc;

use anyhow::Context;
use axum::{Router, extract::FromRef};
use common_api::auth::TokenKeys;
use common_platform::{
    config::Config,
    server::{ServiceContext, Shutdown},
    service::Service,
};
use mongodb::Database;

pub use crate::settings::ProductSettings;
use crate::{
    products::{Products, images},
    store::{CategoryStore, ImageFiles, ProductStore},
};

/// Everything the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The configuration.
    pub config: Arc<Config>,
    /// The database.
    pub db: Database,
    /// The catalog: every product flow, with its categories and images.
    pub products: Products,
    /// Access-token verification.
    pub keys: TokenKeys,
}

impl FromRef<AppState> for TokenKeys {
    fn from_ref(state: &AppState) -> Self {
        state.keys.clone()
    }
}

impl AppState {
    /// Builds the state with the default settings; the catalog and the categories are kept
    /// current for as long as the runtime runs.
    pub async fn new(config: Config, db: Database) -> anyhow::Result<Self> {
        Self::with_settings(config, db, ProductSettings::default(), Shutdown::never()).await
    }

    /// Builds the state: creates the indexes, loads the catalog and the categories (after their
    /// upkeep: unfinished renames, documents for categories products use) and keeps them current
    /// until `shutdown`, as the relay of the product events runs until then.
    pub async fn with_settings(
        config: Config,
        db: Database,
        settings: ProductSettings,
        shutdown: Shutdown,
    ) -> anyhow::Result<Self> {
        let relay = events::relay(&db, config.currency);
        let (products, categories, files) = (
            ProductStore::new(&db).relayed_by(relay.handle()),
            CategoryStore::new(&db),
            ImageFiles::new(&db),
        );
        tokio::try_join!(
            products.ensure_indexes(),
            categories.ensure_indexes(),
            files.ensure_indexes(),
        )
        .context("could not create the product service's indexes")?;
        let converted = products
            .convert_float_prices(config.currency)
            .await
            .context("could not convert float prices to minor units")?;
        tracing::info!(converted, currency = %config.currency, "float prices converted to minor units");
        tokio::spawn(relay.run(events::RELAY_POLL, shutdown.clone()));
        let keys = common_platform::auth::token_keys(&config, &db, shutdown.clone());
        let products = Products::start(
            products,
            categories,
            files,
            config.currency,
            &settings,
            shutdown,
        )
        .await?;
        Ok(Self {
            keys,
            config: Arc::new(config),
            db,
            products,
        })
    }
}

/// What the shared platform knows of this service.
pub static SERVICE: Service = Service {
    name: "product-service",
    default_port: 8002,
    allow_headers: &[],
    expose_headers: &[],
    openapi: routes::openapi,
};

/// The service's router, with the shared routes and layers.
pub fn app(state: AppState) -> Router {
    let config = Arc::clone(&state.config);
    let db = state.db.clone();
    common_platform::http::service_router(&SERVICE, routes::router(state), &config, db)
}

/// Builds the service for the binary from its own settings (which the shared runner reads right
/// after the shared configuration, so a bad value stops it before the database is reached) and
/// starts the image sweep (now, then periodically).
pub async fn start(context: ServiceContext, settings: ProductSettings) -> anyhow::Result<Router> {
    let shutdown = context.shutdown;
    let state =
        AppState::with_settings(context.config, context.db, settings, shutdown.clone()).await?;
    let orphan_age = images::orphan_age(state.config.request_timeout);
    tokio::spawn(
        state
            .products
            .images()
            .clone()
            .sweep_periodically(orphan_age, shutdown),
    );
    Ok(app(state))
}
