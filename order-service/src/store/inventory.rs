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
//!
//! A take is acknowledged by a majority like every other write. (Acknowledged by the primary
//! alone it would be carried to a majority by the order's insert that follows on that primary,
//! but not when a partition makes that insert retry on a new primary, whose history has no take:
//! the order would stand without its stock.)
//!
//! Take, give back and return are update pipelines, so that the same write records
//! `product.out_of_stock` when it leaves the stock at 0 and `product.back_in_stock` when it
//! raises it from 0 ([`common_catalog::stock_event`]); the product service relays them. A product
//! being deleted is never taken from ([`common_catalog::live`]).

use common_api::money::StoredAmount;
use common_catalog::{
    Hold, PRODUCTS, ProductDoc, ReturnMarker, add_stock, field, live, marker, stock_event,
};
use futures_util::TryStreamExt;
use mongodb::{
    Collection, Database, IndexModel,
    bson::{Bson, DateTime, Document, doc, oid::ObjectId, to_bson},
    error::Error,
    options::ReturnDocument,
};
use serde::Deserialize;

/// A product's name and price when a line took its stock: a projection of [`ProductDoc`].
#[derive(Clone, Debug, Deserialize)]
pub struct Snapshot {
    /// The name ([`field::NAME`]).
    pub name: String,
    /// The price ([`field::PRICE`]), as stored.
    pub price: StoredAmount,
}

/// A product's id alone: a projection of [`ProductDoc`], read to learn that it exists.
#[derive(Debug, Deserialize)]
struct ProductId {
    #[serde(rename = "_id")]
    #[expect(dead_code, reason = "only whether a product is found matters")]
    id: ObjectId,
}

/// A product's markers of one kind: a projection of [`ProductDoc`] with one of its arrays read.
#[derive(Debug, Deserialize)]
struct Markers {
    #[serde(rename = "_id")]
    id: ObjectId,
    #[serde(default)]
    holds: Vec<Hold>,
    #[serde(default)]
    returns: Vec<ReturnMarker>,
}

/// `array.sub`, the path of a field of an array's elements.
fn path(array: &str, sub: &str) -> String {
    format!("{array}.{sub}")
}

/// The pipeline stage that appends `element` to `array` (created if absent), taken literally.
fn push_stage(array: &str, element: Bson) -> Document {
    push_all_stage(array, vec![element])
}

/// The pipeline stage that appends `elements` to `array` (created if absent), taken literally.
fn push_all_stage(array: &str, elements: Vec<Bson>) -> Document {
    let appended = doc! { "$concatArrays": [
        { "$ifNull": [format!("${array}"), []] },
        { "$literal": elements },
    ] };
    doc! { "$set": { array: appended } }
}

/// The expression of `array` without the elements whose `order` is `order`.
fn without_order(array: &str, order: ObjectId) -> Document {
    doc! { "$filter": {
        "input": { "$ifNull": [format!("${array}"), []] },
        "cond": { "$ne": [format!("$$this.{}", marker::ORDER), order] },
    } }
}

/// Takes and gives back stock for orders.
#[derive(Clone)]
pub struct Inventory {
    products: Collection<ProductDoc>,
}

impl Inventory {
    /// The inventory over the shared products collection ([`PRODUCTS`]).
    pub fn new(db: &Database) -> Self {
        Self {
            products: db.collection(PRODUCTS),
        }
    }

    /// Creates the indexes the recovery pass uses to find old markers.
    pub async fn ensure_indexes(&self) -> Result<(), Error> {
        let holds = IndexModel::builder()
            .keys(doc! { path(field::HOLDS, marker::AT): 1 })
            .build();
        let returns = IndexModel::builder()
            .keys(doc! { path(field::RETURNS, marker::AT): 1 })
            .build();
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
        self.take_for_all(product, &[(order, qty)], at).await
    }

    /// Takes the units of every `(order, qty)` of `takes` from `product` in one conditional
    /// update, if their sum is in stock, leaving one hold per order: all of them or none.
    /// Returns the product's name and price, or `None` if it is missing or short of the sum.
    pub async fn take_for_all(
        &self,
        product: ObjectId,
        takes: &[(ObjectId, i64)],
        at: DateTime,
    ) -> Result<Option<Snapshot>, Error> {
        let sum: i64 = takes.iter().map(|(_, qty)| qty).sum();
        let holds = takes
            .iter()
            .map(|&(order, qty)| to_bson(&Hold { order, qty, at }))
            .collect::<Result<Vec<Bson>, _>>()?;
        let mut filter = live();
        filter.insert(field::ID, product);
        filter.insert(field::STOCK, doc! { "$gte": sum });
        self.products
            .clone_with_type::<Snapshot>()
            .find_one_and_update(
                filter,
                vec![
                    add_stock(-sum),
                    push_all_stage(field::HOLDS, holds),
                    stock_event(-sum, at),
                ],
            )
            .projection(doc! { field::ID: 0, field::NAME: 1, field::PRICE: 1 })
            .return_document(ReturnDocument::Before)
            .await
    }

    /// The stock of `product`, if it exists.
    pub async fn stock_of(&self, product: ObjectId) -> Result<Option<i64>, Error> {
        #[derive(Deserialize)]
        struct Stock {
            stock: i64,
        }
        let mut filter = live();
        filter.insert(field::ID, product);
        let found = self
            .products
            .clone_with_type::<Stock>()
            .find_one(filter)
            .projection(doc! { field::ID: 0, field::STOCK: 1 })
            .await?;
        Ok(found.map(|product| product.stock))
    }

    /// Whether `product` exists.
    pub async fn exists(&self, product: ObjectId) -> Result<bool, Error> {
        let found = self
            .products
            .clone_with_type::<ProductId>()
            .find_one({
                let mut filter = live();
                filter.insert(field::ID, product);
                filter
            })
            .projection(doc! { field::ID: 1 })
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
                doc! {
                    field::ID: product,
                    field::HOLDS: { "$elemMatch": { marker::ORDER: order, marker::QTY: qty } },
                },
                vec![
                    add_stock(qty),
                    doc! { "$set": { field::HOLDS: without_order(field::HOLDS, order) } },
                    stock_event(qty, DateTime::now()),
                ],
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
                doc! { field::ID: { "$in": products } },
                doc! { "$pull": { field::HOLDS: { marker::ORDER: { "$in": orders } } } },
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
        let now = DateTime::now();
        let marker = to_bson(&ReturnMarker { order, at: now })?;
        let result = self
            .products
            .update_one(
                doc! { field::ID: product, path(field::RETURNS, marker::ORDER): { "$ne": order } },
                vec![
                    add_stock(qty),
                    push_stage(field::RETURNS, marker),
                    stock_event(qty, now),
                ],
            )
            .await?;
        Ok(result.modified_count == 1)
    }

    /// The products carrying a marker in array `array` ([`field::HOLDS`] or
    /// [`field::RETURNS`]) older than `cutoff`, with only that array read.
    async fn with_markers_before(
        &self,
        array: &str,
        cutoff: DateTime,
    ) -> Result<Vec<Markers>, Error> {
        self.products
            .clone_with_type::<Markers>()
            .find(doc! { path(array, marker::AT): { "$lt": cutoff } })
            .projection(doc! { array: 1 })
            .await?
            .try_collect()
            .await
    }

    /// Holds taken before `cutoff`, with their product.
    pub async fn holds_before(&self, cutoff: DateTime) -> Result<Vec<(ObjectId, Hold)>, Error> {
        Ok(self
            .with_markers_before(field::HOLDS, cutoff)
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
            .with_markers_before(field::RETURNS, cutoff)
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

    /// Removes `order`'s return markers from `products`, in one update.
    pub async fn clear_return_markers(
        &self,
        products: &[ObjectId],
        order: ObjectId,
    ) -> Result<(), Error> {
        self.products
            .update_many(
                doc! {
                    field::ID: { "$in": products },
                    path(field::RETURNS, marker::ORDER): order,
                },
                doc! { "$pull": { field::RETURNS: { marker::ORDER: order } } },
            )
            .await?;
        Ok(())
    }

    /// Removes `order`'s return marker from `product`.
    pub async fn clear_return_marker(
        &self,
        product: ObjectId,
        order: ObjectId,
    ) -> Result<(), Error> {
        self.products
            .update_one(
                doc! { field::ID: product },
                doc! { "$pull": { field::RETURNS: { marker::ORDER: order } } },
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use mongodb::bson::{Document, from_document, to_document};

    use super::*;

    fn product() -> ProductDoc {
        let now = DateTime::now();
        let order = ObjectId::new();
        ProductDoc {
            id: ObjectId::new(),
            name: "Mug".into(),
            description: String::new(),
            price: StoredAmount::Minor(850),
            category: String::new(),
            category_key: String::new(),
            stock: 3,
            seller_id: ObjectId::new(),
            created_at: now,
            updated_at: now,
            holds: vec![Hold {
                order,
                qty: 2,
                at: now,
            }],
            returns: vec![ReturnMarker { order, at: now }],
            image: None,
        }
    }

    #[test]
    fn the_projections_read_a_stored_product() {
        let product = product();
        let stored = to_document(&product).unwrap();

        let snapshot: Snapshot = from_document(stored.clone()).unwrap();
        let markers: Markers = from_document(stored.clone()).unwrap();
        let id = from_document::<ProductId>(stored);

        assert_eq!(
            (snapshot.name, snapshot.price),
            (product.name, product.price)
        );
        assert_eq!((markers.id, markers.holds), (product.id, product.holds));
        assert_eq!(markers.returns, product.returns);
        assert!(id.is_ok(), "{id:?}");
    }

    #[test]
    fn marker_fields_are_those_of_the_shared_definitions() {
        let product = product();
        let keys = |value: Document| value.keys().cloned().collect::<Vec<_>>();

        let hold = keys(to_document(&product.holds[0]).unwrap());
        let returned = keys(to_document(&product.returns[0]).unwrap());

        assert_eq!(hold, [marker::ORDER, marker::QTY, marker::AT]);
        assert_eq!(returned, [marker::ORDER, marker::AT]);
    }
}
