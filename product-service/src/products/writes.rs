//! The writes of a product: create, change, adjust its stock, delete. Each is one conditional
//! write to MongoDB (ownership and stock bounds in its filter) that records its event (see
//! `crate::store`), then applied to the read model, then settled with the product's category; a
//! write that matched nothing says why.

use common_api::{auth::AuthUser, money::Decimal};
use common_catalog::{ProductDoc, category_key};
use mongodb::bson::{DateTime, oid::ObjectId};

use super::{ProductError, Products, explain_no_match};
use crate::{
    models::{CreateProduct, UpdateProduct},
    store::ProductChanges,
};

impl Products {
    /// Adds the product `new` (validated), owned by `seller`.
    pub async fn create(
        &self,
        seller: &AuthUser,
        new: CreateProduct,
    ) -> Result<ProductDoc, ProductError> {
        let price = self.minor_price(&new.price)?;
        let now = DateTime::now();
        // Named as the category that exists in any case, which this product then creates if needed.
        let resolved = self.categories.resolve(&new.category).await?;
        let category = resolved.name().to_owned();
        let product = ProductDoc {
            id: ObjectId::new(),
            name: new.name.trim().to_owned(),
            description: new.description,
            price: price.into(),
            category_key: category_key(&category),
            category,
            stock: new.stock,
            seller_id: seller.id,
            created_at: now,
            updated_at: now,
            holds: Vec::new(),
            returns: Vec::new(),
            image: None,
        };
        self.store.insert(&product).await?;
        self.catalog.wrote(&product);
        let product = self
            .categories
            .settle(&product, resolved)
            .await?
            .unwrap_or(product);
        tracing::info!(product_id = %product.id, seller_id = %seller.id, "product created");
        Ok(product)
    }

    /// Changes the fields `changes` (validated) gives of product `id`, if `caller` may.
    pub async fn update(
        &self,
        id: ObjectId,
        caller: &AuthUser,
        changes: UpdateProduct,
    ) -> Result<ProductDoc, ProductError> {
        let price = changes
            .price
            .as_ref()
            .map(|price| self.minor_price(price))
            .transpose()?;
        let resolved = match &changes.category {
            Some(category) => Some(self.categories.resolve(category).await?),
            None => None,
        };
        let changes = ProductChanges {
            name: changes.name.map(|name| name.trim().to_owned()),
            description: changes.description,
            price,
            category: resolved.as_ref().map(|resolved| resolved.name().to_owned()),
        };
        let Some((before, product)) = self.store.update(id, caller, changes).await? else {
            explain_no_match(&self.store, id, caller).await?;
            // Exists and is the caller's, yet the update missed it: it was deleted in between.
            return Err(ProductError::NotFound);
        };
        self.catalog.wrote(&product);
        // Only once the caller may change the product may the category it names be created.
        let Some(resolved) = resolved else {
            return Ok(product);
        };
        let settled = self.categories.settle(&product, resolved).await?;
        if before.category_key != product.category_key {
            self.categories.left(&before.category_key).await?;
        }
        Ok(settled.unwrap_or(product))
    }

    /// Adds `delta` units to product `id`'s stock (takes them, if negative), if `caller` may, in
    /// one atomic conditional update: it never goes below zero, nor an increase past the maximum.
    pub async fn adjust_stock(
        &self,
        id: ObjectId,
        caller: &AuthUser,
        delta: i64,
    ) -> Result<ProductDoc, ProductError> {
        if let Some(product) = self.store.adjust_stock(id, caller, delta).await? {
            self.catalog.wrote(&product);
            tracing::info!(product_id = %id, delta, stock = product.stock, "stock adjusted");
            return Ok(product);
        }
        let product = explain_no_match(&self.store, id, caller).await?;
        Err(if delta < 0 {
            ProductError::InsufficientStock {
                id,
                in_stock: product.stock,
                requested: delta.unsigned_abs(),
            }
        } else {
            ProductError::StockLimit { id }
        })
    }

    /// The minor units of a validated `price` (0 to 1e9), refused with more decimals than the
    /// currency has.
    fn minor_price(&self, price: &Decimal) -> Result<i64, ProductError> {
        self.currency
            .minor_exact(price)
            .map_err(|_| ProductError::PriceTooPrecise(self.currency))
    }

    /// Removes product `id` and its image, if `caller` may: marks it deleted with its
    /// `product.deleted` event (from then on it is gone for every reader), then relays the event
    /// here, which removes the document.
    pub async fn delete(&self, id: ObjectId, caller: &AuthUser) -> Result<(), ProductError> {
        let Some(product) = self.store.delete(id, caller).await? else {
            explain_no_match(&self.store, id, caller).await?;
            // Exists and is the caller's, yet was not deleted: someone deleted it in between.
            return Err(ProductError::NotFound);
        };
        // The deletion stands either way: should this fail, the relay's task finishes it.
        if let Err(err) = self.store.relay_now().await {
            tracing::warn!(error = %err, product_id = %id, "deleted product not relayed yet; the relay will");
        }
        self.catalog.deleted(id);
        tracing::info!(product_id = %id, "product deleted");
        self.categories.left(&product.category_key).await?;
        // The product is gone either way; a file left behind is the sweep's to remove.
        if let Some(image) = product.image {
            self.images.discard(image.file_id).await;
        }
        Ok(())
    }
}
