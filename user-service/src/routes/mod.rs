//! The user service's HTTP layer: extract the request, call [`Accounts`](crate::accounts::Accounts)
//! or [`Sessions`](crate::accounts::Sessions), map their typed errors to the contract's
//! [`ApiError`]s. One file per resource: [`registration`], [`sessions`] (login, the password
//! grant, refresh, logout), [`users`] (reading accounts, an admin's changes), [`account`] (the
//! caller's own: name, password, closing, a new verification mail), [`links`] (what the mailed
//! links do: verify an email, reset a password).

mod account;
mod links;
mod registration;
mod responses;
mod sessions;
mod users;

use axum::{
    extract::{Request, State},
    middleware::{self, Next},
    response::Response,
};
use common_api::ApiError;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{AppState, accounts::Failure, limits::ClientLimits, store::StoreError};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "User service",
        description = "Registration, login with JWT access and refresh tokens, and roles."
    ),
    tags(
        (name = "auth", description = "Registration, login and tokens"),
        (name = "users", description = "Accounts"),
        (name = "health", description = "Liveness and database health"),
    )
)]
struct ApiDoc;

/// The service's own routes, limited per client, with their OpenAPI description.
pub fn router(state: AppState) -> OpenApiRouter {
    // Limited before the body is read, so a refused request costs next to nothing.
    let limits = state.client_limits.clone();
    routes(|limited| limited.route_layer(middleware::from_fn_with_state(limits, limit_per_client)))
        .with_state(state)
}

/// The OpenAPI document of the service's own routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes(|limited| limited).into_openapi()
}

/// The routes, those with a per-client limit passed through `limit`.
fn routes(
    limit: impl FnOnce(OpenApiRouter<AppState>) -> OpenApiRouter<AppState>,
) -> OpenApiRouter<AppState> {
    let limited = OpenApiRouter::new()
        .routes(routes!(registration::register_user))
        .routes(routes!(sessions::login))
        .routes(routes!(sessions::token))
        .routes(routes!(sessions::refresh_tokens))
        .routes(routes!(account::change_password))
        .routes(routes!(account::resend_verification))
        .routes(routes!(links::request_reset))
        .routes(routes!(links::confirm_reset))
        .routes(routes!(links::verify_email));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(limit(limited))
        .routes(routes!(sessions::logout))
        .routes(routes!(
            users::get_me,
            account::update_me,
            account::close_me
        ))
        .routes(routes!(users::get_user, users::change_user))
        .routes(routes!(users::list_users))
}

/// Middleware for the rate-limited routes: answers 429 `RATE_LIMITED` past a client's limit.
async fn limit_per_client(
    State(limits): State<ClientLimits>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let client = limits.client_of(&request);
    if let Err(limited) = limits.check(client) {
        tracing::warn!(%client, path = request.uri().path(), "client rate limited");
        return Err(ApiError::RateLimited {
            retry_after_secs: limited.retry_after_secs,
        });
    }
    Ok(next.run(request).await)
}

/// The 403 of an account an admin disabled.
fn account_disabled() -> ApiError {
    ApiError::client(
        axum::http::StatusCode::FORBIDDEN,
        "ACCOUNT_DISABLED",
        "This account is disabled",
    )
}

/// The 401 of a valid token whose account is gone.
fn account_gone() -> ApiError {
    ApiError::unauthorized("The account no longer exists")
}

/// 503 `OVERLOADED` with `Retry-After`, 503 `DB_UNAVAILABLE` while the database is out of reach,
/// 500 otherwise.
impl From<Failure> for ApiError {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Overloaded { retry_after_secs } => ApiError::Overloaded { retry_after_secs },
            Failure::Store(StoreError::Db(err)) => err.into(),
            Failure::Store(random @ StoreError::Random(_)) => ApiError::internal(random),
            Failure::Internal(err) => ApiError::internal(err),
        }
    }
}
