//! `/categories` and `/categories/{slug}`: the list anyone reads, and what admins change.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use common_api::{
    ApiResult,
    auth::{AdminOnly, RequireRole},
    error::{ErrorBody, ValidationErrorBody},
    extract::JsonBody,
    openapi::{AdminOnlyErrors, AuthErrors, DbUnavailable, InvalidJson, JsonBodyErrors},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    AppState,
    models::{CategoryView, CreateCategory, SlugPath, UpdateCategory, patch},
};

pub(super) fn router() -> OpenApiRouter<AppState> {
    let mut router = OpenApiRouter::new()
        .routes(routes!(list_categories, create_category))
        .routes(routes!(update_category, delete_category));
    patch::document::<UpdateCategory>(router.get_openapi_mut());
    router
}

/// Every category, including those with no products, with how many products each has, sorted
/// by name regardless of case (the trimmed, lowercased name, compared by code point). Answered
/// from memory.
#[utoipa::path(get, path = "/categories", tag = "categories",
    responses(
        (status = 200, description = "The categories", body = [CategoryView]),
        DbUnavailable,
    ))]
async fn list_categories(State(state): State<AppState>) -> Json<Vec<CategoryView>> {
    Json(state.products.categories().list().as_ref().clone())
}

/// Creates a category (admins).
#[utoipa::path(post, path = "/categories", tag = "categories",
    security(("bearer" = [])),
    request_body = CreateCategory,
    responses(
        (status = 201, description = "The new category", body = CategoryView),
        (status = 409, description = "A category with this name in any case, or with its slug, exists (`CATEGORY_EXISTS`)", body = ErrorBody),
        (status = 422, description = "Name empty, only white space or over 100 characters; description over 1000 characters", body = ValidationErrorBody),
        InvalidJson, JsonBodyErrors, AuthErrors, AdminOnlyErrors, DbUnavailable,
    ))]
async fn create_category(
    State(state): State<AppState>,
    _admin: RequireRole<AdminOnly>,
    JsonBody(body): JsonBody<CreateCategory>,
) -> ApiResult<(StatusCode, Json<CategoryView>)> {
    let category = state
        .products
        .categories()
        .create(&body.name, body.description)
        .await?;
    Ok((StatusCode::CREATED, Json(category)))
}

/// Renames a category and/or changes its description (admins). A rename applies to every product
/// in it, and is completed even if interrupted; a new name differing only in case respells it.
#[utoipa::path(patch, path = "/categories/{slug}", tag = "categories",
    security(("bearer" = [])),
    params(SlugPath),
    request_body = UpdateCategory,
    responses(
        (status = 200, description = "The changed category", body = CategoryView),
        (status = 404, description = "No such category (`CATEGORY_NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "Another category has the new name in any case, or its slug (`CATEGORY_EXISTS`)", body = ErrorBody),
        (status = 422, description = "No field given; name empty, only white space or over 100 characters; description over 1000 characters", body = ValidationErrorBody),
        InvalidJson, JsonBodyErrors, AuthErrors, AdminOnlyErrors, DbUnavailable,
    ))]
async fn update_category(
    State(state): State<AppState>,
    _admin: RequireRole<AdminOnly>,
    Path(SlugPath { slug }): Path<SlugPath>,
    JsonBody(body): JsonBody<UpdateCategory>,
) -> ApiResult<Json<CategoryView>> {
    let category = state
        .products
        .categories()
        .update(&slug, body.name.as_deref(), body.description.as_deref())
        .await?;
    Ok(Json(category))
}

/// Deletes a category that no product uses (admins).
#[utoipa::path(delete, path = "/categories/{slug}", tag = "categories",
    security(("bearer" = [])),
    params(SlugPath),
    responses(
        (status = 204, description = "The category was deleted"),
        (status = 404, description = "No such category (`CATEGORY_NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "Products are in it (`CATEGORY_IN_USE`); nothing changed", body = ErrorBody),
        AuthErrors, AdminOnlyErrors, DbUnavailable,
    ))]
async fn delete_category(
    State(state): State<AppState>,
    _admin: RequireRole<AdminOnly>,
    Path(SlugPath { slug }): Path<SlugPath>,
) -> ApiResult<StatusCode> {
    state.products.categories().delete(&slug).await?;
    Ok(StatusCode::NO_CONTENT)
}
