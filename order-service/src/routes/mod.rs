//! The order service's HTTP layer: each handler extracts its input, calls the order engine
//! ([`crate::engine::OrderEngine`]) and answers; the engine's typed errors become the contract's
//! error bodies in [`errors`], and nowhere else.

mod errors;
mod orders;
mod payments;
mod webhooks;

use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Order service",
        description = "All-or-nothing orders that never oversell and never lose stock, with idempotency keys, cancel, reorder and status changes; checkouts that hold their stock until the payment provider confirms them."
    ),
    tags(
        (name = "orders", description = "Orders"),
        (name = "payments", description = "Payment providers confirming checkouts"),
        (name = "webhooks", description = "Events, and webhooks that deliver them signed (admins only)"),
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
        .merge(orders::router())
        .merge(payments::router())
        .merge(webhooks::router())
}
