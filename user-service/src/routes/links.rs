//! What the links mailed to account holders do: `POST /users/verify-email`,
//! `POST /users/password-reset` and `POST /users/password-reset/confirm`.

use axum::{extract::State, http::StatusCode};
use common_api::{
    ApiError, ApiResult,
    error::{ErrorBody, ValidationErrorBody},
    extract::JsonBody,
    openapi::{DbUnavailable, InvalidJson, JsonBodyErrors},
};

use super::{
    account_disabled,
    responses::{BusyOrDbUnavailable, RateLimitedError},
};
use crate::{
    AppState,
    accounts::LinkError,
    models::account::{ResetConfirm, ResetRequest, VerifyEmail},
};

/// Asks for a password-reset link. Answered 202 whether or not the email has an account, in the
/// same time: the link (single-use, valid `PASSWORD_RESET_MINUTES`) is mailed if it has one, and
/// voids any older link.
#[utoipa::path(post, path = "/users/password-reset", tag = "auth",
    request_body = ResetRequest,
    responses(
        (status = 202, description = "If the email has an account, a link is on its way"),
        (status = 422, description = "Not a valid email address", body = ValidationErrorBody),
        (status = 429, description = "Three requests for this email within 15 minutes, or too many requests from this client (`RATE_LIMITED`)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the next request is allowed"))),
        InvalidJson, JsonBodyErrors, DbUnavailable,
    ))]
pub(super) async fn request_reset(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ResetRequest>,
) -> ApiResult<StatusCode> {
    state.accounts.request_reset(&body.email).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Sets a new password with a reset link's token: the token is spent, every refresh token of the
/// account is revoked, and every access token issued before is refused everywhere.
#[utoipa::path(post, path = "/users/password-reset/confirm", tag = "auth",
    request_body = ResetConfirm,
    responses(
        (status = 204, description = "The password is set; sign in with it"),
        (status = 400, description = "A used, expired or unknown token (`INVALID_TOKEN`)", body = ErrorBody),
        (status = 403, description = "An admin disabled the account (`ACCOUNT_DISABLED`)", body = ErrorBody),
        (status = 422, description = "An empty token or one over 128 characters; a new password under 8 or over 72 bytes", body = ValidationErrorBody),
        InvalidJson, JsonBodyErrors, RateLimitedError, BusyOrDbUnavailable,
    ))]
pub(super) async fn confirm_reset(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ResetConfirm>,
) -> ApiResult<StatusCode> {
    state
        .accounts
        .confirm_reset(&body.token, body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Verifies an email with a verification link's token: the account's `email_verified` becomes
/// true, and its older access tokens are refused, so its clients refresh them and carry it.
#[utoipa::path(post, path = "/users/verify-email", tag = "auth",
    request_body = VerifyEmail,
    responses(
        (status = 204, description = "Verified"),
        (status = 400, description = "A used, expired or unknown token (`INVALID_TOKEN`)", body = ErrorBody),
        (status = 422, description = "An empty token or one over 128 characters", body = ValidationErrorBody),
        InvalidJson, JsonBodyErrors, RateLimitedError, DbUnavailable,
    ))]
pub(super) async fn verify_email(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<VerifyEmail>,
) -> ApiResult<StatusCode> {
    state.accounts.verify_email(&body.token).await?;
    Ok(StatusCode::NO_CONTENT)
}

impl From<LinkError> for ApiError {
    fn from(err: LinkError) -> Self {
        match err {
            LinkError::InvalidToken => ApiError::bad_request(
                "INVALID_TOKEN",
                "This link is used, expired or unknown; ask for a new one",
            ),
            LinkError::Disabled => account_disabled(),
            LinkError::Failed(failure) => failure.into(),
        }
    }
}
