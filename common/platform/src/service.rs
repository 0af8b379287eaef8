//! What a service tells the platform about itself: its name and port, the headers of its own that
//! a browser's script may send or read, and the OpenAPI document of its routes. The platform knows
//! nothing of any service beyond what this says.

use utoipa::openapi::OpenApi;

/// A service, as its binary hands it to [`crate::server::run`] and its router to
/// [`crate::http::service_router`].
#[derive(Debug)]
pub struct Service {
    /// The name in logs, metrics and traces, such as `order-service`.
    pub name: &'static str,
    /// The port it listens on unless `PORT` says otherwise.
    pub default_port: u16,
    /// Request headers of its own, in lowercase, that a browser's script may send (CORS), beyond the shared
    /// `Authorization`, `Content-Type`, `If-None-Match` and `X-Request-Id`.
    pub allow_headers: &'static [&'static str],
    /// Response headers of its own, in lowercase, that a browser's script may read (CORS), beyond the shared
    /// `X-Total-Count`, `Link`, `X-Request-Id`, `ETag` and `Retry-After`.
    pub expose_headers: &'static [&'static str],
    /// The OpenAPI document of its own routes. Built without state, so the binary can print the
    /// whole document (`--openapi`) and knows the paths it serves before it starts.
    pub openapi: fn() -> OpenApi,
}

impl Service {
    /// The first segments of every path the service serves (`/orders` for `/orders/{id}`), its
    /// own and the shared ones, which `METRICS_PATH` may not take.
    pub fn served_prefixes(&self) -> Vec<String> {
        let document = crate::http::service_openapi(self, "/");
        let mut prefixes: Vec<String> = document
            .paths
            .paths
            .keys()
            .map(|path| first_segment(path).to_owned())
            .chain(["/docs".to_owned(), "/openapi.json".to_owned()])
            .collect();
        prefixes.sort();
        prefixes.dedup();
        prefixes
    }

    /// The served prefix that `path` would shadow, if any: `path` is the prefix itself or lies
    /// below it (`/orders/metrics`), not merely starting with its letters (`/ordersmetrics`).
    pub fn shadowed_prefix(&self, path: &str) -> Option<String> {
        self.served_prefixes().into_iter().find(|prefix| {
            path.strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
    }
}

/// `/orders` of `/orders/{id}/cancel`.
fn first_segment(path: &str) -> &str {
    let end = path[1..].find('/').map_or(path.len(), |at| at + 1);
    &path[..end]
}

#[cfg(test)]
mod tests {
    use utoipa::openapi::{
        HttpMethod, OpenApiBuilder, PathItem, PathsBuilder, path::OperationBuilder,
    };

    use super::*;

    fn orders_document() -> OpenApi {
        let item = || PathItem::new(HttpMethod::Get, OperationBuilder::new().build());
        OpenApiBuilder::new()
            .paths(
                PathsBuilder::new()
                    .path("/orders", item())
                    .path("/orders/{id}/cancel", item()),
            )
            .build()
    }

    const ORDERS: Service = Service {
        name: "orders-only",
        default_port: 1,
        allow_headers: &[],
        expose_headers: &[],
        openapi: orders_document,
    };

    #[test]
    fn the_served_prefixes_come_from_the_document_and_the_shared_routes() {
        assert_eq!(
            ORDERS.served_prefixes(),
            ["/docs", "/health", "/openapi.json", "/orders"]
        );
    }

    #[test]
    fn a_path_shadows_a_prefix_only_at_a_segment_boundary() {
        for taken in [
            "/orders",
            "/orders/metrics",
            "/health/db",
            "/docs",
            "/openapi.json",
        ] {
            assert!(ORDERS.shadowed_prefix(taken).is_some(), "{taken}");
        }
        for free in [
            "/metrics",
            "/ordersmetrics",
            "/internal/metrics",
            "/products",
        ] {
            assert_eq!(ORDERS.shadowed_prefix(free), None, "{free}");
        }
    }
}
