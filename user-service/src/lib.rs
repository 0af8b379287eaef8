//! The user service: registration, login with JWT access and refresh tokens, and roles.
//!
//! This file only wires the parts together: it builds the stores ([`store`]), the relay of the
//! user events ([`events`]), the mailer ([`mail`]) and the two domain types over them, [`Accounts`] and [`Sessions`]
//! (see [`accounts`]), and the router ([`app`], which tests drive without a socket; its HTTP
//! layer is in `routes/`). [`start`] is what the binary runs after the shared startup in
//! `common_platform::server` has read the service's own [`settings`]: it makes the admin
//! account.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod accounts;
pub mod email;
pub mod events;
pub mod limits;
pub mod mail;
pub mod models;
pub mod password;
mod routes;
pub mod settings;
pub mod store;

use std::sync::Arc;

use anyhow::Context;
use axum::{Router, extract::FromRef};
use common_api::auth::TokenKeys;
use common_platform::{
    config::Config,
    server::{ServiceContext, Shutdown},
    service::Service,
};
use mongodb::Database;

use crate::{
    accounts::{AccountStores, Accounts, AdminAccount, LinkRules, Sessions},
    limits::ClientLimits,
    mail::{Mailer, tokens::LinkTokens},
    password::Passwords,
    settings::{AdminLogin, UserSettings},
    store::{AdminLock, LoginAttempts, RefreshTokens, RequestLimits, UserStore},
};

/// Everything the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The shared configuration.
    pub config: Arc<Config>,
    /// The database.
    pub db: Database,
    /// Registration, the admin account, and reading users.
    pub accounts: Accounts,
    /// Login, the password grant, refresh and logout.
    pub sessions: Sessions,
    /// Access-token verification.
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
    /// Builds the state from the shared configuration and the service's own settings, and
    /// creates the indexes the service relies on; the relay of the user events and the mailer
    /// ([`mail::mailer`]) run for as long as the runtime does.
    pub async fn new(config: Config, settings: UserSettings, db: Database) -> anyhow::Result<Self> {
        Self::with_shutdown(config, settings, db, Shutdown::never()).await
    }

    /// As [`AppState::new`], the relay of the user events and the mailer running until
    /// `shutdown`.
    pub async fn with_shutdown(
        config: Config,
        settings: UserSettings,
        db: Database,
        shutdown: Shutdown,
    ) -> anyhow::Result<Self> {
        let relay = events::relay(&db);
        let links = LinkTokens::new(config.jwt_secret.expose().as_bytes());
        let mailer = Mailer::new(&db, &settings.mail, links.clone())
            .context("the mail settings cannot make a mailer")?;
        let users = UserStore::new(&db)
            .relayed_by(relay.handle())
            .mailed_by(mailer.handle());
        let login_attempts = LoginAttempts::new(&db);
        let request_limits = RequestLimits::new(&db);
        let refresh_tokens = RefreshTokens::new(&db, settings.refresh_token_ttl);
        let passwords = Passwords::new(settings.bcrypt_cost, settings.bcrypt_queue_wait).await?;
        tokio::try_join!(
            users.ensure_indexes(),
            refresh_tokens.ensure_indexes(),
            login_attempts.ensure_indexes(),
            request_limits.ensure_indexes(),
            mailer.ensure_indexes(),
        )
        .context("could not create the user service's indexes")?;
        let keys = common_platform::auth::token_keys(&config, &db, shutdown.clone());
        mailer.start(shutdown.clone());
        tokio::spawn(relay.run(events::RELAY_POLL, shutdown));
        Ok(Self {
            accounts: Accounts::new(
                AccountStores {
                    users: users.clone(),
                    refresh_tokens: refresh_tokens.clone(),
                    request_limits,
                    admin_lock: AdminLock::new(&db),
                },
                passwords.clone(),
                links,
                LinkRules {
                    verify_for: settings.email_verify_for,
                    reset_for: settings.password_reset_for,
                },
            ),
            sessions: Sessions::new(
                users,
                login_attempts,
                refresh_tokens,
                passwords,
                keys.clone(),
            ),
            keys,
            client_limits: ClientLimits::new(&settings),
            config: Arc::new(config),
            db,
        })
    }
}

/// What the shared platform knows of this service.
pub static SERVICE: Service = Service {
    name: "user-service",
    default_port: 8001,
    allow_headers: &[],
    expose_headers: &[],
    openapi: routes::openapi,
};

/// The service's router, with the shared routes and layers.
pub fn app(state: AppState) -> Router {
    let config = Arc::clone(&state.config);
    let db = state.db.clone();
    common_platform::http::service_router(&SERVICE, routes::router(state), &config, db)
}

/// Builds the service for the binary from its own settings (which the shared runner reads right
/// after the shared configuration, before the database is reached, so a bad value stops the
/// binary naming it): state, indexes, and the admin account from `ADMIN_EMAIL` and
/// `ADMIN_PASSWORD` when both are set.
///
/// Startup fails when a non-admin account with another password holds `ADMIN_EMAIL`: serving
/// without the admin the operator asked for would hide that someone may have claimed the address.
pub async fn start(context: ServiceContext, settings: UserSettings) -> anyhow::Result<Router> {
    let admin = settings.admin.clone();
    let state =
        AppState::with_shutdown(context.config, settings, context.db, context.shutdown).await?;
    if let Some(AdminLogin { email, password }) = admin {
        match state
            .accounts
            .ensure_admin(&email, password.expose())
            .await?
        {
            AdminAccount::Present | AdminAccount::Promoted | AdminAccount::Created => {}
            AdminAccount::TakenByAnother => anyhow::bail!(
                "ADMIN_EMAIL {email} is registered to a non-admin account whose password is not \
                 ADMIN_PASSWORD; promote or remove that account, or choose another ADMIN_EMAIL"
            ),
        }
    }
    Ok(app(state))
}
