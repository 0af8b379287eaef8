//! `/products` and `/products/{id}`: add, list, read, change and remove products.

use axum::{
    Json,
    extract::{OriginalUri, State},
    http::StatusCode,
};
use common_api::{
    ApiResult,
    auth::{AuthUser, RequireRole, SellerOrAdmin},
    error::{ErrorBody, ValidationErrorBody},
    extract::{JsonBody, PathId, QueryParams},
    openapi::{
        AuthErrors, DbUnavailable, InvalidId, InvalidIdOrJson, InvalidJson, JsonBodyErrors,
        SellerOrAdminErrors,
    },
    pagination::{Page, Paged},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{NotProductOwner, Product};
use crate::{
    AppState,
    models::{CreateProduct, ProductFilter, ProductResponse, UpdateProduct, patch},
};

pub(super) fn router() -> OpenApiRouter<AppState> {
    let mut router = OpenApiRouter::new()
        .routes(routes!(create_product, list_products))
        .routes(routes!(get_product, update_product, delete_product));
    patch::document::<UpdateProduct>(router.get_openapi_mut());
    router
}

/// Adds a product, owned by the calling seller (or admin).
#[utoipa::path(post, path = "/products", tag = "products",
    security(("bearer" = [])),
    request_body = CreateProduct,
    responses(
        (status = 201, description = "The new product", body = ProductResponse),
        (status = 422, description = "Empty or over-long name, price not a finite number from 0 to 1e9, stock not a whole number from 0 to 1e9", body = ValidationErrorBody),
        InvalidJson, JsonBodyErrors, AuthErrors, SellerOrAdminErrors, DbUnavailable,
    ))]
async fn create_product(
    State(state): State<AppState>,
    RequireRole { user: seller, .. }: RequireRole<SellerOrAdmin>,
    JsonBody(body): JsonBody<CreateProduct>,
) -> ApiResult<(StatusCode, Json<ProductResponse>)> {
    let product = state.products.create(&seller, body).await?;
    Ok((
        StatusCode::CREATED,
        Json(ProductResponse::of(product, state.config.currency)?),
    ))
}

/// Lists products, oldest first unless `sort` says otherwise, optionally searched by name and
/// filtered by category, seller, price and stock. Answered from the in-memory catalog, so its cost
/// follows the number of matches, not the size of the catalog.
#[utoipa::path(get, path = "/products", tag = "products",
    params(ProductFilter, Page),
    responses(
        (status = 200, description = "One page of products", body = [ProductResponse],
            headers(
                ("X-Total-Count" = u64, description = "How many products match"),
                ("Link" = String, description = "RFC 8288 links to the next and previous pages"),
            )),
        (status = 422, description = "`limit` outside 1–1000, negative `offset`, `q` over 200 characters or with NUL, malformed `seller_id`, a price that is not a number, `min_price` above `max_price`, `in_stock` not `true`/`false`, or an unknown `sort`", body = ValidationErrorBody),
        DbUnavailable,
    ))]
async fn list_products(
    State(state): State<AppState>,
    QueryParams(filter): QueryParams<ProductFilter>,
    QueryParams(page): QueryParams<Page>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Paged<ProductResponse>> {
    let listed = state
        .products
        .list(&filter.to_query(page, state.config.currency))
        .await?;
    let products = ProductResponse::all(listed.products, state.config.currency)?;
    Ok(Paged::new(products, listed.total as u64, page, uri))
}

/// One product.
#[utoipa::path(get, path = "/products/{id}", tag = "products",
    params(PathId<Product>),
    responses(
        (status = 200, description = "The product", body = ProductResponse),
        (status = 404, description = "No such product (`PRODUCT_NOT_FOUND`)", body = ErrorBody),
        InvalidId, DbUnavailable,
    ))]
async fn get_product(
    State(state): State<AppState>,
    id: PathId<Product>,
) -> ApiResult<Json<ProductResponse>> {
    let product = state.products.get(id.get()).await?;
    Ok(Json(ProductResponse::of(product, state.config.currency)?))
}

/// Changes name, description, price or category (the owning seller or an admin).
#[utoipa::path(patch, path = "/products/{id}", tag = "products",
    security(("bearer" = [])),
    params(PathId<Product>),
    request_body = UpdateProduct,
    responses(
        (status = 200, description = "The changed product", body = ProductResponse),
        (status = 404, description = "No such product (`PRODUCT_NOT_FOUND`)", body = ErrorBody),
        (status = 422, description = "No field given, or a field out of range", body = ValidationErrorBody),
        InvalidIdOrJson, JsonBodyErrors, AuthErrors, NotProductOwner, DbUnavailable,
    ))]
async fn update_product(
    State(state): State<AppState>,
    caller: AuthUser,
    id: PathId<Product>,
    JsonBody(body): JsonBody<UpdateProduct>,
) -> ApiResult<Json<ProductResponse>> {
    let product = state.products.update(id.get(), &caller, body).await?;
    Ok(Json(ProductResponse::of(product, state.config.currency)?))
}

/// Removes a product and its image (the owning seller or an admin).
#[utoipa::path(delete, path = "/products/{id}", tag = "products",
    security(("bearer" = [])),
    params(PathId<Product>),
    responses(
        (status = 204, description = "The product was removed"),
        (status = 404, description = "No such product (`PRODUCT_NOT_FOUND`)", body = ErrorBody),
        InvalidId, AuthErrors, NotProductOwner, DbUnavailable,
    ))]
async fn delete_product(
    State(state): State<AppState>,
    caller: AuthUser,
    id: PathId<Product>,
) -> ApiResult<StatusCode> {
    state.products.delete(id.get(), &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}
