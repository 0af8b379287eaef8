//! `POST /users/login`, `POST /users/token` (the OAuth2 password grant), `POST /users/refresh`
//! and `POST /users/logout`.

use axum::{Json, extract::State, http::StatusCode};
use common_api::{
    ApiError, ApiResult,
    error::{ErrorBody, ValidationErrorBody},
    extract::{FormBody, JsonBody},
    openapi::{DbUnavailable, FormBodyErrors, InvalidJson, JsonBodyErrors},
};

use super::{
    account_disabled, account_gone,
    responses::{BusyOrDbUnavailable, RateLimitedError},
};
use crate::{
    AppState,
    accounts::{LoginError, LogoutError, RefreshError},
    models::{AccessTokenResponse, LoginRequest, RefreshRequest, TokenRequest, TokenResponse},
};

/// Exchanges email and password for an access token and a refresh token.
#[utoipa::path(post, path = "/users/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 401, description = "Unknown email or wrong password (`INVALID_CREDENTIALS`)", body = ErrorBody),
        (status = 403, description = "The password is right, but an admin disabled the account (`ACCOUNT_DISABLED`)", body = ErrorBody),
        (status = 422, description = "Missing fields", body = ValidationErrorBody),
        (status = 429, description = "5 wrong passwords for this email (in any spelling of its mailbox) within 15 minutes (`TOO_MANY_ATTEMPTS`): only wrong passwords count, and a right one is refused only while the limit is full. Or too many requests from this client (IP address) (`RATE_LIMITED`), see `RATE_LIMIT_PER_MINUTE` and `RATE_LIMIT_BURST`", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the next attempt is allowed"))),
        InvalidJson, JsonBodyErrors, BusyOrDbUnavailable,
    ))]
pub(super) async fn login(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<LoginRequest>,
) -> ApiResult<Json<TokenResponse>> {
    let signed_in = state.sessions.login(&body.email, body.password).await?;
    Ok(Json(signed_in.into()))
}

/// The OAuth2 password grant (RFC 6749 §4.3), as Swagger UI's "Authorize" sends it: a form with
/// `username` (the email) and `password`. Checked exactly as `POST /users/login` is, under the
/// same limits; answers an access token only (no refresh token: a client that wants one logs in).
#[utoipa::path(post, path = "/users/token", tag = "auth",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Signed in", body = AccessTokenResponse),
        (status = 401, description = "Unknown email or wrong password (`INVALID_CREDENTIALS`)", body = ErrorBody),
        (status = 403, description = "The password is right, but an admin disabled the account (`ACCOUNT_DISABLED`)", body = ErrorBody),
        (status = 422, description = "A missing `username` or `password`, or a `grant_type` other than `password`", body = ValidationErrorBody),
        (status = 429, description = "As for `POST /users/login`: 5 wrong passwords for this email within 15 minutes (`TOO_MANY_ATTEMPTS`), or too many requests from this client (`RATE_LIMITED`)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the next attempt is allowed"))),
        FormBodyErrors, BusyOrDbUnavailable,
    ))]
pub(super) async fn token(
    State(state): State<AppState>,
    FormBody(form): FormBody<TokenRequest>,
) -> ApiResult<Json<AccessTokenResponse>> {
    let access = state.sessions.grant(&form.username, form.password).await?;
    Ok(Json(access.into()))
}

/// Spends a refresh token for a new pair of tokens.
#[utoipa::path(post, path = "/users/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens; the presented refresh token is spent", body = TokenResponse),
        (status = 401, description = "Unknown, expired or spent refresh token (`UNAUTHORIZED`); a spent one also revokes all the user's refresh tokens", body = ErrorBody),
        (status = 403, description = "An admin disabled the account (`ACCOUNT_DISABLED`)", body = ErrorBody),
        (status = 422, description = "Missing `refresh_token`", body = ValidationErrorBody),
        InvalidJson, JsonBodyErrors, RateLimitedError, DbUnavailable,
    ))]
pub(super) async fn refresh_tokens(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RefreshRequest>,
) -> ApiResult<Json<TokenResponse>> {
    let signed_in = state.sessions.refresh(&body.refresh_token).await?;
    Ok(Json(signed_in.into()))
}

/// Revokes a refresh token.
#[utoipa::path(post, path = "/users/logout", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "The refresh token no longer works"),
        (status = 401, description = "Unknown, expired or spent refresh token (`UNAUTHORIZED`)", body = ErrorBody),
        (status = 422, description = "Missing `refresh_token`", body = ValidationErrorBody),
        InvalidJson, JsonBodyErrors, DbUnavailable,
    ))]
pub(super) async fn logout(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RefreshRequest>,
) -> ApiResult<StatusCode> {
    state.sessions.logout(&body.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The 401 of a refresh token that is unknown, expired or spent.
fn invalid_refresh_token() -> ApiError {
    ApiError::unauthorized("Invalid or expired refresh token")
}

impl From<LoginError> for ApiError {
    fn from(err: LoginError) -> Self {
        match err {
            LoginError::InvalidCredentials => ApiError::client(
                StatusCode::UNAUTHORIZED,
                "INVALID_CREDENTIALS",
                "Invalid credentials",
            ),
            LoginError::TooManyAttempts { retry_after_secs } => {
                ApiError::TooManyAttempts { retry_after_secs }
            }
            LoginError::Disabled => account_disabled(),
            LoginError::Failed(failure) => failure.into(),
        }
    }
}

impl From<RefreshError> for ApiError {
    fn from(err: RefreshError) -> Self {
        match err {
            RefreshError::Invalid => invalid_refresh_token(),
            RefreshError::Reused { .. } => {
                ApiError::unauthorized("This refresh token was already used; sign in again")
            }
            RefreshError::AccountGone => account_gone(),
            RefreshError::Disabled => account_disabled(),
            RefreshError::Failed(failure) => failure.into(),
        }
    }
}

impl From<LogoutError> for ApiError {
    fn from(err: LogoutError) -> Self {
        match err {
            LogoutError::Invalid => invalid_refresh_token(),
            LogoutError::Failed(failure) => failure.into(),
        }
    }
}
