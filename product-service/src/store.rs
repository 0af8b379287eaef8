//! The `products` collection.
//!
//! Writes that depend on ownership or on the stock level are single conditional operations: the
//! filter carries the condition (`seller_id`, `stock >= -delta`), so no interleaving of requests
//! can act on a product it should not or take stock below zero. When such a write matches
//! nothing, [`ProductStore::find`] tells the caller why (gone, not theirs, or not enough stock).
//!
//! The order service shares this collection and marks products it is taking stock from with a
//! `holds` array; reads here ignore it.

use common::{auth::AuthUser, db::find_page, pagination::Page};
use futures_util::TryStreamExt;
use mongodb::{
    Collection, Database, IndexModel,
    bson::{DateTime, Document, doc, oid::ObjectId},
    error::Error,
    options::ReturnDocument,
};
use serde::{Deserialize, Serialize};

use crate::models::{Category, MAX_STOCK};

/// The name of the collection, shared with the order service.
pub const PRODUCTS: &str = "products";

/// A stored product.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProductDoc {
    /// The product id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// The name, trimmed.
    pub name: String,
    /// The description.
    pub description: String,
    /// The price as sent.
    pub price: f64,
    /// The category as first spelled, trimmed.
    pub category: String,
    /// The category lowercased: what filters and groups match on.
    pub category_key: String,
    /// Units in stock; never below zero.
    pub stock: i64,
    /// The owning seller.
    pub seller_id: ObjectId,
    /// When it was created.
    pub created_at: DateTime,
    /// When it last changed.
    pub updated_at: DateTime,
}

/// The fields of an update that were given.
#[derive(Debug, Default)]
pub struct ProductChanges {
    /// A new name, trimmed.
    pub name: Option<String>,
    /// A new description.
    pub description: Option<String>,
    /// A new price.
    pub price: Option<f64>,
    /// A new category, trimmed.
    pub category: Option<String>,
}

/// What to list.
#[derive(Debug, Default)]
pub struct ProductQuery {
    /// Text the name must contain, in any case (literal).
    pub name_contains: Option<String>,
    /// The category, in any case.
    pub category: Option<String>,
}

/// Reads and writes products.
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

    /// Creates the index that serves the category filter in list order (`_id` serves the
    /// unfiltered list).
    pub async fn ensure_indexes(&self) -> Result<(), Error> {
        let by_category = IndexModel::builder()
            .keys(doc! { "category_key": 1, "_id": 1 })
            .build();
        self.products.create_index(by_category).await?;
        Ok(())
    }

    /// Stores a new product.
    pub async fn insert(&self, product: &ProductDoc) -> Result<(), Error> {
        self.products.insert_one(product).await?;
        Ok(())
    }

    /// The product with this id.
    pub async fn find(&self, id: ObjectId) -> Result<Option<ProductDoc>, Error> {
        self.products.find_one(doc! { "_id": id }).await
    }

    /// One page of matching products, oldest first, and how many match in all.
    pub async fn list(
        &self,
        query: &ProductQuery,
        page: Page,
    ) -> Result<(Vec<ProductDoc>, u64), Error> {
        let mut filter = Document::new();
        if let Some(text) = query
            .name_contains
            .as_deref()
            .filter(|text| !text.is_empty())
        {
            filter.insert(
                "name",
                doc! { "$regex": literal_pattern(text), "$options": "i" },
            );
        }
        if let Some(category) = &query.category {
            filter.insert("category_key", category_key(category));
        }
        find_page(&self.products, filter, doc! { "_id": 1 }, page).await
    }

    /// Applies `changes` if `caller` may; `None` when the product is gone or not theirs.
    pub async fn update(
        &self,
        id: ObjectId,
        caller: &AuthUser,
        changes: ProductChanges,
    ) -> Result<Option<ProductDoc>, Error> {
        let mut set = doc! { "updated_at": DateTime::now() };
        if let Some(name) = changes.name {
            set.insert("name", name);
        }
        if let Some(description) = changes.description {
            set.insert("description", description);
        }
        if let Some(price) = changes.price {
            set.insert("price", price);
        }
        if let Some(category) = changes.category {
            set.insert("category_key", category_key(&category));
            set.insert("category", category);
        }
        self.products
            .find_one_and_update(owned_by(id, caller), doc! { "$set": set })
            .return_document(ReturnDocument::After)
            .await
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
        filter.insert("stock", bound);
        self.products
            .find_one_and_update(
                filter,
                doc! {
                    "$inc": { "stock": delta },
                    "$set": { "updated_at": DateTime::now() },
                },
            )
            .return_document(ReturnDocument::After)
            .await
    }

    /// Deletes the product if `caller` may; `false` when it is gone or not theirs.
    pub async fn delete(&self, id: ObjectId, caller: &AuthUser) -> Result<bool, Error> {
        let result = self.products.delete_one(owned_by(id, caller)).await?;
        Ok(result.deleted_count == 1)
    }

    /// Every non-empty category with its product count, sorted by name (case-insensitively).
    pub async fn categories(&self) -> Result<Vec<Category>, Error> {
        let pipeline = [
            doc! { "$match": { "category_key": { "$ne": "" } } },
            doc! { "$sort": { "_id": 1 } },
            doc! { "$group": {
                "_id": "$category_key",
                "name": { "$first": "$category" },
                "product_count": { "$sum": 1 },
            } },
            doc! { "$sort": { "_id": 1 } },
        ];
        self.products
            .aggregate(pipeline)
            .with_type::<Category>()
            .await?
            .try_collect()
            .await
    }
}

/// Matches the product `id` if `caller` is its seller or an admin.
fn owned_by(id: ObjectId, caller: &AuthUser) -> Document {
    if caller.is_admin() {
        doc! { "_id": id }
    } else {
        doc! { "_id": id, "seller_id": caller.id }
    }
}

/// The key a category is matched and grouped by.
pub fn category_key(category: &str) -> String {
    category.trim().to_lowercase()
}

/// `text` as a regular expression that matches exactly that text: every ASCII punctuation
/// character is escaped, which in PCRE always means the character itself. No pattern syntax
/// (groups, repetition, classes) survives, so a search can neither fail to parse nor backtrack.
pub fn literal_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if c.is_ascii_punctuation() {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metacharacter_is_escaped() {
        assert_eq!(literal_pattern("a.*b"), r"a\.\*b");
        assert_eq!(
            literal_pattern(r"(x)\[y]{1,99}|^$+?"),
            r"\(x\)\\\[y\]\{1\,99\}\|\^\$\+\?"
        );
        assert_eq!(literal_pattern("Crème brûlée 2"), "Crème brûlée 2");
    }

    #[test]
    fn categories_match_trimmed_and_in_any_case() {
        assert_eq!(category_key("  Home & Kitchen "), "home & kitchen");
    }
}
