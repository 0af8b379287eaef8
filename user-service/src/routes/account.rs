//! The caller's own account: `PATCH /users/me`, `POST /users/me/password`, `DELETE /users/me`
//! and `POST /users/me/verify-email`.

use axum::{Json, extract::State, http::StatusCode};
use common_api::{
    ApiError, ApiResult,
    auth::AuthUser,
    error::{ErrorBody, ValidationErrorBody},
    extract::JsonBody,
    openapi::{AuthErrors, DbUnavailable, InvalidJson, JsonBodyErrors},
};

use super::{account_gone, responses::BusyOrDbUnavailable};
use crate::{
    AppState,
    accounts::{MailRequestError, ProfileError},
    models::{
        UserProfile,
        account::{ChangePassword, CloseAccount, UpdateProfile},
    },
};

/// Changes the caller's name.
#[utoipa::path(patch, path = "/users/me", tag = "users",
    security(("bearer" = [])),
    request_body = UpdateProfile,
    responses(
        (status = 200, description = "The caller's account after the change", body = UserProfile),
        (status = 422, description = "A name over 100 characters, or none", body = ValidationErrorBody),
        InvalidJson, JsonBodyErrors, AuthErrors, DbUnavailable,
    ))]
pub(super) async fn update_me(
    State(state): State<AppState>,
    caller: AuthUser,
    JsonBody(body): JsonBody<UpdateProfile>,
) -> ApiResult<Json<UserProfile>> {
    let user = state.accounts.rename(caller.id, body.name.trim()).await?;
    Ok(Json(user.into()))
}

/// Changes the caller's password: every refresh token of the account is revoked, and every access
/// token issued before (this one too) is refused on every service within about a second.
#[utoipa::path(post, path = "/users/me/password", tag = "users",
    security(("bearer" = [])),
    request_body = ChangePassword,
    responses(
        (status = 204, description = "Changed; sign in again with the new password"),
        (status = 401, description = "A missing, invalid or revoked token (`UNAUTHORIZED`), or a wrong `current_password` (`INVALID_CREDENTIALS`, counted as a failed login)", body = ErrorBody),
        (status = 422, description = "A new password under 8 or over 72 bytes", body = ValidationErrorBody),
        (status = 429, description = "5 wrong passwords for this account within 15 minutes (`TOO_MANY_ATTEMPTS`), or too many requests from this client (`RATE_LIMITED`)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the next attempt is allowed"))),
        InvalidJson, JsonBodyErrors, BusyOrDbUnavailable,
    ))]
pub(super) async fn change_password(
    State(state): State<AppState>,
    caller: AuthUser,
    JsonBody(body): JsonBody<ChangePassword>,
) -> ApiResult<StatusCode> {
    state
        .sessions
        .change_password(caller.id, body.current_password, body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Closes the caller's account: it is removed (its email may register again), its tokens stop
/// working everywhere, and `user.deleted` is recorded; its orders stay for the shop's books.
#[utoipa::path(delete, path = "/users/me", tag = "users",
    security(("bearer" = [])),
    request_body = CloseAccount,
    responses(
        (status = 204, description = "Closed"),
        (status = 401, description = "A missing, invalid or revoked token (`UNAUTHORIZED`), or a wrong `password` (`INVALID_CREDENTIALS`, counted as a failed login)", body = ErrorBody),
        (status = 422, description = "A missing `password`", body = ValidationErrorBody),
        (status = 429, description = "5 wrong passwords for this account within 15 minutes (`TOO_MANY_ATTEMPTS`)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the next attempt is allowed"))),
        InvalidJson, JsonBodyErrors, BusyOrDbUnavailable,
    ))]
pub(super) async fn close_me(
    State(state): State<AppState>,
    caller: AuthUser,
    JsonBody(body): JsonBody<CloseAccount>,
) -> ApiResult<StatusCode> {
    state
        .sessions
        .close_account(caller.id, body.password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mails the caller a new verification link (the older one stops working); nothing is sent when
/// the email is verified already.
#[utoipa::path(post, path = "/users/me/verify-email", tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 202, description = "A new link is on its way (or the email is verified already)"),
        (status = 429, description = "Three links within an hour for this account (`RATE_LIMITED`), or too many requests from this client", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the next request is allowed"))),
        AuthErrors, DbUnavailable,
    ))]
pub(super) async fn resend_verification(
    State(state): State<AppState>,
    caller: AuthUser,
) -> ApiResult<StatusCode> {
    state.accounts.resend_verification(caller.id).await?;
    Ok(StatusCode::ACCEPTED)
}

impl From<ProfileError> for ApiError {
    fn from(err: ProfileError) -> Self {
        match err {
            ProfileError::Gone => account_gone(),
            ProfileError::Failed(failure) => failure.into(),
        }
    }
}

impl From<MailRequestError> for ApiError {
    fn from(err: MailRequestError) -> Self {
        match err {
            MailRequestError::Limited { retry_after_secs } => {
                ApiError::RateLimited { retry_after_secs }
            }
            MailRequestError::Gone => account_gone(),
            MailRequestError::Failed(failure) => failure.into(),
        }
    }
}
