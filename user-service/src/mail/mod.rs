//! Mail to account holders: the verification of an email address and the reset of a password.
//!
//! A mail is recorded with the change that causes it: the write that stores a link token's hash
//! on the account also appends a [`MailEntry`] to the account's `mail_outbox`, so a mail exists
//! exactly when its token does, and nothing is lost to a crash. The entry holds no token: a link
//! token is derived from the service's secret and the entry's nonce ([`tokens`]), so the database
//! alone never holds a usable token, only its hash. The [`mailer`] moves the entries into the
//! `mails` collection and sends them.

pub mod mailer;
mod message;
pub mod settings;
pub mod store;
pub mod tokens;
mod transport;

pub use mailer::{Mailer, MailerHandle};
pub use store::{MAILS, MailDoc, MailStatus};

use mongodb::bson::{DateTime, oid::ObjectId};
use serde::{Deserialize, Serialize};

/// The array of mails not yet handed to the mailer, on an account.
pub const MAIL_OUTBOX: &str = "mail_outbox";

/// What a mail is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailKind {
    /// A link that proves the address is the account holder's (`POST /users/verify-email`).
    VerifyEmail,
    /// A link that sets a new password (`POST /users/password-reset/confirm`).
    PasswordReset,
}

impl MailKind {
    /// The name stored and logged.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::PasswordReset => "password_reset",
        }
    }
}

/// A mail recorded with its change, on the account it is for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MailEntry {
    /// The mail's id: what keeps it from being sent twice.
    pub id: ObjectId,
    /// What it is for.
    pub kind: MailKind,
    /// The account.
    pub user_id: ObjectId,
    /// The address, as the account had it when the mail was recorded.
    pub to: String,
    /// The account holder's name ("" for none).
    pub name: String,
    /// What the link token is derived from ([`tokens::LinkTokens::token`]).
    pub nonce: String,
    /// When it was recorded.
    pub at: DateTime,
    /// When its link stops working.
    pub expires_at: DateTime,
}
