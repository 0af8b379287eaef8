//! `/orders`: placing, reading, listing, cancelling, reordering orders and changing their status.

use axum::{
    Json,
    extract::{OriginalUri, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use common_api::{
    ApiError, ApiResult,
    auth::{AdminOnly, AuthUser, RequireRole},
    error::{ErrorBody, ValidationErrorBody},
    extract::{JsonBody, PathId, QueryParams, parse_id},
    money::Currency,
    openapi::{
        AdminOnlyErrors, AuthErrors, DbUnavailable, InvalidId, InvalidIdOrJson, JsonBodyErrors,
    },
    pagination::{Page, Paged},
};
use mongodb::bson::oid::ObjectId;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::errors::order_not_found;
use crate::{
    AppState,
    engine::{
        placing::Placed,
        request::{Line, NewOrder},
    },
    models::{
        CreateOrder, IDEMPOTENT_REPLAYED, Order, OrderFilter, OrderResponse, PlacedOrder,
        ReorderRequest, StatusChange, idempotency_key,
    },
};

/// The routes of `/orders`.
pub(super) fn router() -> OpenApiRouter<AppState> {
    let mut router = OpenApiRouter::new()
        .routes(routes!(create_order, list_orders))
        .routes(routes!(get_order, update_order_status))
        .routes(routes!(cancel_order))
        .routes(routes!(reorder));
    // A reorder's body is optional: without one, the order is placed at once.
    if let Some(utoipa::openapi::RefOr::T(body)) = router
        .get_openapi_mut()
        .paths
        .paths
        .get_mut("/orders/{id}/reorder")
        .and_then(|item| item.post.as_mut())
        .and_then(|operation| operation.request_body.as_mut())
    {
        body.required = Some(utoipa::openapi::Required::False);
    }
    router
}

/// Places an order: every line's stock is taken, or none is. With `"checkout": true` the order
/// waits for its payment as `PENDING_PAYMENT`, its stock held until `expires_at`.
#[utoipa::path(post, path = "/orders", tag = "orders",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, pattern = r"^[\x21-\x7E]{1,255}$",
        description = "1 to 255 visible ASCII characters: a repeat with the same key returns the first order and takes no stock again")),
    request_body = CreateOrder,
    responses(
        (status = 201, description = "The order was placed, `PLACED` (or `PENDING_PAYMENT` with `expires_at` for a checkout); with `Idempotent-Replayed: true`, placed earlier with the same key", body = PlacedOrder,
            headers(("Idempotent-Replayed" = bool, description = "`true` when an earlier request with the same key placed this order"))),
        (status = 400, description = "Malformed JSON (`INVALID_JSON`), a body that could not be read (`INVALID_BODY`), a malformed product or user id (`INVALID_ID`), or an unknown product (`PRODUCT_NOT_FOUND`)", body = ErrorBody),
        (status = 403, description = "`user_id` is another user's and the caller is not an admin (`FORBIDDEN`); with `REQUIRE_VERIFIED_EMAIL`, the caller's email is not verified (`EMAIL_NOT_VERIFIED`)", body = ErrorBody),
        (status = 409, description = "A line has too little stock (`INSUFFICIENT_STOCK`; nothing was taken), or the same key is still being processed (`IDEMPOTENCY_KEY_IN_USE`)", body = ErrorBody),
        (status = 422, description = "No items, over 100 lines, a quantity not from 1 to 10000, lines naming the same product whose combined quantity is over 10000 (at the first such line's `quantity`), or a malformed `Idempotency-Key` (`VALIDATION_ERROR`); a key reused with a different body (`IDEMPOTENCY_KEY_REUSED`, at `[\"header\", \"Idempotency-Key\"]`)", body = ValidationErrorBody),
        JsonBodyErrors, AuthErrors, DbUnavailable,
    ))]
async fn create_order(
    State(state): State<AppState>,
    caller: AuthUser,
    headers: HeaderMap,
    JsonBody(body): JsonBody<CreateOrder>,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers)?;
    let order = new_order(body)?;
    let placed = state.engine.place(&caller, order, key).await?;
    created(&placed, state.config.currency)
}

/// The order a valid body asks for, with its ids parsed.
fn new_order(body: CreateOrder) -> ApiResult<NewOrder> {
    let lines = body
        .items
        .iter()
        .map(|item| {
            Ok(Line {
                product_id: parse_product_id(&item.product_id)?,
                quantity: item.quantity,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let user_id = body.user_id.map(|raw| parse_id(&raw, "user")).transpose()?;
    Ok(NewOrder {
        user_id,
        lines,
        checkout: body.checkout,
    })
}

/// 400 `INVALID_ID` "Invalid product id X".
fn parse_product_id(raw: &str) -> ApiResult<ObjectId> {
    parse_id(raw, "product").map_err(|_| {
        let shown: String = raw.chars().take(64).collect();
        ApiError::bad_request("INVALID_ID", format!("Invalid product id {shown}"))
    })
}

fn created(placed: &Placed, currency: Currency) -> ApiResult<Response> {
    let body = PlacedOrder::of(&placed.order, currency)?;
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if placed.replayed {
        response
            .headers_mut()
            .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// Lists orders, newest first: the caller's own; an admin sees anyone's.
#[utoipa::path(get, path = "/orders", tag = "orders",
    security(("bearer" = [])),
    params(OrderFilter, Page),
    responses(
        (status = 200, description = "One page of orders", body = [OrderResponse],
            headers(
                ("X-Total-Count" = u64, description = "How many orders match"),
                ("Link" = String, description = "RFC 8288 links to the next and previous pages"),
            )),
        (status = 400, description = "Malformed `user_id` (`INVALID_ID`)", body = ErrorBody),
        (status = 403, description = "`user_id` is another user's and the caller is not an admin (`FORBIDDEN`)", body = ErrorBody),
        (status = 422, description = "Unknown `status`, `limit` outside 1–1000 or negative `offset`", body = ValidationErrorBody),
        AuthErrors, DbUnavailable,
    ))]
async fn list_orders(
    State(state): State<AppState>,
    caller: AuthUser,
    QueryParams(filter): QueryParams<OrderFilter>,
    QueryParams(page): QueryParams<Page>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Paged<OrderResponse>> {
    let user = filter
        .user_id
        .map(|raw| parse_id(&raw, "user"))
        .transpose()?;
    let (orders, total) = state
        .engine
        .orders(&caller, user, filter.status, page)
        .await?;
    let orders = orders
        .into_iter()
        .map(|order| OrderResponse::of(order, state.config.currency))
        .collect::<ApiResult<_>>()?;
    Ok(Paged::new(orders, total, page, uri))
}

/// One order: the owner's, or any for an admin.
#[utoipa::path(get, path = "/orders/{id}", tag = "orders",
    security(("bearer" = [])),
    params(PathId<Order>),
    responses(
        (status = 200, description = "The order", body = OrderResponse),
        (status = 404, description = "No such order, or someone else's (`ORDER_NOT_FOUND`)", body = ErrorBody),
        InvalidId, AuthErrors, DbUnavailable,
    ))]
async fn get_order(
    State(state): State<AppState>,
    caller: AuthUser,
    id: PathId<Order>,
) -> ApiResult<Json<OrderResponse>> {
    let order = state
        .engine
        .order(&caller, id.get())
        .await?
        .ok_or_else(order_not_found)?;
    Ok(Json(OrderResponse::of(order, state.config.currency)?))
}

/// Cancels a `PLACED` order, or a checkout still `PENDING_PAYMENT`; every line's units go back
/// to stock exactly once.
#[utoipa::path(post, path = "/orders/{id}/cancel", tag = "orders",
    security(("bearer" = [])),
    params(PathId<Order>),
    responses(
        (status = 200, description = "The cancelled order", body = OrderResponse),
        (status = 404, description = "No such order, or someone else's (`ORDER_NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "The order is neither `PLACED` nor `PENDING_PAYMENT` (`ORDER_NOT_CANCELLABLE`)", body = ErrorBody),
        (status = 503, description = "Database unavailable (`DB_UNAVAILABLE`); a cancel already begun is finished by the service", body = ErrorBody),
        InvalidId, AuthErrors,
    ))]
async fn cancel_order(
    State(state): State<AppState>,
    caller: AuthUser,
    id: PathId<Order>,
) -> ApiResult<Json<OrderResponse>> {
    let order = state.engine.cancel(&caller, id.get()).await?;
    Ok(Json(OrderResponse::of(order, state.config.currency)?))
}

/// Orders the same lines again, at today's prices, under the same rules as `POST /orders`; an
/// optional body `{"checkout": true}` makes it a checkout. No body (and no `Content-Type`) is an
/// order placed at once.
#[utoipa::path(post, path = "/orders/{id}/reorder", tag = "orders",
    security(("bearer" = [])),
    params(
        PathId<Order>,
        ("Idempotency-Key" = Option<String>, Header, pattern = r"^[\x21-\x7E]{1,255}$",
            description = "As for `POST /orders`: 1 to 255 visible ASCII characters"),
    ),
    request_body = ReorderRequest,
    responses(
        (status = 201, description = "The new order", body = PlacedOrder),
        (status = 400, description = "Malformed id (`INVALID_ID`), malformed JSON (`INVALID_JSON`) or a product that no longer exists (`PRODUCT_NOT_FOUND`)", body = ErrorBody),
        (status = 403, description = "With `REQUIRE_VERIFIED_EMAIL`, the caller's email is not verified (`EMAIL_NOT_VERIFIED`)", body = ErrorBody),
        (status = 404, description = "No such order of the caller's (`ORDER_NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "A line has too little stock (`INSUFFICIENT_STOCK`; nothing was taken)", body = ErrorBody),
        (status = 422, description = "A malformed `Idempotency-Key` or `checkout`, or an order whose lines for one product add up to over 10000 units (`VALIDATION_ERROR`, the latter at `[\"path\", \"id\"]`); a key reused with different lines (`IDEMPOTENCY_KEY_REUSED`)", body = ValidationErrorBody),
        JsonBodyErrors, AuthErrors, DbUnavailable,
    ))]
async fn reorder(
    State(state): State<AppState>,
    caller: AuthUser,
    headers: HeaderMap,
    id: PathId<Order>,
    body: Option<JsonBody<ReorderRequest>>,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers)?;
    let checkout = body.is_some_and(|JsonBody(body)| body.checkout);
    let placed = state
        .engine
        .reorder(&caller, id.get(), checkout, key)
        .await?;
    created(&placed, state.config.currency)
}

/// Moves an order along `PLACED → SHIPPED → DELIVERED` (admins only).
#[utoipa::path(patch, path = "/orders/{id}", tag = "orders",
    security(("bearer" = [])),
    params(PathId<Order>),
    request_body = StatusChange,
    responses(
        (status = 200, description = "The order with its new status", body = OrderResponse),
        (status = 404, description = "No such order (`ORDER_NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "Not the next status of this order (`INVALID_TRANSITION`)", body = ErrorBody),
        (status = 422, description = "Unknown status", body = ValidationErrorBody),
        InvalidIdOrJson, JsonBodyErrors, AuthErrors, AdminOnlyErrors, DbUnavailable,
    ))]
async fn update_order_status(
    State(state): State<AppState>,
    _admin: RequireRole<AdminOnly>,
    id: PathId<Order>,
    JsonBody(body): JsonBody<StatusChange>,
) -> ApiResult<Json<OrderResponse>> {
    let order = state.engine.advance(id.get(), body.status).await?;
    Ok(Json(OrderResponse::of(order, state.config.currency)?))
}
