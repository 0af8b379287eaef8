//! `POST /users/register`.

use axum::{Json, extract::State};
use common_api::{
    ApiError, ApiResult,
    error::{ErrorBody, FieldError, Loc, ValidationErrorBody},
    extract::JsonBody,
    openapi::{InvalidJson, JsonBodyErrors},
};

use super::responses::{BusyOrDbUnavailable, RateLimitedError};
use crate::{
    AppState,
    accounts::{NewAccount, RegisterError},
    models::{RegisterRequest, RegisteredUser},
};

/// Creates an account (`buyer` unless `seller` is asked for).
#[utoipa::path(post, path = "/users/register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 200, description = "The account was created", body = RegisteredUser),
        (status = 403, description = "`role: admin` cannot be registered (`FORBIDDEN`)", body = ErrorBody),
        (status = 409, description = "The email is taken (`EMAIL_TAKEN`)", body = ErrorBody),
        (status = 422, description = "Invalid email (quoted or non-ASCII local parts are refused; the email is stored normalised: NFKC, lowercased, the domain in punycode), password (8–72 bytes), name (≤ 100) or role", body = ValidationErrorBody),
        InvalidJson, JsonBodyErrors, RateLimitedError, BusyOrDbUnavailable,
    ))]
pub(super) async fn register_user(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RegisterRequest>,
) -> ApiResult<Json<RegisteredUser>> {
    let account = NewAccount {
        email: body.email,
        password: body.password,
        name: body.name,
        role: body.role,
        verified: false,
    };
    let user = state.accounts.register(account).await?;
    Ok(Json(RegisteredUser::from(&user)))
}

impl From<RegisterError> for ApiError {
    fn from(err: RegisterError) -> Self {
        match err {
            RegisterError::AdminForbidden => ApiError::forbidden(
                "Admin accounts cannot be registered; an admin must grant the role",
            ),
            RegisterError::EmailTaken => {
                ApiError::conflict("EMAIL_TAKEN", "An account with this email already exists")
            }
            RegisterError::InvalidEmail(err) => ApiError::Validation(vec![FieldError::new(
                ["body", "email"].map(Loc::from),
                err.to_string(),
                "value_error",
            )]),
            RegisterError::Failed(failure) => failure.into(),
        }
    }
}
