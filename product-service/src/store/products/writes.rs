//! The changes the product routes make: a product's fields, its stock, its deletion. Each is one
//! conditional write (ownership and stock bounds in its filter) that records its event in a
//! pipeline stage.

use common_api::auth::AuthUser;
use common_catalog::{NOT_IN_EVENTS, ProductDoc, add_stock, category_key, field, stock_event};
use common_platform::events::{self, DELETED_AT, EventType};
use mongodb::{
    bson::{DateTime, doc, oid::ObjectId},
    error::Error,
    options::ReturnDocument,
};

use super::{ProductStore, owned_by, updated, without_bookkeeping};
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

impl ProductStore {
    /// Applies `changes` if `caller` may, recording `product.updated`; returns the product before
    /// and after, or `None` when it is gone or not theirs.
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
        let pipeline = vec![events::set_literally(set), updated(now)];
        let Some(before) = self
            .products
            .find_one_and_update(owned_by(id, caller), pipeline)
            .projection(without_bookkeeping())
            .return_document(ReturnDocument::Before)
            .await?
        else {
            return Ok(None);
        };
        self.recorded();
        let after = changes.applied_to(before.clone(), now);
        Ok(Some((before, after)))
    }

    /// Adds `delta` to the stock in one conditional update, if `caller` may and a decrease leaves
    /// it at 0 or more, an increase at the maximum or less; `None` otherwise. A decrease to 0
    /// records `product.out_of_stock`, an increase from 0 `product.back_in_stock`.
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
        let now = DateTime::now();
        let pipeline = vec![
            add_stock(delta),
            doc! { "$set": { field::UPDATED_AT: { "$literal": now } } },
            stock_event(delta, now),
        ];
        let adjusted = self
            .products
            .find_one_and_update(filter, pipeline)
            .projection(without_bookkeeping())
            .return_document(ReturnDocument::After)
            .await?;
        // The same condition `stock_event` recorded an event on.
        let crossed_zero = |stock: i64| {
            if delta < 0 {
                stock == 0
            } else {
                stock == delta
            }
        };
        if adjusted
            .as_ref()
            .is_some_and(|product| crossed_zero(product.stock))
        {
            self.recorded();
        }
        Ok(adjusted)
    }

    /// Marks the product deleted if `caller` may, recording `product.deleted` (the product as it
    /// last was), and returns it (its image is the caller's to delete); `None` when it is gone or
    /// not theirs. The relay removes the document once the event has moved.
    pub async fn delete(
        &self,
        id: ObjectId,
        caller: &AuthUser,
    ) -> Result<Option<ProductDoc>, Error> {
        let now = DateTime::now();
        let pipeline = vec![
            events::set_literally(doc! { DELETED_AT: now }),
            events::append(EventType::ProductDeleted, now, NOT_IN_EVENTS),
        ];
        let deleted = self
            .products
            .find_one_and_update(owned_by(id, caller), pipeline)
            .projection(without_bookkeeping())
            .await?;
        if deleted.is_some() {
            self.recorded();
        }
        Ok(deleted)
    }
}
