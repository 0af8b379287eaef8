//! The engine's typed errors as the contract's answers: the one place that picks their statuses,
//! codes and sentences.

use common_api::{
    ApiError,
    error::{FieldError, Loc},
};
use mongodb::bson::oid::ObjectId;

use crate::{
    engine::{CancelError, Interrupted, ListError, PaymentError, PlaceError, TransitionError},
    models::{OrderStatus, status_shown},
    providers::Unverified,
    store::StoredStatus,
    webhooks::WebhookError,
};

impl From<PlaceError> for ApiError {
    fn from(err: PlaceError) -> Self {
        match err {
            PlaceError::ForAnotherUser => {
                ApiError::forbidden("Only admins may order for another user")
            }
            PlaceError::EmailNotVerified => ApiError::client(
                axum::http::StatusCode::FORBIDDEN,
                "EMAIL_NOT_VERIFIED",
                "Verify your email before ordering: follow the link mailed to you, or ask for a new one",
            ),
            PlaceError::NotFound => order_not_found(),
            // Located at the quantity of the first line naming the product, where a client can
            // find it.
            PlaceError::QuantityOutOfRange(refused) => {
                let loc = [
                    "body".into(),
                    "items".into(),
                    refused.first_line.into(),
                    "quantity".into(),
                ];
                invalid(loc, refused.to_string())
            }
            // A reorder has no body: located at the order being reordered.
            PlaceError::StoredQuantityOutOfRange(refused) => {
                invalid([Loc::from("path"), Loc::from("id")], refused.to_string())
            }
            PlaceError::InsufficientStock(product) => ApiError::conflict(
                "INSUFFICIENT_STOCK",
                format!("Insufficient stock for product {product}"),
            ),
            PlaceError::UnknownProduct(product) => {
                ApiError::bad_request("PRODUCT_NOT_FOUND", format!("Product {product} not found"))
            }
            // The contract's 422 shape: one field error at `["header", "Idempotency-Key"]`.
            PlaceError::KeyReused => ApiError::validation_with_code(
                "IDEMPOTENCY_KEY_REUSED",
                vec![FieldError::new(
                    [Loc::from("header"), Loc::from("Idempotency-Key")],
                    "This Idempotency-Key was used with a different request",
                    "value_error",
                )],
            ),
            PlaceError::KeyInUse => ApiError::conflict(
                "IDEMPOTENCY_KEY_IN_USE",
                "A request with this Idempotency-Key is still being processed; retry shortly",
            ),
            err @ PlaceError::Abandoned(_) => ApiError::DbUnavailable(err.into()),
            err @ (PlaceError::Unpriced(_) | PlaceError::TotalOutOfRange) => {
                ApiError::internal(err)
            }
            PlaceError::Interrupted(err) => err.into(),
            PlaceError::Store(err) => err.into(),
        }
    }
}

impl From<CancelError> for ApiError {
    fn from(err: CancelError) -> Self {
        match err {
            CancelError::NotFound => order_not_found(),
            CancelError::NotCancellable { id, status } => {
                conflict_naming(id, status, "ORDER_NOT_CANCELLABLE", |status| {
                    format!(
                        "Only PLACED or PENDING_PAYMENT orders can be cancelled; this one is {status}"
                    )
                })
            }
            CancelError::Interrupted(err) => err.into(),
            CancelError::Store(err) => err.into(),
        }
    }
}

impl From<PaymentError> for ApiError {
    fn from(err: PaymentError) -> Self {
        match err {
            PaymentError::UnknownOrder => order_not_found(),
            PaymentError::Mismatch { expected, currency } => ApiError::conflict(
                "PAYMENT_MISMATCH",
                format!(
                    "The payment does not match the order's total of {expected} minor units of \
                     {currency}; the order is unchanged"
                ),
            ),
            PaymentError::NotPending(status) => match OrderStatus::try_from(status) {
                Ok(shown) => ApiError::conflict(
                    "ORDER_NOT_PENDING",
                    format!(
                        "The order is not waiting for a payment; it is {}",
                        shown.as_str()
                    ),
                ),
                Err(hidden) => ApiError::internal(hidden),
            },
            err @ PaymentError::Unpriced(_) => ApiError::internal(err),
            PaymentError::Interrupted(err) => err.into(),
            PaymentError::Store(err) => err.into(),
        }
    }
}

impl From<WebhookError> for ApiError {
    fn from(err: WebhookError) -> Self {
        match err {
            WebhookError::NotFound => ApiError::not_found("WEBHOOK_NOT_FOUND", "Webhook not found"),
            WebhookError::DeliveryNotFound => {
                ApiError::not_found("DELIVERY_NOT_FOUND", "Delivery not found")
            }
            WebhookError::Refused(refused) => invalid(
                [Loc::from("body"), Loc::from("url")],
                format!("The URL {refused}"),
            ),
            WebhookError::UnknownCursor => invalid(
                [Loc::from("query"), Loc::from("after")],
                "No event with this id is kept (events are kept EVENT_RETENTION_DAYS)".to_owned(),
            ),
            err @ WebhookError::Random(_) => ApiError::internal(err),
            WebhookError::Db(err) => err.into(),
        }
    }
}

impl From<Unverified> for ApiError {
    fn from(err: Unverified) -> Self {
        ApiError::client(
            axum::http::StatusCode::UNAUTHORIZED,
            "INVALID_SIGNATURE",
            format!("The event's signature was not accepted: {err}"),
        )
    }
}

impl From<TransitionError> for ApiError {
    fn from(err: TransitionError) -> Self {
        match err {
            TransitionError::NotFound => order_not_found(),
            TransitionError::NotAllowed { id, from, to } => {
                conflict_naming(id, from, "INVALID_TRANSITION", |from| {
                    format!(
                        "An order cannot go from {from} to {}; allowed: PLACED → SHIPPED → DELIVERED",
                        to.as_str()
                    )
                })
            }
            TransitionError::Store(err) => err.into(),
        }
    }
}

impl From<ListError> for ApiError {
    fn from(err: ListError) -> Self {
        match err {
            ListError::OthersOrders => ApiError::forbidden("You may only list your own orders"),
            ListError::Store(err) => err.into(),
        }
    }
}

/// 503 when order work was cut off (what it left, the recovery pass settles), 500 when it failed.
impl From<Interrupted> for ApiError {
    fn from(err: Interrupted) -> Self {
        match err {
            err @ Interrupted::TimedOut(_) => ApiError::DbUnavailable(err.into()),
            Interrupted::Failed(failed) => ApiError::internal(failed),
        }
    }
}

/// 404 `ORDER_NOT_FOUND`, also for someone else's order.
pub(super) fn order_not_found() -> ApiError {
    ApiError::not_found("ORDER_NOT_FOUND", "Order not found")
}

/// 409 `code` with the sentence `detail` makes of the status clients see of order `id`, stored
/// as `status`; a 500 if that status is bookkeeping no client may see.
fn conflict_naming(
    id: ObjectId,
    status: StoredStatus,
    code: &'static str,
    detail: impl FnOnce(&str) -> String,
) -> ApiError {
    match status_shown(id, status) {
        Ok(shown) => ApiError::conflict(code, detail(shown.as_str())),
        Err(hidden) => hidden,
    }
}

/// 422 `VALIDATION_ERROR` with one field error at `loc`.
fn invalid(loc: impl IntoIterator<Item = Loc>, msg: String) -> ApiError {
    ApiError::Validation(vec![FieldError::new(loc, msg, "value_error")])
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::{http::StatusCode, response::IntoResponse};
    use common_api::error::Unreachable;

    use super::*;
    use crate::models::OrderStatus;

    #[test]
    fn work_cut_off_or_abandoned_is_503_without_marking_the_database_unreachable() {
        let cut_off = Interrupted::TimedOut(Duration::from_secs(1));

        for err in [PlaceError::Abandoned(ObjectId::new()), cut_off.into()] {
            let response = ApiError::from(err).into_response();

            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            // Only a driver error may close the deadline layer's gate to the database.
            assert!(response.extensions().get::<Unreachable>().is_none());
        }
    }

    #[test]
    fn a_refusal_naming_a_hidden_status_is_a_500_not_a_plausible_status() {
        let (id, hidden) = (ObjectId::new(), StoredStatus::Failed);

        let cancel = ApiError::from(CancelError::NotCancellable { id, status: hidden });
        let transition = ApiError::from(TransitionError::NotAllowed {
            id,
            from: hidden,
            to: OrderStatus::Shipped,
        });
        let shipped = ApiError::from(CancelError::NotCancellable {
            id,
            status: StoredStatus::Shipped,
        });

        assert_eq!(cancel.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(transition.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(shipped.code(), "ORDER_NOT_CANCELLABLE");
    }
}
