//! The user service's domain: [`Accounts`] (registration, the admin account, reading users) and
//! [`Sessions`] (login under the failed-login limit, the OAuth2 password grant, refresh with reuse
//! detection, logout). Each owns exactly the stores it needs, answers in typed outcomes, and
//! knows nothing of HTTP: the routes call them and map their errors to the contract's.
//!
//! Both share one [`Passwords`] (a clone shares its bcrypt slots), so registration and login
//! queue for the same cores.

mod admin;
mod admin_changes;
mod profile;
mod sessions;

use std::time::Duration;

use common_api::{auth::Role, pagination::Page, time};
use common_platform::db::is_duplicate_key;
use mongodb::bson::{DateTime, oid::ObjectId};

pub use admin::AdminAccount;
pub use admin_changes::AdminChangeError;
pub use profile::{LinkError, MailRequestError, ProfileError};
pub use sessions::{LoginError, LogoutError, RefreshError, Sessions, SignedIn};

use crate::{
    email::{EmailError, normalize_email},
    mail::{MailEntry, MailKind, tokens::LinkTokens},
    password::{HashError, Passwords},
    store::{AdminLock, LinkToken, RefreshTokens, RequestLimits, StoreError, UserDoc, UserStore},
};

/// What stopped a flow through no fault of the client's, answered with a 5xx: 503 `OVERLOADED`,
/// 503 `DB_UNAVAILABLE` while the database is out of reach, 500 otherwise, and never with its
/// text. Each flow's error lists what the client did (4xx) and ends with this.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The in-flight cap of bcrypt work is full: no slot came free within `BCRYPT_QUEUE_WAIT_MS`;
    /// the client may try again after this many seconds.
    #[error("too many password checks queued; retry after {retry_after_secs}s")]
    Overloaded { retry_after_secs: u64 },
    /// A store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bug or an unexpected failure: a hash that could not be computed, a token that could not
    /// be signed.
    #[error(transparent)]
    Internal(anyhow::Error),
}

impl From<mongodb::error::Error> for Failure {
    fn from(err: mongodb::error::Error) -> Self {
        Self::Store(err.into())
    }
}

impl From<HashError> for Failure {
    fn from(err: HashError) -> Self {
        match err {
            HashError::Overloaded { retry_after_secs } => Self::Overloaded { retry_after_secs },
            HashError::Failed(err) => Self::Internal(err),
        }
    }
}

/// An account to create, with fields already validated.
pub struct NewAccount {
    /// The email as given; it is normalized here.
    pub email: String,
    /// The password in clear; only its hash is stored.
    pub password: String,
    /// The display name.
    pub name: String,
    /// The role.
    pub role: Role,
    /// Whether the email counts as verified from the start (the operator's admin account), so no
    /// verification link is mailed.
    pub verified: bool,
}

/// Why an account was not created.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// `admin` cannot be registered: an admin must grant the role.
    #[error("admin accounts cannot be registered")]
    AdminForbidden,
    /// Another account has this email; nothing was stored. Also the outcome when two
    /// registrations race: the unique index decides, and the loser ends here.
    #[error("the email is taken")]
    EmailTaken,
    /// The email has no normal form (callers validate first, so this only keeps such an email
    /// out of the store).
    #[error("invalid email: {0}")]
    InvalidEmail(EmailError),
    /// The password could not be hashed now, or the database failed.
    #[error(transparent)]
    Failed(#[from] Failure),
}

impl From<mongodb::error::Error> for RegisterError {
    fn from(err: mongodb::error::Error) -> Self {
        Self::Failed(err.into())
    }
}

/// How long the links mailed to account holders work.
#[derive(Clone, Copy, Debug)]
pub struct LinkRules {
    /// A verification link (`EMAIL_VERIFY_HOURS`).
    pub verify_for: Duration,
    /// A password-reset link (`PASSWORD_RESET_MINUTES`).
    pub reset_for: Duration,
}

/// The stores [`Accounts`] owns.
#[derive(Clone)]
pub struct AccountStores {
    /// Accounts.
    pub users: UserStore,
    /// Refresh tokens, revoked by a reset and a disable.
    pub refresh_tokens: RefreshTokens,
    /// Per-email and per-account request limits.
    pub request_limits: RequestLimits,
    /// One admin change at a time.
    pub admin_lock: AdminLock,
}

/// Registers accounts, makes the admin account, reads users, and changes accounts (profile,
/// verification, reset, an admin's changes). Cheap to clone.
#[derive(Clone)]
pub struct Accounts {
    users: UserStore,
    refresh_tokens: RefreshTokens,
    request_limits: RequestLimits,
    admin_lock: AdminLock,
    passwords: Passwords,
    links: LinkTokens,
    rules: LinkRules,
}

impl Accounts {
    /// Accounts over `stores`, hashing with `passwords`, mailing links made with `links` that
    /// work as `rules` say.
    pub fn new(
        stores: AccountStores,
        passwords: Passwords,
        links: LinkTokens,
        rules: LinkRules,
    ) -> Self {
        Self {
            users: stores.users,
            refresh_tokens: stores.refresh_tokens,
            request_limits: stores.request_limits,
            admin_lock: stores.admin_lock,
            passwords,
            links,
            rules,
        }
    }

    /// Registers an account that anyone may create (`buyer` or `seller`; never `admin`); counted
    /// in `users_registered_total`.
    pub async fn register(&self, account: NewAccount) -> Result<UserDoc, RegisterError> {
        if account.role == Role::Admin {
            return Err(RegisterError::AdminForbidden);
        }
        let user = self.create(account).await?;
        tracing::info!(user_id = %user.id, role = user.role.as_str(), "account registered");
        metrics::counter!("users_registered_total").increment(1);
        Ok(user)
    }

    /// Creates an account with any role, unless its email is in use.
    async fn create(&self, account: NewAccount) -> Result<UserDoc, RegisterError> {
        let email = normalize_email(&account.email).map_err(RegisterError::InvalidEmail)?;
        // Saves a bcrypt hash in the common case; the unique index is what guarantees uniqueness.
        if self.users.find_by_email(&email).await?.is_some() {
            return Err(RegisterError::EmailTaken);
        }
        let id = ObjectId::new();
        let now = DateTime::now();
        let link = self
            .links
            .issue(MailKind::VerifyEmail, id)
            .map_err(|err| Failure::Internal(err.into()))?;
        let expires_at = time::plus(now, self.rules.verify_for);
        let verified = account.verified;
        let user = UserDoc {
            id,
            email,
            name: account.name,
            role: account.role,
            password_hash: self
                .passwords
                .hash(account.password)
                .await
                .map_err(Failure::from)?,
            created_at: now,
            email_verified: verified,
            disabled: false,
            tokens_valid_after: None,
            verification: (!verified).then_some(LinkToken {
                hash: link.hash,
                expires_at,
            }),
            password_reset: None,
        };
        let mail = MailEntry {
            id: ObjectId::new(),
            kind: MailKind::VerifyEmail,
            user_id: id,
            to: user.email.clone(),
            name: user.name.clone(),
            nonce: link.nonce,
            at: now,
            expires_at,
        };
        let mail = (!verified).then_some(mail);
        match self.users.insert(&user, mail.as_ref()).await {
            Ok(()) => Ok(user),
            Err(err) if is_duplicate_key(&err) => Err(RegisterError::EmailTaken),
            Err(err) => Err(err.into()),
        }
    }

    /// The account with this id.
    pub async fn user(&self, id: ObjectId) -> Result<Option<UserDoc>, mongodb::error::Error> {
        self.users.find_by_id(id).await
    }

    /// One page of accounts, oldest first, only the one with `email` when it is given (in any
    /// spelling of its mailbox), and how many match.
    pub async fn list(
        &self,
        email: Option<&str>,
        page: Page,
    ) -> Result<(Vec<UserDoc>, u64), mongodb::error::Error> {
        match email.map(normalize_email) {
            // An email without a normal form is no account's: the list is empty.
            Some(Err(_)) => Ok((Vec::new(), 0)),
            Some(Ok(email)) => self.users.list(Some(&email), page).await,
            None => self.users.list(None, page).await,
        }
    }
}
