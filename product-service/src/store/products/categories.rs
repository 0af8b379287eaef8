//! The writes and counts on `products` that category changes make: moving products between
//! categories, and asking MongoDB (not the read model) whether a category still has products.

use common_catalog::{ProductDoc, category_key, field};
use mongodb::{
    bson::{DateTime, Document, doc, oid::ObjectId},
    error::Error,
    options::ReturnDocument,
};

use super::{ProductStore, without_bookkeeping};

impl ProductStore {
    /// Gives every product still in `from_key`, or spelled otherwise than `name`, the category
    /// `name` (whose key is `key`). Idempotent; returns how many products changed.
    pub async fn move_category(&self, from_key: &str, name: &str, key: &str) -> Result<u64, Error> {
        let result = self
            .products
            .update_many(still_in(from_key, name, key), move_to(name, key))
            .await?;
        Ok(result.modified_count)
    }

    /// Gives product `id` the category `name` (whose key is `key`) if it is still in `from_key`
    /// and spelled otherwise: a product written while its category was being renamed. Returns
    /// the product as it then is; `None` if nothing changed.
    pub async fn move_to_category(
        &self,
        id: ObjectId,
        from_key: &str,
        name: &str,
        key: &str,
    ) -> Result<Option<ProductDoc>, Error> {
        let mut filter = still_in(from_key, name, key);
        filter.insert(field::ID, id);
        self.products
            .find_one_and_update(filter, move_to(name, key))
            .projection(without_bookkeeping())
            .return_document(ReturnDocument::After)
            .await
    }

    /// The category as a product in `key` spells it (the oldest such product), if any product
    /// is in it.
    pub async fn category_spelling(&self, key: &str) -> Result<Option<String>, Error> {
        Ok(self
            .products
            .find_one(doc! { field::CATEGORY_KEY: key })
            .sort(doc! { field::ID: 1 })
            .projection(without_bookkeeping())
            .await?
            .map(|product| product.category))
    }

    /// Whether any product is in category `key` (read from MongoDB, not the read model).
    pub async fn any_in_category(&self, key: &str) -> Result<bool, Error> {
        let count = self
            .products
            .count_documents(doc! { field::CATEGORY_KEY: key })
            .limit(1)
            .await?;
        Ok(count > 0)
    }

    /// Gives a `category_key` to products that have none (written by an earlier system or by
    /// hand), so that renames, deletes and the backfill find them by key. Returns how many.
    pub async fn fill_missing_category_keys(&self) -> Result<u64, Error> {
        let without_key = doc! { field::CATEGORY_KEY: { "$exists": false } };
        let spellings = self
            .products
            .distinct(field::CATEGORY, without_key.clone())
            .await?;
        let mut filled = 0;
        for spelling in spellings {
            let Some(category) = spelling.as_str() else {
                continue;
            };
            let mut filter = without_key.clone();
            filter.insert(field::CATEGORY, category);
            let update = doc! { "$set": { field::CATEGORY_KEY: category_key(category) } };
            filled += self
                .products
                .update_many(filter, update)
                .await?
                .modified_count;
        }
        Ok(filled)
    }
}

/// Products in `from_key` that do not yet carry the category `name` with key `key`.
fn still_in(from_key: &str, name: &str, key: &str) -> Document {
    doc! {
        field::CATEGORY_KEY: from_key,
        "$or": [
            { field::CATEGORY: { "$ne": name } },
            { field::CATEGORY_KEY: { "$ne": key } },
        ],
    }
}

/// The update that gives a product the category `name` with key `key`.
fn move_to(name: &str, key: &str) -> Document {
    doc! { "$set": {
        field::CATEGORY: name,
        field::CATEGORY_KEY: key,
        field::UPDATED_AT: DateTime::now(),
    } }
}
