//! The order service's HTTP handlers and their OpenAPI descriptions. Handlers check ids, bodies
//! and who may act, then read orders or hand the work to the order engine ([`crate::engine`]).

use axum::{
    Json,
    extract::{OriginalUri, Path, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use common_api::{
    ApiError, ApiResult,
    auth::{AdminOnly, AuthUser, RequireRole},
    error::{ErrorBody, ValidationErrorBody},
    extract::{JsonBody, QueryParams, parse_id},
    openapi::{
        AdminOnlyErrors, AuthErrors, DbUnavailable, InvalidId, InvalidIdOrJson, JsonBodyErrors,
    },
    pagination::{Page, Paged},
};
use mongodb::bson::oid::ObjectId;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    AppState,
    engine::{
        placing::Placed,
        request::{Line, OrderRequest},
    },
    models::{
        CreateOrder, OrderFilter, OrderResponse, OrderStatus, PlacedOrder, StatusChange,
        idempotency_key, order_not_found, status_shown,
    },
    store::StoredStatus,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Order service",
        description = "All-or-nothing orders that never oversell and never lose stock, with idempotency keys, cancel, reorder and status changes."
    ),
    tags(
        (name = "orders", description = "Orders"),
        (name = "health", description = "Liveness and database health"),
    )
)]
struct ApiDoc;

/// The service's own routes with their OpenAPI description.
pub fn router(state: AppState) -> OpenApiRouter {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(create_order, list_orders))
        .routes(routes!(get_order, update_order_status))
        .routes(routes!(cancel_order))
        .routes(routes!(reorder))
        .with_state(state)
}

/// Places an order: every line's stock is taken, or none is.
#[utoipa::path(post, path = "/orders", tag = "orders",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, pattern = r"^[\x21-\x7E]{1,255}$",
        description = "1 to 255 visible ASCII characters: a repeat with the same key returns the first order and takes no stock again")),
    request_body = CreateOrder,
    responses(
        (status = 201, description = "The order was placed (or, with `Idempotent-Replayed: true`, placed earlier with the same key)", body = PlacedOrder,
            headers(("Idempotent-Replayed" = bool, description = "`true` when an earlier request with the same key placed this order"))),
        (status = 400, description = "Malformed JSON (`INVALID_JSON`), a body that could not be read (`INVALID_BODY`), a malformed product or user id (`INVALID_ID`), or an unknown product (`PRODUCT_NOT_FOUND`)", body = ErrorBody),
        (status = 403, description = "`user_id` is another user's and the caller is not an admin (`FORBIDDEN`)", body = ErrorBody),
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
    let request = order_request(&caller, body)?;
    let placed = state.engine.place(caller.id, request, key).await?;
    created(&placed)
}

/// Turns a valid body into lines to take, checking ids and who the order is for.
fn order_request(caller: &AuthUser, body: CreateOrder) -> ApiResult<OrderRequest> {
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
    let user_id = match body.user_id {
        None => caller.id,
        Some(raw) => parse_id(&raw, "user")?,
    };
    if !caller.may_act_for(user_id) {
        return Err(ApiError::forbidden(
            "Only admins may order for another user",
        ));
    }
    OrderRequest::new(user_id, lines).map_err(|refused| refused.in_body())
}

/// 400 `INVALID_ID` "Invalid product id X".
fn parse_product_id(raw: &str) -> ApiResult<ObjectId> {
    parse_id(raw, "product").map_err(|_| {
        let shown: String = raw.chars().take(64).collect();
        ApiError::bad_request("INVALID_ID", format!("Invalid product id {shown}"))
    })
}

fn created(placed: &Placed) -> ApiResult<Response> {
    let body = PlacedOrder::try_from(&placed.order)?;
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if placed.replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
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
    let user = match filter.user_id {
        Some(raw) => {
            let user = parse_id(&raw, "user")?;
            if !caller.may_act_for(user) {
                return Err(ApiError::forbidden("You may only list your own orders"));
            }
            Some(user)
        }
        None if caller.is_admin() => None,
        None => Some(caller.id),
    };
    let statuses = filter.status.map(OrderStatus::stored);
    let (orders, total) = state.orders.list(user, statuses, page).await?;
    let orders = orders
        .into_iter()
        .map(OrderResponse::try_from)
        .collect::<ApiResult<_>>()?;
    Ok(Paged::new(orders, total, page, uri))
}

/// One order: the owner's, or any for an admin.
#[utoipa::path(get, path = "/orders/{id}", tag = "orders",
    security(("bearer" = [])),
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The order's id (24 hex characters)")),
    responses(
        (status = 200, description = "The order", body = OrderResponse),
        (status = 404, description = "No such order, or someone else's (`ORDER_NOT_FOUND`)", body = ErrorBody),
        InvalidId, AuthErrors, DbUnavailable,
    ))]
async fn get_order(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<OrderResponse>> {
    let id = parse_id(&id, "order")?;
    let owner = (!caller.is_admin()).then_some(caller.id);
    let order = state
        .orders
        .find(id, owner)
        .await?
        .ok_or_else(order_not_found)?;
    Ok(Json(order.try_into()?))
}

/// Cancels a `PLACED` order; every line's units go back to stock exactly once.
#[utoipa::path(post, path = "/orders/{id}/cancel", tag = "orders",
    security(("bearer" = [])),
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The order's id (24 hex characters)")),
    responses(
        (status = 200, description = "The cancelled order", body = OrderResponse),
        (status = 404, description = "No such order, or someone else's (`ORDER_NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "The order is not `PLACED` (`ORDER_NOT_CANCELLABLE`)", body = ErrorBody),
        (status = 503, description = "Database unavailable (`DB_UNAVAILABLE`); a cancel already begun is finished by the service", body = ErrorBody),
        InvalidId, AuthErrors,
    ))]
async fn cancel_order(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<OrderResponse>> {
    let id = parse_id(&id, "order")?;
    let order = state.engine.cancel(&caller, id).await?;
    Ok(Json(order.try_into()?))
}

/// Orders the same lines again, at today's prices, under the same rules as `POST /orders`.
#[utoipa::path(post, path = "/orders/{id}/reorder", tag = "orders",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The id of one of the caller's orders"),
        ("Idempotency-Key" = Option<String>, Header, pattern = r"^[\x21-\x7E]{1,255}$",
            description = "As for `POST /orders`: 1 to 255 visible ASCII characters"),
    ),
    responses(
        (status = 201, description = "The new order", body = PlacedOrder),
        (status = 400, description = "Malformed id (`INVALID_ID`) or a product that no longer exists (`PRODUCT_NOT_FOUND`)", body = ErrorBody),
        (status = 404, description = "No such order of the caller's (`ORDER_NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "A line has too little stock (`INSUFFICIENT_STOCK`; nothing was taken)", body = ErrorBody),
        (status = 422, description = "A malformed `Idempotency-Key` or an order whose lines for one product add up to over 10000 units (`VALIDATION_ERROR`, the latter at `[\"path\", \"id\"]`); a key reused with different lines (`IDEMPOTENCY_KEY_REUSED`)", body = ValidationErrorBody),
        AuthErrors, DbUnavailable,
    ))]
async fn reorder(
    State(state): State<AppState>,
    caller: AuthUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = parse_id(&id, "order")?;
    let key = idempotency_key(&headers)?;
    let placed = state.engine.reorder(caller.id, id, key).await?;
    created(&placed)
}

/// Moves an order along `PLACED → SHIPPED → DELIVERED` (admins only).
#[utoipa::path(patch, path = "/orders/{id}", tag = "orders",
    security(("bearer" = [])),
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The order's id (24 hex characters)")),
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
    Path(id): Path<String>,
    JsonBody(body): JsonBody<StatusChange>,
) -> ApiResult<Json<OrderResponse>> {
    let id = parse_id(&id, "order")?;
    let step = match body.status {
        OrderStatus::Shipped => Some((StoredStatus::Placed, StoredStatus::Shipped)),
        OrderStatus::Delivered => Some((StoredStatus::Shipped, StoredStatus::Delivered)),
        OrderStatus::Placed | OrderStatus::Cancelled => None,
    };
    if let Some((from, to)) = step
        && let Some(order) = state.orders.transition(id, None, from, to).await?
    {
        tracing::info!(order_id = %id, status = body.status.as_str(), "order status changed");
        return Ok(Json(order.try_into()?));
    }
    let order = state
        .orders
        .find(id, None)
        .await?
        .ok_or_else(order_not_found)?;
    Err(ApiError::conflict(
        "INVALID_TRANSITION",
        format!(
            "An order cannot go from {} to {}; allowed: PLACED → SHIPPED → DELIVERED",
            status_shown(&order)?.as_str(),
            body.status.as_str()
        ),
    ))
}
