//! Bodies of `/webhooks` and `/events`, and the rules their fields follow.

use common_api::{ApiResult, error::Violations, extract::IdOf, time::rfc3339, validate::Validate};
use common_platform::events::EventType;
use serde::{Deserialize, Serialize};
use utoipa::{
    IntoParams, PartialSchema, ToSchema,
    openapi::{
        RefOr, Schema,
        schema::{ObjectBuilder, Type},
    },
};

use crate::webhooks::store::{Attempt, DeliveryDoc, DeliveryStatus, WebhookDoc};

/// The longest webhook URL.
pub const MAX_URL_LEN: usize = 2048;
/// The longest description.
pub const MAX_DESCRIPTION_LEN: usize = 500;
/// What subscribes to every event type.
pub const ALL_EVENTS: &str = "*";

/// What `{id}` of `/webhooks/{id}` names.
pub enum Webhook {}

impl IdOf for Webhook {
    const NAME: &'static str = "webhook";
}

/// What `{delivery_id}` of `/webhooks/{id}/deliveries/{delivery_id}` names.
pub enum Delivery {}

impl IdOf for Delivery {
    const NAME: &'static str = "delivery";
}

/// An event type's name, or `*` for all: the schema of one entry of `events`.
pub struct EventName;

impl PartialSchema for EventName {
    fn schema() -> RefOr<Schema> {
        let names = EventType::ALL
            .iter()
            .map(|kind| kind.as_str())
            .chain([ALL_EVENTS]);
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(names))
            .into()
    }
}

impl ToSchema for EventName {}

/// `POST /webhooks`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"url": "https://shop.example/hooks", "events": ["order.placed", "order.paid"]}))]
pub struct CreateWebhook {
    /// Where events are POSTed: `https://` (plain `http://` only where the deployment allows it),
    /// a host that resolves to public addresses only (unless the deployment allows private
    /// ones), at most 2048 characters.
    #[schema(max_length = 2048, example = "https://shop.example/hooks")]
    pub url: String,
    /// The event types to receive, or `["*"]` for all (at least one, no unknown type).
    #[schema(value_type = Vec<EventName>, min_items = 1, max_items = 16)]
    pub events: Vec<String>,
    /// What it is for (at most 500 characters).
    #[serde(default)]
    #[schema(max_length = 500)]
    pub description: String,
}

impl Validate for CreateWebhook {
    fn validate(&self) -> ApiResult<()> {
        let mut violations = Violations::body();
        check_url(&mut violations, &self.url);
        check_events(&mut violations, &self.events);
        check_description(&mut violations, &self.description);
        violations.finish()
    }
}

/// `PATCH /webhooks/{id}`: any of the fields, at least one.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(min_properties = 1, example = json!({"enabled": false}))]
pub struct UpdateWebhook {
    /// A new URL, under the same rules as on creation.
    #[schema(max_length = 2048, example = "https://shop.example/hooks")]
    pub url: Option<String>,
    /// New event types (at least one, or `["*"]`).
    #[schema(value_type = Option<Vec<EventName>>, min_items = 1, max_items = 16)]
    pub events: Option<Vec<String>>,
    /// A new description (at most 500 characters).
    #[schema(max_length = 500)]
    pub description: Option<String>,
    /// `false` stops deliveries (pending ones are failed); `true` resumes them for new events.
    pub enabled: Option<bool>,
}

impl Validate for UpdateWebhook {
    fn validate(&self) -> ApiResult<()> {
        let mut violations = Violations::body();
        if self.url.is_none()
            && self.events.is_none()
            && self.description.is_none()
            && self.enabled.is_none()
        {
            violations.add_at(
                std::iter::empty::<common_api::error::Loc>(),
                "Give at least one of url, events, description, enabled",
                "missing",
            );
        }
        if let Some(url) = &self.url {
            check_url(&mut violations, url);
        }
        if let Some(events) = &self.events {
            check_events(&mut violations, events);
        }
        if let Some(description) = &self.description {
            check_description(&mut violations, description);
        }
        violations.finish()
    }
}

fn check_url(violations: &mut Violations, url: &str) {
    if url.trim().is_empty() || url.len() > MAX_URL_LEN {
        violations.add(
            "url",
            format!("A URL of 1 to {MAX_URL_LEN} characters is needed"),
            "value_error",
        );
    }
}

fn check_events(violations: &mut Violations, events: &[String]) {
    if events.is_empty() {
        violations.add(
            "events",
            "Name at least one event type, or \"*\"",
            "too_short",
        );
    } else if events.len() > EventType::ALL.len() + 1 {
        violations.add("events", "Too many event types", "too_long");
    }
    for (index, name) in events.iter().enumerate() {
        if name != ALL_EVENTS && EventType::parse(name).is_none() {
            violations.add_at(
                ["events".into(), index.into()],
                format!("Unknown event type {name:?}"),
                "enum",
            );
        }
    }
}

fn check_description(violations: &mut Violations, description: &str) {
    if description.chars().count() > MAX_DESCRIPTION_LEN {
        violations.add(
            "description",
            format!("At most {MAX_DESCRIPTION_LEN} characters"),
            "too_long",
        );
    }
}

/// The event types of a request without repeats, in the order given; just `*` if it is there.
pub fn event_selection(events: Vec<String>) -> Vec<String> {
    if events.iter().any(|name| name == ALL_EVENTS) {
        return vec![ALL_EVENTS.to_owned()];
    }
    let mut seen = Vec::with_capacity(events.len());
    for name in events {
        if !seen.contains(&name) {
            seen.push(name);
        }
    }
    seen
}

/// A subscription.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookResponse {
    /// Its id.
    #[schema(example = "6560b5f2a1b2c3d4e5f60718")]
    pub id: String,
    /// Where events are POSTed.
    pub url: String,
    /// The event types it receives, or `["*"]`.
    #[schema(value_type = Vec<EventName>)]
    pub events: Vec<String>,
    /// What it is for.
    pub description: String,
    /// Whether events are delivered to it (a subscription whose every attempt failed for the
    /// whole retry window is disabled).
    pub enabled: bool,
    /// When it was created (RFC 3339, UTC); it receives the events that occur after.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The signing secret (`whsec_…`): only in the answers to creating it and rotating it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: Option<String>,
}

impl WebhookResponse {
    /// `webhook` without its secret.
    pub fn of(webhook: WebhookDoc) -> Self {
        Self {
            id: webhook.id.to_hex(),
            url: webhook.url,
            events: webhook.events,
            description: webhook.description,
            enabled: webhook.enabled,
            created_at: rfc3339(webhook.created_at),
            secret: None,
        }
    }

    /// `webhook` with its secret.
    pub fn with_secret(webhook: WebhookDoc) -> Self {
        let secret = Some(webhook.secret.clone());
        Self {
            secret,
            ..Self::of(webhook)
        }
    }
}

/// One attempt of a delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptResponse {
    /// When it started (RFC 3339, UTC).
    #[schema(format = DateTime)]
    pub at: String,
    /// The receiver's HTTP status, if it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<i32>,
    /// Why there was no answer (`timed out`, `connection refused`, …), if there was none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: i64,
}

impl From<Attempt> for AttemptResponse {
    fn from(attempt: Attempt) -> Self {
        Self {
            at: rfc3339(attempt.at),
            http_status: attempt.http_status,
            error: attempt.error,
            duration_ms: attempt.duration_ms,
        }
    }
}

/// One event for one subscription.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryResponse {
    /// Its id.
    pub id: String,
    /// The event (sent as `webhook-id`).
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Every attempt, oldest first.
    pub attempts: Vec<AttemptResponse>,
    /// When it is attempted next (RFC 3339, UTC), while `PENDING`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub next_attempt_at: Option<String>,
}

impl DeliveryResponse {
    /// `delivery` as the API shows it.
    pub fn of(delivery: DeliveryDoc) -> Self {
        Self {
            id: delivery.id.to_hex(),
            event_id: delivery.event_id.to_hex(),
            event_type: delivery.event_type,
            status: delivery.status,
            attempts: delivery.attempts.into_iter().map(Into::into).collect(),
            next_attempt_at: delivery.next_attempt_at.map(rfc3339),
        }
    }
}

/// Filters of `GET /webhooks/{id}/deliveries`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryFilter {
    /// Only deliveries with this status.
    pub status: Option<DeliveryStatus>,
}

impl Validate for DeliveryFilter {}

/// The query of `GET /events`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// The id of the last event already read: the list starts after it (from the oldest kept
    /// without it).
    #[param(pattern = "^[0-9a-fA-F]{24}$")]
    pub after: Option<String>,
    /// Only these types, comma-separated (empty or absent: all).
    #[param(schema_with = type_list, example = "order.placed,order.paid")]
    pub types: Option<String>,
    /// At most this many events (1 to 1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// The schema of `types`: empty, or event type names separated by commas.
fn type_list() -> RefOr<Schema> {
    let name = EventType::ALL
        .iter()
        .map(|kind| kind.as_str().replace('.', r"\."))
        .collect::<Vec<_>>()
        .join("|");
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!("^(|({name})(,({name}))*)$")))
        .into()
}

/// The most events one `GET /events` lists.
pub const MAX_EVENTS: i64 = 1000;

impl EventQuery {
    /// The types asked for, if any.
    pub fn types(&self) -> Option<Vec<EventType>> {
        let names = self
            .types
            .as_deref()
            .filter(|names| !names.trim().is_empty())?;
        Some(
            names
                .split(',')
                .filter_map(|name| EventType::parse(name.trim()))
                .collect(),
        )
    }

    /// How many to list.
    pub fn limit(&self) -> i64 {
        self.limit.unwrap_or(100)
    }
}

impl Validate for EventQuery {
    fn validate(&self) -> ApiResult<()> {
        let mut violations = Violations::query();
        if let Some(after) = &self.after
            && mongodb::bson::oid::ObjectId::parse_str(after).is_err()
        {
            violations.add("after", "An event id is 24 hex characters", "value_error");
        }
        if let Some(names) = self.types.as_deref() {
            for name in names
                .split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty())
            {
                if EventType::parse(name).is_none() {
                    violations.add("types", format!("Unknown event type {name:?}"), "enum");
                }
            }
        }
        if !(1..=MAX_EVENTS).contains(&self.limit()) {
            violations.add("limit", format!("From 1 to {MAX_EVENTS}"), "value_error");
        }
        violations.finish()
    }
}
