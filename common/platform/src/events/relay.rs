//! The relay: moves outbox entries into the `events` collection, numbered in commit order.
//!
//! One pass reads up to [`BATCH`] documents that have entries, renders each entry as the API
//! shows the resource, and then, holding the sequence lease (one document, `event_sequence`, whose
//! holder and expiry say who may number events now), reserves as many numbers as it has entries
//! and inserts the events. Only then does it remove the moved entries from their documents, and
//! delete documents marked deleted whose outbox is now empty.
//!
//! A crash anywhere leaves the entries on their documents, so the next pass (of any replica)
//! moves them again; an event already inserted is recognised by its id and keeps its first
//! number. Numbers are handed out and used under the lease, so no event is ever inserted with a
//! number below one already visible, except by a holder stalled past the lease ([`LEASE`]) between
//! reserving and inserting (it then still inserts its events: nothing is lost, but a reader of
//! `GET /events` who read past that number meanwhile would skip them; webhooks still deliver them).
//!
//! **Settled numbers.** The webhook dispatcher follows the events by number rather than marking
//! each one dispatched (a second write per event): [`settled`] is the number up to which every
//! event is in `events` for good. The lease keeps the number it started from (`base`): while it
//! is held, only numbers up to `base` are settled; once released, all of them. A holder that
//! finds its lease gone at release (stalled past it, and taken over) marks its events
//! `undispatched`, and so does a pass that meets events an earlier, interrupted pass inserted:
//! the dispatcher takes marked events too, so an event inserted below a number it already passed
//! is still delivered.

use std::{sync::Arc, time::Duration};

use futures_util::TryStreamExt;
use mongodb::{
    Collection, Database, IndexModel,
    bson::{Bson, DateTime, Document, doc, oid::ObjectId},
    error::Error,
    options::{IndexOptions, InsertManyOptions, ReturnDocument},
};
use tokio::sync::Notify;

use super::{DELETED_AT, EVENTS, EventType, OUTBOX, OutboxEntry, field};
use crate::server::Shutdown;

/// At most this many documents are relayed per pass.
const BATCH: i64 = 256;

/// How long the sequence lease lasts: far longer than reserving numbers and one insert take.
const LEASE: Duration = Duration::from_secs(10);

/// How long to wait before asking again for a lease another relay holds.
const LEASE_RETRY: Duration = Duration::from_millis(2);

/// The collection of the one document that numbers events (and of the documents that follow
/// the numbers, such as the webhook dispatcher's).
pub const SEQUENCE: &str = "event_sequence";

/// Renders a snapshot of a document as the API shows the resource (JSON text), for an event of
/// the given type; `None` when the snapshot is no such resource (logged, and relayed as `null`).
pub type Render = Arc<dyn Fn(EventType, Document) -> Option<String> + Send + Sync>;

/// Moves the outbox entries of one collection into `events`.
#[derive(Clone)]
pub struct Relay {
    source: Collection<Document>,
    events: Collection<Document>,
    sequence: Collection<Document>,
    render: Render,
    wake: Arc<Notify>,
    relayed: Arc<Notify>,
}

/// Lets writers ask a [`Relay`] to run at once, and others learn that it moved events.
#[derive(Clone)]
pub struct RelayHandle {
    relay: Relay,
}

impl RelayHandle {
    /// Asks the relay's task to run a pass now (after a change that recorded an event).
    pub fn wake(&self) {
        self.relay.wake.notify_one();
    }

    /// Runs passes here until the outbox is empty (a request that wants its event moved before
    /// it answers). Errors are the caller's; the relay's task retries anyway.
    pub async fn relay_now(&self) -> Result<(), Error> {
        while self.relay.pass().await? == BATCH as usize {}
        Ok(())
    }

    /// Notified after every pass that moved events.
    pub fn relayed(&self) -> Arc<Notify> {
        Arc::clone(&self.relay.relayed)
    }
}

/// Creates the partial index the relay finds documents with entries by: it holds only those, so
/// documents without entries (nearly all) cost nothing in it.
pub async fn ensure_outbox_index(source: &Collection<Document>) -> Result<(), Error> {
    let path = format!("{OUTBOX}.id");
    let index = IndexModel::builder()
        .keys(doc! { &path: 1 })
        .options(
            IndexOptions::builder()
                .name("outbox".to_owned())
                .partial_filter_expression(doc! { &path: { "$exists": true } })
                .build(),
        )
        .build();
    source.create_index(index).await?;
    Ok(())
}

impl Relay {
    /// A relay of the outbox entries in collection `source` of `db`, rendered with `render`.
    pub fn new(db: &Database, source: &str, render: Render) -> Self {
        Self {
            source: db.collection(source),
            events: db.collection(EVENTS),
            sequence: db.collection(SEQUENCE),
            render,
            wake: Arc::new(Notify::new()),
            relayed: Arc::new(Notify::new()),
        }
    }

    /// A handle for writers and followers.
    pub fn handle(&self) -> RelayHandle {
        RelayHandle {
            relay: self.clone(),
        }
    }

    /// Relays now, then whenever woken and at least every `poll` (for entries written by other
    /// processes, and left by a crash), until `shutdown`.
    pub async fn run(self, poll: Duration, mut shutdown: Shutdown) {
        loop {
            loop {
                match self.pass().await {
                    Ok(moved) if moved == BATCH as usize => continue,
                    Ok(_) => break,
                    Err(err) => {
                        tracing::warn!(error = %err, collection = self.source.name(), "event relay failed; retrying");
                        break;
                    }
                }
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(poll) => {}
                () = shutdown.signalled() => return,
            }
        }
    }

    /// One pass; returns how many documents had entries (up to [`BATCH`]).
    async fn pass(&self) -> Result<usize, Error> {
        let pending = format!("{OUTBOX}.id");
        let documents: Vec<Document> = self
            .source
            .find(doc! { &pending: { "$exists": true } })
            .projection(doc! { OUTBOX: 1, DELETED_AT: 1 })
            .limit(BATCH)
            .await?
            .try_collect()
            .await?;
        if documents.is_empty() {
            return Ok(0);
        }
        let mut ids = Vec::with_capacity(documents.len());
        let mut deleted = Vec::new();
        let mut entries = Vec::new();
        let mut moved = Vec::new();
        let count = documents.len();
        for mut document in documents {
            let id = document.remove("_id").unwrap_or_default();
            let outbox = match document.remove(OUTBOX) {
                Some(Bson::Array(outbox)) => outbox,
                _ => Vec::new(),
            };
            for stored in outbox {
                match mongodb::bson::from_bson::<OutboxEntry>(stored) {
                    Ok(mut entry) => {
                        moved.push(entry.id);
                        if entry.shared {
                            entry.id = super::derived_id(entry.id, &id);
                        }
                        entries.push(entry);
                    }
                    Err(err) => {
                        tracing::error!(error = %err, "an outbox entry is malformed; left in place")
                    }
                }
            }
            if document.contains_key(DELETED_AT) {
                deleted.push(id.clone());
            }
            ids.push(id);
        }
        let events: Vec<Document> = entries.into_iter().map(|entry| self.event(entry)).collect();
        self.insert_numbered(events).await?;
        self.source
            .update_many(
                doc! { "_id": { "$in": &ids } },
                doc! { "$pull": { OUTBOX: { "id": { "$in": &moved } } } },
            )
            .await?;
        if !deleted.is_empty() {
            let empty = format!("{OUTBOX}.0");
            self.source
                .delete_many(doc! {
                    "_id": { "$in": &deleted },
                    DELETED_AT: { "$exists": true },
                    &empty: { "$exists": false },
                })
                .await?;
        }
        self.relayed.notify_waiters();
        Ok(count)
    }

    /// The stored event of `entry`, not yet numbered.
    fn event(&self, entry: OutboxEntry) -> Document {
        let kind = EventType::parse(&entry.kind);
        let data = kind.and_then(|kind| (self.render)(kind, entry.doc));
        if data.is_none() {
            tracing::error!(event_id = %entry.id, event_type = %entry.kind, "an event's resource could not be rendered; relayed with null data");
        }
        doc! {
            field::ID: entry.id,
            field::TYPE: entry.kind,
            field::OCCURRED_AT: entry.at,
            field::DATA: data.unwrap_or_else(|| "null".to_owned()),
        }
    }

    /// Numbers `events` in their order and inserts them, under the sequence lease. An event
    /// inserted before (by a pass that crashed before clearing its entry) keeps its number.
    async fn insert_numbered(&self, mut events: Vec<Document>) -> Result<(), Error> {
        let holder = ObjectId::new();
        let last = self.lease(holder, events.len() as i64).await?;
        let first = last - events.len() as i64 + 1;
        for (offset, event) in events.iter_mut().enumerate() {
            event.insert(field::SEQ, first + offset as i64);
        }
        let kinds: Vec<String> = events
            .iter()
            .filter_map(|event| event.get_str(field::TYPE).ok().map(str::to_owned))
            .collect();
        let inserted = self
            .events
            .insert_many(&events)
            .with_options(InsertManyOptions::builder().ordered(false).build())
            .await;
        let release = self
            .sequence
            .update_one(
                doc! { "_id": EVENTS, "holder": holder },
                doc! { "$set": { "until": DateTime::from_millis(0) } },
            )
            .await;
        let duplicates = match inserted {
            Ok(_) => Vec::new(),
            Err(err) => crate::db::insert_many_duplicates(&err).ok_or(err)?,
        };
        // Lost to another holder: the dispatcher may have passed these numbers already. Inserted
        // before: an interrupted pass's events, which it may have passed as well.
        let lost = release?.matched_count == 0;
        let unsure: Vec<&Bson> = events
            .iter()
            .enumerate()
            .filter(|(index, _)| lost || duplicates.contains(index))
            .filter_map(|(_, event)| event.get(field::ID))
            .collect();
        if !unsure.is_empty() {
            self.events
                .update_many(
                    doc! { field::ID: { "$in": unsure } },
                    doc! { "$set": { field::UNDISPATCHED: true } },
                )
                .await?;
        }
        for (index, kind) in kinds.iter().enumerate() {
            if !duplicates.contains(&index) {
                let kind = EventType::parse(kind).map_or("unknown", EventType::as_str);
                metrics::counter!("events_recorded_total", "type" => kind).increment(1);
            }
        }
        Ok(())
    }

    /// Takes the sequence lease for `holder` and reserves `count` numbers; returns the last.
    async fn lease(&self, holder: ObjectId, count: i64) -> Result<i64, Error> {
        loop {
            let now = DateTime::now();
            let until = DateTime::from_millis(now.timestamp_millis() + LEASE.as_millis() as i64);
            let next = doc! { "$ifNull": ["$next", 0_i64] };
            let taken = self
                .sequence
                .find_one_and_update(
                    doc! { "_id": EVENTS, "until": { "$not": { "$gt": now } } },
                    vec![doc! { "$set": {
                        "holder": { "$literal": holder },
                        "until": { "$literal": until },
                        "base": &next,
                        "next": { "$add": [&next, count] },
                    } }],
                )
                .upsert(true)
                .return_document(ReturnDocument::After)
                .await;
            match taken {
                Ok(Some(lease)) => return Ok(lease.get_i64("next").unwrap_or(count)),
                // Held by another relay (the upsert then collides with the existing document).
                Ok(None) => {}
                Err(err) if crate::db::is_duplicate_key(&err) => {}
                Err(err) => return Err(err),
            }
            tokio::time::sleep(LEASE_RETRY).await;
        }
    }
}

/// The number up to which every event is in `events` for good (see the module's documentation),
/// read from the sequence lease of `db`; an abandoned lease (expired, never released) is released
/// here, so that a crashed relay holds nothing up past its lease.
pub async fn settled(db: &Database) -> Result<i64, Error> {
    let sequence: Collection<Document> = db.collection(SEQUENCE);
    let Some(lease) = sequence.find_one(doc! { "_id": EVENTS }).await? else {
        return Ok(0);
    };
    let next = lease.get_i64("next").unwrap_or(0);
    // A lease written before `base` was kept settles nothing until it is released.
    let base = lease.get_i64("base").unwrap_or(0);
    let Ok(until) = lease.get_datetime("until") else {
        return Ok(next);
    };
    if until.timestamp_millis() == 0 {
        return Ok(next);
    }
    if *until > DateTime::now() {
        return Ok(base);
    }
    let released = sequence
        .update_one(
            doc! { "_id": EVENTS, "holder": lease.get("holder"), "until": until },
            doc! { "$set": { "holder": ObjectId::new(), "until": DateTime::from_millis(0) } },
        )
        .await?;
    Ok(if released.matched_count == 1 {
        next
    } else {
        base
    })
}
