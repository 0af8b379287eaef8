//! What every service's router gets: health routes, Swagger UI and the OpenAPI document, 404 and
//! 405 in the contract's error shape, and the shared layers (panic guard, request id, tracing span,
//! CORS, request timeout, body limit).

mod health;
mod layers;

use std::time::Duration;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::{HeaderName, Method, header},
    middleware::{self},
    routing::get,
};
use mongodb::Database;
use tower_http::{
    catch_panic::CatchPanicLayer,
    cors::{AllowOrigin, CorsLayer},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::{DefaultOnResponse, TraceLayer},
};
use tracing::Level;
use utoipa::{
    IntoResponses as _, OpenApi as _,
    openapi::{
        OpenApi,
        path::Operation,
        security::{
            Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityRequirement,
            SecurityScheme,
        },
    },
};
use utoipa_axum::{router::OpenApiRouter, routes};
use utoipa_swagger_ui::SwaggerUi;

use common_api::{
    extract::BODY_LIMIT_BYTES,
    openapi::{BEARER_SCHEME, BodyTimeout, DbUnavailable, ErrorSchemas, OAUTH2_SCHEME},
};

use crate::{
    config::{Config, CorsOrigins},
    deadline::{self, DbGate},
    service::Service,
};

pub use self::health::{DbHealth, DbHealthError, Health};
use self::layers::{
    close_after_unread_body, enforce_timeout, error_bodies_in_contract_shape, method_not_allowed,
    panic_response, request_span, route_not_found,
};

pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The paged lists' total, exposed with the `Link` header for every service's lists.
const X_TOTAL_COUNT: HeaderName = HeaderName::from_static("x-total-count");

/// Finishes `service`'s router from its own `routes`: adds `/health`, `/health/db`, `/docs` and
/// `/openapi.json`, answers unknown routes and methods in the error shape, and wraps everything in
/// the shared layers.
pub fn service_router(
    service: &Service,
    routes: OpenApiRouter,
    config: &Config,
    db: Database,
) -> Router {
    let gate = DbGate::new(db);
    // Every route of the service is bounded by the database deadline; health and docs are not
    // (`/health/db` is bounded by its own ping, and is how an operator sees the outage).
    let routes = routes.layer(middleware::from_fn_with_state(
        gate.clone(),
        deadline::guard,
    ));
    let (routes, own) = routes.split_for_parts();
    let openapi = complete_openapi(own, &config.oauth2_token_url);
    // `/health/db` pings through the gate, so its answer also opens or closes it.
    let router = routes.merge(Router::from(health_routes()).with_state(gate));

    let router = match &config.metrics_path {
        Some(path) => {
            crate::metrics::install("unnamed");
            router.route(path, get(crate::metrics::render))
        }
        None => router,
    };
    router
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi))
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(middleware::from_fn(error_bodies_in_contract_shape))
        .layer(middleware::from_fn_with_state(
            config.request_timeout,
            enforce_timeout,
        ))
        .layer(cors(&config.cors_origins, service))
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(DefaultOnResponse::new().level(Level::INFO))
                .on_failure(()),
        )
        .layer(middleware::from_fn(close_after_unread_body))
        .layer(middleware::from_fn(crate::metrics::track))
        .layer(SetRequestIdLayer::new(X_REQUEST_ID, MakeRequestUuid))
        .layer(CatchPanicLayer::custom(panic_response))
}

/// The whole OpenAPI document `service` serves at `/openapi.json`, with `token_url` as the OAuth2
/// password flow's `tokenUrl`.
pub fn service_openapi(service: &Service, token_url: &str) -> OpenApi {
    complete_openapi((service.openapi)(), token_url)
}

/// A service's own document, completed with what the shared router adds.
fn complete_openapi(mut openapi: OpenApi, token_url: &str) -> OpenApi {
    document_layer_responses(&mut openapi);
    openapi.merge(health_routes().into_openapi());
    declare_bearer_auth(&mut openapi, token_url);
    openapi.merge(ErrorSchemas::openapi());
    openapi
}

fn health_routes() -> OpenApiRouter<DbGate> {
    OpenApiRouter::new()
        .routes(routes!(health::health))
        .routes(routes!(health::health_db))
}

/// Adds to every operation what the layers in front of any service route can answer: 503 (the
/// database deadline and gate) and, for an operation with a request body, 408 (a body that does
/// not arrive in time). A route that describes one of these itself keeps its description.
fn document_layer_responses(openapi: &mut OpenApi) {
    for operation in operations(openapi) {
        let mut answers = DbUnavailable::responses();
        if operation.request_body.is_some() {
            answers.extend(BodyTimeout::responses());
        }
        for (status, response) in answers {
            operation
                .responses
                .responses
                .entry(status)
                .or_insert(response);
        }
    }
}

/// Every operation of the document, whatever its method.
fn operations(openapi: &mut OpenApi) -> impl Iterator<Item = &mut Operation> {
    openapi.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
    })
}

/// Declares how protected routes are called: a bearer token pasted as it is (`bearer`), or one
/// that Swagger UI's "Authorize" gets itself from the user service's `POST /users/token` with an
/// email and a password (`oauth2`, the password flow at `token_url`), as FastAPI's docs do. Every
/// operation that asks for `bearer` accepts either.
fn declare_bearer_auth(openapi: &mut OpenApi, token_url: &str) {
    let components = openapi.components.get_or_insert_default();
    components.add_security_scheme(
        BEARER_SCHEME,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some("An access token from POST /users/login"))
                .build(),
        ),
    );
    components.add_security_scheme(
        OAUTH2_SCHEME,
        SecurityScheme::OAuth2(OAuth2::with_description(
            [Flow::Password(Password::new(token_url, Scopes::new()))],
            "Sign in with your email (as the username) and password",
        )),
    );
    for operation in operations(openapi) {
        if let Some(security) = operation.security.as_mut().filter(|s| !s.is_empty()) {
            security.push(SecurityRequirement::new(
                OAUTH2_SCHEME,
                Vec::<String>::new(),
            ));
        }
    }
}

/// The CORS layer: the shared headers, and those `service` names as its own. A header the
/// browser is not told about is invisible to a web shop's script.
fn cors(origins: &CorsOrigins, service: &Service) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers(
            [
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                // A script that revalidates what it fetched (the product images) gets 304.
                header::IF_NONE_MATCH,
                X_REQUEST_ID,
            ]
            .into_iter()
            .chain(
                service
                    .allow_headers
                    .iter()
                    .map(|name| HeaderName::from_static(name)),
            )
            .collect::<Vec<_>>(),
        )
        .expose_headers(
            [
                X_TOTAL_COUNT,
                header::LINK,
                X_REQUEST_ID,
                header::ETAG,
                // 429 and 503 say when to try again.
                header::RETRY_AFTER,
            ]
            .into_iter()
            .chain(
                service
                    .expose_headers
                    .iter()
                    .map(|name| HeaderName::from_static(name)),
            )
            .collect::<Vec<_>>(),
        )
        .max_age(Duration::from_secs(3600));
    match origins {
        CorsOrigins::Any => layer.allow_origin(AllowOrigin::any()),
        CorsOrigins::List(list) => layer.allow_origin(list.clone()),
    }
}
