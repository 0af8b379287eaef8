//! The user service's HTTP handlers and their OpenAPI descriptions.

use axum::{
    Json,
    extract::{OriginalUri, Path, State},
    http::StatusCode,
    middleware,
};
use common_api::{
    ApiError, ApiResult,
    auth::{AdminOnly, AuthUser, RequireRole, Role},
    error::{ErrorBody, ValidationErrorBody},
    extract::{FormBody, JsonBody, QueryParams, parse_id},
    openapi::{
        AdminOnlyErrors, AuthErrors, DbUnavailable, FormBodyErrors, InvalidId, InvalidJson,
        JsonBodyErrors,
    },
    pagination::{Page, Paged},
};
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    AppState,
    accounts::{Creation, NewAccount, create_account},
    email::{login_key, normalize_email},
    limits::{BusyOrDbUnavailable, RateLimitedError, limit_per_client},
    models::{
        AccessTokenResponse, LoginRequest, RefreshRequest, RegisterRequest, RegisteredUser,
        TokenRequest, TokenResponse, UserFilter, UserProfile,
    },
    store::{FailureRecord, LoginLimit, RefreshOutcome, UserDoc},
};

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

/// The service's own routes with their OpenAPI description.
pub fn router(state: AppState) -> OpenApiRouter {
    // Limited before the body is read, so a refused request costs next to nothing.
    let limited = OpenApiRouter::new()
        .routes(routes!(register_user))
        .routes(routes!(login))
        .routes(routes!(token))
        .routes(routes!(refresh_tokens))
        .route_layer(middleware::from_fn_with_state(
            state.client_limits.clone(),
            limit_per_client,
        ));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(limited)
        .routes(routes!(logout))
        .routes(routes!(get_me))
        .routes(routes!(get_user))
        .routes(routes!(list_users))
        .with_state(state)
}

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
async fn register_user(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RegisterRequest>,
) -> ApiResult<Json<RegisteredUser>> {
    if body.role == Role::Admin {
        return Err(ApiError::forbidden(
            "Admin accounts cannot be registered; an admin must grant the role",
        ));
    }
    let account = NewAccount {
        email: body.email,
        password: body.password,
        name: body.name,
        role: body.role,
    };
    let user = match create_account(&state, account).await? {
        Creation::Created(user) => user,
        Creation::EmailTaken => {
            return Err(ApiError::conflict(
                "EMAIL_TAKEN",
                "An account with this email already exists",
            ));
        }
    };
    tracing::info!(user_id = %user.id, role = user.role.as_str(), "account registered");
    metrics::counter!("users_registered_total").increment(1);
    Ok(Json(RegisteredUser::from(&user)))
}

/// Exchanges email and password for an access token and a refresh token.
#[utoipa::path(post, path = "/users/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 401, description = "Unknown email or wrong password (`INVALID_CREDENTIALS`)", body = ErrorBody),
        (status = 422, description = "Missing fields", body = ValidationErrorBody),
        (status = 429, description = "5 wrong passwords for this email (in any spelling of its mailbox) within 15 minutes (`TOO_MANY_ATTEMPTS`): only wrong passwords count, and a right one is refused only while the limit is full. Or too many requests from this client (IP address) (`RATE_LIMITED`), see `RATE_LIMIT_PER_MINUTE` and `RATE_LIMIT_BURST`", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the next attempt is allowed"))),
        InvalidJson, JsonBodyErrors, BusyOrDbUnavailable,
    ))]
async fn login(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<LoginRequest>,
) -> ApiResult<Json<TokenResponse>> {
    let user = check_credentials(&state, body).await?;
    issue_tokens(&state, &user).await
}

/// The OAuth2 password grant (RFC 6749 §4.3), as Swagger UI's "Authorize" sends it: a form with
/// `username` (the email) and `password`. Checked exactly as `POST /users/login` is, under the
/// same limits; answers an access token only (no refresh token: a client that wants one logs in).
#[utoipa::path(post, path = "/users/token", tag = "auth",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Signed in", body = AccessTokenResponse),
        (status = 401, description = "Unknown email or wrong password (`INVALID_CREDENTIALS`)", body = ErrorBody),
        (status = 422, description = "A missing `username` or `password`, or a `grant_type` other than `password`", body = ValidationErrorBody),
        (status = 429, description = "As for `POST /users/login`: 5 wrong passwords for this email within 15 minutes (`TOO_MANY_ATTEMPTS`), or too many requests from this client (`RATE_LIMITED`)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the next attempt is allowed"))),
        FormBodyErrors, BusyOrDbUnavailable,
    ))]
async fn token(
    State(state): State<AppState>,
    FormBody(form): FormBody<TokenRequest>,
) -> ApiResult<Json<AccessTokenResponse>> {
    let credentials = LoginRequest {
        email: form.username,
        password: form.password,
    };
    let user = check_credentials(&state, credentials).await?;
    let access = state.keys.issue_access(user.id, user.role)?;
    Ok(Json(AccessTokenResponse {
        access_token: access.token,
        token_type: "bearer",
        expires_in: access.expires_in,
    }))
}

/// The account whose email and password these are, under the failed-login limit; counted in
/// `logins_total{outcome}` as `ok`, `failed` (401) or `limited` (429 `TOO_MANY_ATTEMPTS`).
async fn check_credentials(state: &AppState, body: LoginRequest) -> ApiResult<UserDoc> {
    let checked = check_credentials_uncounted(state, body).await;
    let outcome = match &checked {
        Ok(_) => Some("ok"),
        Err(ApiError::TooManyAttempts { .. }) => Some("limited"),
        Err(err) if err.code() == "INVALID_CREDENTIALS" => Some("failed"),
        Err(_) => None,
    };
    if let Some(outcome) = outcome {
        metrics::counter!("logins_total", "outcome" => outcome).increment(1);
    }
    checked
}

async fn check_credentials_uncounted(state: &AppState, body: LoginRequest) -> ApiResult<UserDoc> {
    // The limit is keyed by the normal form, so every spelling of a mailbox shares one count.
    let key = login_key(&body.email);
    if let LoginLimit::Blocked { retry_after_secs } = state.login_attempts.check(&key).await? {
        return Err(too_many_failures(retry_after_secs));
    }
    // An email without a normal form is no account's, and is verified against the dummy hash.
    let user = match normalize_email(&body.email) {
        Ok(email) => state.users.find_by_email(&email).await?,
        Err(_) => None,
    };
    let password_hash = user.as_ref().map(|user| &user.password_hash);
    // Nothing is recorded before the outcome is known, so a request dropped during bcrypt
    // leaves no trace; the detached hash work only finishes and is discarded.
    let valid = state.passwords.verify(body.password, password_hash).await?;
    match user.filter(|_| valid) {
        Some(user) => {
            // Concurrent wrong guesses may have filled the limit while this one was verified;
            // then this verdict is withheld too, so racing cannot test more than five guesses.
            if let LoginLimit::Blocked { retry_after_secs } =
                state.login_attempts.check(&key).await?
            {
                return Err(too_many_failures(retry_after_secs));
            }
            Ok(user)
        }
        None => match state.login_attempts.record_failure(&key).await? {
            FailureRecord::Counted => Err(ApiError::client(
                StatusCode::UNAUTHORIZED,
                "INVALID_CREDENTIALS",
                "Invalid credentials",
            )),
            FailureRecord::Blocked { retry_after_secs } => Err(too_many_failures(retry_after_secs)),
        },
    }
}

/// 429 `TOO_MANY_ATTEMPTS` for an email whose failures fill the limit.
fn too_many_failures(retry_after_secs: u64) -> ApiError {
    tracing::warn!("login refused: too many failed attempts for one email");
    ApiError::TooManyAttempts { retry_after_secs }
}

/// Spends a refresh token for a new pair of tokens.
#[utoipa::path(post, path = "/users/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens; the presented refresh token is spent", body = TokenResponse),
        (status = 401, description = "Unknown, expired or spent refresh token (`UNAUTHORIZED`); a spent one also revokes all the user's refresh tokens", body = ErrorBody),
        (status = 422, description = "Missing `refresh_token`", body = ValidationErrorBody),
        InvalidJson, JsonBodyErrors, RateLimitedError, DbUnavailable,
    ))]
async fn refresh_tokens(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RefreshRequest>,
) -> ApiResult<Json<TokenResponse>> {
    match state.refresh_tokens.rotate(&body.refresh_token).await? {
        RefreshOutcome::Rotated { user_id, successor } => {
            let user = state
                .users
                .find_by_id(user_id)
                .await?
                .ok_or_else(|| ApiError::unauthorized("The account no longer exists"))?;
            token_pair(&state, &user, successor)
        }
        RefreshOutcome::ReuseDetected(user_id) => {
            tracing::warn!(%user_id, "a spent refresh token was presented again; revoked all refresh tokens of the user");
            Err(ApiError::unauthorized(
                "This refresh token was already used; sign in again",
            ))
        }
        RefreshOutcome::Invalid => Err(ApiError::unauthorized("Invalid or expired refresh token")),
    }
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
async fn logout(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RefreshRequest>,
) -> ApiResult<StatusCode> {
    if state.refresh_tokens.revoke(&body.refresh_token).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::unauthorized("Invalid or expired refresh token"))
    }
}

/// The signed-in user's own account.
#[utoipa::path(get, path = "/users/me", tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's account", body = UserProfile),
        AuthErrors, DbUnavailable,
    ))]
async fn get_me(State(state): State<AppState>, caller: AuthUser) -> ApiResult<Json<UserProfile>> {
    let user = state
        .users
        .find_by_id(caller.id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("The account no longer exists"))?;
    Ok(Json(user.into()))
}

/// One account: the user's own, or any for an admin.
#[utoipa::path(get, path = "/users/{id}", tag = "users",
    security(("bearer" = [])),
    params(("id" = String, Path, pattern = "^[0-9a-fA-F]{24}$", description = "The user's id (24 hex characters)")),
    responses(
        (status = 200, description = "The account", body = UserProfile),
        (status = 403, description = "Another user's account (`FORBIDDEN`)", body = ErrorBody),
        (status = 404, description = "No such user (`USER_NOT_FOUND`)", body = ErrorBody),
        InvalidId, AuthErrors, DbUnavailable,
    ))]
async fn get_user(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<UserProfile>> {
    let id = parse_id(&id, "user")?;
    if !caller.may_act_for(id) {
        return Err(ApiError::forbidden("You may only see your own account"));
    }
    let user = state
        .users
        .find_by_id(id)
        .await?
        .ok_or_else(|| ApiError::not_found("USER_NOT_FOUND", "User not found"))?;
    Ok(Json(user.into()))
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
async fn list_users(
    State(state): State<AppState>,
    _admin: RequireRole<AdminOnly>,
    QueryParams(filter): QueryParams<UserFilter>,
    QueryParams(page): QueryParams<Page>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Paged<UserProfile>> {
    // An email without a normal form is no account's: the list is empty.
    let email = filter.email.as_deref().map(normalize_email);
    let (users, total) = match email {
        Some(Err(_)) => (Vec::new(), 0),
        Some(Ok(email)) => state.users.list(Some(&email), page).await?,
        None => state.users.list(None, page).await?,
    };
    let users = users.into_iter().map(UserProfile::from).collect();
    Ok(Paged::new(users, total, page, uri))
}

async fn issue_tokens(state: &AppState, user: &UserDoc) -> ApiResult<Json<TokenResponse>> {
    let refresh_token = state.refresh_tokens.issue(user.id).await?;
    token_pair(state, user, refresh_token)
}

/// The response carrying a new access token for `user` and `refresh_token`.
fn token_pair(
    state: &AppState,
    user: &UserDoc,
    refresh_token: String,
) -> ApiResult<Json<TokenResponse>> {
    let access = state.keys.issue_access(user.id, user.role)?;
    Ok(Json(TokenResponse {
        access_token: access.token,
        token_type: "bearer",
        expires_in: access.expires_in,
        refresh_token,
    }))
}
