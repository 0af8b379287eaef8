//! The `products` collection, opened here and nowhere else in this service.
//!
//! Writes that depend on ownership or on the stock level are single conditional operations: the
//! filter carries the condition (`seller_id`, `stock >= -delta`), so no interleaving of requests
//! can act on a product it should not or take stock below zero. When such a write matches
//! nothing, [`ProductStore::find`] tells the caller why (gone, not theirs, or not enough stock).
//!
//! The document is defined once, in `common_catalog`, since the order service writes it too.
//! Besides the product routes' own reads and writes, the store serves every other flow that
//! touches products: categories moving products between them ([`categories`]), images swapping
//! their reference ([`images`]), and the catalog read model's raw reads and change stream
//! ([`catalog`]). Lists are not answered here but from the read model, which then reads each
//! page's documents with [`ProductStore::find_many`].

mod catalog;
mod categories;
mod images;

use std::collections::HashMap;

use common_api::{auth::AuthUser, money::Currency};
use common_catalog::{PRODUCTS, ProductDoc, category_key, field};
use common_platform::db::rewrite_each;
use futures_util::TryStreamExt;
use mongodb::{
    Collection, Database, IndexModel,
    bson::{DateTime, Document, doc, oid::ObjectId},
    error::Error,
    options::{IndexOptions, ReturnDocument},
};

pub use self::catalog::{ChangeEvents, Watch};
use crate::models::MAX_STOCK;

/// The fields of an update that were given.
#[derive(Debug, Default)]
pub struct ProductChanges {
    /// A new name, trimmed.
    pub name: Option<String>,
    /// A new description.
    pub description: Option<String>,
    /// A new price, in minor units.
    pub price: Option<i64>,
    /// A new category, trimmed.
    pub category: Option<String>,
}

impl ProductChanges {
    /// `product` with these changes made at `now`: what the update's `$set` makes of it.
    fn applied_to(self, mut product: ProductDoc, now: DateTime) -> ProductDoc {
        if let Some(name) = self.name {
            product.name = name;
        }
        if let Some(description) = self.description {
            product.description = description;
        }
        if let Some(price) = self.price {
            product.price = price.into();
        }
        if let Some(category) = self.category {
            product.category_key = category_key(&category);
            product.category = category;
        }
        product.updated_at = now;
        product
    }
}

/// Reads and writes products. Cheap to clone.
#[derive(Clone)]
pub struct ProductStore {
    products: Collection<ProductDoc>,
}

impl ProductStore {
    /// The store over `db.products`.
    pub fn new(db: &Database) -> Self {
        Self {
            products: db.collection(PRODUCTS),
        }
    }

    /// Converts every price stored as a float of major units (written before money was exact) to
    /// minor units of `currency`, rounding half to even; a price changed meanwhile is left as it
    /// now is. Returns how many were converted: 0 once done, so it runs at every start.
    pub async fn convert_float_prices(&self, currency: Currency) -> Result<u64, Error> {
        let floats = doc! { field::PRICE: { "$type": "double" } };
        rewrite_each(&self.products.clone_with_type(), floats, |product| {
            let id = product.get_object_id(field::ID).ok()?;
            let price = product.get_f64(field::PRICE).ok()?;
            let Some(minor) = currency.minor_half_even(price) else {
                tracing::warn!(product_id = %id, price, "a stored price is no amount; left as it is");
                return None;
            };
            Some((
                doc! { field::ID: id, field::PRICE: price },
                doc! { "$set": { field::PRICE: minor } },
            ))
        })
        .await
    }

    /// Creates the indexes that renames, deletes and the category backfill look products up by
    /// (category key), and that the image sweep reads (image file); no-ops when they exist.
    pub async fn ensure_indexes(&self) -> Result<(), Error> {
        let by_category = IndexModel::builder()
            .keys(doc! { field::CATEGORY_KEY: 1 })
            .options(
                IndexOptions::builder()
                    .name("category_key".to_owned())
                    .build(),
            )
            .build();
        let by_image_file = IndexModel::builder()
            .keys(doc! { field::IMAGE_FILE_ID: 1 })
            .options(IndexOptions::builder().sparse(true).build())
            .build();
        self.products
            .create_indexes([by_category, by_image_file])
            .await?;
        Ok(())
    }

    /// Stores a new product.
    pub async fn insert(&self, product: &ProductDoc) -> Result<(), Error> {
        self.products.insert_one(product).await?;
        Ok(())
    }

    /// The product with this id.
    pub async fn find(&self, id: ObjectId) -> Result<Option<ProductDoc>, Error> {
        self.products.find_one(doc! { field::ID: id }).await
    }

    /// The products `ids` that still exist, in the order of `ids`.
    pub async fn find_many(&self, ids: &[ObjectId]) -> Result<Vec<ProductDoc>, Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut found: HashMap<ObjectId, ProductDoc> = self
            .products
            .find(doc! { field::ID: { "$in": ids } })
            .projection(without_bookkeeping())
            .await?
            .map_ok(|product| (product.id, product))
            .try_collect()
            .await?;
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }

    /// Applies `changes` if `caller` may; returns the product before and after, or `None` when it
    /// is gone or not theirs.
    pub async fn update(
        &self,
        id: ObjectId,
        caller: &AuthUser,
        changes: ProductChanges,
    ) -> Result<Option<(ProductDoc, ProductDoc)>, Error> {
        let now = DateTime::now();
        let mut set = doc! { field::UPDATED_AT: now };
        if let Some(name) = &changes.name {
            set.insert(field::NAME, name);
        }
        if let Some(description) = &changes.description {
            set.insert(field::DESCRIPTION, description);
        }
        if let Some(price) = changes.price {
            set.insert(field::PRICE, price);
        }
        if let Some(category) = &changes.category {
            set.insert(field::CATEGORY_KEY, category_key(category));
            set.insert(field::CATEGORY, category);
        }
        let Some(before) = self
            .products
            .find_one_and_update(owned_by(id, caller), doc! { "$set": set })
            .projection(without_bookkeeping())
            .return_document(ReturnDocument::Before)
            .await?
        else {
            return Ok(None);
        };
        let after = changes.applied_to(before.clone(), now);
        Ok(Some((before, after)))
    }

    /// Adds `delta` to the stock in one conditional update, if `caller` may and a decrease leaves
    /// it at 0 or more, an increase at the maximum or less; `None` otherwise.
    pub async fn adjust_stock(
        &self,
        id: ObjectId,
        caller: &AuthUser,
        delta: i64,
    ) -> Result<Option<ProductDoc>, Error> {
        // Only the bound this delta moves towards is checked: stock returned by cancelled orders
        // may sit above the maximum, and must still be sellable.
        let mut filter = owned_by(id, caller);
        let bound = if delta < 0 {
            doc! { "$gte": -delta }
        } else {
            doc! { "$lte": MAX_STOCK - delta }
        };
        filter.insert(field::STOCK, bound);
        self.products
            .find_one_and_update(
                filter,
                doc! {
                    "$inc": { field::STOCK: delta },
                    "$set": { field::UPDATED_AT: DateTime::now() },
                },
            )
            .return_document(ReturnDocument::After)
            .await
    }

    /// Deletes the product if `caller` may and returns it (its image is the caller's to delete);
    /// `None` when it is gone or not theirs.
    pub async fn delete(
        &self,
        id: ObjectId,
        caller: &AuthUser,
    ) -> Result<Option<ProductDoc>, Error> {
        self.products
            .find_one_and_delete(owned_by(id, caller))
            .projection(without_bookkeeping())
            .await
    }
}

/// Matches the product `id` if `caller` is its seller or an admin.
fn owned_by(id: ObjectId, caller: &AuthUser) -> Document {
    if caller.is_admin() {
        doc! { field::ID: id }
    } else {
        doc! { field::ID: id, field::SELLER_ID: caller.id }
    }
}

/// The projection that leaves out the order service's bookkeeping, which no answer shows.
fn without_bookkeeping() -> Document {
    doc! { field::HOLDS: 0, field::RETURNS: 0 }
}
