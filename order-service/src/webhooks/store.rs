//! The `webhooks` (subscriptions) and `webhook_deliveries` collections.
//!
//! A delivery is one event for one subscription. It is `PENDING` until an attempt gets a 2xx
//! (`DELIVERED`) or its retry window ends (`FAILED`). `next_attempt_at` is also its lease: a
//! worker claims a due delivery by moving it forward by the attempt's timeout and a margin in one
//! conditional update, so exactly one worker of all replicas makes each attempt, and a worker
//! that dies mid-attempt leaves a delivery that falls due again when its lease ends.

use std::time::Duration;

use common_api::pagination::Page;
use common_platform::db::{ensure_ttl_index, find_page};
use futures_util::TryStreamExt;
use mongodb::{
    Collection, Database, IndexModel,
    bson::{DateTime, Document, doc, oid::ObjectId, to_bson},
    error::Error,
    options::{IndexOptions, InsertManyOptions, ReturnDocument},
};
use serde::{Deserialize, Serialize};

/// A subscription.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WebhookDoc {
    /// Its id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Where events are POSTed.
    pub url: String,
    /// The event types it receives, or `["*"]` for all.
    pub events: Vec<String>,
    /// What it is for.
    pub description: String,
    /// Whether events are delivered to it.
    pub enabled: bool,
    /// The signing secret (`whsec_…`).
    pub secret: String,
    /// When it was created: it receives the events that occur after.
    pub created_at: DateTime,
    /// When it last changed.
    pub updated_at: DateTime,
    /// Since when every attempt to it has failed, if the last one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<DateTime>,
}

impl WebhookDoc {
    /// Whether it receives events of type `kind` that occurred `at`.
    pub fn wants(&self, kind: &str, at: DateTime) -> bool {
        self.enabled
            && self.created_at <= at
            && self
                .events
                .iter()
                .any(|wanted| wanted == "*" || wanted == kind)
    }
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum DeliveryStatus {
    /// Not delivered yet; attempted again at `next_attempt_at`.
    Pending,
    /// A 2xx answered it.
    Delivered,
    /// Its retry window ended without a 2xx (or its subscription was disabled).
    Failed,
}

impl DeliveryStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Delivered => "DELIVERED",
            Self::Failed => "FAILED",
        }
    }
}

/// One attempt of a delivery.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Attempt {
    /// When it started.
    pub at: DateTime,
    /// The receiver's status, if it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<i32>,
    /// Why there was no answer, if there was none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: i64,
}

/// One event for one subscription.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeliveryDoc {
    /// Its id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// The subscription.
    pub webhook_id: ObjectId,
    /// The event (its `webhook-id`).
    pub event_id: ObjectId,
    /// The event's type.
    pub event_type: String,
    /// The event's place in commit order: one subscription's deliveries go in this order.
    pub seq: i64,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Every attempt so far, oldest first.
    #[serde(default)]
    pub attempts: Vec<Attempt>,
    /// When it is attempted next (or, while claimed, when the claim lapses); absent once settled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime>,
    /// Since when it is retried: its retry window ends this long after.
    pub retrying_since: DateTime,
    /// When it was made.
    pub created_at: DateTime,
}

/// Reads and writes subscriptions and their deliveries.
#[derive(Clone)]
pub struct WebhookStore {
    webhooks: Collection<WebhookDoc>,
    deliveries: Collection<DeliveryDoc>,
}

impl WebhookStore {
    /// The stores over `db.webhooks` and `db.webhook_deliveries`.
    pub fn new(db: &Database) -> Self {
        Self {
            webhooks: db.collection("webhooks"),
            deliveries: db.collection("webhook_deliveries"),
        }
    }

    /// Creates the indexes: one delivery per event and subscription, a subscription's deliveries
    /// newest first (by status too), the due ones (partial: pending only), and the retention.
    pub async fn ensure_indexes(&self, retention: Duration) -> Result<(), Error> {
        let once = IndexModel::builder()
            .keys(doc! { "webhook_id": 1, "event_id": 1 })
            .options(IndexOptions::builder().unique(true).build())
            .build();
        let listed = IndexModel::builder()
            .keys(doc! { "webhook_id": 1, "status": 1, "_id": -1 })
            .build();
        let due = IndexModel::builder()
            .keys(doc! { "next_attempt_at": 1 })
            .options(
                IndexOptions::builder()
                    .name("due".to_owned())
                    .partial_filter_expression(doc! { "status": DeliveryStatus::Pending.as_str() })
                    .build(),
            )
            .build();
        let oldest = IndexModel::builder()
            .keys(doc! { "status": 1, "created_at": 1 })
            .build();
        self.deliveries
            .create_indexes([once, listed, due, oldest])
            .await?;
        ensure_ttl_index(&self.deliveries, "created_at", retention, "retention").await
    }

    /// Stores a new subscription.
    pub async fn insert(&self, webhook: &WebhookDoc) -> Result<(), Error> {
        self.webhooks.insert_one(webhook).await?;
        Ok(())
    }

    /// One page of subscriptions, oldest first, with the total.
    pub async fn list(&self, page: Page) -> Result<(Vec<WebhookDoc>, u64), Error> {
        find_page(&self.webhooks, Document::new(), doc! { "_id": 1 }, page).await
    }

    /// Subscription `id`.
    pub async fn find(&self, id: ObjectId) -> Result<Option<WebhookDoc>, Error> {
        self.webhooks.find_one(doc! { "_id": id }).await
    }

    /// Every enabled subscription.
    pub async fn enabled(&self) -> Result<Vec<WebhookDoc>, Error> {
        self.webhooks
            .find(doc! { "enabled": true })
            .await?
            .try_collect()
            .await
    }

    /// Sets `set` on subscription `id`; the subscription after, or `None` if there is none.
    pub async fn update(
        &self,
        id: ObjectId,
        mut set: Document,
    ) -> Result<Option<WebhookDoc>, Error> {
        set.insert("updated_at", DateTime::now());
        self.webhooks
            .find_one_and_update(doc! { "_id": id }, doc! { "$set": set })
            .return_document(ReturnDocument::After)
            .await
    }

    /// Deletes subscription `id` and its deliveries; `false` if there was none.
    pub async fn delete(&self, id: ObjectId) -> Result<bool, Error> {
        let deleted = self.webhooks.delete_one(doc! { "_id": id }).await?;
        self.deliveries
            .delete_many(doc! { "webhook_id": id })
            .await?;
        Ok(deleted.deleted_count == 1)
    }

    /// Stores new deliveries; those already made (by another dispatcher) are left as they are.
    pub async fn add_deliveries(&self, deliveries: &[DeliveryDoc]) -> Result<(), Error> {
        if deliveries.is_empty() {
            return Ok(());
        }
        let inserted = self
            .deliveries
            .insert_many(deliveries)
            .with_options(InsertManyOptions::builder().ordered(false).build())
            .await;
        match inserted {
            Err(err) if common_platform::db::insert_many_duplicates(&err).is_none() => Err(err),
            _ => Ok(()),
        }
    }

    /// Up to `limit` deliveries due `now`, soonest first, of subscriptions other than `busy`.
    pub async fn due(
        &self,
        now: DateTime,
        busy: &[ObjectId],
        limit: i64,
    ) -> Result<Vec<DeliveryDoc>, Error> {
        self.deliveries
            .find(doc! {
                "status": DeliveryStatus::Pending.as_str(),
                "next_attempt_at": { "$lte": now },
                "webhook_id": { "$nin": busy },
            })
            .sort(doc! { "next_attempt_at": 1 })
            .projection(doc! { "attempts": 0 })
            .limit(limit)
            .await?
            .try_collect()
            .await
    }

    /// Claims delivery `id` if it is still due `now`, until `until`; the delivery, or `None` if
    /// another worker has it or it is settled.
    pub async fn claim(
        &self,
        id: ObjectId,
        now: DateTime,
        until: DateTime,
    ) -> Result<Option<DeliveryDoc>, Error> {
        self.deliveries
            .find_one_and_update(
                doc! {
                    "_id": id,
                    "status": DeliveryStatus::Pending.as_str(),
                    "next_attempt_at": { "$lte": now },
                },
                doc! { "$set": { "next_attempt_at": until } },
            )
            .projection(doc! { "attempts": 0 })
            .return_document(ReturnDocument::After)
            .await
    }

    /// Records `attempt` of the delivery claimed until `claimed_until`, leaving it `status` and
    /// due again at `next` (for a pending one); `false` if the claim was lost meanwhile (a
    /// manual retry), in which case the attempt is still recorded.
    pub async fn record(
        &self,
        delivery: &DeliveryDoc,
        claimed_until: DateTime,
        attempt: &Attempt,
        status: DeliveryStatus,
        next: Option<DateTime>,
    ) -> Result<bool, Error> {
        let attempt = to_bson(attempt)?;
        let mut set = doc! { "status": status.as_str() };
        let mut update = doc! {
            "$push": { "attempts": { "$each": [attempt.clone()], "$slice": -100 } },
        };
        match next {
            Some(next) => {
                set.insert("next_attempt_at", next);
            }
            None => {
                update.insert("$unset", doc! { "next_attempt_at": "" });
            }
        }
        update.insert("$set", set);
        let claimed = self
            .deliveries
            .update_one(
                doc! { "_id": delivery.id, "status": DeliveryStatus::Pending.as_str(), "next_attempt_at": claimed_until },
                update,
            )
            .await?;
        if claimed.matched_count == 1 {
            return Ok(true);
        }
        self.deliveries
            .update_one(
                doc! { "_id": delivery.id },
                doc! { "$push": { "attempts": { "$each": [attempt], "$slice": -100 } } },
            )
            .await?;
        Ok(false)
    }

    /// One page of subscription `webhook`'s deliveries with `status` (any with `None`), newest
    /// first, with the total.
    pub async fn deliveries(
        &self,
        webhook: ObjectId,
        status: Option<DeliveryStatus>,
        page: Page,
    ) -> Result<(Vec<DeliveryDoc>, u64), Error> {
        let mut filter = doc! { "webhook_id": webhook };
        if let Some(status) = status {
            filter.insert("status", status.as_str());
        }
        find_page(&self.deliveries, filter, doc! { "_id": -1 }, page).await
    }

    /// Makes delivery `id` of `webhook` pending and due now, with a new retry window; `false` if
    /// there is no such delivery.
    pub async fn retry(&self, webhook: ObjectId, id: ObjectId) -> Result<bool, Error> {
        let now = DateTime::now();
        let result = self
            .deliveries
            .update_one(
                doc! { "_id": id, "webhook_id": webhook },
                doc! { "$set": {
                    "status": DeliveryStatus::Pending.as_str(),
                    "next_attempt_at": now,
                    "retrying_since": now,
                } },
            )
            .await?;
        Ok(result.matched_count == 1)
    }

    /// Makes every pending delivery of `webhook` due `now` (it answers again: no need to wait
    /// out each one's backoff).
    pub async fn bring_forward(&self, webhook: ObjectId, now: DateTime) -> Result<(), Error> {
        self.deliveries
            .update_many(
                doc! {
                    "webhook_id": webhook,
                    "status": DeliveryStatus::Pending.as_str(),
                    "next_attempt_at": { "$gt": now },
                    // A delivery claimed this instant keeps its claim.
                    "attempts.0": { "$exists": true },
                },
                doc! { "$set": { "next_attempt_at": now } },
            )
            .await?;
        Ok(())
    }

    /// Notes that an attempt to `webhook` failed `at` (the start of its failing streak, if new).
    pub async fn failed(&self, webhook: ObjectId, at: DateTime) -> Result<(), Error> {
        self.webhooks
            .update_one(
                doc! { "_id": webhook, "failing_since": { "$exists": false } },
                doc! { "$set": { "failing_since": at } },
            )
            .await?;
        Ok(())
    }

    /// Notes that an attempt to `webhook` succeeded; `true` if it had been failing.
    pub async fn answered(&self, webhook: ObjectId) -> Result<bool, Error> {
        let result = self
            .webhooks
            .update_one(
                doc! { "_id": webhook, "failing_since": { "$exists": true } },
                doc! { "$unset": { "failing_since": "" } },
            )
            .await?;
        Ok(result.modified_count == 1)
    }

    /// Disables `webhook` if it has been failing since `before` or earlier, and fails its pending
    /// deliveries; `true` if this call disabled it.
    pub async fn disable_if_failing_since(
        &self,
        webhook: ObjectId,
        before: DateTime,
    ) -> Result<bool, Error> {
        let result = self
            .webhooks
            .update_one(
                doc! { "_id": webhook, "enabled": true, "failing_since": { "$lte": before } },
                doc! { "$set": { "enabled": false, "updated_at": DateTime::now() } },
            )
            .await?;
        if result.modified_count == 0 {
            return Ok(false);
        }
        self.fail_pending(webhook).await?;
        Ok(true)
    }

    /// Fails every pending delivery of `webhook` (it is disabled: nothing more is attempted).
    pub async fn fail_pending(&self, webhook: ObjectId) -> Result<(), Error> {
        self.deliveries
            .update_many(
                doc! { "webhook_id": webhook, "status": DeliveryStatus::Pending.as_str() },
                doc! {
                    "$set": { "status": DeliveryStatus::Failed.as_str() },
                    "$unset": { "next_attempt_at": "" },
                },
            )
            .await?;
        Ok(())
    }

    /// When the oldest pending delivery was made, if any is pending.
    pub async fn oldest_pending(&self) -> Result<Option<DateTime>, Error> {
        Ok(self
            .deliveries
            .find_one(doc! { "status": DeliveryStatus::Pending.as_str() })
            .sort(doc! { "created_at": 1 })
            .projection(doc! { "attempts": 0 })
            .await?
            .map(|delivery| delivery.created_at))
    }
}
