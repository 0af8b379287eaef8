//! `GET /inventory`: the products running low, lowest stock first, for the sellers who must
//! restock them (their own) and admins (every product).
//!
//! Answered from the catalog read model (`crate::products::catalog` says how current it is): a
//! list costs a scan of the seller's products (or of every product for an admin) and one read of
//! the page's documents by id, never a count in MongoDB.

use axum::extract::{OriginalUri, State};
use common_api::{
    ApiResult,
    auth::{RequireRole, SellerOrAdmin},
    error::ValidationErrorBody,
    extract::QueryParams,
    openapi::{AuthErrors, DbUnavailable, SellerOrAdminErrors},
    pagination::{Page, Paged},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    AppState,
    models::{InventoryFilter, ProductResponse},
};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_inventory))
}

/// Products with at most `below` units in stock, lowest stock first (ties by id): a seller's own,
/// or every product for an admin.
#[utoipa::path(get, path = "/inventory", tag = "products",
    security(("bearer" = [])),
    params(InventoryFilter, Page),
    responses(
        (status = 200, description = "One page of products with stock at most `below`", body = [ProductResponse],
            headers(
                ("X-Total-Count" = u64, description = "How many products have stock at most `below`"),
                ("Link" = String, description = "RFC 8288 links to the next and previous pages"),
            )),
        (status = 422, description = "`below` not a whole number of 0 or more, `limit` outside 1–1000, or a negative `offset`", body = ValidationErrorBody),
        AuthErrors, SellerOrAdminErrors, DbUnavailable,
    ))]
async fn list_inventory(
    State(state): State<AppState>,
    RequireRole { user, .. }: RequireRole<SellerOrAdmin>,
    QueryParams(filter): QueryParams<InventoryFilter>,
    QueryParams(page): QueryParams<Page>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Paged<ProductResponse>> {
    let listed = state
        .products
        .low_stock(
            &user,
            filter.below(),
            usize::try_from(page.offset).unwrap_or(usize::MAX),
            usize::try_from(page.limit).unwrap_or(0),
        )
        .await?;
    let products = ProductResponse::all(listed.products, state.config.currency)?;
    Ok(Paged::new(products, listed.total as u64, page, uri))
}
