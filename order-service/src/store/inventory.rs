//! The stock side of orders, on the shared `products` collection.
//!
//! Every stock change here is one single-document atomic operation that also leaves or removes a
//! marker on the same product, so whoever runs it (a request, a retry, a recovery pass on any
//! replica) it takes effect at most once:
//!
//! - **take**: `{_id, stock >= q}` → `stock -= q` and push the hold `{order, qty, at}`;
//! - **give back**: only while that exact hold is there → `stock += q` and pull it;
//! - **release**: pull holds of orders that exist (stock stays taken);
//! - **return** (cancel): only while no return marker of the order is there → `stock += q` and
//!   push the marker `{order, at}`, which the recovery pass clears long after the cancel is done.

use futures_util::TryStreamExt;
use mongodb::{
    Collection, Database, IndexModel,
    bson::{DateTime, Document, doc, oid::ObjectId},
    error::Error,
    options::ReturnDocument,
};
use serde::Deserialize;

/// A product's name and price when a line took its stock.
#[derive(Clone, Debug, Deserialize)]
pub struct Snapshot {
    /// The name.
    pub name: String,
    /// The price.
    pub price: f64,
}

/// An order's claim on a product's stock, left while the order is being placed.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Hold {
    /// The order that took the stock.
    pub order: ObjectId,
    /// Units taken.
    pub qty: i64,
    /// When they were taken.
    pub at: DateTime,
}

/// A product's return marker: this order's line was given back by a cancel.
#[derive(Clone, Debug, Deserialize)]
struct ReturnMarker {
    order: ObjectId,
    at: DateTime,
}

#[derive(Debug, Deserialize)]
struct Markers {
    #[serde(rename = "_id")]
    id: ObjectId,
    #[serde(default)]
    holds: Vec<Hold>,
    #[serde(default)]
    returns: Vec<ReturnMarker>,
}

/// Takes and gives back stock for orders.
#[derive(Clone)]
pub struct Inventory {
    products: Collection<Document>,
}

impl Inventory {
    /// The inventory over `db.products`.
    pub fn new(db: &Database) -> Self {
        Self {
            products: db.collection("products"),
        }
    }

    /// Creates the indexes the recovery pass uses to find old markers.
    pub async fn ensure_indexes(&self) -> Result<(), Error> {
        let holds = IndexModel::builder().keys(doc! { "holds.at": 1 }).build();
        let returns = IndexModel::builder().keys(doc! { "returns.at": 1 }).build();
        self.products.create_indexes([holds, returns]).await?;
        Ok(())
    }

    /// Takes `qty` units of `product` for `order` if that many are in stock, leaving a hold.
    /// Returns the product's name and price, or `None` if it is missing or short of stock.
    pub async fn take(
        &self,
        product: ObjectId,
        qty: i64,
        order: ObjectId,
        at: DateTime,
    ) -> Result<Option<Snapshot>, Error> {
        self.products
            .clone_with_type::<Snapshot>()
            .find_one_and_update(
                doc! { "_id": product, "stock": { "$gte": qty } },
                doc! {
                    "$inc": { "stock": -qty },
                    "$push": { "holds": { "order": order, "qty": qty, "at": at } },
                },
            )
            .projection(doc! { "_id": 0, "name": 1, "price": 1 })
            .return_document(ReturnDocument::Before)
            .await
    }

    /// Whether `product` exists.
    pub async fn exists(&self, product: ObjectId) -> Result<bool, Error> {
        let found = self
            .products
            .find_one(doc! { "_id": product })
            .projection(doc! { "_id": 1 })
            .await?;
        Ok(found.is_some())
    }

    /// Gives back the `qty` units `order` holds on `product`, removing the hold in the same
    /// update; `false` if that hold is not there (already given back, released, or never taken).
    pub async fn give_back(
        &self,
        product: ObjectId,
        order: ObjectId,
        qty: i64,
    ) -> Result<bool, Error> {
        let result = self
            .products
            .update_one(
                doc! { "_id": product, "holds": { "$elemMatch": { "order": order, "qty": qty } } },
                doc! {
                    "$inc": { "stock": qty },
                    "$pull": { "holds": { "order": order } },
                },
            )
            .await?;
        Ok(result.modified_count == 1)
    }

    /// Removes the holds of `orders` (which exist) from `products`, in one command.
    pub async fn release_holds(
        &self,
        products: &[ObjectId],
        orders: &[ObjectId],
    ) -> Result<(), Error> {
        self.products
            .update_many(
                doc! { "_id": { "$in": products } },
                doc! { "$pull": { "holds": { "order": { "$in": orders } } } },
            )
            .await?;
        Ok(())
    }

    /// Returns `qty` units of a cancelled line to `product` unless this order's line was returned
    /// already; `false` if it was (or the product no longer exists).
    pub async fn return_line(
        &self,
        product: ObjectId,
        order: ObjectId,
        qty: i64,
    ) -> Result<bool, Error> {
        let result = self
            .products
            .update_one(
                doc! { "_id": product, "returns.order": { "$ne": order } },
                doc! {
                    "$inc": { "stock": qty },
                    "$push": { "returns": { "order": order, "at": DateTime::now() } },
                },
            )
            .await?;
        Ok(result.modified_count == 1)
    }

    /// The products carrying a marker in array `field` (`holds` or `returns`) older than
    /// `cutoff`, with only that array read.
    async fn with_markers_before(
        &self,
        field: &str,
        cutoff: DateTime,
    ) -> Result<Vec<Markers>, Error> {
        self.products
            .clone_with_type::<Markers>()
            .find(doc! { format!("{field}.at"): { "$lt": cutoff } })
            .projection(doc! { field: 1 })
            .await?
            .try_collect()
            .await
    }

    /// Holds taken before `cutoff`, with their product.
    pub async fn holds_before(&self, cutoff: DateTime) -> Result<Vec<(ObjectId, Hold)>, Error> {
        Ok(self
            .with_markers_before("holds", cutoff)
            .await?
            .into_iter()
            .flat_map(|product| {
                let id = product.id;
                product
                    .holds
                    .into_iter()
                    .filter(move |hold| hold.at < cutoff)
                    .map(move |hold| (id, hold))
            })
            .collect())
    }

    /// Return markers left before `cutoff`, as (product, order).
    pub async fn returns_before(
        &self,
        cutoff: DateTime,
    ) -> Result<Vec<(ObjectId, ObjectId)>, Error> {
        Ok(self
            .with_markers_before("returns", cutoff)
            .await?
            .into_iter()
            .flat_map(|product| {
                let id = product.id;
                product
                    .returns
                    .into_iter()
                    .filter(move |marker| marker.at < cutoff)
                    .map(move |marker| (id, marker.order))
            })
            .collect())
    }

    /// Removes `order`'s return marker from `product`.
    pub async fn clear_return_marker(
        &self,
        product: ObjectId,
        order: ObjectId,
    ) -> Result<(), Error> {
        self.products
            .update_one(
                doc! { "_id": product },
                doc! { "$pull": { "returns": { "order": order } } },
            )
            .await?;
        Ok(())
    }
}
