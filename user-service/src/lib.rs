//! The user service: registration, login with JWT access and refresh tokens, and roles.
//!
//! [`app`] builds the whole router from an [`AppState`], so tests drive it without a socket;
//! [`start`] is what the binary runs after the shared startup in `common_platform::server`.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod accounts;
pub mod email;
pub mod limits;
pub mod models;
pub mod password;
mod routes;
pub mod store;

use std::sync::Arc;

use anyhow::Context;
use axum::{Router, extract::FromRef};
use common_api::auth::TokenKeys;
use common_platform::{
    config::{Config, Env},
    server::ServiceContext,
};
use mongodb::Database;

use crate::{
    accounts::AdminAccount,
    limits::ClientLimits,
    password::Passwords,
    store::{LoginAttempts, RefreshTokens, UserStore},
};

/// Everything the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The configuration.
    pub config: Arc<Config>,
    /// The database.
    pub db: Database,
    /// Accounts.
    pub users: UserStore,
    /// Refresh tokens.
    pub refresh_tokens: RefreshTokens,
    /// The failed-login limit.
    pub login_attempts: LoginAttempts,
    /// bcrypt, off the async runtime.
    pub passwords: Passwords,
    /// Access-token signing.
    pub keys: TokenKeys,
    /// Per-client limits on login, registration and refresh.
    pub client_limits: ClientLimits,
}

impl FromRef<AppState> for TokenKeys {
    fn from_ref(state: &AppState) -> Self {
        state.keys.clone()
    }
}

impl AppState {
    /// Builds the state and creates the indexes the service relies on.
    pub async fn new(config: Config, db: Database) -> anyhow::Result<Self> {
        let state = Self {
            users: UserStore::new(&db),
            refresh_tokens: RefreshTokens::new(&db, config.refresh_token_ttl),
            login_attempts: LoginAttempts::new(&db),
            passwords: Passwords::new(config.bcrypt_cost, config.bcrypt_queue_wait).await?,
            keys: TokenKeys::new(&config.jwt_secret, config.access_token_ttl),
            client_limits: ClientLimits::new(&config),
            config: Arc::new(config),
            db,
        };
        tokio::try_join!(
            state.users.ensure_indexes(),
            state.refresh_tokens.ensure_indexes(),
            state.login_attempts.ensure_indexes(),
        )
        .context("could not create the user service's indexes")?;
        Ok(state)
    }
}

/// The service's router, with the shared routes and layers.
pub fn app(state: AppState) -> Router {
    let config = Arc::clone(&state.config);
    let db = state.db.clone();
    common_platform::http::service_router(routes::router(state), &config, db)
}

/// Builds the service for the binary: state, indexes, and the admin account from `ADMIN_EMAIL`
/// and `ADMIN_PASSWORD` when both are set.
///
/// Startup fails when a non-admin account with another password holds `ADMIN_EMAIL`: serving
/// without the admin the operator asked for would hide that someone may have claimed the address.
pub async fn start(context: ServiceContext) -> anyhow::Result<Router> {
    let env = Env::new(|name| std::env::var(name).ok());
    // The password exactly as given: trimming a secret would make it another password.
    let admin = match (env.string("ADMIN_EMAIL"), env.secret("ADMIN_PASSWORD")) {
        (Some(email), Some(password)) => Some((email, password)),
        (None, None) => None,
        (Some(_), None) => anyhow::bail!("ADMIN_PASSWORD is required when ADMIN_EMAIL is set"),
        (None, Some(_)) => anyhow::bail!("ADMIN_EMAIL is required when ADMIN_PASSWORD is set"),
    };
    let state = AppState::new(context.config, context.db).await?;
    if let Some((email, password)) = admin {
        match accounts::ensure_admin(&state, &email, password.expose()).await? {
            AdminAccount::Present | AdminAccount::Promoted | AdminAccount::Created => {}
            AdminAccount::TakenByAnother => anyhow::bail!(
                "ADMIN_EMAIL {email} is registered to a non-admin account whose password is not \
                 ADMIN_PASSWORD; promote or remove that account, or choose another ADMIN_EMAIL"
            ),
        }
    }
    Ok(app(state))
}
