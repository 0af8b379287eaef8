//! The bodies of the payment routes: what each provider sends, and the answer.

use common_api::{ApiResult, validate::Validate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::OrderResponse;

/// `POST /payments/webhook`: a payment event, signed as the Standard Webhooks specification says.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"type": "payment.succeeded", "data": {"order_id": "6560b5f2a1b2c3d4e5f60718", "amount": 5997, "currency": "USD", "payment_id": "pay_123"}}))]
pub struct PaymentEvent {
    /// What happened to the payment.
    #[serde(rename = "type")]
    pub kind: PaymentEventType,
    /// The payment.
    pub data: PaymentData,
}

/// The kinds of payment event.
#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
pub enum PaymentEventType {
    /// The money is there: a pending order is placed.
    #[serde(rename = "payment.succeeded")]
    Succeeded,
    /// The payment failed: a pending order is cancelled and its stock goes back.
    #[serde(rename = "payment.failed")]
    Failed,
}

/// The payment an event is about.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PaymentData {
    /// The order paid for (24 hex characters).
    #[schema(pattern = "^[0-9a-fA-F]{24}$")]
    pub order_id: String,
    /// The amount, in minor units of `currency` (cents for USD).
    #[serde(deserialize_with = "common_api::extract::whole_number")]
    #[schema(minimum = 0)]
    pub amount: i64,
    /// The currency, an ISO 4217 code (any case).
    #[schema(min_length = 3, max_length = 3)]
    pub currency: String,
    /// The provider's id of the payment (1 to 255 characters).
    #[schema(min_length = 1, max_length = 255)]
    pub payment_id: String,
}

impl Validate for PaymentEvent {
    fn validate(&self) -> ApiResult<()> {
        let mut violations = common_api::error::Violations::body();
        let data = &self.data;
        if data.amount < 0 {
            violations.add_at(
                ["data".into(), "amount".into()],
                "Amount should be a whole number of minor units, at least 0",
                "value_error",
            );
        }
        if data.payment_id.is_empty() || data.payment_id.chars().count() > 255 {
            violations.add_at(
                ["data".into(), "payment_id".into()],
                "Payment id should have 1 to 255 characters",
                "value_error",
            );
        }
        violations.finish()
    }
}

/// `POST /payments/stripe`: a Stripe event. Only `payment_intent.succeeded` and
/// `payment_intent.payment_failed` are acted on; any other type is acknowledged and ignored.
#[derive(Debug, Deserialize, ToSchema)]
pub struct StripeEvent {
    /// Stripe's event id (`evt_…`): each is applied once.
    pub id: String,
    /// The event type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The object the event is about.
    pub data: StripeData,
}

/// `data` of a Stripe event.
#[derive(Debug, Deserialize, ToSchema)]
pub struct StripeData {
    /// The PaymentIntent.
    pub object: StripeIntent,
}

/// The fields of a Stripe PaymentIntent that matter here.
#[derive(Debug, Deserialize, ToSchema)]
pub struct StripeIntent {
    /// The PaymentIntent's id (`pi_…`), kept as the order's `payment_id`.
    pub id: String,
    /// The amount, in minor units.
    #[serde(default, deserialize_with = "common_api::extract::whole_number")]
    pub amount: i64,
    /// The currency, in lower case as Stripe sends it.
    #[serde(default)]
    pub currency: String,
    /// The metadata the shop set when it created the PaymentIntent: `order_id` names the order.
    #[serde(default)]
    pub metadata: StripeMetadata,
}

/// A PaymentIntent's metadata.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct StripeMetadata {
    /// The order paid for.
    pub order_id: Option<String>,
}

impl Validate for StripeEvent {}

/// The answer to a payment event.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentReceipt {
    /// The provider's event id.
    pub event_id: String,
    /// What the event did: `paid`, `failed`, `paid_after_expiry`, `refund_due`, `replayed`
    /// (applied before; nothing changed) or `ignored` (a Stripe event type not acted on).
    pub outcome: &'static str,
    /// The order as it is now (absent for an ignored event).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<OrderResponse>,
}
