//! Dispatching events into deliveries, and delivering them.
//!
//! **Dispatch.** The dispatcher (of any replica, woken by this replica's relay and polling for the
//! others') follows the events by number: from its place up to the settled number (see
//! [`common_platform::events::settled`]) it makes one delivery per enabled subscription that
//! wants the event and existed when it occurred, then moves its place on, one write per batch
//! rather than one per event. With no enabled subscription it only moves its place. An event a
//! relay inserted below a number already passed carries an `undispatched` mark; those are
//! dispatched the same way and their mark cleared. A delivery is unique per (subscription,
//! event), so dispatchers racing, or one that crashed before moving on, make each delivery once.
//!
//! **Delivery.** The worker claims due deliveries one at a time (see [`super::store`]), POSTs the
//! event signed per Standard Webhooks (`webhook-id` = the event id, `webhook-timestamp`,
//! `webhook-signature` with the subscription's secret), and records the attempt. A 2xx settles
//! it as `DELIVERED`; anything else is attempted again after `base · 2ⁿ` (`n` failures so far, at
//! most an hour, ±20 % jitter), until the retry window ends: then it is `FAILED`, and a
//! subscription that has failed every attempt for a whole window is disabled. When a failing
//! subscription answers again, its pending deliveries fall due at once.
//!
//! **Isolation.** Each subscription's due deliveries go in commit order on a task of their own,
//! and a round never waits for a subscription still busy from an earlier one, so a slow or dead
//! receiver delays only itself; requests never wait for deliveries at all.
//!
//! **At least once.** A delivery stays due until an attempt's answer is recorded. A worker killed
//! after sending and before recording leaves a claim that lapses (the attempt timeout plus
//! [`CLAIM_MARGIN`]), and the event is sent again with the same `webhook-id`: receivers
//! deduplicate by it.

use std::{
    collections::{BTreeMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::body::Bytes;
use common_api::time;
use common_platform::server::Shutdown;
use hyper::header::{HeaderName, HeaderValue};
use mongodb::bson::{DateTime, oid::ObjectId};
use tokio::sync::Notify;

use super::{
    WebhookSettings,
    sender::{Outcome, Sender},
    store::{Attempt, DeliveryDoc, DeliveryStatus, WebhookDoc, WebhookStore},
    target::Policy,
};
use crate::events::{EventBody, EventDoc, EventLog};

/// A claim lasts the attempt's timeout and this much more.
pub const CLAIM_MARGIN: Duration = Duration::from_secs(5);

/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// How often the dispatcher and the worker look without being woken.
const POLL: Duration = Duration::from_millis(500);

/// How many events one dispatch reads, and how many due deliveries one round reads.
const BATCH: i64 = 500;

/// How many subscriptions one replica delivers to at once.
const MAX_BUSY: usize = 64;

/// Dispatches and delivers.
#[derive(Clone)]
pub struct Worker {
    store: WebhookStore,
    log: EventLog,
    policy: Policy,
    settings: WebhookSettings,
    wake: Arc<Notify>,
    sender: Sender,
    busy: Arc<Mutex<HashSet<ObjectId>>>,
}

impl Worker {
    pub(super) fn new(
        store: WebhookStore,
        log: EventLog,
        policy: Policy,
        settings: WebhookSettings,
        wake: Arc<Notify>,
    ) -> Result<Self, tokio_rustls::rustls::Error> {
        Ok(Self {
            sender: Sender::new(settings.timeout)?,
            store,
            log,
            policy,
            settings,
            wake,
            busy: Arc::default(),
        })
    }

    /// Starts the dispatcher (woken by `relayed`), the delivery rounds and the backlog gauge.
    pub fn start(self, relayed: Arc<Notify>, shutdown: Shutdown) {
        tokio::spawn(self.clone().dispatch_loop(relayed, shutdown.clone()));
        tokio::spawn(self.clone().gauge_loop(shutdown.clone()));
        tokio::spawn(self.deliver_loop(shutdown));
    }

    async fn dispatch_loop(self, relayed: Arc<Notify>, mut shutdown: Shutdown) {
        loop {
            loop {
                match self.dispatch().await {
                    Ok(count) if count == BATCH as usize => continue,
                    Ok(_) => break,
                    Err(err) => {
                        tracing::warn!(error = %err, "webhook dispatch failed; retrying");
                        break;
                    }
                }
            }
            tokio::select! {
                () = relayed.notified() => {}
                () = tokio::time::sleep(POLL) => {}
                () = shutdown.signalled() => return,
            }
        }
    }

    /// Makes the deliveries of up to [`BATCH`] events after the dispatcher's place and of up to
    /// [`BATCH`] marked ones; returns the larger count (more may be waiting when it is
    /// [`BATCH`]).
    pub async fn dispatch(&self) -> Result<usize, mongodb::error::Error> {
        let marked = self.log.undispatched(BATCH).await?;
        let (place, settled) = self.log.dispatch_range().await?;
        if marked.is_empty() && place >= settled {
            return Ok(0);
        }
        let webhooks = self.store.enabled().await?;
        if !marked.is_empty() {
            self.deliver_later(&marked, &webhooks).await?;
            let ids: Vec<ObjectId> = marked.iter().map(|event| event.id).collect();
            self.log.dispatched(&ids).await?;
        }
        if place >= settled {
            return Ok(marked.len());
        }
        if webhooks.is_empty() {
            self.log.dispatched_to(settled).await?;
            return Ok(marked.len());
        }
        let events = self.log.between(place, settled, BATCH).await?;
        let reached = match events.last() {
            Some(last) if events.len() == BATCH as usize => last.seq,
            _ => settled,
        };
        self.deliver_later(&events, &webhooks).await?;
        self.log.dispatched_to(reached).await?;
        Ok(marked.len().max(events.len()))
    }

    /// Stores the deliveries of `events` to the `webhooks` that want them, and wakes the worker.
    async fn deliver_later(
        &self,
        events: &[EventDoc],
        webhooks: &[WebhookDoc],
    ) -> Result<(), mongodb::error::Error> {
        let now = DateTime::now();
        let deliveries: Vec<DeliveryDoc> = events
            .iter()
            .flat_map(|event| {
                webhooks
                    .iter()
                    .filter(|webhook| webhook.wants(&event.kind, event.occurred_at))
                    .map(move |webhook| DeliveryDoc {
                        id: ObjectId::new(),
                        webhook_id: webhook.id,
                        event_id: event.id,
                        event_type: event.kind.clone(),
                        seq: event.seq,
                        status: DeliveryStatus::Pending,
                        attempts: Vec::new(),
                        next_attempt_at: Some(now),
                        retrying_since: now,
                        created_at: now,
                    })
            })
            .collect();
        self.store.add_deliveries(&deliveries).await?;
        if !deliveries.is_empty() {
            self.wake.notify_one();
        }
        Ok(())
    }

    async fn deliver_loop(self, mut shutdown: Shutdown) {
        loop {
            if let Err(err) = self.deliver_due().await {
                tracing::warn!(error = %err, "webhook delivery round failed; retrying");
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(POLL) => {}
                () = shutdown.signalled() => return,
            }
        }
    }

    /// Starts delivering what is due, one task per subscription not already busy here.
    async fn deliver_due(&self) -> Result<(), mongodb::error::Error> {
        let busy: Vec<ObjectId> = self.busy().iter().copied().collect();
        if busy.len() >= MAX_BUSY {
            return Ok(());
        }
        let due = self.store.due(DateTime::now(), &busy, BATCH).await?;
        let mut by_webhook: BTreeMap<ObjectId, Vec<DeliveryDoc>> = BTreeMap::new();
        for delivery in due {
            by_webhook
                .entry(delivery.webhook_id)
                .or_default()
                .push(delivery);
        }
        for (webhook, mut deliveries) in by_webhook {
            if !self.busy().insert(webhook) {
                continue;
            }
            deliveries.sort_by_key(|delivery| delivery.seq);
            let worker = self.clone();
            tokio::spawn(async move {
                if let Err(err) = worker.deliver_all(webhook, deliveries).await {
                    tracing::warn!(error = %err, webhook_id = %webhook, "webhook deliveries interrupted; retrying");
                }
                worker.busy().remove(&webhook);
                worker.wake.notify_one();
            });
        }
        Ok(())
    }

    fn busy(&self) -> std::sync::MutexGuard<'_, HashSet<ObjectId>> {
        // The set is only ever held for an insert or a remove: a panic cannot leave it half
        // changed, so a poisoned lock is still good.
        self.busy
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Attempts `deliveries` of subscription `webhook`, in order.
    async fn deliver_all(
        &self,
        webhook: ObjectId,
        deliveries: Vec<DeliveryDoc>,
    ) -> Result<(), mongodb::error::Error> {
        for delivery in deliveries {
            // Read again for each: a rotated secret or a disable applies at once.
            let Some(subscription) = self.store.find(webhook).await? else {
                return Ok(());
            };
            if !subscription.enabled {
                return Ok(());
            }
            let now = DateTime::now();
            let until = time::plus(now, self.settings.timeout + CLAIM_MARGIN);
            let Some(claimed) = self.store.claim(delivery.id, now, until).await? else {
                continue;
            };
            self.attempt(&subscription, claimed, until).await?;
        }
        Ok(())
    }

    /// One attempt of `delivery`, claimed until `until`, and its record.
    async fn attempt(
        &self,
        webhook: &WebhookDoc,
        delivery: DeliveryDoc,
        until: DateTime,
    ) -> Result<(), mongodb::error::Error> {
        let at = DateTime::now();
        let started = Instant::now();
        let outcome = match self.log.find(delivery.event_id).await? {
            Some(event) => self.send(webhook, event).await,
            None => Outcome::Failed("the event is no longer kept"),
        };
        let elapsed = started.elapsed();
        let label = match &outcome {
            outcome if outcome.delivered() => "delivered",
            Outcome::Answered(_) => "rejected",
            Outcome::Failed(_) => "failed",
        };
        metrics::counter!("webhook_deliveries_total", "outcome" => label).increment(1);
        metrics::histogram!("webhook_delivery_duration_seconds").record(elapsed.as_secs_f64());
        let attempt = Attempt {
            at,
            http_status: match outcome {
                Outcome::Answered(status) => Some(i32::from(status)),
                Outcome::Failed(_) => None,
            },
            error: match outcome {
                Outcome::Failed(why) => Some(why.to_owned()),
                Outcome::Answered(_) => None,
            },
            duration_ms: i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX),
        };
        if outcome.delivered() {
            self.store
                .record(&delivery, until, &attempt, DeliveryStatus::Delivered, None)
                .await?;
            let latency =
                DateTime::now().timestamp_millis() - delivery.created_at.timestamp_millis();
            metrics::histogram!("webhook_delivery_lag_seconds").record(latency as f64 / 1000.0);
            if self.store.answered(webhook.id).await? {
                self.store
                    .bring_forward(webhook.id, DateTime::now())
                    .await?;
            }
            return Ok(());
        }
        self.store.failed(webhook.id, at).await?;
        let window_end = time::plus(delivery.retrying_since, self.settings.retry_window);
        let now = DateTime::now();
        if now >= window_end {
            self.store
                .record(&delivery, until, &attempt, DeliveryStatus::Failed, None)
                .await?;
            let failing_before = time::minus(now, self.settings.retry_window);
            if self
                .store
                .disable_if_failing_since(webhook.id, failing_before)
                .await?
            {
                metrics::counter!("webhook_endpoints_disabled_total").increment(1);
                tracing::warn!(webhook_id = %webhook.id, url = %webhook.url, "webhook disabled: every attempt failed for the whole retry window");
            }
            return Ok(());
        }
        let next = time::plus(now, self.backoff(&delivery, now)).min(window_end);
        self.store
            .record(
                &delivery,
                until,
                &attempt,
                DeliveryStatus::Pending,
                Some(next),
            )
            .await?;
        Ok(())
    }

    /// The wait before the next attempt: the time retried so far plus the base, which doubles
    /// the wait with each failure (base, 2·base, 4·base, …), at most [`MAX_BACKOFF`], ±20 %.
    fn backoff(&self, delivery: &DeliveryDoc, now: DateTime) -> Duration {
        let retried = now.timestamp_millis() - delivery.retrying_since.timestamp_millis();
        let retried = Duration::from_millis(u64::try_from(retried).unwrap_or(0));
        let wait = (retried + self.settings.retry_base).min(MAX_BACKOFF);
        let mut random = [0u8; 2];
        // Without randomness the wait is simply not jittered.
        let _ = getrandom::fill(&mut random);
        let jitter = 0.8 + 0.4 * f64::from(u16::from_le_bytes(random)) / f64::from(u16::MAX);
        wait.mul_f64(jitter)
    }

    /// Signs and POSTs `event` to `webhook`.
    async fn send(&self, webhook: &WebhookDoc, event: EventDoc) -> Outcome {
        let Ok(url) = self.policy.parse(&webhook.url) else {
            return Outcome::Failed("the URL is no longer allowed");
        };
        let target = match self.policy.resolve(&url).await {
            Ok(target) => target,
            Err(super::target::Refused::Unresolvable) => {
                return Outcome::Failed("the host does not resolve");
            }
            Err(_) => return Outcome::Failed("the host resolves to an address that is not public"),
        };
        let id = event.id.to_hex();
        let Ok(body) = serde_json::to_vec(&EventBody::of(event)) else {
            return Outcome::Failed("the event could not be encoded");
        };
        let timestamp = DateTime::now().timestamp_millis() / 1000;
        let signature = standardwebhooks::Webhook::new(&webhook.secret)
            .and_then(|signer| signer.sign(&id, timestamp, &body));
        let Ok(signature) = signature else {
            return Outcome::Failed("the secret cannot sign");
        };
        let headers = [
            ("webhook-id", id),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature),
        ]
        .into_iter()
        .filter_map(|(name, value)| {
            Some((
                HeaderName::from_static(name),
                HeaderValue::from_str(&value).ok()?,
            ))
        })
        .collect();
        self.sender.send(&target, headers, Bytes::from(body)).await
    }

    async fn gauge_loop(self, mut shutdown: Shutdown) {
        loop {
            if let Ok(oldest) = self.store.oldest_pending().await {
                let age = oldest.map_or(0.0, |created| {
                    (DateTime::now().timestamp_millis() - created.timestamp_millis()) as f64
                        / 1000.0
                });
                metrics::gauge!("webhook_oldest_pending_seconds").set(age.max(0.0));
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(5)) => {}
                () = shutdown.signalled() => return,
            }
        }
    }
}
