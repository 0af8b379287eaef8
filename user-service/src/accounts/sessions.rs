//! Signing in and staying signed in: login and the OAuth2 password grant under the failed-login
//! limit, refresh with reuse detection, and logout; and what needs the current password under the
//! same limit: changing it, and closing the account.
//!
//! A login checks the limit, verifies the password (bcrypt, one of the hasher's few slots: past
//! its queue wait the login is refused as overloaded), and records only a wrong password; a right
//! one is accepted only if the limit is still open once its verification ends (see
//! [`crate::store::LoginAttempts`] for why that bounds racing guesses). Every login is counted in
//! `logins_total{outcome}` by its typed outcome: `ok`, `failed` or `limited`.

use std::time::Duration;

use common_api::auth::{AccessToken, Grant, TokenKeys};
use mongodb::bson::{DateTime, oid::ObjectId};

use super::Failure;
use crate::{
    email::{login_key, normalize_email},
    password::Passwords,
    store::{
        FailureRecord, LoginAttempts, LoginLimit, RefreshOutcome, RefreshTokens, UserDoc, UserStore,
    },
};

/// How long a closed account is kept beyond its tokens' lifetime: their clock leeway, and more.
const CLOSED_KEPT_BEYOND_TOKENS: Duration = Duration::from_secs(5 * 60);

/// Why a login (or the password grant) signed nobody in.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// An unknown email or a wrong password: the same answer for both.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The failed-login limit of this email is full.
    #[error("too many failed logins; retry after {retry_after_secs}s")]
    TooManyAttempts { retry_after_secs: u64 },
    /// The password is right, but an admin disabled the account.
    #[error("the account is disabled")]
    Disabled,
    /// The password could not be checked now (the bcrypt work in flight is at its cap:
    /// [`Failure::Overloaded`]), the database failed, or no token could be made.
    #[error(transparent)]
    Failed(#[from] Failure),
}

impl From<mongodb::error::Error> for LoginError {
    fn from(err: mongodb::error::Error) -> Self {
        Self::Failed(err.into())
    }
}

/// Why a refresh token was not traded for new tokens.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// Unknown or expired.
    #[error("invalid or expired refresh token")]
    Invalid,
    /// Already spent: it was copied, and every refresh token of its user is now revoked.
    #[error("a spent refresh token of user {user_id} was presented again")]
    Reused { user_id: ObjectId },
    /// The token was valid, but its account is gone.
    #[error("the account no longer exists")]
    AccountGone,
    /// The token was valid, but an admin disabled the account.
    #[error("the account is disabled")]
    Disabled,
    /// The database failed, or no token could be made.
    #[error(transparent)]
    Failed(#[from] Failure),
}

/// Why a logout revoked nothing.
#[derive(Debug, thiserror::Error)]
pub enum LogoutError {
    /// Unknown, expired or spent.
    #[error("invalid or expired refresh token")]
    Invalid,
    /// The database failed.
    #[error(transparent)]
    Failed(#[from] Failure),
}

/// The tokens of a signed-in user.
#[derive(Debug)]
pub struct SignedIn {
    /// The access token.
    pub access: AccessToken,
    /// A new refresh token, spent by its first refresh.
    pub refresh_token: String,
}

/// Signs users in, keeps them signed in, and signs them out. Cheap to clone.
#[derive(Clone)]
pub struct Sessions {
    users: UserStore,
    login_attempts: LoginAttempts,
    refresh_tokens: RefreshTokens,
    passwords: Passwords,
    keys: TokenKeys,
}

impl Sessions {
    /// Sessions over these stores, checking passwords with `passwords` and signing with `keys`.
    pub fn new(
        users: UserStore,
        login_attempts: LoginAttempts,
        refresh_tokens: RefreshTokens,
        passwords: Passwords,
        keys: TokenKeys,
    ) -> Self {
        Self {
            users,
            login_attempts,
            refresh_tokens,
            passwords,
            keys,
        }
    }

    /// An access token and a refresh token for the account whose email and password these are.
    pub async fn login(&self, email: &str, password: String) -> Result<SignedIn, LoginError> {
        let user = self.check_credentials(email, password).await?;
        let refresh_token = self
            .refresh_tokens
            .issue(user.id)
            .await
            .map_err(Failure::from)?;
        Ok(SignedIn {
            access: self.access_token(&user)?,
            refresh_token,
        })
    }

    /// The OAuth2 password grant: checked exactly as [`Sessions::login`], under the same limit,
    /// and answered with an access token only.
    pub async fn grant(&self, email: &str, password: String) -> Result<AccessToken, LoginError> {
        let user = self.check_credentials(email, password).await?;
        Ok(self.access_token(&user)?)
    }

    /// Spends `token` for a new pair of tokens; a token spent before revokes every refresh token
    /// of its user.
    pub async fn refresh(&self, token: &str) -> Result<SignedIn, RefreshError> {
        match self
            .refresh_tokens
            .rotate(token)
            .await
            .map_err(Failure::from)?
        {
            RefreshOutcome::Rotated { user_id, successor } => {
                let user = self
                    .users
                    .find_by_id(user_id)
                    .await
                    .map_err(Failure::from)?
                    .ok_or(RefreshError::AccountGone)?;
                if user.disabled {
                    return Err(RefreshError::Disabled);
                }
                Ok(SignedIn {
                    access: self.access_token(&user)?,
                    refresh_token: successor,
                })
            }
            RefreshOutcome::ReuseDetected(user_id) => {
                tracing::warn!(%user_id, "a spent refresh token was presented again; revoked all refresh tokens of the user");
                Err(RefreshError::Reused { user_id })
            }
            RefreshOutcome::Invalid => Err(RefreshError::Invalid),
        }
    }

    /// Revokes `token`, if it is valid and unspent.
    pub async fn logout(&self, token: &str) -> Result<(), LogoutError> {
        match self.refresh_tokens.revoke(token).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(LogoutError::Invalid),
            Err(err) => Err(LogoutError::Failed(err.into())),
        }
    }

    /// Changes the password of account `id` from `current` (checked as a login is, under the
    /// same limit) to `new`; then every refresh token of the account is revoked, and every
    /// access token issued before is refused on every service.
    pub async fn change_password(
        &self,
        id: ObjectId,
        current: String,
        new: String,
    ) -> Result<(), LoginError> {
        let user = self.holder_of(id, current).await?;
        let hash = self.passwords.hash(new).await.map_err(Failure::from)?;
        if !self
            .users
            .set_password(user.id, &hash, DateTime::now())
            .await?
        {
            return Err(LoginError::InvalidCredentials);
        }
        self.refresh_tokens
            .revoke_all(user.id)
            .await
            .map_err(Failure::from)?;
        tracing::info!(user_id = %user.id, "password changed");
        Ok(())
    }

    /// Closes account `id` if `password` is its password (checked as a login is): its email is
    /// free again, its tokens stop working everywhere, `user.deleted` is recorded; its orders stay.
    pub async fn close_account(&self, id: ObjectId, password: String) -> Result<(), LoginError> {
        let user = self.holder_of(id, password).await?;
        // Kept, scrubbed, until every access token it had has expired (clocks may differ by the
        // tokens' leeway), so the cutoff that refuses them stays readable.
        let tokens_live = self.keys.access_ttl() + CLOSED_KEPT_BEYOND_TOKENS;
        if !self
            .users
            .close(user.id, DateTime::now(), tokens_live)
            .await?
        {
            return Err(LoginError::InvalidCredentials);
        }
        self.refresh_tokens
            .revoke_all(user.id)
            .await
            .map_err(Failure::from)?;
        tracing::info!(user_id = %user.id, "account closed by its holder");
        Ok(())
    }

    /// Account `id`, if `password` is its password (under the failed-login limit).
    async fn holder_of(&self, id: ObjectId, password: String) -> Result<UserDoc, LoginError> {
        let Some(user) = self.users.find_by_id(id).await? else {
            return Err(LoginError::InvalidCredentials);
        };
        let checked = self.check_credentials(&user.email, password).await?;
        if checked.id != user.id {
            return Err(LoginError::InvalidCredentials);
        }
        Ok(checked)
    }

    fn access_token(&self, user: &UserDoc) -> Result<AccessToken, Failure> {
        let grant = Grant {
            user_id: user.id,
            role: user.role,
            email_verified: user.email_verified,
            valid_after: user.tokens_valid_after.map(|at| at.timestamp_millis()),
        };
        self.keys
            .issue(grant)
            .map_err(|err| Failure::Internal(err.into()))
    }

    /// The account whose email and password these are, under the failed-login limit; counted in
    /// `logins_total{outcome}`.
    async fn check_credentials(
        &self,
        email: &str,
        password: String,
    ) -> Result<UserDoc, LoginError> {
        let checked = self.check_credentials_uncounted(email, password).await;
        let outcome = match &checked {
            Ok(_) => Some("ok"),
            Err(LoginError::InvalidCredentials) => Some("failed"),
            Err(LoginError::TooManyAttempts { .. }) => Some("limited"),
            Err(LoginError::Disabled) => Some("disabled"),
            Err(LoginError::Failed(_)) => None,
        };
        if let Some(outcome) = outcome {
            metrics::counter!("logins_total", "outcome" => outcome).increment(1);
        }
        checked
    }

    async fn check_credentials_uncounted(
        &self,
        email: &str,
        password: String,
    ) -> Result<UserDoc, LoginError> {
        // The limit is keyed by the normal form, so every spelling of a mailbox shares one count.
        let key = login_key(email);
        self.limit_open(&key).await?;
        // An email without a normal form is no account's, and is verified against the dummy hash.
        let user = match normalize_email(email) {
            Ok(email) => self.users.find_by_email(&email).await?,
            Err(_) => None,
        };
        let password_hash = user.as_ref().map(|user| &user.password_hash);
        // Nothing is recorded before the outcome is known, so a request dropped during bcrypt
        // leaves no trace; the detached hash work only finishes and is discarded.
        let valid = self
            .passwords
            .verify(password, password_hash)
            .await
            .map_err(Failure::from)?;
        match user.filter(|_| valid) {
            Some(user) => {
                // Concurrent wrong guesses may have filled the limit while this one was verified;
                // then this verdict is withheld too, so racing cannot test more than five guesses.
                self.limit_open(&key).await?;
                // Only a right password learns that the account is disabled.
                if user.disabled {
                    return Err(LoginError::Disabled);
                }
                Ok(user)
            }
            None => match self.login_attempts.record_failure(&key).await? {
                FailureRecord::Counted => Err(LoginError::InvalidCredentials),
                FailureRecord::Blocked { retry_after_secs } => {
                    Err(too_many_failures(retry_after_secs))
                }
            },
        }
    }

    /// `Ok` while the failed-login limit of `key` is open.
    async fn limit_open(&self, key: &str) -> Result<(), LoginError> {
        match self.login_attempts.check(key).await? {
            LoginLimit::Open => Ok(()),
            LoginLimit::Blocked { retry_after_secs } => Err(too_many_failures(retry_after_secs)),
        }
    }
}

/// [`LoginError::TooManyAttempts`] for an email whose failures fill the limit.
fn too_many_failures(retry_after_secs: u64) -> LoginError {
    tracing::warn!("login refused: too many failed attempts for one email");
    LoginError::TooManyAttempts { retry_after_secs }
}
