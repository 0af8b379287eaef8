//! The `orders` collection.
//!
//! Besides the orders users see, it holds bookkeeping that is never shown to them as such:
//! `CANCELLING` and `EXPIRING` (a return of every line in progress, shown as `CANCELLED` and
//! `EXPIRED`), `REVIVING` (a payment that came after expiry taking the stock again, shown as
//! `EXPIRED`), and `FAILED` tombstones, which the recovery pass inserts under the id of an order
//! that never completed, so that the order id's uniqueness decides once and for all between
//! "placed" and "given back". What checkout adds to the collection is in `super::checkout`.

use std::time::Duration;

use common_api::money::{Currency, StoredAmount};
use common_api::{pagination::Page, time};
use common_platform::{
    db::{rewrite_each, ttl_index},
    events::{self, EventType, RelayHandle},
};
use futures_util::TryStreamExt;
use mongodb::{
    Collection, Database, IndexModel,
    bson::{DateTime, Document, doc, oid::ObjectId, to_document},
    error::{Error, ErrorKind},
    options::{IndexOptions, InsertManyOptions, ReturnDocument},
};
use serde::{Deserialize, Serialize};

use super::listing::{self, CountCache, ListQuery};

/// How long a `FAILED` tombstone is kept: far longer than any request or recovery pass.
const TOMBSTONE_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// An order's status as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum StoredStatus {
    /// A checkout waiting for its payment: its stock is taken until `pay_by`.
    #[serde(rename = "PENDING_PAYMENT")]
    PendingPayment,
    /// Placed: its stock is taken.
    Placed,
    /// Shipped.
    Shipped,
    /// Delivered.
    Delivered,
    /// A cancel in progress: some lines may already be back in stock.
    Cancelling,
    /// Cancelled: every line is back in stock.
    Cancelled,
    /// An expiry in progress: some lines of an unpaid checkout may already be back in stock.
    Expiring,
    /// Expired unpaid: every line is back in stock.
    Expired,
    /// A payment that came after expiry is taking the stock again (under the order's `revival`).
    Reviving,
    /// Paid after expiry when the stock could not be taken again: nothing is held, the payment
    /// is to be refunded.
    #[serde(rename = "REFUND_DUE")]
    RefundDue,
    /// A tombstone: this order id never completed, and its stock was given back.
    Failed,
}

impl StoredStatus {
    /// The statuses of orders users see (as such or, `CANCELLING`, as `CANCELLED`); the others
    /// are bookkeeping, never listed.
    pub const VISIBLE: [StoredStatus; 10] = [
        Self::PendingPayment,
        Self::Placed,
        Self::Shipped,
        Self::Delivered,
        Self::Cancelling,
        Self::Cancelled,
        Self::Expiring,
        Self::Expired,
        Self::Reviving,
        Self::RefundDue,
    ];

    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingPayment => "PENDING_PAYMENT",
            Self::Placed => "PLACED",
            Self::Shipped => "SHIPPED",
            Self::Delivered => "DELIVERED",
            Self::Cancelling => "CANCELLING",
            Self::Cancelled => "CANCELLED",
            Self::Expiring => "EXPIRING",
            Self::Expired => "EXPIRED",
            Self::Reviving => "REVIVING",
            Self::RefundDue => "REFUND_DUE",
            Self::Failed => "FAILED",
        }
    }
}

/// One line of an order, with the product as it was when the order was placed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderLine {
    /// The product.
    pub product_id: ObjectId,
    /// Units ordered.
    pub quantity: i64,
    /// The product's name when ordered.
    pub name: String,
    /// The product's price when ordered, in minor units (a float of major units in an order
    /// stored before money was exact, until the startup backfill converts it).
    pub unit_price: StoredAmount,
}

/// A stored order (never a tombstone: queries that return this type exclude `FAILED`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OrderDoc {
    /// The order id, chosen before any stock is taken.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Whose order it is.
    pub user_id: ObjectId,
    /// The lines, one per product, in product-id order.
    pub items: Vec<OrderLine>,
    /// The status.
    pub status: StoredStatus,
    /// The exact sum of `unit_price × quantity`, in minor units (a float of major units in an
    /// order stored before money was exact).
    pub total: StoredAmount,
    /// When it was placed.
    pub created_at: DateTime,
    /// When its status last changed.
    pub updated_at: DateTime,
    /// A checkout's payment deadline (shown as `expires_at`); absent for an order placed at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pay_by: Option<DateTime>,
    /// The payment provider's id of the payment that paid it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    /// When that payment was confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid_at: Option<DateTime>,
    /// The provider events applied to it (`provider:event id`), so that each applies once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub payment_events: Vec<String>,
    /// When it became `EXPIRED`: its expiry's return markers may go some time after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expired_at: Option<DateTime>,
    /// The key its stock was taken again under, after expiry (holds and return markers of a
    /// revived order carry it instead of the order id, so they never meet the expiry's markers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revival: Option<ObjectId>,
}

impl OrderDoc {
    /// An order as placing stores it, with nothing of checkout yet.
    pub fn new(
        id: ObjectId,
        user_id: ObjectId,
        items: Vec<OrderLine>,
        status: StoredStatus,
        total: StoredAmount,
        at: DateTime,
    ) -> Self {
        Self {
            id,
            user_id,
            items,
            status,
            total,
            created_at: at,
            updated_at: at,
            pay_by: None,
            payment_id: None,
            paid_at: None,
            payment_events: Vec::new(),
            expired_at: None,
            revival: None,
        }
    }

    /// The key this order's holds and return markers carry: its id, or its revival's key.
    pub fn stock_key(&self) -> ObjectId {
        self.revival.unwrap_or(self.id)
    }

    /// The total in minor units of `currency`. An order stored before money was exact has its
    /// total recomputed as the exact sum of its lines (their prices rounded half to even), so its
    /// receipt adds up; `None` when a stored amount is no amount.
    pub fn total_in(&self, currency: Currency) -> Option<i64> {
        match self.total {
            StoredAmount::Minor(total) => Some(total),
            StoredAmount::Legacy(_) => crate::engine::placing::total(&self.items, currency),
        }
    }

    /// Each line's price and the total in minor units of `currency` (see [`OrderDoc::total_in`]).
    pub fn amounts_in(&self, currency: Currency) -> Option<(Vec<i64>, i64)> {
        let prices = self
            .items
            .iter()
            .map(|line| line.unit_price.minor(currency))
            .collect::<Option<Vec<_>>>()?;
        Some((prices, self.total_in(currency)?))
    }
}

/// Reads and writes orders.
///
/// Every change a client can see records its event in the same write (see
/// [`common_platform::events`]): placing (`order.placed`, `order.pending_payment`) and each move
/// of [`OrderStore::change`] that [`event_of`] names.
#[derive(Clone)]
pub struct OrderStore {
    pub(super) orders: Collection<OrderDoc>,
    pub(super) raw: Collection<Document>,
    counts: CountCache,
    relay: Option<RelayHandle>,
}

/// Fields of an order that no event shows: the provider events applied to it.
pub(super) const NOT_IN_EVENTS: &[&str] = &["payment_events"];

/// The event a move into `to` records, if it is one a client sees (moves that only finish what
/// an earlier move started, such as `CANCELLING` → `CANCELLED`, record none).
pub fn event_of(to: StoredStatus) -> Option<EventType> {
    match to {
        StoredStatus::PendingPayment => Some(EventType::OrderPendingPayment),
        // Only a payment moves an existing order into `PLACED`.
        StoredStatus::Placed => Some(EventType::OrderPaid),
        StoredStatus::Cancelling => Some(EventType::OrderCancelled),
        StoredStatus::Expiring => Some(EventType::OrderExpired),
        StoredStatus::RefundDue => Some(EventType::OrderRefundDue),
        StoredStatus::Shipped => Some(EventType::OrderShipped),
        StoredStatus::Delivered => Some(EventType::OrderDelivered),
        StoredStatus::Cancelled
        | StoredStatus::Expired
        | StoredStatus::Reviving
        | StoredStatus::Failed => None,
    }
}

/// Everything but tombstones.
fn visible() -> Document {
    doc! { "status": { "$ne": StoredStatus::Failed.as_str() } }
}

impl OrderStore {
    /// The store over `db.orders`.
    pub fn new(db: &Database) -> Self {
        Self {
            orders: db.collection("orders"),
            raw: db.collection("orders"),
            counts: CountCache::default(),
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
    pub(super) fn recorded(&self) {
        if let Some(relay) = &self.relay {
            relay.wake();
        }
    }

    /// Converts the amounts of every order stored before money was exact (floats of major units)
    /// to minor units of `currency`: each line's price rounded half to even, and the total made
    /// their exact sum, so the receipt adds up. Returns how many orders were converted: 0 once
    /// done, so it runs at every start.
    pub async fn convert_float_amounts(&self, currency: Currency) -> Result<u64, Error> {
        let floats = doc! { "$or": [
            { "total": { "$type": "double" } },
            { "items.unit_price": { "$type": "double" } },
        ] };
        rewrite_each(&self.raw, floats, |stored| {
            let order: OrderDoc = mongodb::bson::from_document(stored.clone()).ok()?;
            let converted = order.amounts_in(currency);
            let Some((prices, total)) = converted else {
                tracing::warn!(order_id = %order.id, "an order's stored amount is no amount; left as it is");
                return None;
            };
            let mut set = doc! { "total": total };
            for (index, price) in prices.into_iter().enumerate() {
                set.insert(format!("items.{index}.unit_price"), price);
            }
            let unchanged = doc! { "_id": order.id, "total": stored.get("total")?.clone() };
            Some((unchanged, doc! { "$set": set }))
        })
        .await
    }

    /// Creates the indexes: the two that lists read (see [`listing`]), stuck cancels, tombstone
    /// expiry. The last two are partial, so placing an order (the hot path) writes no entry into
    /// them. Then drops the index the list indexes replaced, which every insert would otherwise
    /// still pay for.
    pub async fn ensure_indexes(&self) -> Result<(), Error> {
        let [by_status, by_user] = listing::indexes();
        let cancelling = IndexModel::builder()
            .keys(doc! { "updated_at": 1 })
            .options(
                IndexOptions::builder()
                    .partial_filter_expression(doc! { "status": StoredStatus::Cancelling.as_str() })
                    .name("cancelling_since".to_owned())
                    .build(),
            )
            .build();
        let tombstone_expiry = ttl_index(
            "expires_at",
            Duration::ZERO,
            "tombstone_ttl",
            Some(doc! { "status": StoredStatus::Failed.as_str() }),
        );
        self.orders
            .create_indexes([by_status, by_user, cancelling, tombstone_expiry])
            .await?;
        self.orders
            .create_indexes(super::checkout::indexes())
            .await?;
        match self.orders.drop_index(listing::RETIRED_BY_USER).await {
            // Several replicas may start at once: whoever drops it first, it is gone.
            Err(err) if is_index_not_found(&err) => Ok(()),
            other => other,
        }
    }

    /// Inserts a placed order (`PLACED` or `PENDING_PAYMENT`) with its event; fails with a
    /// duplicate key if its id was tombstoned.
    pub async fn insert(&self, order: &OrderDoc) -> Result<(), Error> {
        self.raw.insert_one(stored_form(order)?).await?;
        self.recorded();
        Ok(())
    }

    /// Inserts placed orders with their events in one unordered `insert_many`; what became of
    /// each, in order. `Err` when the outcome of the whole write is unknown (the connection
    /// failed, or a write concern was not met).
    pub async fn insert_all(&self, orders: &[OrderDoc]) -> Result<Vec<Inserted>, Error> {
        let stored = orders
            .iter()
            .map(stored_form)
            .collect::<Result<Vec<_>, _>>()?;
        let written = self
            .raw
            .insert_many(stored)
            .with_options(InsertManyOptions::builder().ordered(false).build())
            .await;
        let mut outcomes = vec![Inserted::Stored; orders.len()];
        match written {
            Ok(_) => {}
            Err(err) => {
                let ErrorKind::InsertMany(failure) = err.kind.as_ref() else {
                    return Err(err);
                };
                if failure.write_concern_error.is_some() {
                    return Err(err);
                }
                for refused in failure.write_errors.iter().flatten() {
                    if let Some(outcome) = outcomes.get_mut(refused.index) {
                        *outcome = if refused.code == common_platform::db::DUPLICATE_KEY {
                            Inserted::Duplicate
                        } else {
                            Inserted::Refused
                        };
                    }
                }
            }
        }
        self.recorded();
        Ok(outcomes)
    }

    /// Inserts a `FAILED` tombstone under `id`; `false` if an order with that id already exists
    /// (the real order, or another pass's tombstone).
    ///
    /// A tombstone has no `user_id`: a user's list counts their `user_id` index keys alone and
    /// relies on finding no tombstone among them (see [`listing`]).
    pub async fn insert_tombstone(&self, id: ObjectId) -> Result<bool, Error> {
        let now = DateTime::now();
        let expires_at = time::plus(now, TOMBSTONE_RETENTION);
        let tombstone = doc! {
            "_id": id,
            "status": StoredStatus::Failed.as_str(),
            "items": [],
            "created_at": now,
            "updated_at": now,
            "expires_at": expires_at,
        };
        match self.raw.insert_one(tombstone).await {
            Ok(_) => Ok(true),
            Err(err) if common_platform::db::is_duplicate_key(&err) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// The status of order `id`, tombstones included.
    pub async fn status_of(&self, id: ObjectId) -> Result<Option<StoredStatus>, Error> {
        self.status_where(doc! { "_id": id }).await
    }

    /// The status of the order `filter` matches, if one does.
    pub(super) async fn status_where(
        &self,
        filter: Document,
    ) -> Result<Option<StoredStatus>, Error> {
        #[derive(Deserialize)]
        struct StatusOnly {
            status: StoredStatus,
        }
        let found = self
            .raw
            .clone_with_type::<StatusOnly>()
            .find_one(filter)
            .projection(doc! { "status": 1 })
            .await?;
        Ok(found.map(|order| order.status))
    }

    /// Whether every return of lines under `key` (an order id, or a revival's key) was answered
    /// before `cutoff`: its order was `CANCELLED` before it, or (for an order's own id) became
    /// `EXPIRED` before it, whatever it is now.
    pub async fn returns_done_before(
        &self,
        key: ObjectId,
        cutoff: DateTime,
    ) -> Result<bool, Error> {
        let cancelled = doc! {
            "status": StoredStatus::Cancelled.as_str(),
            "updated_at": { "$lt": cutoff },
        };
        let mut own_cancel = cancelled.clone();
        own_cancel.insert("_id", key);
        let mut revival_cancel = cancelled;
        revival_cancel.insert("revival", key);
        let found = self
            .raw
            .find_one(doc! { "$or": [
                own_cancel,
                { "_id": key, "expired_at": { "$lt": cutoff } },
                revival_cancel,
            ] })
            .projection(doc! { "_id": 1 })
            .await?;
        Ok(found.is_some())
    }

    /// Order `id` unless it is a tombstone; with `owner`, only if it is theirs.
    pub async fn find(
        &self,
        id: ObjectId,
        owner: Option<ObjectId>,
    ) -> Result<Option<OrderDoc>, Error> {
        let mut filter = visible();
        filter.insert("_id", id);
        if let Some(owner) = owner {
            filter.insert("user_id", owner);
        }
        self.orders.find_one(filter).await
    }

    /// One page of `user`'s orders (everyone's with `None`) with one of `statuses` (any with
    /// `None`), newest first, with the total count; tombstones are never listed.
    pub async fn list(
        &self,
        user: Option<ObjectId>,
        statuses: Option<&[StoredStatus]>,
        page: Page,
    ) -> Result<(Vec<OrderDoc>, u64), Error> {
        ListQuery::new(user, statuses)
            .run(&self.orders, &self.counts, page)
            .await
    }

    /// Moves order `id` from `from` to `to` in one conditional update; with `owner`, only if it is
    /// theirs. `None` when the order is not in `from` (or not theirs, or absent).
    pub async fn transition(
        &self,
        id: ObjectId,
        owner: Option<ObjectId>,
        from: StoredStatus,
        to: StoredStatus,
    ) -> Result<Option<OrderDoc>, Error> {
        let mut filter = doc! { "_id": id, "status": from.as_str() };
        if let Some(owner) = owner {
            filter.insert("user_id", owner);
        }
        self.change(filter, to, Document::new()).await
    }

    /// Moves the order `filter` matches to `to`, setting `set` too, in one conditional update
    /// that records the move's event ([`event_of`]); the order as it is after, or `None` when
    /// none matched.
    pub async fn change(
        &self,
        filter: Document,
        to: StoredStatus,
        set: Document,
    ) -> Result<Option<OrderDoc>, Error> {
        self.change_pushing(filter, to, set, None).await
    }

    /// As [`OrderStore::change`], appending `payment_event` to the order's applied provider
    /// events in the same write.
    pub(super) async fn change_pushing(
        &self,
        filter: Document,
        to: StoredStatus,
        mut set: Document,
        payment_event: Option<&str>,
    ) -> Result<Option<OrderDoc>, Error> {
        let now = DateTime::now();
        set.insert("status", to.as_str());
        set.insert("updated_at", now);
        let mut pipeline = vec![events::set_literally(set)];
        if let Some(event) = payment_event {
            let applied = doc! { "$concatArrays": [
                { "$ifNull": ["$payment_events", []] },
                [{ "$literal": event }],
            ] };
            pipeline.push(doc! { "$set": { "payment_events": applied } });
        }
        let kind = event_of(to);
        if let Some(kind) = kind {
            pipeline.push(events::append(kind, now, NOT_IN_EVENTS));
        }
        let changed = self
            .orders
            .find_one_and_update(filter, pipeline)
            .return_document(ReturnDocument::After)
            .await?;
        if changed.is_some() && kind.is_some() {
            self.recorded();
        }
        Ok(changed)
    }

    /// Orders left in `status` since before `cutoff` (whoever moved them there stopped).
    pub async fn stuck_in(
        &self,
        status: StoredStatus,
        cutoff: DateTime,
    ) -> Result<Vec<OrderDoc>, Error> {
        self.orders
            .find(doc! {
                "status": status.as_str(),
                "updated_at": { "$lt": cutoff },
            })
            .await?
            .try_collect()
            .await
    }
}

/// What became of one order of [`OrderStore::insert_all`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inserted {
    /// It is stored.
    Stored,
    /// Its id is taken: only a tombstone can hold it (the recovery pass gave up on the order).
    Duplicate,
    /// The server refused this document (it is not stored).
    Refused,
}

/// `order` as stored, with the event its placing records.
fn stored_form(order: &OrderDoc) -> Result<Document, Error> {
    let mut stored = to_document(order)?;
    let kind = match order.status {
        StoredStatus::Placed => Some(EventType::OrderPlaced),
        StoredStatus::PendingPayment => Some(EventType::OrderPendingPayment),
        _ => None,
    };
    if let Some(kind) = kind {
        let outbox = events::outbox_of(kind, order.updated_at, &stored, NOT_IN_EVENTS);
        stored.insert(events::OUTBOX, outbox);
    }
    Ok(stored)
}

/// The server error code of dropping an index that does not exist.
const INDEX_NOT_FOUND: i32 = 27;

fn is_index_not_found(err: &Error) -> bool {
    matches!(err.kind.as_ref(), ErrorKind::Command(e) if e.code == INDEX_NOT_FOUND)
}
