//! Request and response bodies of the order service, and the rules their fields must follow.

use std::fmt;

use axum::http::{HeaderMap, HeaderName};
use common_api::{
    ApiError, ApiResult,
    error::Violations,
    extract::IdOf,
    money::{Amount, Currency},
    openapi::or_empty,
    time::rfc3339,
    validate::Validate,
};
use mongodb::bson::oid::ObjectId;
use serde::{Deserialize, Serialize};
use utoipa::{
    IntoParams, ToSchema,
    openapi::{Ref, RefOr, Schema},
};

use crate::store::{OrderDoc, StoredStatus};

pub mod payments;
pub mod webhooks;

/// The most lines an order may have.
pub const MAX_LINES: usize = 100;
/// The most units a line may ask for.
pub const MAX_QUANTITY: i64 = 10_000;
/// The longest `Idempotency-Key`.
pub const MAX_KEY_LEN: usize = 255;

/// What the `{id}` of `/orders/{id}` names: `PathId<Order>` parses it, answers 400 `INVALID_ID`
/// "Invalid order id" when it is malformed, and documents it.
pub enum Order {}

impl IdOf for Order {
    const NAME: &'static str = "order";
}

/// An order's status as clients see it (a cancel in progress reads as `CANCELLED`, an expiry
/// in progress as `EXPIRED`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum OrderStatus {
    /// A checkout waiting for its payment: its stock is held until `expires_at`.
    #[serde(rename = "PENDING_PAYMENT")]
    PendingPayment,
    /// Placed: its stock is taken.
    Placed,
    /// On its way.
    Shipped,
    /// Arrived.
    Delivered,
    /// Cancelled: its stock is back.
    Cancelled,
    /// Unpaid at `expires_at`: its stock is back.
    Expired,
    /// Paid after it expired, when its stock could no longer be taken: the payment is to be
    /// refunded.
    #[serde(rename = "REFUND_DUE")]
    RefundDue,
}

impl TryFrom<StoredStatus> for OrderStatus {
    type Error = HiddenStatus;

    /// A cancel in progress (`CANCELLING`) reads as `CANCELLED`; a `FAILED` tombstone is no
    /// order at all, so it has no status to show.
    fn try_from(status: StoredStatus) -> Result<Self, HiddenStatus> {
        match status {
            StoredStatus::PendingPayment => Ok(Self::PendingPayment),
            StoredStatus::Placed => Ok(Self::Placed),
            StoredStatus::Shipped => Ok(Self::Shipped),
            StoredStatus::Delivered => Ok(Self::Delivered),
            StoredStatus::Cancelling | StoredStatus::Cancelled => Ok(Self::Cancelled),
            // A payment after expiry taking the stock again is still expired until it is done.
            StoredStatus::Expiring | StoredStatus::Expired | StoredStatus::Reviving => {
                Ok(Self::Expired)
            }
            StoredStatus::RefundDue => Ok(Self::RefundDue),
            StoredStatus::Failed => Err(HiddenStatus(status)),
        }
    }
}

/// A stored status no client may see (a `FAILED` tombstone) where an order was expected. Queries
/// of orders exclude tombstones, so this is a bug: it is answered as a 500 (and logged), never
/// shown as a plausible status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HiddenStatus(pub StoredStatus);

impl fmt::Display for HiddenStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stored status {} is bookkeeping, never an order's status",
            self.0.as_str()
        )
    }
}

impl std::error::Error for HiddenStatus {}

/// The status clients see of order `id`, stored as `status`; a 500 naming the order if it is a
/// tombstone.
pub fn status_shown(id: ObjectId, status: StoredStatus) -> ApiResult<OrderStatus> {
    OrderStatus::try_from(status).map_err(|hidden| {
        ApiError::internal(anyhow::Error::new(hidden).context(format!("order {id}")))
    })
}

impl OrderStatus {
    /// The name clients see.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingPayment => "PENDING_PAYMENT",
            Self::Placed => "PLACED",
            Self::Shipped => "SHIPPED",
            Self::Delivered => "DELIVERED",
            Self::Cancelled => "CANCELLED",
            Self::Expired => "EXPIRED",
            Self::RefundDue => "REFUND_DUE",
        }
    }

    /// The stored statuses that read as this one.
    pub fn stored(self) -> &'static [StoredStatus] {
        match self {
            Self::Placed => &[StoredStatus::Placed],
            Self::Shipped => &[StoredStatus::Shipped],
            Self::Delivered => &[StoredStatus::Delivered],
            Self::Cancelled => &[StoredStatus::Cancelled, StoredStatus::Cancelling],
            Self::PendingPayment => &[StoredStatus::PendingPayment],
            Self::Expired => &[
                StoredStatus::Expired,
                StoredStatus::Expiring,
                StoredStatus::Reviving,
            ],
            Self::RefundDue => &[StoredStatus::RefundDue],
        }
    }
}

/// `POST /orders`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"items": [{"product_id": "6560b5f2a1b2c3d4e5f60718", "quantity": 2}]}))]
pub struct CreateOrder {
    /// Whose order it is (24 hex characters): the caller by default; only admins may name
    /// another user.
    #[schema(pattern = "^[0-9a-fA-F]{24}$")]
    pub user_id: Option<String>,
    /// 1 to 100 lines; lines naming the same product are combined, and their combined quantity
    /// may not exceed 10000.
    #[schema(min_items = 1, max_items = 100)]
    pub items: Vec<OrderItemRequest>,
    /// `true`: a checkout. The stock is taken as for any order, but the order waits for its
    /// payment as `PENDING_PAYMENT` until `expires_at`; `false` (the default): `PLACED` at once.
    #[serde(default)]
    pub checkout: bool,
}

/// The optional body of `POST /orders/{id}/reorder`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(example = json!({"checkout": true}))]
pub struct ReorderRequest {
    /// As for `POST /orders`: `true` for a checkout.
    #[serde(default)]
    pub checkout: bool,
}

impl Validate for ReorderRequest {}

/// One line of `POST /orders`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct OrderItemRequest {
    /// The product's id (24 hex characters).
    #[schema(pattern = "^[0-9a-fA-F]{24}$")]
    pub product_id: String,
    /// Whole units from 1 to 10000 (a whole-valued number such as `2.0` is accepted).
    #[serde(deserialize_with = "common_api::extract::whole_number")]
    #[schema(minimum = 1, maximum = 10_000)]
    pub quantity: i64,
}

impl Validate for CreateOrder {
    fn validate(&self) -> ApiResult<()> {
        let mut violations = Violations::body();
        if self.items.is_empty() {
            violations.add("items", "An order needs at least one item", "too_short");
        } else if self.items.len() > MAX_LINES {
            violations.add(
                "items",
                format!("An order may have at most {MAX_LINES} items"),
                "too_long",
            );
        }
        for (index, item) in self.items.iter().enumerate() {
            if !(1..=MAX_QUANTITY).contains(&item.quantity) {
                violations.add_at(
                    ["items".into(), index.into(), "quantity".into()],
                    format!("Quantity should be a whole number from 1 to {MAX_QUANTITY}"),
                    "value_error",
                );
            }
        }
        violations.finish()
    }
}

/// `PATCH /orders/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"status": "SHIPPED"}), min_properties = 1)]
pub struct StatusChange {
    /// The new status: `SHIPPED` after `PLACED`, `DELIVERED` after `SHIPPED`.
    pub status: OrderStatus,
}

impl Validate for StatusChange {}

/// The answer to placing an order.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlacedOrder {
    /// The order's id.
    #[schema(example = "6560b5f2a1b2c3d4e5f60718")]
    pub id: String,
    /// `PLACED` (or the order's current status when a repeated key replays it).
    pub status: OrderStatus,
    /// The exact sum of `unit_price × quantity`.
    pub total: Amount,
    /// The deployment's currency (ISO 4217).
    #[schema(example = "USD")]
    pub currency: &'static str,
    /// A checkout's payment deadline (RFC 3339, UTC): unpaid then, it expires and its stock goes
    /// back. Absent for an order placed at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime, example = "2026-11-23T14:00:00Z")]
    pub expires_at: Option<String>,
}

impl PlacedOrder {
    /// The answer for `order`, its amounts in `currency`.
    pub fn of(order: &OrderDoc, currency: Currency) -> ApiResult<Self> {
        Ok(Self {
            id: order.id.to_hex(),
            status: status_shown(order.id, order.status)?,
            total: currency.amount(total_of(order, currency)?),
            currency: currency.code(),
            expires_at: order.pay_by.map(rfc3339),
        })
    }
}

/// `order`'s total in minor units of `currency`; 500 for a stored amount that is no amount.
fn total_of(order: &OrderDoc, currency: Currency) -> ApiResult<i64> {
    order.total_in(currency).ok_or_else(|| unpriced(order.id))
}

fn unpriced(order: ObjectId) -> ApiError {
    ApiError::internal(anyhow::anyhow!(
        "order {order} has a stored amount that is no amount"
    ))
}

/// One line of an order, with the product's name and price when it was ordered.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderItemResponse {
    /// The product's id.
    pub product_id: String,
    /// Units ordered.
    pub quantity: i64,
    /// The product's name when ordered.
    pub name: String,
    /// The product's price when ordered.
    pub unit_price: Amount,
}

/// An order.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderResponse {
    /// The order's id.
    #[schema(example = "6560b5f2a1b2c3d4e5f60718")]
    pub id: String,
    /// Whose order it is.
    pub user_id: String,
    /// One line per product.
    pub items: Vec<OrderItemResponse>,
    /// The status.
    pub status: OrderStatus,
    /// The exact sum of `unit_price × quantity`.
    pub total: Amount,
    /// The deployment's currency (ISO 4217).
    #[schema(example = "USD")]
    pub currency: &'static str,
    /// When it was placed (RFC 3339, UTC).
    #[schema(format = DateTime, example = "2026-11-23T13:45:00Z")]
    pub created_at: String,
    /// When its status last changed (RFC 3339, UTC).
    #[schema(format = DateTime, example = "2026-11-23T13:45:00Z")]
    pub updated_at: String,
    /// A checkout's payment deadline (RFC 3339, UTC); absent for an order placed at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime, example = "2026-11-23T14:00:00Z")]
    pub expires_at: Option<String>,
    /// The payment provider's id of the payment that paid a checkout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    /// When that payment was confirmed (RFC 3339, UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime, example = "2026-11-23T13:50:00Z")]
    pub paid_at: Option<String>,
}

impl OrderResponse {
    /// `order` as the API shows it, its amounts in `currency`.
    pub fn of(order: OrderDoc, currency: Currency) -> ApiResult<Self> {
        let status = status_shown(order.id, order.status)?;
        let total = total_of(&order, currency)?;
        let id = order.id;
        Ok(Self {
            id: order.id.to_hex(),
            user_id: order.user_id.to_hex(),
            items: order
                .items
                .into_iter()
                .map(|line| {
                    let unit_price = line
                        .unit_price
                        .minor(currency)
                        .ok_or_else(|| unpriced(id))?;
                    Ok(OrderItemResponse {
                        product_id: line.product_id.to_hex(),
                        quantity: line.quantity,
                        name: line.name,
                        unit_price: currency.amount(unit_price),
                    })
                })
                .collect::<ApiResult<_>>()?,
            status,
            total: currency.amount(total),
            currency: currency.code(),
            created_at: rfc3339(order.created_at),
            updated_at: rfc3339(order.updated_at),
            expires_at: order.pay_by.map(rfc3339),
            payment_id: order.payment_id,
            paid_at: order.paid_at.map(rfc3339),
        })
    }
}

/// Filters of `GET /orders`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderFilter {
    /// Only this user's orders (24 hex characters; empty means none given): yours by default;
    /// admins may name anyone (or no one, for all).
    #[serde(default, deserialize_with = "common_api::extract::empty_as_none")]
    #[param(pattern = "^([0-9a-fA-F]{24})?$")]
    pub user_id: Option<String>,
    /// Only orders with this status (empty means any).
    #[serde(default, deserialize_with = "common_api::extract::empty_as_none")]
    #[param(schema_with = status_or_empty)]
    pub status: Option<OrderStatus>,
}

fn status_or_empty() -> RefOr<Schema> {
    or_empty(Ref::from_schema_name("OrderStatus"))
}

impl Validate for OrderFilter {}

/// The `Idempotency-Key` request header's name.
pub const IDEMPOTENCY_KEY_NAME: &str = "idempotency-key";
/// The `Idempotency-Key` header.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static(IDEMPOTENCY_KEY_NAME);

/// The name of the response header (`true`) of an order placed earlier with the same key.
pub const IDEMPOTENT_REPLAYED_NAME: &str = "idempotent-replayed";
/// The `Idempotent-Replayed` header.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static(IDEMPOTENT_REPLAYED_NAME);

/// The request's `Idempotency-Key`, if any: 1 to 255 visible ASCII characters, else 422.
pub fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let bytes = value.as_bytes();
    let visible = bytes.iter().all(|byte| (0x21..=0x7e).contains(byte));
    if bytes.is_empty() || bytes.len() > MAX_KEY_LEN || !visible {
        let mut violations = Violations::header();
        violations.add(
            "Idempotency-Key",
            format!("Idempotency-Key should be 1 to {MAX_KEY_LEN} visible ASCII characters"),
            "value_error",
        );
        violations.finish()?;
    }
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use mongodb::bson::DateTime;

    use super::*;

    fn order(status: StoredStatus) -> OrderDoc {
        OrderDoc::new(
            ObjectId::new(),
            ObjectId::new(),
            Vec::new(),
            status,
            common_api::money::StoredAmount::Minor(0),
            DateTime::now(),
        )
    }

    #[test]
    fn visible_statuses_read_as_clients_see_them() {
        let shown = StoredStatus::VISIBLE.map(|status| OrderStatus::try_from(status).ok());

        assert_eq!(
            shown,
            [
                Some(OrderStatus::PendingPayment),
                Some(OrderStatus::Placed),
                Some(OrderStatus::Shipped),
                Some(OrderStatus::Delivered),
                Some(OrderStatus::Cancelled),
                Some(OrderStatus::Cancelled),
                Some(OrderStatus::Expired),
                Some(OrderStatus::Expired),
                Some(OrderStatus::Expired),
                Some(OrderStatus::RefundDue),
            ]
        );
    }

    #[test]
    fn a_tombstone_has_no_status_to_show_and_answers_500() {
        let tombstone = order(StoredStatus::Failed);

        let status = OrderStatus::try_from(StoredStatus::Failed);
        let response = OrderResponse::of(tombstone.clone(), Currency::USD);
        let placed = PlacedOrder::of(&tombstone, Currency::USD);

        assert_eq!(status, Err(HiddenStatus(StoredStatus::Failed)));
        assert!(response.is_err_and(|err| err.status() == StatusCode::INTERNAL_SERVER_ERROR));
        assert!(placed.is_err_and(|err| err.status() == StatusCode::INTERNAL_SERVER_ERROR));
    }
}
