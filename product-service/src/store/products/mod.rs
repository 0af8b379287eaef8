//! The `products` collection, opened here and nowhere else in this service.
//!
//! Writes that depend on ownership or on the stock level are single conditional operations: the
//! filter carries the condition (`seller_id`, `stock >= -delta`), so no interleaving of requests
//! can act on a product it should not or take stock below zero. When such a write matches
//! nothing, [`ProductStore::find`] tells the caller why (gone, not theirs, or not enough stock).
//!
//! **Events.** Every change a client can see records its event in the same single-document
//! write (see [`common_platform::events`]): an insert carries `product.created` in its outbox,
//! an update appends `product.updated` (or, for the stock, `product.out_of_stock` /
//! `product.back_in_stock` when it crosses 0) in a pipeline stage. A delete only marks the
//! product deleted (`deleted_at`) with its `product.deleted` event; the relay removes it once the
//! event has moved, and every read and write here leaves such a product out
//! ([`common_catalog::live`]), so it is gone from the moment it is marked.
//!
//! The document is defined once, in `common_catalog`, since the order service writes it too.
//! Besides the product routes' own reads and writes, the store serves every other flow that
//! touches products: the product routes' changes ([`writes`]), categories moving products between
//! them ([`categories`]), images swapping their reference ([`images`]), and the catalog read
//! model's raw reads and change stream ([`catalog`]). Lists are not answered here but from the read model, which then reads each
//! page's documents with [`ProductStore::find_many`].

mod catalog;
mod categories;
mod images;
mod writes;

use std::collections::HashMap;

use common_api::{auth::AuthUser, money::Currency};
use common_catalog::{NOT_IN_EVENTS, PRODUCTS, ProductDoc, field, live};
use common_platform::{
    db::rewrite_each,
    events::{self, EventType, OUTBOX, RelayHandle},
};
use futures_util::TryStreamExt;
use mongodb::{
    Collection, Database, IndexModel,
    bson::{DateTime, Document, doc, oid::ObjectId, to_document},
    error::Error,
    options::IndexOptions,
};

pub use self::{
    catalog::{ChangeEvents, Watch},
    writes::ProductChanges,
};

/// Reads and writes products. Cheap to clone.
#[derive(Clone)]
pub struct ProductStore {
    products: Collection<ProductDoc>,
    /// Woken after each write that recorded an event; without one, events wait for whichever
    /// relay polls the collection next.
    relay: Option<RelayHandle>,
}

impl ProductStore {
    /// The store over `db.products`.
    pub fn new(db: &Database) -> Self {
        Self {
            products: db.collection(PRODUCTS),
            relay: None,
        }
    }

    /// This store, waking `relay` after each write that records an event.
    #[must_use]
    pub fn relayed_by(self, relay: RelayHandle) -> Self {
        Self {
            relay: Some(relay),
            ..self
        }
    }

    /// Asks the relay to move the event just recorded.
    fn recorded(&self) {
        if let Some(relay) = &self.relay {
            relay.wake();
        }
    }

    /// Relays every recorded event here and now, which also removes the products marked deleted
    /// whose last event has moved; nothing to do without a relay.
    pub async fn relay_now(&self) -> Result<(), Error> {
        match &self.relay {
            Some(relay) => relay.relay_now().await,
            None => Ok(()),
        }
    }

    /// Converts every price stored as a float of major units (written before money was exact) to
    /// minor units of `currency`, rounding half to even; a price changed meanwhile is left as it
    /// now is. Returns how many were converted: 0 once done, so it runs at every start.
    pub async fn convert_float_prices(&self, currency: Currency) -> Result<u64, Error> {
        let mut floats = live();
        floats.insert(field::PRICE, doc! { "$type": "double" });
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
    /// (category key), that the image sweep reads (image file), and that the relay finds
    /// recorded events by; no-ops when they exist.
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
        events::ensure_outbox_index(&self.documents()).await
    }

    /// Stores a new product with its `product.created` event.
    pub async fn insert(&self, product: &ProductDoc) -> Result<(), Error> {
        let mut stored = to_document(product)?;
        let outbox = events::outbox_of(
            EventType::ProductCreated,
            product.created_at,
            &stored,
            NOT_IN_EVENTS,
        );
        stored.insert(OUTBOX, outbox);
        self.documents().insert_one(stored).await?;
        self.recorded();
        Ok(())
    }

    /// The product with this id (none once it is marked deleted).
    pub async fn find(&self, id: ObjectId) -> Result<Option<ProductDoc>, Error> {
        self.products
            .find_one(with_id(id))
            .projection(without_bookkeeping())
            .await
    }

    /// The products `ids` that still exist, in the order of `ids`.
    pub async fn find_many(&self, ids: &[ObjectId]) -> Result<Vec<ProductDoc>, Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut filter = live();
        filter.insert(field::ID, doc! { "$in": ids });
        let mut found: HashMap<ObjectId, ProductDoc> = self
            .products
            .find(filter)
            .projection(without_bookkeeping())
            .await?
            .map_ok(|product| (product.id, product))
            .try_collect()
            .await?;
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }

    /// The collection as plain documents, for writes that add fields `ProductDoc` does not have.
    fn documents(&self) -> Collection<Document> {
        self.products.clone_with_type()
    }
}

/// Matches the product `id` unless it is marked deleted.
fn with_id(id: ObjectId) -> Document {
    let mut filter = live();
    filter.insert(field::ID, id);
    filter
}

/// Matches the product `id` if `caller` is its seller or an admin (and it is not marked
/// deleted).
fn owned_by(id: ObjectId, caller: &AuthUser) -> Document {
    let mut filter = with_id(id);
    if !caller.is_admin() {
        filter.insert(field::SELLER_ID, caller.id);
    }
    filter
}

/// The update pipeline stage that records `product.updated` with the product as the earlier
/// stages left it.
fn updated(at: DateTime) -> Document {
    events::append(EventType::ProductUpdated, at, NOT_IN_EVENTS)
}

/// The projection that leaves out what no answer shows: the order service's bookkeeping and
/// the events not yet relayed.
fn without_bookkeeping() -> Document {
    doc! { field::HOLDS: 0, field::RETURNS: 0, OUTBOX: 0 }
}
