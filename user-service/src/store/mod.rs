//! Database access of the user service: users, refresh tokens and failed-login records, each
//! behind a small type that owns its collection and creates its indexes.

mod login_attempts;
mod refresh_tokens;
mod users;

pub use login_attempts::{FailureRecord, LoginAttempts, LoginLimit};
pub use refresh_tokens::{RefreshOutcome, RefreshTokens};
pub use users::{UserDoc, UserStore};
