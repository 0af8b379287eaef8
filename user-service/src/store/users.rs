//! The `users` collection: one document per account, one account per email (unique index).
//!
//! A registration records `user.registered` in the insert that creates the account (see
//! [`common_platform::events`]); its snapshot leaves out the password hash ([`NOT_IN_EVENTS`]).

use common_api::pagination::Page;
use common_platform::{
    db::find_page,
    events::{self, EventType, OUTBOX, RelayHandle},
};
use mongodb::{
    Collection, Database, IndexModel,
    bson::{DateTime, Document, doc, oid::ObjectId, to_document},
    error::Error,
    options::IndexOptions,
};
use serde::{Deserialize, Serialize};

use common_api::auth::Role;

use crate::password::PasswordHash;

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
}

/// The name of the collection.
pub const USERS: &str = "users";

/// Fields of an account that no event shows: the password hash.
pub const NOT_IN_EVENTS: &[&str] = &["password_hash"];

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
}

impl From<UserDoc> for PublicUser {
    fn from(user: UserDoc) -> Self {
        Self {
            id: user.id,
            email: user.email,
            name: user.name,
            role: user.role,
            created_at: user.created_at,
        }
    }
}

/// Reads and writes accounts.
#[derive(Clone)]
pub struct UserStore {
    users: Collection<UserDoc>,
    /// Woken after each write that recorded an event.
    relay: Option<RelayHandle>,
}

impl UserStore {
    /// The store over `db.users`.
    pub fn new(db: &Database) -> Self {
        Self {
            users: db.collection(USERS),
            relay: None,
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
        self.users.create_index(unique_email).await?;
        events::ensure_outbox_index(&self.users.clone_with_type()).await
    }

    /// Inserts `user` with its `user.registered` event; a taken email fails with a duplicate-key
    /// error (and records nothing).
    pub async fn insert(&self, user: &UserDoc) -> Result<(), Error> {
        let mut stored = to_document(user)?;
        let outbox = events::outbox_of(
            EventType::UserRegistered,
            user.created_at,
            &stored,
            NOT_IN_EVENTS,
        );
        stored.insert(OUTBOX, outbox);
        self.users
            .clone_with_type::<Document>()
            .insert_one(stored)
            .await?;
        if let Some(relay) = &self.relay {
            relay.wake();
        }
        Ok(())
    }

    /// The account with this (normalized) email.
    pub async fn find_by_email(&self, email: &str) -> Result<Option<UserDoc>, Error> {
        self.users.find_one(doc! { "email": email }).await
    }

    /// The account with this id.
    pub async fn find_by_id(&self, id: ObjectId) -> Result<Option<UserDoc>, Error> {
        self.users.find_one(doc! { "_id": id }).await
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
        let filter = email.map_or_else(Document::new, |email| doc! { "email": email });
        find_page(&self.users, filter, doc! { "_id": 1 }, page).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_hash_is_stored_under_the_field_events_leave_out() {
        let stored = doc! {
            "_id": ObjectId::new(), "email": "ada@example.com", "name": "Ada", "role": "buyer",
            "password_hash": "$2b$04$secret", "created_at": DateTime::now(),
        };
        let user: UserDoc = mongodb::bson::from_document(stored.clone()).unwrap();

        let written = to_document(&user).unwrap();

        assert_eq!(written, stored);
        let keys: Vec<&str> = written.keys().map(String::as_str).collect();
        let public = ["_id", "email", "name", "role", "created_at"];
        let hidden: Vec<&str> = keys.into_iter().filter(|k| !public.contains(k)).collect();
        assert_eq!(hidden, NOT_IN_EVENTS);
    }
}
