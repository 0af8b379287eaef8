//! `POST /products/{id}/stock`: a seller's own stock adjustments (orders take and return stock
//! in the order service).

use axum::{Json, extract::State};
use common_api::{
    ApiResult,
    auth::AuthUser,
    error::{ErrorBody, ValidationErrorBody},
    extract::{JsonBody, PathId},
    openapi::{AuthErrors, DbUnavailable, InvalidIdOrJson, JsonBodyErrors},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{NotProductOwner, Product};
use crate::{
    AppState,
    models::{ProductResponse, StockChange},
};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(adjust_stock))
}

/// Adds to or takes from the stock in one atomic conditional update; it never goes below zero.
#[utoipa::path(post, path = "/products/{id}/stock", tag = "products",
    security(("bearer" = [])),
    params(PathId<Product>),
    request_body = StockChange,
    responses(
        (status = 200, description = "The product with its new stock", body = ProductResponse),
        (status = 404, description = "No such product (`PRODUCT_NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "The stock would go below 0 (`INSUFFICIENT_STOCK`) or above 1e9 (`STOCK_LIMIT`); nothing changed", body = ErrorBody),
        (status = 422, description = "`delta` zero, fractional or beyond ±1e9", body = ValidationErrorBody),
        InvalidIdOrJson, JsonBodyErrors, AuthErrors, NotProductOwner, DbUnavailable,
    ))]
async fn adjust_stock(
    State(state): State<AppState>,
    caller: AuthUser,
    id: PathId<Product>,
    JsonBody(body): JsonBody<StockChange>,
) -> ApiResult<Json<ProductResponse>> {
    let product = state
        .products
        .adjust_stock(id.get(), &caller, body.delta)
        .await?;
    Ok(Json(ProductResponse::of(product, state.config.currency)?))
}
