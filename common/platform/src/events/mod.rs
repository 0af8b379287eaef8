//! Events committed with the change they describe: a transactional outbox kept on the changed
//! document itself.
//!
//! **Recording.** A change that has an event appends an entry `{id, type, at, doc}` to the
//! `outbox` array of the document it changes, in the same single-document write: an insert
//! carries it ([`entry`]), an update appends it in a pipeline stage ([`append`], [`append_if`])
//! whose snapshot (`doc`) is the document as that very write leaves it. MongoDB applies a
//! single-document write whole or not at all, so no event exists for a change that did not
//! happen and no change happens without its event. The entry's `id` (an ObjectId chosen by the
//! writer) is the event's id for good: the webhook's `webhook-id`, and what deduplicates.
//!
//! **Relaying.** Each service runs a [`Relay`] over the collection it owns, which moves entries
//! into the `events` collection and then removes them from their documents (see [`relay`]):
//! rendered as the API shows the resource, numbered in commit order, each exactly once however
//! often a crash makes it try again. A document marked deleted (`deleted_at`) is removed by the
//! relay once its last entry has moved, so a deletion is recorded like any other change.
//!
//! **Order.** An entry is appended after every earlier entry of its document, entries of one
//! document are relayed in array order, and numbers are handed out under one short lease, so the
//! events of one resource are numbered in the order of its changes and `GET /events` lists every
//! event in one order that never changes afterwards.

mod relay;

use mongodb::bson::{Bson, DateTime, Document, doc, oid::ObjectId};
use serde::{Deserialize, Serialize};

pub use relay::{Relay, RelayHandle, Render, SEQUENCE, ensure_outbox_index, settled};

/// The collection events are relayed into.
pub const EVENTS: &str = "events";

/// The array of not yet relayed events on a changed document.
pub const OUTBOX: &str = "outbox";

/// A document with this field is deleted: no reader shows it, and the relay removes it once its
/// outbox is empty.
pub const DELETED_AT: &str = "deleted_at";

/// Fields of a stored event in [`EVENTS`].
pub mod field {
    /// The event id (the outbox entry's id).
    pub const ID: &str = "_id";
    /// Its place in commit order: increasing, never reused, with gaps.
    pub const SEQ: &str = "seq";
    /// Its [`super::EventType`] name.
    pub const TYPE: &str = "type";
    /// When the change was made.
    pub const OCCURRED_AT: &str = "occurred_at";
    /// The resource as the API shows it, as JSON text (kept byte for byte).
    pub const DATA: &str = "data";
    /// Present (true) on an event inserted below a number the webhook dispatcher may have passed
    /// already, until the dispatcher made its deliveries (see [`super::settled`]).
    pub const UNDISPATCHED: &str = "undispatched";
}

/// What happened. Names are `resource.change`, as receivers see them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventType {
    /// An order was placed and paid for at once (or without payment).
    #[serde(rename = "order.placed")]
    OrderPlaced,
    /// A checkout was opened: its stock is held until it is paid or expires.
    #[serde(rename = "order.pending_payment")]
    OrderPendingPayment,
    /// A checkout's payment was confirmed: the order is `PLACED`.
    #[serde(rename = "order.paid")]
    OrderPaid,
    /// An order was cancelled (by its buyer, an admin, or a failed payment).
    #[serde(rename = "order.cancelled")]
    OrderCancelled,
    /// A checkout expired unpaid.
    #[serde(rename = "order.expired")]
    OrderExpired,
    /// A payment came after expiry and the stock could not be taken again: refund it.
    #[serde(rename = "order.refund_due")]
    OrderRefundDue,
    /// An order was shipped.
    #[serde(rename = "order.shipped")]
    OrderShipped,
    /// An order was delivered.
    #[serde(rename = "order.delivered")]
    OrderDelivered,
    /// A product was created.
    #[serde(rename = "product.created")]
    ProductCreated,
    /// A product's catalog fields changed (name, description, price, category, image).
    #[serde(rename = "product.updated")]
    ProductUpdated,
    /// A product was deleted (`data` is the product as it last was).
    #[serde(rename = "product.deleted")]
    ProductDeleted,
    /// A product's stock reached 0.
    #[serde(rename = "product.out_of_stock")]
    ProductOutOfStock,
    /// A product's stock rose from 0.
    #[serde(rename = "product.back_in_stock")]
    ProductBackInStock,
    /// An account was registered.
    #[serde(rename = "user.registered")]
    UserRegistered,
    /// An account was deleted.
    #[serde(rename = "user.deleted")]
    UserDeleted,
}

impl EventType {
    /// Every event type, in the order the documentation lists them.
    pub const ALL: [EventType; 15] = [
        Self::OrderPlaced,
        Self::OrderPendingPayment,
        Self::OrderPaid,
        Self::OrderCancelled,
        Self::OrderExpired,
        Self::OrderRefundDue,
        Self::OrderShipped,
        Self::OrderDelivered,
        Self::ProductCreated,
        Self::ProductUpdated,
        Self::ProductDeleted,
        Self::ProductOutOfStock,
        Self::ProductBackInStock,
        Self::UserRegistered,
        Self::UserDeleted,
    ];

    /// The name receivers see.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrderPlaced => "order.placed",
            Self::OrderPendingPayment => "order.pending_payment",
            Self::OrderPaid => "order.paid",
            Self::OrderCancelled => "order.cancelled",
            Self::OrderExpired => "order.expired",
            Self::OrderRefundDue => "order.refund_due",
            Self::OrderShipped => "order.shipped",
            Self::OrderDelivered => "order.delivered",
            Self::ProductCreated => "product.created",
            Self::ProductUpdated => "product.updated",
            Self::ProductDeleted => "product.deleted",
            Self::ProductOutOfStock => "product.out_of_stock",
            Self::ProductBackInStock => "product.back_in_stock",
            Self::UserRegistered => "user.registered",
            Self::UserDeleted => "user.deleted",
        }
    }

    /// The type named `name`, if there is one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One not yet relayed event on a changed document.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// The event id; for a [`shared`](OutboxEntry::shared) entry, what the event id of each
    /// document is derived from.
    pub id: ObjectId,
    /// Written by one update to many documents ([`append_to_each`]), so the same on each: the
    /// relay derives each document's own event id from it and the document's id.
    #[serde(default)]
    pub shared: bool,
    /// The [`EventType`] name.
    #[serde(rename = "type")]
    pub kind: String,
    /// When the change was made.
    pub at: DateTime,
    /// The document as the change left it (without its outbox).
    pub doc: Document,
}

/// The outbox entry of a document about to be inserted as `snapshot`: put it in the inserted
/// document as `outbox: [entry]`.
pub fn entry(kind: EventType, at: DateTime, snapshot: Document) -> Document {
    doc! { "id": ObjectId::new(), "type": kind.as_str(), "at": at, "doc": snapshot }
}

/// `outbox: [entry(...)]`, for a document about to be inserted: its own fields (but `omit`) are
/// the snapshot.
pub fn outbox_of(kind: EventType, at: DateTime, document: &Document, omit: &[&str]) -> Bson {
    let mut snapshot = document.clone();
    for field in omit {
        snapshot.remove(*field);
    }
    snapshot.remove(OUTBOX);
    Bson::Array(vec![Bson::Document(entry(kind, at, snapshot))])
}

/// An update pipeline stage that appends an event of `kind` to the document's outbox, with the
/// document as the earlier stages left it (but its outbox and the fields `omit`) as snapshot.
pub fn append(kind: EventType, at: DateTime, omit: &[&str]) -> Document {
    doc! { "$set": { OUTBOX: appended(kind, at, omit) } }
}

/// As [`append`], for an update of many documents: each gets its own event (its id derived from
/// the entry's and the document's, so the same however often it is relayed).
pub fn append_to_each(kind: EventType, at: DateTime, omit: &[&str]) -> Document {
    let mut stage = append(kind, at, omit);
    if let Ok(set) = stage.get_document_mut("$set")
        && let Ok(concat) = set.get_document_mut(OUTBOX)
        && let Ok(parts) = concat.get_array_mut("$concatArrays")
        && let Some(Bson::Array(new)) = parts.get_mut(1)
        && let Some(Bson::Document(entry)) = new.get_mut(0)
    {
        entry.insert("shared", doc! { "$literal": true });
    }
    stage
}

/// The event id of a [`shared`](OutboxEntry::shared) entry `entry` on document `document`: the
/// entry id's 4-byte time, then 8 bytes of SHA-256 of both ids.
pub fn derived_id(entry: ObjectId, document: &Bson) -> ObjectId {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(entry.bytes());
    hasher.update(document.to_string().as_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 12];
    bytes[..4].copy_from_slice(&entry.bytes()[..4]);
    bytes[4..].copy_from_slice(&digest[..8]);
    ObjectId::from_bytes(bytes)
}

/// As [`append`], only when the aggregation expression `when` is true of the document as the
/// earlier stages left it.
pub fn append_if(when: Bson, kind: EventType, at: DateTime, omit: &[&str]) -> Document {
    doc! { "$set": { OUTBOX: { "$cond": [when, appended(kind, at, omit), outbox_as_is()] } } }
}

/// An update pipeline stage that sets each field of `set` to its value taken literally (a string
/// beginning with `$` is a string, not a field path).
pub fn set_literally(set: Document) -> Document {
    let literal: Document = set
        .into_iter()
        .map(|(field, value)| (field, Bson::Document(doc! { "$literal": value })))
        .collect();
    doc! { "$set": literal }
}

/// The outbox as it is: an absent one stays absent.
fn outbox_as_is() -> Bson {
    Bson::String(format!("${OUTBOX}"))
}

fn appended(kind: EventType, at: DateTime, omit: &[&str]) -> Document {
    let mut snapshot = Bson::String("$$ROOT".to_owned());
    for field in omit.iter().chain(&[OUTBOX]) {
        snapshot = Bson::Document(doc! { "$unsetField": { "field": *field, "input": snapshot } });
    }
    let entry = doc! {
        "id": { "$literal": ObjectId::new() },
        "type": { "$literal": kind.as_str() },
        "at": { "$literal": at },
        "doc": snapshot,
    };
    doc! { "$concatArrays": [ { "$ifNull": [outbox_as_is(), []] }, [entry] ] }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_entry_gives_each_document_its_own_stable_event_id() {
        let entry = ObjectId::new();
        let one = derived_id(entry, &Bson::ObjectId(ObjectId::new()));
        let other = derived_id(entry, &Bson::ObjectId(ObjectId::new()));
        assert_ne!(one, other);
        assert_eq!(one.timestamp(), entry.timestamp());
        let document = Bson::ObjectId(ObjectId::new());
        assert_eq!(derived_id(entry, &document), derived_id(entry, &document));
        let stage = append_to_each(EventType::ProductUpdated, DateTime::now(), &[]);
        assert!(
            stage
                .to_string()
                .contains("\"shared\": { \"$literal\": true }"),
            "{stage}"
        );
    }

    #[test]
    fn every_type_parses_from_its_own_name_and_serializes_to_it() {
        for kind in EventType::ALL {
            assert_eq!(EventType::parse(kind.as_str()), Some(kind));
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.as_str())
            );
        }
        assert_eq!(EventType::parse("order.Placed"), None);
        assert_eq!(EventType::parse("*"), None);
    }
}
