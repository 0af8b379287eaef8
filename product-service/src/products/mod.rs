//! The catalog's domain: [`Products`], the one type through which every product is written and
//! listed.
//!
//! It owns the product store, the read model lists are answered from ([`catalog`]), the
//! categories products belong to ([`categories`]) and their images ([`images`]). Each of its
//! writes applies itself to the read model and settles the product's category (creating it,
//! following a rename, removing an implicit one the product left) before it returns, so no caller
//! has to remember either; category and image flows are reached through it too. Its methods
//! answer in typed errors ([`ProductError`], [`CategoryError`], [`ImageError`]), which only the
//! routes turn into HTTP answers.

pub mod catalog;
pub mod categories;
pub mod images;
mod writes;

use anyhow::Context;
use common_api::auth::AuthUser;
use common_api::money::Currency;
use common_catalog::ProductDoc;
use common_platform::server::Shutdown;
use mongodb::{bson::oid::ObjectId, error::Error};

pub use self::{
    catalog::{Catalog, Query},
    categories::{Categories, CategoryError, Clash},
    images::{ImageError, Images},
};
use crate::{
    settings::ProductSettings,
    store::{CategoryStore, ImageFiles, ProductStore},
};

/// Why a product flow did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ProductError {
    /// No such product.
    #[error("no such product")]
    NotFound,
    /// The caller is neither the product's seller nor an admin.
    #[error("not the product's seller or an admin")]
    NotOwner,
    /// Taking `requested` units would leave the stock below zero; nothing changed.
    #[error("product {id} has {in_stock} in stock, {requested} requested")]
    InsufficientStock {
        /// The product.
        id: ObjectId,
        /// Its stock when the change was refused.
        in_stock: i64,
        /// The units asked for.
        requested: u64,
    },
    /// Adding would take the stock past [`crate::models::MAX_STOCK`]; nothing changed.
    #[error("the stock of product {id} would exceed the maximum")]
    StockLimit {
        /// The product.
        id: ObjectId,
    },
    /// A price with more decimals than the currency has (`19.999` in USD); nothing changed.
    #[error("a price with more decimals than {0} has")]
    PriceTooPrecise(Currency),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] Error),
}

/// One page of products, and how many match in all.
#[derive(Debug)]
pub struct Listed {
    /// The page, in order.
    pub products: Vec<ProductDoc>,
    /// Every match.
    pub total: usize,
}

/// The catalog: products, their read model, categories and images. Cheap to clone.
#[derive(Clone)]
pub struct Products {
    currency: Currency,
    store: ProductStore,
    catalog: Catalog,
    categories: Categories,
    images: Images,
}

impl Products {
    /// Loads the read model and the categories from the stores and keeps both current until
    /// `shutdown` (the feed of the read model, the categories' upkeep).
    pub async fn start(
        store: ProductStore,
        categories: CategoryStore,
        files: ImageFiles,
        currency: Currency,
        settings: &ProductSettings,
        shutdown: Shutdown,
    ) -> anyhow::Result<Self> {
        let catalog =
            catalog::feed::start(&store, currency, settings.poll_interval, shutdown.clone())
                .await
                .context("could not load the catalog")?;
        tracing::info!(products = catalog.len(), "catalog loaded");
        let categories = Categories::start(
            categories,
            store.clone(),
            catalog.clone(),
            settings.poll_interval,
            shutdown,
        )
        .await
        .context("could not load the categories")?;
        let images = Images::new(files, store.clone(), settings.concurrent_uploads);
        Ok(Self {
            currency,
            store,
            catalog,
            categories,
            images,
        })
    }

    /// The categories: what admins do to them, and `GET /categories`.
    pub fn categories(&self) -> &Categories {
        &self.categories
    }

    /// The products' images.
    pub fn images(&self) -> &Images {
        &self.images
    }

    /// Product `id`.
    pub async fn get(&self, id: ObjectId) -> Result<ProductDoc, ProductError> {
        self.store.find(id).await?.ok_or(ProductError::NotFound)
    }

    /// The page of products `query` asks for, from the read model; the documents are read fresh.
    pub async fn list(&self, query: &Query) -> Result<Listed, ProductError> {
        let hits = self.catalog.search(query);
        Ok(Listed {
            products: self.store.find_many(&hits.ids).await?,
            total: hits.total,
        })
    }

    /// The products with at most `below` units in stock, lowest stock first (ties by id): the
    /// caller's own, or every product for an admin; the page from `offset`, at most `limit`.
    pub async fn low_stock(
        &self,
        caller: &AuthUser,
        below: i64,
        offset: usize,
        limit: usize,
    ) -> Result<Listed, ProductError> {
        let seller = (!caller.is_admin()).then_some(caller.id);
        let hits = self.catalog.low_stock(seller, below, offset, limit);
        Ok(Listed {
            products: self.store.find_many(&hits.ids).await?,
            total: hits.total,
        })
    }
}

/// After a conditional write on product `id` matched nothing: why not?
/// [`ProductError::NotFound`] if it is gone, [`ProductError::NotOwner`] if it is not `caller`'s,
/// otherwise the product, for the caller to judge (the write lost a race, or a condition of its
/// own did not hold).
async fn explain_no_match(
    store: &ProductStore,
    id: ObjectId,
    caller: &AuthUser,
) -> Result<ProductDoc, ProductError> {
    let product = store.find(id).await?.ok_or(ProductError::NotFound)?;
    if caller.may_act_for(product.seller_id) {
        Ok(product)
    } else {
        Err(ProductError::NotOwner)
    }
}
