//! Webhook subscriptions (admin) and the delivery of events to them.
//!
//! The [`Webhooks`] domain owns the subscriptions and deliveries ([`store`]), the URL policy
//! ([`target`]) and the event log; [`worker`] dispatches each new event into one delivery per
//! subscription that wants it and delivers them, signed per the Standard Webhooks specification,
//! with retries (see there for the delivery promise).

pub mod sender;
pub mod store;
pub mod target;
pub mod worker;

use std::{sync::Arc, time::Duration};

use common_api::pagination::Page;
use common_platform::config::{ConfigError, Env};
use mongodb::{
    Database,
    bson::{DateTime, Document, oid::ObjectId},
    error::Error,
};
use tokio::sync::Notify;

use self::{
    store::{DeliveryDoc, DeliveryStatus, WebhookDoc, WebhookStore},
    target::{Policy, Refused, Resolve},
};
use crate::events::{EventDoc, EventLog};
use common_platform::events::EventType;

/// How webhooks are delivered and events kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookSettings {
    /// A delivery is retried this long before it is `FAILED` (`WEBHOOK_RETRY_HOURS`, 24).
    pub retry_window: Duration,
    /// The first retry waits about this long, each next one twice as long, up to an hour
    /// (`WEBHOOK_RETRY_BASE_SECS`, 10).
    pub retry_base: Duration,
    /// One attempt may take this long (`WEBHOOK_TIMEOUT_SECS`, 10).
    pub timeout: Duration,
    /// `http://` URLs are allowed (`WEBHOOK_ALLOW_HTTP`, false).
    pub allow_http: bool,
    /// URLs whose host is not a public address are allowed (`WEBHOOK_ALLOW_PRIVATE`, false).
    pub allow_private: bool,
    /// Events and deliveries are kept this long (`EVENT_RETENTION_DAYS`, 14).
    pub retention: Duration,
}

const HOUR: f64 = 3600.0;

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            retry_window: Duration::from_secs(24 * 3600),
            retry_base: Duration::from_secs(10),
            timeout: Duration::from_secs(10),
            allow_http: false,
            allow_private: false,
            retention: Duration::from_secs(14 * 24 * 3600),
        }
    }
}

impl WebhookSettings {
    /// The settings read with `env`.
    pub fn read(env: &Env<impl Fn(&str) -> Option<String>>) -> Result<Self, ConfigError> {
        let hours = env.parse_in_range("WEBHOOK_RETRY_HOURS", 24.0, 0.001..=720.0)?;
        let base = env.parse_in_range("WEBHOOK_RETRY_BASE_SECS", 10, 1..=3600)?;
        let timeout = env.parse_in_range("WEBHOOK_TIMEOUT_SECS", 10, 1..=60)?;
        let days: u64 = env.parse_in_range("EVENT_RETENTION_DAYS", 14, 1..=3650)?;
        Ok(Self {
            retry_window: Duration::from_secs_f64(hours * HOUR),
            retry_base: Duration::from_secs(base),
            timeout: Duration::from_secs(timeout),
            allow_http: env.parse("WEBHOOK_ALLOW_HTTP", false)?,
            allow_private: env.parse("WEBHOOK_ALLOW_PRIVATE", false)?,
            retention: Duration::from_secs(days * 24 * 3600),
        })
    }
}

/// Why a webhook request was refused.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// No such subscription.
    #[error("no such webhook")]
    NotFound,
    /// No such delivery of that subscription.
    #[error("no such delivery")]
    DeliveryNotFound,
    /// No secret could be made.
    #[error("the operating system gave no randomness: {0}")]
    Random(getrandom::Error),
    /// The URL is not a place webhooks may go.
    #[error("the url {0}")]
    Refused(#[from] Refused),
    /// `after` names no event that is still kept.
    #[error("no such event")]
    UnknownCursor,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] Error),
}

/// A new subscription, validated by the HTTP layer (known event types, at least one).
pub struct NewWebhook {
    /// Where to POST.
    pub url: String,
    /// Types or `*`, without repeats.
    pub events: Vec<String>,
    /// What it is for.
    pub description: String,
}

/// Changes to a subscription; `None` leaves a field as it is.
#[derive(Default)]
pub struct WebhookChanges {
    /// A new URL.
    pub url: Option<String>,
    /// New event types.
    pub events: Option<Vec<String>>,
    /// A new description.
    pub description: Option<String>,
    /// Enabled or not.
    pub enabled: Option<bool>,
}

/// Webhook subscriptions, their deliveries and the event log.
#[derive(Clone)]
pub struct Webhooks {
    store: WebhookStore,
    log: EventLog,
    policy: Policy,
    settings: WebhookSettings,
    wake: Arc<Notify>,
}

impl Webhooks {
    /// The domain over `db`, checking URLs with `resolve`.
    pub fn new(db: &Database, settings: WebhookSettings, resolve: Resolve) -> Self {
        Self {
            store: WebhookStore::new(db),
            log: EventLog::new(db),
            policy: Policy::new(settings.allow_http, settings.allow_private, resolve),
            settings,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Creates the indexes of events, subscriptions and deliveries.
    pub async fn ensure_indexes(&self) -> Result<(), Error> {
        tokio::try_join!(
            self.log.ensure_indexes(self.settings.retention),
            self.store.ensure_indexes(self.settings.retention),
        )?;
        Ok(())
    }

    /// Stores a new subscription with a new secret.
    pub async fn create(&self, new: NewWebhook) -> Result<WebhookDoc, WebhookError> {
        let url = self.policy.check(&new.url).await?;
        let now = DateTime::now();
        let webhook = WebhookDoc {
            id: ObjectId::new(),
            url: url.to_string(),
            events: new.events,
            description: new.description,
            enabled: true,
            secret: new_secret()?,
            created_at: now,
            updated_at: now,
            failing_since: None,
        };
        self.store.insert(&webhook).await?;
        Ok(webhook)
    }

    /// One page of subscriptions, oldest first, with the total.
    pub async fn list(&self, page: Page) -> Result<(Vec<WebhookDoc>, u64), WebhookError> {
        Ok(self.store.list(page).await?)
    }

    /// Subscription `id`.
    pub async fn get(&self, id: ObjectId) -> Result<WebhookDoc, WebhookError> {
        self.store.find(id).await?.ok_or(WebhookError::NotFound)
    }

    /// Applies `changes` to subscription `id`. Enabling it again clears its failing streak.
    pub async fn update(
        &self,
        id: ObjectId,
        changes: WebhookChanges,
    ) -> Result<WebhookDoc, WebhookError> {
        let mut set = Document::new();
        if let Some(url) = changes.url {
            set.insert("url", self.policy.check(&url).await?.to_string());
        }
        if let Some(events) = changes.events {
            set.insert("events", events);
        }
        if let Some(description) = changes.description {
            set.insert("description", description);
        }
        if let Some(enabled) = changes.enabled {
            set.insert("enabled", enabled);
        }
        let updated = self.store.update(id, set).await?;
        let webhook = updated.ok_or(WebhookError::NotFound)?;
        match changes.enabled {
            Some(true) => {
                self.store.answered(id).await?;
            }
            Some(false) => self.store.fail_pending(id).await?,
            None => {}
        }
        Ok(webhook)
    }

    /// Deletes subscription `id` and its deliveries.
    pub async fn delete(&self, id: ObjectId) -> Result<(), WebhookError> {
        if self.store.delete(id).await? {
            Ok(())
        } else {
            Err(WebhookError::NotFound)
        }
    }

    /// Gives subscription `id` a new secret, used from its next attempt on.
    pub async fn rotate_secret(&self, id: ObjectId) -> Result<WebhookDoc, WebhookError> {
        let set = mongodb::bson::doc! { "secret": new_secret()? };
        self.store
            .update(id, set)
            .await?
            .ok_or(WebhookError::NotFound)
    }

    /// One page of subscription `id`'s deliveries with `status`, newest first, with the total.
    pub async fn deliveries(
        &self,
        id: ObjectId,
        status: Option<DeliveryStatus>,
        page: Page,
    ) -> Result<(Vec<DeliveryDoc>, u64), WebhookError> {
        self.get(id).await?;
        Ok(self.store.deliveries(id, status, page).await?)
    }

    /// Attempts delivery `delivery` of subscription `id` again now, with a new retry window.
    pub async fn retry(&self, id: ObjectId, delivery: ObjectId) -> Result<(), WebhookError> {
        if !self.store.retry(id, delivery).await? {
            return Err(WebhookError::DeliveryNotFound);
        }
        self.wake.notify_one();
        Ok(())
    }

    /// Up to `limit` events after event `after` (from the oldest kept with `None`), of `types`,
    /// in commit order.
    pub async fn events(
        &self,
        after: Option<ObjectId>,
        types: Option<&[EventType]>,
        limit: i64,
    ) -> Result<Vec<EventDoc>, WebhookError> {
        let after = match after {
            Some(id) => self
                .log
                .seq_of(id)
                .await?
                .ok_or(WebhookError::UnknownCursor)?,
            None => i64::MIN,
        };
        Ok(self.log.after(after, types, limit).await?)
    }

    /// The dispatcher and delivery worker of these subscriptions (see [`worker`]).
    pub fn worker(&self) -> Result<worker::Worker, tokio_rustls::rustls::Error> {
        worker::Worker::new(
            self.store.clone(),
            self.log.clone(),
            self.policy.clone(),
            self.settings.clone(),
            Arc::clone(&self.wake),
        )
    }
}

/// A new signing secret: `whsec_` and 32 random bytes in base64, as the specification has it.
fn new_secret() -> Result<String, WebhookError> {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(WebhookError::Random)?;
    Ok(format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}
