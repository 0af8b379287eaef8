//! What an account holder changes about their account without their password: their name, the
//! verification of their email, and a forgotten password (by a link mailed to them).
//!
//! A link is single-use and stored only as a hash (see [`crate::mail::tokens`]); its mail is
//! recorded in the same write as its token (see [`crate::mail`]). A reset request answers the
//! same way, in the same time, whether or not the email has an account: the per-email limit is
//! counted for every email, and the rest (looking the account up, issuing the link) runs after the
//! answer, so neither the answer nor its timing tells the two apart.

use std::time::Duration;

use mongodb::bson::{DateTime, doc, oid::ObjectId};

use super::{Accounts, Failure};
use crate::{
    email::{login_key, normalize_email},
    mail::{MailEntry, MailKind, tokens},
    store::{Allowance, LinkField, LinkToken, UserDoc},
};

/// Reset requests per email within [`RESET_WINDOW`].
const RESETS_PER_EMAIL: i64 = 3;
/// The window of [`RESETS_PER_EMAIL`].
const RESET_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Verification mails an account may ask for within [`RESEND_WINDOW`].
const RESENDS_PER_ACCOUNT: i64 = 3;
/// The window of [`RESENDS_PER_ACCOUNT`].
const RESEND_WINDOW: Duration = Duration::from_secs(60 * 60);

/// Why a profile change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The account is gone.
    #[error("the account no longer exists")]
    Gone,
    /// The database failed.
    #[error(transparent)]
    Failed(#[from] Failure),
}

/// Why a link's token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// Unknown, used, expired, of another kind, or malformed: 400 `INVALID_TOKEN`.
    #[error("the token is invalid, used or expired")]
    InvalidToken,
    /// The account is disabled.
    #[error("the account is disabled")]
    Disabled,
    /// The password could not be hashed now, or the database failed.
    #[error(transparent)]
    Failed(#[from] Failure),
}

/// Why a mail was not sent on request.
#[derive(Debug, thiserror::Error)]
pub enum MailRequestError {
    /// Asked too often: try again after this many seconds.
    #[error("too many requests; retry after {retry_after_secs}s")]
    Limited { retry_after_secs: u64 },
    /// The account is gone.
    #[error("the account no longer exists")]
    Gone,
    /// The database failed.
    #[error(transparent)]
    Failed(#[from] Failure),
}

macro_rules! from_db {
    ($($error:ty),*) => {$(
        impl From<mongodb::error::Error> for $error {
            fn from(err: mongodb::error::Error) -> Self {
                Self::Failed(err.into())
            }
        }
    )*};
}
from_db!(ProfileError, LinkError, MailRequestError);

impl Accounts {
    /// Gives account `id` the name `name`.
    pub async fn rename(&self, id: ObjectId, name: &str) -> Result<UserDoc, ProfileError> {
        self.users
            .set_name(id, name)
            .await?
            .ok_or(ProfileError::Gone)
    }

    /// Spends a verification link's token: the account's email is verified, and its older tokens
    /// (which say otherwise) are refused, so its clients refresh them.
    pub async fn verify_email(&self, token: &str) -> Result<(), LinkError> {
        let hash = link_hash(token)?;
        let now = DateTime::now();
        let set = doc! { "email_verified": true, "tokens_valid_after": now };
        match self
            .users
            .spend_link(LinkField::Verification, &hash, now, set)
            .await?
        {
            Some(user) => {
                tracing::info!(user_id = %user.id, "email verified");
                Ok(())
            }
            None => Err(LinkError::InvalidToken),
        }
    }

    /// Mails account `id` a new verification link (voiding the older one), unless its email is
    /// verified already.
    pub async fn resend_verification(&self, id: ObjectId) -> Result<(), MailRequestError> {
        let key = format!("verify:{}", id.to_hex());
        if let Allowance::Limited { retry_after_secs } = self
            .request_limits
            .hit(&key, RESENDS_PER_ACCOUNT, RESEND_WINDOW)
            .await?
        {
            return Err(MailRequestError::Limited { retry_after_secs });
        }
        let user = self
            .users
            .find_by_id(id)
            .await?
            .ok_or(MailRequestError::Gone)?;
        if user.email_verified {
            return Ok(());
        }
        let filter = doc! { "_id": id, "email_verified": { "$ne": true } };
        self.issue(&user, MailKind::VerifyEmail, filter).await?;
        Ok(())
    }

    /// Asks for a password-reset link for `email`: counted against the email's limit, then
    /// answered; the link is mailed afterwards if an enabled account has that email.
    pub async fn request_reset(&self, email: &str) -> Result<(), MailRequestError> {
        let key = format!("reset:{}", login_key(email));
        if let Allowance::Limited { retry_after_secs } = self
            .request_limits
            .hit(&key, RESETS_PER_EMAIL, RESET_WINDOW)
            .await?
        {
            return Err(MailRequestError::Limited { retry_after_secs });
        }
        let accounts = self.clone();
        let email = email.to_owned();
        tokio::spawn(async move {
            if let Err(err) = accounts.mail_reset(&email).await {
                tracing::warn!(error = %err, "a password-reset link could not be recorded");
            }
        });
        Ok(())
    }

    async fn mail_reset(&self, email: &str) -> Result<(), Failure> {
        let Ok(email) = normalize_email(email) else {
            return Ok(());
        };
        let Some(user) = self.users.find_by_email(&email).await? else {
            return Ok(());
        };
        if user.disabled {
            return Ok(());
        }
        let filter = doc! { "_id": user.id };
        self.issue(&user, MailKind::PasswordReset, filter).await
    }

    /// Spends a password-reset link's token, setting `new_password`: the account's refresh tokens
    /// are revoked and its older access tokens refused everywhere.
    pub async fn confirm_reset(&self, token: &str, new_password: String) -> Result<(), LinkError> {
        let hash = link_hash(token)?;
        let now = DateTime::now();
        // Checked before bcrypt runs, so an unknown token costs no hashing.
        match self
            .users
            .link_holder(LinkField::PasswordReset, &hash, now)
            .await?
        {
            None => return Err(LinkError::InvalidToken),
            Some(user) if user.disabled => return Err(LinkError::Disabled),
            Some(_) => {}
        }
        let password_hash = self
            .passwords
            .hash(new_password)
            .await
            .map_err(Failure::from)?;
        let set = doc! {
            "password_hash": mongodb::bson::to_bson(&password_hash).map_err(|err| Failure::Internal(err.into()))?,
            "tokens_valid_after": now,
        };
        let Some(user) = self
            .users
            .spend_link(LinkField::PasswordReset, &hash, now, set)
            .await?
        else {
            // Spent by a request that raced this one.
            return Err(LinkError::InvalidToken);
        };
        self.refresh_tokens.revoke_all(user.id).await?;
        tracing::info!(user_id = %user.id, "password reset");
        Ok(())
    }

    /// Issues a link of `kind` for `user` and records its mail, if `filter` still matches.
    async fn issue(
        &self,
        user: &UserDoc,
        kind: MailKind,
        filter: mongodb::bson::Document,
    ) -> Result<(), Failure> {
        let (field, lasts) = match kind {
            MailKind::VerifyEmail => (LinkField::Verification, self.rules.verify_for),
            MailKind::PasswordReset => (LinkField::PasswordReset, self.rules.reset_for),
        };
        let link = self
            .links
            .issue(kind, user.id)
            .map_err(|err| Failure::Internal(err.into()))?;
        let now = DateTime::now();
        let expires_at = common_api::time::plus(now, lasts);
        let mail = MailEntry {
            id: ObjectId::new(),
            kind,
            user_id: user.id,
            to: user.email.clone(),
            name: user.name.clone(),
            nonce: link.nonce,
            at: now,
            expires_at,
        };
        let token = LinkToken {
            hash: link.hash,
            expires_at,
        };
        self.users.issue_link(filter, field, &token, &mail).await?;
        Ok(())
    }
}

/// The hash a presented token is looked up by; a token longer than any issued is refused
/// unread.
fn link_hash(token: &str) -> Result<String, LinkError> {
    if token.is_empty() || token.len() > tokens::MAX_TOKEN_LEN {
        return Err(LinkError::InvalidToken);
    }
    Ok(tokens::hash(token))
}
