//! The `users` collection: one document per account, one account per email (unique index).

use common_api::pagination::Page;
use common_platform::db::find_page;
use mongodb::{
    Collection, Database, IndexModel,
    bson::{DateTime, Document, doc, oid::ObjectId},
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

/// Reads and writes accounts.
#[derive(Clone)]
pub struct UserStore {
    users: Collection<UserDoc>,
}

impl UserStore {
    /// The store over `db.users`.
    pub fn new(db: &Database) -> Self {
        Self {
            users: db.collection("users"),
        }
    }

    /// Creates the unique email index (a no-op when it exists).
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
        Ok(())
    }

    /// Inserts `user`; a taken email fails with a duplicate-key error.
    pub async fn insert(&self, user: &UserDoc) -> Result<(), Error> {
        self.users.insert_one(user).await?;
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
