//! The `users` collection: one document per account, one account per email (unique index).
//!
//! A registration records `user.registered` in the insert that creates the account (see
//! [`common_platform::events`]); its snapshot leaves out the password hash ([`NOT_IN_EVENTS`]).

use common_api::{auth::TOKENS_VALID_AFTER, pagination::Page};
use common_platform::{
    db::find_page,
    events::{self, EventType, OUTBOX, RelayHandle},
};
use mongodb::{
    Collection, Database, IndexModel,
    bson::{DateTime, Document, doc, oid::ObjectId, to_bson, to_document},
    error::Error,
    options::IndexOptions,
};
use serde::{Deserialize, Serialize};

use common_api::auth::Role;

use crate::{
    mail::{MAIL_OUTBOX, MailEntry, mailer::MailerHandle},
    password::PasswordHash,
};

/// A stored account.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UserDoc {
    /// The account id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// In normal form (see [`crate::email::normalize_email`]); unique.
    pub email: String,
    /// The display name.
    pub name: String,
    /// The role.
    pub role: Role,
    /// The bcrypt hash of the password.
    pub password_hash: PasswordHash,
    /// When the account was created.
    pub created_at: DateTime,
    /// Whether the holder followed a verification link (false for accounts older than
    /// verification).
    #[serde(default)]
    pub email_verified: bool,
    /// A disabled account cannot sign in, refresh or reset its password.
    #[serde(default)]
    pub disabled: bool,
    /// Access tokens issued before this instant are refused by every service (a password change,
    /// a role change, a disable); absent when none ever was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_valid_after: Option<DateTime>,
    /// The pending verification link's token, as a hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<LinkToken>,
    /// The pending password-reset link's token, as a hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_reset: Option<LinkToken>,
}

/// A single-use link token as an account keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkToken {
    /// Its SHA-256 ([`crate::mail::tokens::hash`]).
    pub hash: String,
    /// When it stops working.
    pub expires_at: DateTime,
}

/// The name of the collection.
pub const USERS: &str = common_api::auth::USERS;

/// The filter of accounts that are not closed: a closed account is kept, scrubbed, only until
/// every token it had has expired (see [`UserStore::close`]), and nothing reads it as an account.
pub(super) fn open() -> Document {
    doc! { "closed_at": { "$exists": false } }
}

/// Fields of an account that no event shows: the password hash, the link tokens' hashes, the
/// mails waiting to be sent, and the token cutoff.
pub const NOT_IN_EVENTS: &[&str] = &[
    "password_hash",
    "tokens_valid_after",
    "verification",
    "password_reset",
    MAIL_OUTBOX,
];

/// The fields of a stored account that the API shows: what an event's snapshot (which has no
/// password hash, so is no [`UserDoc`]) is read as.
#[derive(Clone, Debug, Deserialize)]
pub struct PublicUser {
    /// The account id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// In normal form.
    pub email: String,
    /// The display name.
    pub name: String,
    /// The role.
    pub role: Role,
    /// When the account was created.
    pub created_at: DateTime,
    /// Whether the holder followed a verification link.
    #[serde(default)]
    pub email_verified: bool,
    /// Whether the account is disabled.
    #[serde(default)]
    pub disabled: bool,
}

impl From<UserDoc> for PublicUser {
    fn from(user: UserDoc) -> Self {
        Self {
            id: user.id,
            email: user.email,
            name: user.name,
            role: user.role,
            created_at: user.created_at,
            email_verified: user.email_verified,
            disabled: user.disabled,
        }
    }
}

/// Reads and writes accounts.
#[derive(Clone)]
pub struct UserStore {
    pub(super) users: Collection<UserDoc>,
    /// Woken after each write that recorded an event.
    pub(super) relay: Option<RelayHandle>,
    /// Woken after each write that recorded a mail.
    pub(super) mailer: Option<MailerHandle>,
}

impl UserStore {
    /// The store over `db.users`.
    pub fn new(db: &Database) -> Self {
        Self {
            users: db.collection(USERS),
            relay: None,
            mailer: None,
        }
    }

    /// This store, waking `mailer` after each write that records a mail.
    #[must_use]
    pub fn mailed_by(self, mailer: MailerHandle) -> Self {
        Self {
            mailer: Some(mailer),
            ..self
        }
    }

    /// Asks the mailer to send a mail just recorded.
    pub(crate) fn mailed(&self) {
        if let Some(mailer) = &self.mailer {
            mailer.wake();
        }
    }

    /// This store, waking `relay` after each write that records an event.
    #[must_use]
    pub fn relayed_by(self, relay: RelayHandle) -> Self {
        Self {
            relay: Some(relay),
            ..self
        }
    }

    /// Creates the unique email index and the index the relay finds recorded events by (no-ops
    /// when they exist).
    pub async fn ensure_indexes(&self) -> Result<(), Error> {
        let unique_email = IndexModel::builder()
            .keys(doc! { "email": 1 })
            .options(
                IndexOptions::builder()
                    .unique(true)
                    .name("email_unique".to_owned())
                    .build(),
            )
            .build();
        let cutoffs = IndexModel::builder()
            .keys(doc! { TOKENS_VALID_AFTER: 1 })
            .options(IndexOptions::builder().sparse(true).build())
            .build();
        let purge = common_platform::db::ttl_index(
            "purge_at",
            std::time::Duration::ZERO,
            "closed_purge",
            None,
        );
        let link_tokens = ["verification.hash", "password_reset.hash"].map(|path| {
            IndexModel::builder()
                .keys(doc! { path: 1 })
                .options(IndexOptions::builder().sparse(true).build())
                .build()
        });
        self.users
            .create_indexes(
                [unique_email, cutoffs, purge]
                    .into_iter()
                    .chain(link_tokens),
            )
            .await?;
        events::ensure_outbox_index(&self.users.clone_with_type()).await
    }

    /// Inserts `user` with its `user.registered` event and, if given, its verification mail; a
    /// taken email fails with a duplicate-key error (and records nothing).
    pub async fn insert(&self, user: &UserDoc, mail: Option<&MailEntry>) -> Result<(), Error> {
        let mut stored = to_document(user)?;
        let outbox = events::outbox_of(
            EventType::UserRegistered,
            user.created_at,
            &stored,
            NOT_IN_EVENTS,
        );
        stored.insert(OUTBOX, outbox);
        if let Some(mail) = mail {
            stored.insert(MAIL_OUTBOX, vec![to_bson(mail)?]);
        }
        self.users
            .clone_with_type::<Document>()
            .insert_one(stored)
            .await?;
        self.recorded();
        if mail.is_some() {
            self.mailed();
        }
        Ok(())
    }

    /// Asks the relay to move an event just recorded.
    pub(super) fn recorded(&self) {
        if let Some(relay) = &self.relay {
            relay.wake();
        }
    }

    /// The account with this (normalized) email.
    pub async fn find_by_email(&self, email: &str) -> Result<Option<UserDoc>, Error> {
        let mut filter = open();
        filter.insert("email", email);
        self.users.find_one(filter).await
    }

    /// The account with this id.
    pub async fn find_by_id(&self, id: ObjectId) -> Result<Option<UserDoc>, Error> {
        let mut filter = open();
        filter.insert("_id", id);
        self.users.find_one(filter).await
    }

    /// Changes an account's role.
    pub async fn set_role(&self, id: ObjectId, role: Role) -> Result<(), Error> {
        self.users
            .update_one(
                doc! { "_id": id },
                doc! { "$set": { "role": role.as_str() } },
            )
            .await?;
        Ok(())
    }

    /// One page of accounts, oldest first, optionally only the one with `email`, and the total.
    pub async fn list(
        &self,
        email: Option<&str>,
        page: Page,
    ) -> Result<(Vec<UserDoc>, u64), Error> {
        let mut filter = open();
        if let Some(email) = email {
            filter.insert("email", email);
        }
        find_page(&self.users, filter, doc! { "_id": 1 }, page).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_secret_or_internal_field_is_one_events_leave_out() {
        let now = DateTime::now();
        let link = LinkToken {
            hash: "ab".repeat(32),
            expires_at: now,
        };
        let stored = doc! {
            "_id": ObjectId::new(), "email": "ada@example.com", "name": "Ada", "role": "buyer",
            "password_hash": "$2b$04$secret", "created_at": now, "email_verified": false,
            "disabled": false, "tokens_valid_after": now,
            "verification": to_bson(&link).unwrap(), "password_reset": to_bson(&link).unwrap(),
        };
        let user: UserDoc = mongodb::bson::from_document(stored.clone()).unwrap();

        let written = to_document(&user).unwrap();

        assert_eq!(written, stored);
        let shown = [
            "_id",
            "email",
            "name",
            "role",
            "created_at",
            "email_verified",
            "disabled",
        ];
        let hidden: Vec<&str> = written
            .keys()
            .map(String::as_str)
            .filter(|k| !shown.contains(k))
            .collect();
        assert_eq!(hidden, NOT_IN_EVENTS[..NOT_IN_EVENTS.len() - 1]);
        assert_eq!(NOT_IN_EVENTS.last(), Some(&MAIL_OUTBOX));
    }
}
