//! The writes and counts on `products` that category changes make: moving products between
//! categories (each moved product records its own `product.updated`), and asking MongoDB (not
//! the read model) whether a category still has products. Products marked deleted are in no
//! category.

use common_catalog::{NOT_IN_EVENTS, ProductDoc, category_key, field, live};
use common_platform::events::{self, EventType};
use mongodb::{
    bson::{DateTime, Document, doc, oid::ObjectId},
    error::Error,
    options::ReturnDocument,
};

use super::{ProductStore, updated, without_bookkeeping};

impl ProductStore {
    /// Gives every product still in `from_key`, or spelled otherwise than `name`, the category
    /// `name` (whose key is `key`), each recording its own `product.updated`. Idempotent;
    /// returns how many products changed.
    pub async fn move_category(&self, from_key: &str, name: &str, key: &str) -> Result<u64, Error> {
        let now = DateTime::now();
        let pipeline = vec![
            move_to(name, key, now),
            events::append_to_each(EventType::ProductUpdated, now, NOT_IN_EVENTS),
        ];
        let result = self
            .products
            .update_many(still_in(from_key, name, key), pipeline)
            .await?;
        if result.modified_count > 0 {
            self.recorded();
        }
        Ok(result.modified_count)
    }

    /// Gives product `id` the category `name` (whose key is `key`) if it is still in `from_key`
    /// and spelled otherwise: a product written while its category was being renamed, recording
    /// `product.updated`. Returns the product as it then is; `None` if nothing changed.
    pub async fn move_to_category(
        &self,
        id: ObjectId,
        from_key: &str,
        name: &str,
        key: &str,
    ) -> Result<Option<ProductDoc>, Error> {
        let mut filter = still_in(from_key, name, key);
        filter.insert(field::ID, id);
        let now = DateTime::now();
        let moved = self
            .products
            .find_one_and_update(filter, vec![move_to(name, key, now), updated(now)])
            .projection(without_bookkeeping())
            .return_document(ReturnDocument::After)
            .await?;
        if moved.is_some() {
            self.recorded();
        }
        Ok(moved)
    }

    /// The category as a product in `key` spells it (the oldest such product), if any product
    /// is in it.
    pub async fn category_spelling(&self, key: &str) -> Result<Option<String>, Error> {
        Ok(self
            .products
            .find_one(in_category(key))
            .sort(doc! { field::ID: 1 })
            .projection(without_bookkeeping())
            .await?
            .map(|product| product.category))
    }

    /// Whether any product is in category `key` (read from MongoDB, not the read model).
    pub async fn any_in_category(&self, key: &str) -> Result<bool, Error> {
        let count = self
            .products
            .count_documents(in_category(key))
            .limit(1)
            .await?;
        Ok(count > 0)
    }

    /// Gives a `category_key` to products that have none (written by an earlier system or by
    /// hand), so that renames, deletes and the backfill find them by key. Returns how many.
    pub async fn fill_missing_category_keys(&self) -> Result<u64, Error> {
        let mut without_key = live();
        without_key.insert(field::CATEGORY_KEY, doc! { "$exists": false });
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

/// Products in category `key`.
fn in_category(key: &str) -> Document {
    let mut filter = live();
    filter.insert(field::CATEGORY_KEY, key);
    filter
}

/// Products in `from_key` that do not yet carry the category `name` with key `key`.
fn still_in(from_key: &str, name: &str, key: &str) -> Document {
    let mut filter = in_category(from_key);
    filter.insert(
        "$or",
        vec![
            doc! { field::CATEGORY: { "$ne": name } },
            doc! { field::CATEGORY_KEY: { "$ne": key } },
        ],
    );
    filter
}

/// The update pipeline stage that gives a product the category `name` with key `key` at `now`
/// (taken literally: a name may begin with `$`).
fn move_to(name: &str, key: &str, now: DateTime) -> Document {
    events::set_literally(doc! {
        field::CATEGORY: name,
        field::CATEGORY_KEY: key,
        field::UPDATED_AT: now,
    })
}
