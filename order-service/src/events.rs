//! The events the order service records and serves: the relay of its own `orders` outbox, and
//! the event log every service's relay fills, which `GET /events` pages through in commit order
//! and the webhook dispatcher follows (see [`common_platform::events`] for how an event is
//! recorded with its change).

use std::{sync::Arc, time::Duration};

use common_api::{money::Currency, time::rfc3339};
use common_platform::{
    db::ensure_ttl_index,
    events::{EVENTS, EventType, Relay, SEQUENCE, field, settled},
};
use futures_util::TryStreamExt;
use mongodb::{
    Collection, Database, IndexModel,
    bson::{DateTime, Document, doc, oid::ObjectId},
    error::Error,
    options::IndexOptions,
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::{models::OrderResponse, store::OrderDoc};

/// The relay of the `orders` outbox: each order event's data is the order as `GET /orders/{id}`
/// shows it.
pub fn order_relay(db: &Database, currency: Currency) -> Relay {
    let render = move |_: EventType, snapshot: Document| {
        let order: OrderDoc = mongodb::bson::from_document(snapshot).ok()?;
        let shown = OrderResponse::of(order, currency).ok()?;
        serde_json::to_string(&shown).ok()
    };
    Relay::new(db, "orders", Arc::new(render))
}

/// An event as stored in `events`.
#[derive(Clone, Debug, Deserialize)]
pub struct EventDoc {
    /// The event id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Its place in commit order.
    pub seq: i64,
    /// Its type's name.
    #[serde(rename = "type")]
    pub kind: String,
    /// When the change was made.
    pub occurred_at: DateTime,
    /// The resource as the API showed it, as JSON text.
    pub data: String,
}

/// An event as `GET /events` lists it and a webhook delivers it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventBody {
    /// The event id: a webhook's `webhook-id`, the same on every attempt.
    #[schema(example = "6560b5f2a1b2c3d4e5f60718")]
    pub id: String,
    /// What happened.
    #[serde(rename = "type")]
    #[schema(example = "order.placed")]
    pub kind: String,
    /// When the change was made (RFC 3339, UTC).
    #[schema(format = DateTime, example = "2026-11-23T13:45:00Z")]
    pub occurred_at: String,
    /// The resource as the API showed it right after the change (an order as `GET /orders/{id}`,
    /// a product as `GET /products/{id}`, a user as `GET /users/{id}`).
    #[schema(value_type = Object)]
    pub data: Box<RawValue>,
}

impl EventBody {
    /// `event` as clients see it; its data is passed on byte for byte.
    pub fn of(event: EventDoc) -> Self {
        // The relays store JSON text only; anything else would show as null rather than break
        // the list.
        let data = RawValue::from_string(event.data).unwrap_or_else(|_| RawValue::NULL.to_owned());
        Self {
            id: event.id.to_hex(),
            kind: event.kind,
            occurred_at: rfc3339(event.occurred_at),
            data,
        }
    }
}

/// The webhook dispatcher's place in the event numbers, in [`SEQUENCE`].
const DISPATCHED: &str = "dispatched";

/// Reads the event log.
#[derive(Clone)]
pub struct EventLog {
    db: Database,
    events: Collection<EventDoc>,
    raw: Collection<Document>,
    sequence: Collection<Document>,
}

impl EventLog {
    /// The log in `db.events`.
    pub fn new(db: &Database) -> Self {
        Self {
            db: db.clone(),
            events: db.collection(EVENTS),
            raw: db.collection(EVENTS),
            sequence: db.collection(SEQUENCE),
        }
    }

    /// Creates the indexes: commit order (unique), commit order by type, the events still to
    /// dispatch (partial: empty once the dispatcher caught up), and the retention.
    pub async fn ensure_indexes(&self, retention: Duration) -> Result<(), Error> {
        let unique = IndexOptions::builder().unique(true).build();
        let by_seq = IndexModel::builder()
            .keys(doc! { field::SEQ: 1 })
            .options(unique)
            .build();
        let by_type = IndexModel::builder()
            .keys(doc! { field::TYPE: 1, field::SEQ: 1 })
            .build();
        let undispatched = IndexModel::builder()
            .keys(doc! { field::UNDISPATCHED: 1, field::SEQ: 1 })
            .options(
                IndexOptions::builder()
                    .partial_filter_expression(doc! { field::UNDISPATCHED: { "$exists": true } })
                    .build(),
            )
            .build();
        self.raw
            .create_indexes([by_seq, by_type, undispatched])
            .await?;
        ensure_ttl_index(&self.raw, field::OCCURRED_AT, retention, "retention").await
    }

    /// The number of event `id`, if it is still kept.
    pub async fn seq_of(&self, id: ObjectId) -> Result<Option<i64>, Error> {
        Ok(self
            .events
            .find_one(doc! { field::ID: id })
            .await?
            .map(|event| event.seq))
    }

    /// Up to `limit` events after number `after`, of `types` (any with `None`), in commit order.
    pub async fn after(
        &self,
        after: i64,
        types: Option<&[EventType]>,
        limit: i64,
    ) -> Result<Vec<EventDoc>, Error> {
        let mut filter = doc! { field::SEQ: { "$gt": after } };
        if let Some(types) = types {
            let names: Vec<&str> = types.iter().map(|kind| kind.as_str()).collect();
            filter.insert(field::TYPE, doc! { "$in": names });
        }
        self.events
            .find(filter)
            .sort(doc! { field::SEQ: 1 })
            .limit(limit)
            .await?
            .try_collect()
            .await
    }

    /// Event `id`, if it is still kept.
    pub async fn find(&self, id: ObjectId) -> Result<Option<EventDoc>, Error> {
        self.events.find_one(doc! { field::ID: id }).await
    }

    /// Up to `limit` events marked undispatched (see [`field::UNDISPATCHED`]), in commit order,
    /// without their data.
    pub async fn undispatched(&self, limit: i64) -> Result<Vec<EventDoc>, Error> {
        self.events
            .find(doc! { field::UNDISPATCHED: true })
            .sort(doc! { field::UNDISPATCHED: 1, field::SEQ: 1 })
            .projection(without_data())
            .limit(limit)
            .await?
            .try_collect()
            .await
    }

    /// Where the dispatcher is: every event numbered up to the first number is dispatched (or
    /// marked), and every one up to the second is in the log for good. The first starts at the
    /// second: a new deployment dispatches from now on (earlier events were marked).
    pub async fn dispatch_range(&self) -> Result<(i64, i64), Error> {
        let settled = settled(&self.db).await?;
        let cursor = match self.sequence.find_one(doc! { "_id": DISPATCHED }).await? {
            Some(cursor) => cursor.get_i64(field::SEQ).unwrap_or(0),
            None => {
                self.dispatched_to(settled).await?;
                settled
            }
        };
        Ok((cursor, settled))
    }

    /// Up to `limit` events numbered after `after` and up to `to`, in commit order, without
    /// their data.
    pub async fn between(&self, after: i64, to: i64, limit: i64) -> Result<Vec<EventDoc>, Error> {
        self.events
            .find(doc! { field::SEQ: { "$gt": after, "$lte": to } })
            .sort(doc! { field::SEQ: 1 })
            .projection(without_data())
            .limit(limit)
            .await?
            .try_collect()
            .await
    }

    /// Records that every event numbered up to `seq` is dispatched.
    pub async fn dispatched_to(&self, seq: i64) -> Result<(), Error> {
        self.sequence
            .update_one(
                doc! { "_id": DISPATCHED },
                doc! { "$max": { field::SEQ: seq } },
            )
            .upsert(true)
            .await?;
        Ok(())
    }

    /// Clears the undispatched mark of events `ids`.
    pub async fn dispatched(&self, ids: &[ObjectId]) -> Result<(), Error> {
        self.raw
            .update_many(
                doc! { field::ID: { "$in": ids } },
                doc! { "$unset": { field::UNDISPATCHED: "" } },
            )
            .await?;
        Ok(())
    }
}

/// The projection of an event without its data (which dispatching does not need).
fn without_data() -> Document {
    doc! { field::DATA: { "$literal": "" }, field::ID: 1, field::SEQ: 1, field::TYPE: 1, field::OCCURRED_AT: 1 }
}
