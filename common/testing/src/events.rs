//! Reading the events a test's changes recorded, from the `events` collection the relays fill.

use std::time::Duration;

use common_platform::events::{EVENTS, field};
use mongodb::bson::{Document, doc};
use serde_json::Value;

use crate::TestDb;

/// How long no further event may come for [`TestDb::settled_events`] to take it that none will:
/// a relay woken by the write moves an event within milliseconds.
const QUIET: Duration = Duration::from_millis(300);

/// An event as stored: what `GET /events` lists and webhooks deliver.
#[derive(Clone, Debug)]
pub struct StoredEvent {
    /// The event id (24 hex characters).
    pub id: String,
    /// Its place in commit order.
    pub seq: i64,
    /// Its type, such as `order.placed`.
    pub kind: String,
    /// The resource as the API showed it after the change.
    pub data: Value,
}

impl TestDb {
    /// Every event relayed so far, in commit order.
    pub async fn events(&self) -> Vec<StoredEvent> {
        let mut events: Vec<StoredEvent> = self
            .documents(EVENTS, Document::new())
            .await
            .into_iter()
            .map(|stored| StoredEvent {
                id: stored.get_object_id(field::ID).expect("an id").to_hex(),
                seq: stored.get_i64(field::SEQ).expect("a number"),
                kind: stored.get_str(field::TYPE).expect("a type").to_owned(),
                data: serde_json::from_str(stored.get_str(field::DATA).expect("data"))
                    .expect("data is JSON"),
            })
            .collect();
        events.sort_by_key(|event| event.seq);
        events
    }

    /// The events relayed so far whose `data.id` is `resource`, in commit order.
    pub async fn events_of(&self, resource: &str) -> Vec<StoredEvent> {
        let mut events = self.events().await;
        events.retain(|event| event.data["id"] == resource);
        events
    }

    /// Waits (up to 10 s) until `count` events of `resource` are relayed, and returns them all.
    pub async fn wait_for_events(&self, resource: &str, count: usize) -> Vec<StoredEvent> {
        for _ in 0..200 {
            let events = self.events_of(resource).await;
            if events.len() >= count {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let events = self.events_of(resource).await;
        panic!(
            "{count} events of {resource} expected, {} relayed: {:?}",
            events.len(),
            events.iter().map(|e| &e.kind).collect::<Vec<_>>()
        );
    }

    /// Waits until `count` events of `resource` are relayed, then [`QUIET`] longer, and returns
    /// every event of it relayed by then: a test that asserts the exact list proves that no
    /// extra event came.
    pub async fn settled_events(&self, resource: &str, count: usize) -> Vec<StoredEvent> {
        self.wait_for_events(resource, count).await;
        tokio::time::sleep(QUIET).await;
        self.events_of(resource).await
    }

    /// How many outbox entries are still on documents of `collection` (0 once the relay caught
    /// up).
    pub async fn outbox_backlog(&self, collection: &str) -> usize {
        self.documents(collection, doc! { "outbox.id": { "$exists": true } })
            .await
            .iter()
            .map(|stored| stored.get_array("outbox").map_or(0, Vec::len))
            .sum()
    }
}

/// The types of `events`, in their order (`["product.created", "product.updated"]`).
pub fn kinds(events: &[StoredEvent]) -> Vec<&str> {
    events.iter().map(|event| event.kind.as_str()).collect()
}

impl TestDb {
    /// Refuses every access token of `user` issued before now, as the user service does after a
    /// password change, a role change or a disable: the account's `tokens_valid_after`, which
    /// every service follows. (The account document is made if the test has none.)
    pub async fn refuse_tokens_of(&self, user: mongodb::bson::oid::ObjectId) {
        use common_api::auth::{TOKENS_VALID_AFTER, USERS};
        self.db
            .collection::<Document>(USERS)
            .update_one(
                doc! { "_id": user },
                doc! { "$set": { TOKENS_VALID_AFTER: mongodb::bson::DateTime::now() } },
            )
            .upsert(true)
            .await
            .expect("the cutoff is written");
    }
}
