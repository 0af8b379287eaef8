//! The `products` collection: one definition of the document that two services write.
//!
//! The product service owns the catalog fields (name, description, price, category, seller) and
//! adjusts stock on a seller's request; the order service takes and returns stock and leaves its
//! bookkeeping on the same document: `holds` while an order is being placed and `returns` after a
//! cancel gave a line back (see `order-service`'s inventory store). Both services name fields
//! through [`field`], so a rename happens in one place. A product's image lives in GridFS; the
//! document holds only a reference to it ([`ImageRef`]), which the order service never reads.

pub use common_api::money::StoredAmount;
use common_platform::events::{self, DELETED_AT, EventType};
use mongodb::bson::{Bson, DateTime, Document, doc, oid::ObjectId};
use serde::{Deserialize, Serialize};

/// The name of the collection.
pub const PRODUCTS: &str = "products";

/// Field names, for filters and updates.
pub mod field {
    /// The product id.
    pub const ID: &str = "_id";
    /// The name, trimmed.
    pub const NAME: &str = "name";
    /// The description.
    pub const DESCRIPTION: &str = "description";
    /// The price.
    pub const PRICE: &str = "price";
    /// The category as first spelled.
    pub const CATEGORY: &str = "category";
    /// The category lowercased, what filters match.
    pub const CATEGORY_KEY: &str = "category_key";
    /// Units in stock.
    pub const STOCK: &str = "stock";
    /// The owning seller.
    pub const SELLER_ID: &str = "seller_id";
    /// When the product was created.
    pub const CREATED_AT: &str = "created_at";
    /// When a catalog field last changed (stock changes by orders do not touch it).
    pub const UPDATED_AT: &str = "updated_at";
    /// Orders' claims on the stock while they are being placed ([`super::Hold`]).
    pub const HOLDS: &str = "holds";
    /// Markers of cancelled lines already given back ([`super::ReturnMarker`]).
    pub const RETURNS: &str = "returns";
    /// The product's image, if it has one ([`super::ImageRef`]).
    pub const IMAGE: &str = "image";
    /// The GridFS file id of the image, for filters and the index that finds a file's product.
    pub const IMAGE_FILE_ID: &str = "image.file_id";
}

/// Field names inside a [`Hold`] and a [`ReturnMarker`], for filters on array elements.
pub mod marker {
    /// The order a hold or return marker belongs to.
    pub const ORDER: &str = "order";
    /// A hold's units.
    pub const QTY: &str = "qty";
    /// When the marker was left.
    pub const AT: &str = "at";
}

/// A stored product.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProductDoc {
    /// The product id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// The name, trimmed.
    pub name: String,
    /// The description.
    #[serde(default)]
    pub description: String,
    /// The price in minor units of the deployment's currency (a float of major units in a
    /// document written before money was exact, until the startup backfill converts it).
    pub price: StoredAmount,
    /// The category as first spelled, trimmed ("" for none).
    #[serde(default)]
    pub category: String,
    /// The category lowercased: what filters and groups match on.
    #[serde(default)]
    pub category_key: String,
    /// Units in stock; never below zero.
    pub stock: i64,
    /// The owning seller.
    pub seller_id: ObjectId,
    /// When it was created.
    pub created_at: DateTime,
    /// When a catalog field last changed.
    pub updated_at: DateTime,
    /// Orders being placed that took stock from this product.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holds: Vec<Hold>,
    /// Cancelled lines given back to this product, kept until the recovery pass clears them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub returns: Vec<ReturnMarker>,
    /// The product's image; absent in documents written before images existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageRef>,
}

/// Where a product's image is and what it is: the GridFS file holds the bytes, this reference
/// what a response needs without reading them (type, length, and the SHA-256 that is its ETag).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageRef {
    /// The GridFS file (in the product service's image bucket).
    pub file_id: ObjectId,
    /// `image/png`, `image/jpeg` or `image/webp`.
    pub content_type: String,
    /// Its size in bytes.
    pub length: i64,
    /// The SHA-256 of the bytes, 64 lowercase hex characters.
    pub sha256: String,
    /// When it was uploaded.
    pub uploaded_at: DateTime,
}

/// An order's claim on a product's stock, left while the order is being placed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hold {
    /// The order that took the stock.
    pub order: ObjectId,
    /// Units taken.
    pub qty: i64,
    /// When they were taken.
    pub at: DateTime,
}

/// A return marker: this order's line was given back by a cancel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReturnMarker {
    /// The cancelled order.
    pub order: ObjectId,
    /// When the line was given back.
    pub at: DateTime,
}

/// Fields of a product that no event shows: the order service's bookkeeping.
pub const NOT_IN_EVENTS: &[&str] = &[field::HOLDS, field::RETURNS];

/// The filter that leaves out a product being deleted: its `product.deleted` event is recorded
/// and the relay removes it once the event has moved (see [`common_platform::events`]); nothing
/// reads, changes or takes stock from it meanwhile.
pub fn live() -> Document {
    doc! { DELETED_AT: { "$exists": false } }
}

/// The update pipeline stage that records `product.out_of_stock` (a decrease that left the stock
/// at 0) or `product.back_in_stock` (an increase from 0), placed after the stage that added
/// `delta` to the stock.
pub fn stock_event(delta: i64, at: DateTime) -> Document {
    let stock = format!("${}", field::STOCK);
    // A product being deleted has had its last event.
    let live = doc! { "$eq": [{ "$type": format!("${DELETED_AT}") }, "missing"] };
    if delta < 0 {
        events::append_if(
            Bson::Document(doc! { "$and": [{ "$eq": [stock, 0_i64] }, live] }),
            EventType::ProductOutOfStock,
            at,
            NOT_IN_EVENTS,
        )
    } else {
        events::append_if(
            Bson::Document(doc! { "$and": [{ "$eq": [stock, delta] }, live] }),
            EventType::ProductBackInStock,
            at,
            NOT_IN_EVENTS,
        )
    }
}

/// The update pipeline stage that adds `delta` to the stock.
pub fn add_stock(delta: i64) -> Document {
    doc! { "$set": { field::STOCK: { "$add": [format!("${}", field::STOCK), delta] } } }
}

/// The key a category is matched and grouped by: trimmed and lowercased.
pub fn category_key(category: &str) -> String {
    category.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_match_trimmed_and_in_any_case() {
        assert_eq!(category_key("  Home & Kitchen "), "home & kitchen");
    }

    #[test]
    fn a_product_without_bookkeeping_stores_none() {
        let now = DateTime::now();
        let product = ProductDoc {
            id: ObjectId::new(),
            name: "Lamp".into(),
            description: String::new(),
            price: StoredAmount::Minor(150),
            category: String::new(),
            category_key: String::new(),
            stock: 3,
            seller_id: ObjectId::new(),
            created_at: now,
            updated_at: now,
            holds: Vec::new(),
            returns: Vec::new(),
            image: None,
        };
        let stored = mongodb::bson::to_document(&product).unwrap();
        assert!(!stored.contains_key(field::HOLDS));
        assert!(!stored.contains_key(field::RETURNS));
        assert!(!stored.contains_key(field::IMAGE));
        let read: ProductDoc = mongodb::bson::from_document(stored).unwrap();
        assert_eq!(read, product);
    }
}
