//! Database access of the user service: users, refresh tokens and failed-login records, each
//! behind a small type that owns its collection and creates its indexes.

mod account_changes;
mod admin_lock;
mod login_attempts;
mod refresh_tokens;
mod request_limits;
mod users;

pub use account_changes::{AdminChange, LinkField};
pub use admin_lock::AdminLock;
pub use login_attempts::{FailureRecord, LoginAttempts, LoginLimit};
pub use refresh_tokens::{RefreshOutcome, RefreshTokens};
pub use request_limits::{Allowance, RequestLimits};
pub use users::{LinkToken, NOT_IN_EVENTS, PublicUser, USERS, UserDoc, UserStore};

/// Why a store could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused the operation or could not be reached.
    #[error(transparent)]
    Db(#[from] mongodb::error::Error),
    /// The system's source of randomness failed, so no refresh token could be made.
    #[error("no random bytes for a refresh token: {0}")]
    Random(getrandom::Error),
}
