//! `/webhooks` (subscriptions and their deliveries) and `/events` (the event log), admins only.

use axum::{
    Json,
    extract::{OriginalUri, Path, State},
    http::StatusCode,
};
use common_api::{
    ApiError, ApiResult,
    auth::{AdminOnly, RequireRole},
    error::{ErrorBody, ValidationErrorBody},
    extract::{JsonBody, PathId, QueryParams, parse_id},
    openapi::{
        AdminOnlyErrors, AuthErrors, DbUnavailable, InvalidId, InvalidIdOrJson, InvalidJson,
        JsonBodyErrors,
    },
    pagination::{Page, Paged},
};
use mongodb::bson::oid::ObjectId;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    AppState,
    events::EventBody,
    models::webhooks::{
        CreateWebhook, DeliveryFilter, DeliveryResponse, EventQuery, UpdateWebhook, Webhook,
        WebhookResponse, event_selection,
    },
    webhooks::{NewWebhook, WebhookChanges},
};

/// The routes of `/webhooks` and `/events`.
pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(get_webhook, update_webhook, delete_webhook))
        .routes(routes!(rotate_secret))
        .routes(routes!(list_deliveries))
        .routes(routes!(retry_delivery))
        .routes(routes!(list_events))
}

/// Subscribes a URL to events. The answer carries the signing secret, shown only here and on
/// rotation.
#[utoipa::path(post, path = "/webhooks", tag = "webhooks",
    security(("bearer" = [])),
    request_body = CreateWebhook,
    responses(
        (status = 201, description = "The subscription, with its secret", body = WebhookResponse),
        (status = 422, description = "A URL that is not https (unless allowed), whose host is not public (unless allowed) or does not resolve; no event type, or an unknown one; a description over 500 characters (`VALIDATION_ERROR`)", body = ValidationErrorBody),
        InvalidJson, JsonBodyErrors, AuthErrors, AdminOnlyErrors, DbUnavailable,
    ))]
async fn create_webhook(
    State(state): State<AppState>,
    _admin: RequireRole<AdminOnly>,
    JsonBody(body): JsonBody<CreateWebhook>,
) -> ApiResult<(StatusCode, Json<WebhookResponse>)> {
    let new = NewWebhook {
        url: body.url,
        events: event_selection(body.events),
        description: body.description,
    };
    let webhook = state.webhooks.create(new).await?;
    Ok((
        StatusCode::CREATED,
        Json(WebhookResponse::with_secret(webhook)),
    ))
}

/// Lists subscriptions, oldest first, without their secrets.
#[utoipa::path(get, path = "/webhooks", tag = "webhooks",
    security(("bearer" = [])),
    params(Page),
    responses(
        (status = 200, description = "One page of subscriptions", body = [WebhookResponse],
            headers(
                ("X-Total-Count" = u64, description = "How many subscriptions there are"),
                ("Link" = String, description = "RFC 8288 links to the next and previous pages"),
            )),
        (status = 422, description = "`limit` outside 1–1000 or negative `offset`", body = ValidationErrorBody),
        AuthErrors, AdminOnlyErrors, DbUnavailable,
    ))]
async fn list_webhooks(
    State(state): State<AppState>,
    _admin: RequireRole<AdminOnly>,
    QueryParams(page): QueryParams<Page>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Paged<WebhookResponse>> {
    let (webhooks, total) = state.webhooks.list(page).await?;
    let shown = webhooks.into_iter().map(WebhookResponse::of).collect();
    Ok(Paged::new(shown, total, page, uri))
}

/// One subscription, without its secret.
#[utoipa::path(get, path = "/webhooks/{id}", tag = "webhooks",
    security(("bearer" = [])),
    params(PathId<Webhook>),
    responses(
        (status = 200, description = "The subscription", body = WebhookResponse),
        (status = 404, description = "No such subscription (`WEBHOOK_NOT_FOUND`)", body = ErrorBody),
        InvalidId, AuthErrors, AdminOnlyErrors, DbUnavailable,
    ))]
async fn get_webhook(
    State(state): State<AppState>,
    _admin: RequireRole<AdminOnly>,
    id: PathId<Webhook>,
) -> ApiResult<Json<WebhookResponse>> {
    let webhook = state.webhooks.get(id.get()).await?;
    Ok(Json(WebhookResponse::of(webhook)))
}

/// Changes a subscription's URL, event types, description, or whether it is enabled.
#[utoipa::path(patch, path = "/webhooks/{id}", tag = "webhooks",
    security(("bearer" = [])),
    params(PathId<Webhook>),
    request_body = UpdateWebhook,
    responses(
        (status = 200, description = "The subscription after the change", body = WebhookResponse),
        (status = 404, description = "No such subscription (`WEBHOOK_NOT_FOUND`)", body = ErrorBody),
        (status = 422, description = "No field, or a field under the rules of creation broken (`VALIDATION_ERROR`)", body = ValidationErrorBody),
        InvalidIdOrJson, JsonBodyErrors, AuthErrors, AdminOnlyErrors, DbUnavailable,
    ))]
async fn update_webhook(
    State(state): State<AppState>,
    _admin: RequireRole<AdminOnly>,
    id: PathId<Webhook>,
    JsonBody(body): JsonBody<UpdateWebhook>,
) -> ApiResult<Json<WebhookResponse>> {
    let changes = WebhookChanges {
        url: body.url,
        events: body.events.map(event_selection),
        description: body.description,
        enabled: body.enabled,
    };
    let webhook = state.webhooks.update(id.get(), changes).await?;
    Ok(Json(WebhookResponse::of(webhook)))
}

/// Deletes a subscription and its deliveries.
#[utoipa::path(delete, path = "/webhooks/{id}", tag = "webhooks",
    security(("bearer" = [])),
    params(PathId<Webhook>),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such subscription (`WEBHOOK_NOT_FOUND`)", body = ErrorBody),
        InvalidId, AuthErrors, AdminOnlyErrors, DbUnavailable,
    ))]
async fn delete_webhook(
    State(state): State<AppState>,
    _admin: RequireRole<AdminOnly>,
    id: PathId<Webhook>,
) -> ApiResult<StatusCode> {
    state.webhooks.delete(id.get()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives a subscription a new signing secret, used from its next attempt on.
#[utoipa::path(post, path = "/webhooks/{id}/rotate-secret", tag = "webhooks",
    security(("bearer" = [])),
    params(PathId<Webhook>),
    responses(
        (status = 200, description = "The subscription with its new secret", body = WebhookResponse),
        (status = 404, description = "No such subscription (`WEBHOOK_NOT_FOUND`)", body = ErrorBody),
        InvalidId, AuthErrors, AdminOnlyErrors, DbUnavailable,
    ))]
async fn rotate_secret(
    State(state): State<AppState>,
    _admin: RequireRole<AdminOnly>,
    id: PathId<Webhook>,
) -> ApiResult<Json<WebhookResponse>> {
    let webhook = state.webhooks.rotate_secret(id.get()).await?;
    Ok(Json(WebhookResponse::with_secret(webhook)))
}

/// A subscription's deliveries, newest first, each with its attempts.
#[utoipa::path(get, path = "/webhooks/{id}/deliveries", tag = "webhooks",
    security(("bearer" = [])),
    params(PathId<Webhook>, DeliveryFilter, Page),
    responses(
        (status = 200, description = "One page of deliveries", body = [DeliveryResponse],
            headers(
                ("X-Total-Count" = u64, description = "How many deliveries match"),
                ("Link" = String, description = "RFC 8288 links to the next and previous pages"),
            )),
        (status = 404, description = "No such subscription (`WEBHOOK_NOT_FOUND`)", body = ErrorBody),
        (status = 422, description = "Unknown `status`, `limit` outside 1–1000 or negative `offset`", body = ValidationErrorBody),
        InvalidId, AuthErrors, AdminOnlyErrors, DbUnavailable,
    ))]
async fn list_deliveries(
    State(state): State<AppState>,
    _admin: RequireRole<AdminOnly>,
    id: PathId<Webhook>,
    QueryParams(filter): QueryParams<DeliveryFilter>,
    QueryParams(page): QueryParams<Page>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Paged<DeliveryResponse>> {
    let (deliveries, total) = state
        .webhooks
        .deliveries(id.get(), filter.status, page)
        .await?;
    let shown = deliveries.into_iter().map(DeliveryResponse::of).collect();
    Ok(Paged::new(shown, total, page, uri))
}

/// Attempts a delivery again now, with a new retry window (a `FAILED` one too).
#[utoipa::path(post, path = "/webhooks/{id}/deliveries/{delivery_id}/retry", tag = "webhooks",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The webhook's id (24 hex characters)"),
        ("delivery_id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The delivery's id (24 hex characters)"),
    ),
    responses(
        (status = 202, description = "The delivery is pending and due now"),
        (status = 404, description = "No such delivery of this subscription (`DELIVERY_NOT_FOUND`)", body = ErrorBody),
        InvalidId, AuthErrors, AdminOnlyErrors, DbUnavailable,
    ))]
async fn retry_delivery(
    State(state): State<AppState>,
    _admin: RequireRole<AdminOnly>,
    Path((webhook, delivery)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let webhook = parse_id(&webhook, "webhook")?;
    let delivery = parse_id(&delivery, "delivery")?;
    state.webhooks.retry(webhook, delivery).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Events in commit order, after a given one: a consumer catches up without webhooks by passing
/// the last id it read as `after`.
#[utoipa::path(get, path = "/events", tag = "webhooks",
    security(("bearer" = [])),
    params(EventQuery),
    responses(
        (status = 200, description = "Up to `limit` events after `after`, in commit order", body = [EventBody]),
        (status = 422, description = "A malformed `after`, or one naming no event still kept (`VALIDATION_ERROR` at `after`); an unknown type; `limit` outside 1–1000", body = ValidationErrorBody),
        AuthErrors, AdminOnlyErrors, DbUnavailable,
    ))]
async fn list_events(
    State(state): State<AppState>,
    _admin: RequireRole<AdminOnly>,
    QueryParams(query): QueryParams<EventQuery>,
) -> ApiResult<Json<Vec<EventBody>>> {
    let after: Option<ObjectId> = query
        .after
        .as_deref()
        .and_then(|raw| ObjectId::parse_str(raw).ok());
    let types = query.types();
    let events = state
        .webhooks
        .events(after, types.as_deref(), query.limit())
        .await
        .map_err(ApiError::from)?;
    Ok(Json(events.into_iter().map(EventBody::of).collect()))
}
