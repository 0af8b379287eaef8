//! `GET /users/me`, `GET /users/{id}` and `GET /users`.

use axum::{
    Json,
    extract::{OriginalUri, State},
};
use common_api::{
    ApiError, ApiResult,
    auth::{AdminOnly, AuthUser, RequireRole},
    error::{ErrorBody, ValidationErrorBody},
    extract::{IdOf, JsonBody, PathId, QueryParams},
    openapi::{
        AdminOnlyErrors, AuthErrors, DbUnavailable, InvalidId, InvalidIdOrJson, JsonBodyErrors,
    },
    pagination::{Page, Paged},
};

use super::account_gone;
use crate::{
    AppState,
    accounts::AdminChangeError,
    models::{UserFilter, UserProfile, account::AdminUserChange},
    store::AdminChange,
};

/// What a user id in a path names: 400 `INVALID_ID` "Invalid user id" when it is malformed.
pub enum User {}

impl IdOf for User {
    const NAME: &'static str = "user";
}

/// The signed-in user's own account.
#[utoipa::path(get, path = "/users/me", tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's account", body = UserProfile),
        AuthErrors, DbUnavailable,
    ))]
pub(super) async fn get_me(
    State(state): State<AppState>,
    caller: AuthUser,
) -> ApiResult<Json<UserProfile>> {
    let user = state
        .accounts
        .user(caller.id)
        .await?
        .ok_or_else(account_gone)?;
    Ok(Json(user.into()))
}

/// One account: the user's own, or any for an admin.
#[utoipa::path(get, path = "/users/{id}", tag = "users",
    security(("bearer" = [])),
    params(PathId<User>),
    responses(
        (status = 200, description = "The account", body = UserProfile),
        (status = 403, description = "Another user's account (`FORBIDDEN`)", body = ErrorBody),
        (status = 404, description = "No such user (`USER_NOT_FOUND`)", body = ErrorBody),
        InvalidId, AuthErrors, DbUnavailable,
    ))]
pub(super) async fn get_user(
    State(state): State<AppState>,
    caller: AuthUser,
    id: PathId<User>,
) -> ApiResult<Json<UserProfile>> {
    if !caller.may_act_for(id.get()) {
        return Err(ApiError::forbidden("You may only see your own account"));
    }
    let user = state
        .accounts
        .user(id.get())
        .await?
        .ok_or_else(|| ApiError::not_found("USER_NOT_FOUND", "User not found"))?;
    Ok(Json(user.into()))
}

/// Changes an account's role or standing (admins only). Its access tokens issued before are
/// refused on every service within about a second, so the client refreshes and gets the new role,
/// or, disabled, is refused (its refresh tokens are revoked too).
#[utoipa::path(patch, path = "/users/{id}", tag = "users",
    security(("bearer" = [])),
    params(PathId<User>),
    request_body = AdminUserChange,
    responses(
        (status = 200, description = "The account after the change", body = UserProfile),
        (status = 403, description = "Not an admin, the caller's own account, or the last enabled admin demoted or disabled (`FORBIDDEN`)", body = ErrorBody),
        (status = 404, description = "No such user (`USER_NOT_FOUND`)", body = ErrorBody),
        (status = 422, description = "An unknown role, a `disabled` that is not a boolean, or neither field", body = ValidationErrorBody),
        InvalidIdOrJson, JsonBodyErrors, AuthErrors, AdminOnlyErrors, DbUnavailable,
    ))]
pub(super) async fn change_user(
    State(state): State<AppState>,
    RequireRole { user: admin, .. }: RequireRole<AdminOnly>,
    id: PathId<User>,
    JsonBody(body): JsonBody<AdminUserChange>,
) -> ApiResult<Json<UserProfile>> {
    let change = AdminChange {
        role: body.role,
        disabled: body.disabled,
    };
    let user = state
        .accounts
        .change_account(admin.id, id.get(), change)
        .await?;
    Ok(Json(user.into()))
}

impl From<AdminChangeError> for ApiError {
    fn from(err: AdminChangeError) -> Self {
        match err {
            AdminChangeError::NotFound => ApiError::not_found("USER_NOT_FOUND", "User not found"),
            AdminChangeError::OnSelf => {
                ApiError::forbidden("An admin cannot change their own role or standing")
            }
            AdminChangeError::LastAdmin => ApiError::forbidden(
                "The last enabled admin cannot be demoted or disabled; make another admin first",
            ),
            AdminChangeError::Failed(failure) => failure.into(),
        }
    }
}

/// All accounts, oldest first (admins only).
#[utoipa::path(get, path = "/users", tag = "users",
    security(("bearer" = [])),
    params(UserFilter, Page),
    responses(
        (status = 200, description = "One page of accounts", body = [UserProfile],
            headers(
                ("X-Total-Count" = u64, description = "How many accounts match"),
                ("Link" = String, description = "RFC 8288 links to the next and previous pages"),
            )),
        (status = 422, description = "`limit` outside 1–1000 or negative `offset`", body = ValidationErrorBody),
        AuthErrors, AdminOnlyErrors, DbUnavailable,
    ))]
pub(super) async fn list_users(
    State(state): State<AppState>,
    _admin: RequireRole<AdminOnly>,
    QueryParams(filter): QueryParams<UserFilter>,
    QueryParams(page): QueryParams<Page>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Paged<UserProfile>> {
    let (users, total) = state.accounts.list(filter.email.as_deref(), page).await?;
    let users = users.into_iter().map(UserProfile::from).collect();
    Ok(Paged::new(users, total, page, uri))
}
