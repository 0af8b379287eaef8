//! `/payments/…`: the payment providers confirm or fail a checkout's payment. Each route reads
//! the raw body, verifies the provider's signature over it (401 otherwise; 404 when the
//! provider's secret is not set), then parses it and hands the event to the engine.

use axum::{
    Json,
    extract::{Request, State},
    http::HeaderMap,
};
use common_api::{
    ApiError, ApiResult,
    error::{ErrorBody, ValidationErrorBody},
    extract::{BODY_LIMIT_BYTES, from_json, parse_id, read_raw_body},
    openapi::{DbUnavailable, InvalidJson, JsonBodyErrors},
    secret::Secret,
    validate::Validate,
};
use mongodb::bson::oid::ObjectId;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    AppState,
    engine::PaymentOutcome,
    models::{
        OrderResponse,
        payments::{PaymentEvent, PaymentEventType, PaymentReceipt, StripeEvent},
    },
    providers::{verify_standard, verify_stripe},
    store::{Payment, PaymentKind},
};

/// The routes of `/payments`.
pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(standard_webhook))
        .routes(routes!(stripe_webhook))
}

/// Confirms or fails a checkout's payment: an event signed as the Standard Webhooks
/// specification says, with `PAYMENT_WEBHOOK_SECRET`. Each event id (`webhook-id`) applies once.
#[utoipa::path(post, path = "/payments/webhook", tag = "payments",
    request_body = PaymentEvent,
    params(
        ("webhook-id" = String, Header, description = "The event's id: applied once"),
        ("webhook-timestamp" = i64, Header, description = "Unix seconds; more than 5 minutes from now is refused"),
        ("webhook-signature" = String, Header, description = "`v1,<base64 HMAC-SHA256 of id.timestamp.body>`, space-separated if several"),
    ),
    responses(
        (status = 200, description = "Applied, or applied before (`replayed`: nothing changed)", body = PaymentReceipt),
        (status = 401, description = "A missing, wrong or stale signature (`INVALID_SIGNATURE`)", body = ErrorBody),
        (status = 404, description = "No such order (`ORDER_NOT_FOUND`), or no `PAYMENT_WEBHOOK_SECRET` set (`NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "Amount or currency not the order's total (`PAYMENT_MISMATCH`; the order is unchanged), or an order not waiting for a payment (`ORDER_NOT_PENDING`)", body = ErrorBody),
        (status = 422, description = "An unknown event type, a malformed order id or amount", body = ValidationErrorBody),
        InvalidJson, JsonBodyErrors, DbUnavailable,
    ))]
async fn standard_webhook(
    State(state): State<AppState>,
    request: Request,
) -> ApiResult<Json<PaymentReceipt>> {
    let secret = provider_secret(state.engine.settings().providers.standard.as_ref())?;
    let (headers, body) = raw(request).await?;
    let event_id = verify_standard(&secret, &body, &headers, unix_now())?;
    let event: PaymentEvent = parsed(&body)?;
    let kind = match event.kind {
        PaymentEventType::Succeeded => PaymentKind::Succeeded,
        PaymentEventType::Failed => PaymentKind::Failed,
    };
    let data = event.data;
    let payment = Payment {
        event: format!("standard:{event_id}"),
        order_id: order_id(&data.order_id, &["body", "data", "order_id"])?,
        kind,
        amount: data.amount,
        currency: data.currency.to_ascii_uppercase(),
        payment_id: data.payment_id,
    };
    apply(&state, payment, event_id).await
}

/// Confirms or fails a checkout's payment from Stripe: `payment_intent.succeeded` and
/// `payment_intent.payment_failed`, verified by `Stripe-Signature` with `STRIPE_WEBHOOK_SECRET`;
/// the order is the PaymentIntent's `metadata.order_id`. Other event types are acknowledged and
/// ignored. Each event id applies once.
#[utoipa::path(post, path = "/payments/stripe", tag = "payments",
    request_body = StripeEvent,
    params(
        ("Stripe-Signature" = String, Header, description = "`t=<unix seconds>,v1=<hex HMAC-SHA256 of t.body>`"),
    ),
    responses(
        (status = 200, description = "Applied, applied before (`replayed`), or an event type not acted on (`ignored`)", body = PaymentReceipt),
        (status = 401, description = "A missing, wrong or stale signature (`INVALID_SIGNATURE`)", body = ErrorBody),
        (status = 404, description = "No such order (`ORDER_NOT_FOUND`), or no `STRIPE_WEBHOOK_SECRET` set (`NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "Amount or currency not the order's total (`PAYMENT_MISMATCH`), or an order not waiting for a payment (`ORDER_NOT_PENDING`)", body = ErrorBody),
        (status = 422, description = "A PaymentIntent without `metadata.order_id`, or a malformed one", body = ValidationErrorBody),
        InvalidJson, JsonBodyErrors, DbUnavailable,
    ))]
async fn stripe_webhook(
    State(state): State<AppState>,
    request: Request,
) -> ApiResult<Json<PaymentReceipt>> {
    let secret = provider_secret(state.engine.settings().providers.stripe.as_ref())?;
    let (headers, body) = raw(request).await?;
    verify_stripe(&secret, &body, &headers, unix_now())?;
    let event: StripeEvent = parsed(&body)?;
    let kind = match event.kind.as_str() {
        "payment_intent.succeeded" => PaymentKind::Succeeded,
        "payment_intent.payment_failed" => PaymentKind::Failed,
        _ => {
            return Ok(Json(PaymentReceipt {
                event_id: event.id,
                outcome: "ignored",
                order: None,
            }));
        }
    };
    let intent = event.data.object;
    let order = intent.metadata.order_id.as_deref().ok_or_else(|| {
        invalid(
            &["body", "data", "object", "metadata", "order_id"],
            "A PaymentIntent of this shop carries its order's id in metadata.order_id",
        )
    })?;
    let payment = Payment {
        event: format!("stripe:{}", event.id),
        order_id: order_id(order, &["body", "data", "object", "metadata", "order_id"])?,
        kind,
        amount: intent.amount,
        currency: intent.currency.to_ascii_uppercase(),
        payment_id: intent.id,
    };
    apply(&state, payment, event.id).await
}

fn unix_now() -> i64 {
    mongodb::bson::DateTime::now().timestamp_millis() / 1000
}

/// The provider's secret, or 404 when it is not set: the route does not exist then.
fn provider_secret(secret: Option<&Secret>) -> ApiResult<Secret> {
    secret.cloned().ok_or_else(|| {
        ApiError::not_found(
            "NOT_FOUND",
            "No payment provider is configured for this route",
        )
    })
}

/// The request's headers and raw body (at most the services' 64 KiB), as signed.
async fn raw(request: Request) -> ApiResult<(HeaderMap, axum::body::Bytes)> {
    let headers = request.headers().clone();
    let body = read_raw_body(request, &(), BODY_LIMIT_BYTES).await?;
    Ok((headers, body))
}

/// The verified body parsed as `T`, 422 in the contract's shape when it is not one.
fn parsed<T: serde::de::DeserializeOwned + Validate>(body: &[u8]) -> ApiResult<T> {
    let value: T = from_json(body)?;
    value.validate()?;
    Ok(value)
}

fn order_id(raw: &str, loc: &[&str]) -> ApiResult<ObjectId> {
    parse_id(raw, "order").map_err(|_| invalid(loc, "Order id should be 24 hex characters"))
}

fn invalid(loc: &[&str], msg: &str) -> ApiError {
    ApiError::Validation(vec![common_api::error::FieldError::new(
        loc.iter().map(|part| common_api::error::Loc::from(*part)),
        msg,
        "value_error",
    )])
}

async fn apply(
    state: &AppState,
    payment: Payment,
    event_id: String,
) -> ApiResult<Json<PaymentReceipt>> {
    let outcome = state.engine.apply_payment(payment).await?;
    let name = match &outcome {
        PaymentOutcome::Paid(_) => "paid",
        PaymentOutcome::Failed(_) => "failed",
        PaymentOutcome::Revived(_) => "paid_after_expiry",
        PaymentOutcome::RefundDue(_) => "refund_due",
        PaymentOutcome::Replayed(_) => "replayed",
    };
    let order = OrderResponse::of(outcome.into_order(), state.config.currency)?;
    Ok(Json(PaymentReceipt {
        event_id,
        outcome: name,
        order: Some(order),
    }))
}
