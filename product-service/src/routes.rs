//! The product service's HTTP handlers and their OpenAPI descriptions.

mod images;
mod inventory;

use axum::{
    Json,
    extract::{OriginalUri, Path, State},
    http::StatusCode,
};
use common_api::{
    ApiError, ApiResult,
    auth::{AuthUser, RequireRole, SellerOrAdmin},
    error::{ErrorBody, ValidationErrorBody},
    extract::{JsonBody, QueryParams, parse_id},
    openapi::{
        AuthErrors, DbUnavailable, InvalidId, InvalidIdOrJson, InvalidJson, JsonBodyErrors,
        SellerOrAdminErrors,
    },
    pagination::{Page, Paged},
};
use common_catalog::{ProductDoc, category_key};
use mongodb::bson::{DateTime, oid::ObjectId};
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    AppState,
    models::{CreateProduct, ProductFilter, ProductResponse, StockChange, UpdateProduct},
    store::ProductChanges,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Product service",
        description = "The catalog: products, literal case-insensitive search, paging, atomic stock adjustments and categories."
    ),
    tags(
        (name = "products", description = "The catalog"),
        (name = "categories", description = "Categories of products"),
        (name = "health", description = "Liveness and database health"),
    )
)]
struct ApiDoc;

/// The service's own routes with their OpenAPI description.
pub fn router(state: AppState) -> OpenApiRouter {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(create_product, list_products))
        .routes(routes!(get_product, update_product, delete_product))
        .routes(routes!(adjust_stock))
        .merge(images::router())
        .merge(inventory::router())
        .merge(crate::categories::routes::router())
        .with_state(state)
}

fn product_not_found() -> ApiError {
    ApiError::not_found("PRODUCT_NOT_FOUND", "Product not found")
}

fn not_owner() -> ApiError {
    ApiError::forbidden("Only the product's seller or an admin may change it")
}

/// The 403 of [`not_owner`], for the routes that change a product (this service's own set, next
/// to those in [`common_api::openapi`]).
#[derive(utoipa::IntoResponses)]
#[expect(
    dead_code,
    reason = "never built: it only describes a response for OpenAPI"
)]
enum NotProductOwner {
    #[response(
        status = 403,
        description = "Not the product's seller or an admin (`FORBIDDEN`)"
    )]
    Forbidden(ErrorBody),
}

/// After a conditional write matched nothing: why not? 404 if the product is gone, 403 if it is
/// not the caller's, otherwise `Ok` with the product for the caller to judge.
async fn explain_no_match(
    state: &AppState,
    id: ObjectId,
    caller: &AuthUser,
) -> ApiResult<ProductDoc> {
    let product = state
        .products
        .find(id)
        .await?
        .ok_or_else(product_not_found)?;
    if caller.may_act_for(product.seller_id) {
        Ok(product)
    } else {
        Err(not_owner())
    }
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
    let now = DateTime::now();
    // Named as the category that exists in any case, which this product then creates if needed.
    let resolved = state.categories.resolve(&body.category).await?;
    let category = resolved.name().to_owned();
    let product = ProductDoc {
        id: ObjectId::new(),
        name: body.name.trim().to_owned(),
        description: body.description,
        // `+ 0.0` turns -0.0 into 0.0.
        price: body.price + 0.0,
        category_key: category_key(&category),
        category,
        stock: body.stock,
        seller_id: seller.id,
        created_at: now,
        updated_at: now,
        holds: Vec::new(),
        returns: Vec::new(),
        image: None,
    };
    state.products.insert(&product).await?;
    state.catalog.wrote(&product);
    let product = state
        .categories
        .settle(&product, resolved)
        .await?
        .unwrap_or(product);
    tracing::info!(product_id = %product.id, seller_id = %seller.id, "product created");
    Ok((StatusCode::CREATED, Json(product.into())))
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
    let hits = state.catalog.search(&filter.to_query(page));
    let products = state.products.find_many(&hits.ids).await?;
    let products = products.into_iter().map(ProductResponse::from).collect();
    Ok(Paged::new(products, hits.total as u64, page, uri))
}

/// One product.
#[utoipa::path(get, path = "/products/{id}", tag = "products",
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The product's id (24 hex characters)")),
    responses(
        (status = 200, description = "The product", body = ProductResponse),
        (status = 404, description = "No such product (`PRODUCT_NOT_FOUND`)", body = ErrorBody),
        InvalidId, DbUnavailable,
    ))]
async fn get_product(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<ProductResponse>> {
    let id = parse_id(&id, "product")?;
    let product = state
        .products
        .find(id)
        .await?
        .ok_or_else(product_not_found)?;
    Ok(Json(product.into()))
}

/// Changes name, description, price or category (the owning seller or an admin).
#[utoipa::path(patch, path = "/products/{id}", tag = "products",
    security(("bearer" = [])),
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The product's id (24 hex characters)")),
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
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateProduct>,
) -> ApiResult<Json<ProductResponse>> {
    let id = parse_id(&id, "product")?;
    let resolved = match &body.category {
        Some(category) => Some(state.categories.resolve(category).await?),
        None => None,
    };
    let changes = ProductChanges {
        name: body.name.map(|name| name.trim().to_owned()),
        description: body.description,
        price: body.price.map(|price| price + 0.0),
        category: resolved.as_ref().map(|resolved| resolved.name().to_owned()),
    };
    if let Some((before, product)) = state.products.update(id, &caller, changes).await? {
        state.catalog.wrote(&product);
        // Only once the caller may change the product may the category it names be created.
        let product = match resolved {
            Some(resolved) => {
                let settled = state.categories.settle(&product, resolved).await?;
                if before.category_key != product.category_key {
                    state.categories.left(&before.category_key).await?;
                }
                settled.unwrap_or(product)
            }
            None => product,
        };
        return Ok(Json(product.into()));
    }
    explain_no_match(&state, id, &caller).await?;
    // Exists and is the caller's, yet the update missed it: it was deleted in between.
    Err(product_not_found())
}

/// Adds to or takes from the stock in one atomic conditional update; it never goes below zero.
#[utoipa::path(post, path = "/products/{id}/stock", tag = "products",
    security(("bearer" = [])),
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The product's id (24 hex characters)")),
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
    Path(id): Path<String>,
    JsonBody(body): JsonBody<StockChange>,
) -> ApiResult<Json<ProductResponse>> {
    let id = parse_id(&id, "product")?;
    if let Some(product) = state.products.adjust_stock(id, &caller, body.delta).await? {
        state.catalog.wrote(&product);
        tracing::info!(product_id = %id, delta = body.delta, stock = product.stock, "stock adjusted");
        return Ok(Json(product.into()));
    }
    let product = explain_no_match(&state, id, &caller).await?;
    Err(if body.delta < 0 {
        ApiError::conflict(
            "INSUFFICIENT_STOCK",
            format!(
                "Insufficient stock for product {id}: {} in stock, {} requested",
                product.stock,
                body.delta.unsigned_abs()
            ),
        )
    } else {
        ApiError::conflict(
            "STOCK_LIMIT",
            format!(
                "Stock of product {id} would exceed {}",
                crate::models::MAX_STOCK
            ),
        )
    })
}

/// Removes a product and its image (the owning seller or an admin).
#[utoipa::path(delete, path = "/products/{id}", tag = "products",
    security(("bearer" = [])),
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The product's id (24 hex characters)")),
    responses(
        (status = 204, description = "The product was removed"),
        (status = 404, description = "No such product (`PRODUCT_NOT_FOUND`)", body = ErrorBody),
        InvalidId, AuthErrors, NotProductOwner, DbUnavailable,
    ))]
async fn delete_product(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_id(&id, "product")?;
    if let Some(product) = state.products.delete(id, &caller).await? {
        state.catalog.deleted(id);
        tracing::info!(product_id = %id, "product deleted");
        state.categories.left(&product.category_key).await?;
        // The product is gone either way; a file left behind is the sweep's to remove.
        if let Some(image) = product.image {
            state.images.discard(image.file_id).await;
        }
        return Ok(StatusCode::NO_CONTENT);
    }
    explain_no_match(&state, id, &caller).await?;
    // Exists and is the caller's, yet was not deleted: someone deleted it in between.
    Err(product_not_found())
}
