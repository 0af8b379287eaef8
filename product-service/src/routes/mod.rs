//! The product service's HTTP layer: each handler extracts its input, calls the domain
//! ([`crate::products::Products`]) and answers; the domain's typed errors become the contract's
//! error bodies in [`errors`], and nowhere else.

mod categories;
mod errors;
mod images;
mod inventory;
mod products;
mod stock;

use common_api::{error::ErrorBody, extract::IdOf};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

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
    routes().with_state(state)
}

/// The OpenAPI document of the service's own routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().into_openapi()
}

fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(products::router())
        .merge(stock::router())
        .merge(images::router())
        .merge(inventory::router())
        .merge(categories::router())
}

/// What the `{id}` of `/products/{id}` names: `PathId<Product>` parses it, answers 400
/// `INVALID_ID` "Invalid product id" when it is malformed, and documents it.
pub enum Product {}

impl IdOf for Product {
    const NAME: &'static str = "product";
}

/// The 403 of a route that changes a product ([`crate::products::ProductError::NotOwner`]): this
/// service's own set, next to those in [`common_api::openapi`].
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
