//! The writes that change an account after it was made: its name, its password (by the holder,
//! or by a reset link), its verification, its role and standing (by an admin), and its closing.
//!
//! Each is one conditional single-document write. A write that must refuse the account's older
//! tokens sets `tokens_valid_after` in the same write (every service follows it; see
//! `common_platform::auth`), and a write that causes a mail appends the mail's entry in the same
//! write (see [`crate::mail`]), so neither can be lost between two steps.

use std::time::Duration;

use common_api::{
    auth::{Role, TOKENS_VALID_AFTER},
    time,
};
use common_platform::events::{self, EventType};
use mongodb::{
    bson::{DateTime, Document, doc, oid::ObjectId, to_bson},
    error::Error,
    options::ReturnDocument,
};

use super::users::{LinkToken, NOT_IN_EVENTS, UserDoc, UserStore, open};
use crate::{
    mail::{MAIL_OUTBOX, MailEntry},
    password::PasswordHash,
};

/// Which link token a write looks up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkField {
    /// `verification`.
    Verification,
    /// `password_reset`.
    PasswordReset,
}

impl LinkField {
    fn name(self) -> &'static str {
        match self {
            Self::Verification => "verification",
            Self::PasswordReset => "password_reset",
        }
    }
}

/// The changes an admin makes to an account.
#[derive(Clone, Copy, Debug, Default)]
pub struct AdminChange {
    /// A new role.
    pub role: Option<Role>,
    /// Disabled or enabled.
    pub disabled: Option<bool>,
}

impl UserStore {
    fn id_filter(id: ObjectId) -> Document {
        let mut filter = open();
        filter.insert("_id", id);
        filter
    }

    /// Sets account `id`'s name; the account after, or `None` if there is none.
    pub async fn set_name(&self, id: ObjectId, name: &str) -> Result<Option<UserDoc>, Error> {
        self.users
            .find_one_and_update(Self::id_filter(id), doc! { "$set": { "name": name } })
            .return_document(ReturnDocument::After)
            .await
    }

    /// Sets account `id`'s password hash, refuses its tokens issued before `at` and voids a
    /// pending reset link; `false` if there is no such account.
    pub async fn set_password(
        &self,
        id: ObjectId,
        hash: &PasswordHash,
        at: DateTime,
    ) -> Result<bool, Error> {
        let result = self
            .users
            .update_one(
                Self::id_filter(id),
                doc! {
                    "$set": { "password_hash": to_bson(hash)?, TOKENS_VALID_AFTER: at },
                    "$unset": { "password_reset": "" },
                },
            )
            .await?;
        Ok(result.matched_count == 1)
    }

    /// Stores a new link token in `field` of the open, enabled account with `filter`, replacing
    /// any older one (which then matches nothing), and records its mail; the account, or `None`.
    /// With `not_since`, only if no token of that field was issued after it (a per-account limit).
    pub async fn issue_link(
        &self,
        filter: Document,
        field: LinkField,
        token: &LinkToken,
        mail: &MailEntry,
    ) -> Result<Option<UserDoc>, Error> {
        let mut filter = filter;
        filter.extend(open());
        filter.insert("disabled", doc! { "$ne": true });
        let updated = self
            .users
            .find_one_and_update(
                filter,
                doc! {
                    "$set": { field.name(): to_bson(token)? },
                    "$push": { MAIL_OUTBOX: to_bson(mail)? },
                },
            )
            .return_document(ReturnDocument::After)
            .await?;
        if updated.is_some() {
            self.mailed();
        }
        Ok(updated)
    }

    /// Spends the link token whose hash is `hash` in `field`, if it has not expired at `now`,
    /// applying `set` in the same write; the account as it was, or `None` when no account holds
    /// a live such token. A disabled account's token is not spent.
    pub async fn spend_link(
        &self,
        field: LinkField,
        hash: &str,
        now: DateTime,
        set: Document,
    ) -> Result<Option<UserDoc>, Error> {
        let mut filter = open();
        filter.insert(format!("{}.hash", field.name()), hash);
        filter.insert(format!("{}.expires_at", field.name()), doc! { "$gt": now });
        filter.insert("disabled", doc! { "$ne": true });
        self.users
            .find_one_and_update(filter, doc! { "$set": set, "$unset": { field.name(): "" } })
            .await
    }

    /// The open account that holds the live link token `hash` in `field`, disabled or not.
    pub async fn link_holder(
        &self,
        field: LinkField,
        hash: &str,
        now: DateTime,
    ) -> Result<Option<UserDoc>, Error> {
        let mut filter = open();
        filter.insert(format!("{}.hash", field.name()), hash);
        filter.insert(format!("{}.expires_at", field.name()), doc! { "$gt": now });
        self.users.find_one(filter).await
    }

    /// Applies an admin's `change` to account `id`, refusing its older tokens; the account
    /// after, or `None` if there is none.
    pub async fn apply_admin_change(
        &self,
        id: ObjectId,
        change: AdminChange,
        at: DateTime,
    ) -> Result<Option<UserDoc>, Error> {
        let mut set = doc! { TOKENS_VALID_AFTER: at };
        if let Some(role) = change.role {
            set.insert("role", role.as_str());
        }
        if let Some(disabled) = change.disabled {
            set.insert("disabled", disabled);
        }
        self.users
            .find_one_and_update(Self::id_filter(id), doc! { "$set": set })
            .return_document(ReturnDocument::After)
            .await
    }

    /// How many open, enabled admins there are other than `except`.
    pub async fn other_active_admins(&self, except: ObjectId) -> Result<u64, Error> {
        let mut filter = open();
        filter.insert("_id", doc! { "$ne": except });
        filter.insert("role", Role::Admin.as_str());
        filter.insert("disabled", doc! { "$ne": true });
        self.users.count_documents(filter).await
    }

    /// Closes account `id` in one write: records `user.deleted` with the account as it last was,
    /// frees its email (so it can register again), removes its name, password and links, and
    /// refuses every token it had. The closed document is purged once those tokens have expired
    /// (`tokens_live`). `false` if there is no such account.
    pub async fn close(
        &self,
        id: ObjectId,
        at: DateTime,
        tokens_live: Duration,
    ) -> Result<bool, Error> {
        let scrub = events::set_literally(doc! {
            "email": format!("closed-{}", id.to_hex()),
            "name": "",
            "closed_at": at,
            "purge_at": time::plus(at, tokens_live),
            TOKENS_VALID_AFTER: at,
        });
        let pipeline = vec![
            events::append(EventType::UserDeleted, at, NOT_IN_EVENTS),
            scrub,
            doc! { "$unset": ["password_hash", "verification", "password_reset", MAIL_OUTBOX] },
        ];
        let result = self.users.update_one(Self::id_filter(id), pipeline).await?;
        if result.modified_count == 1 {
            self.recorded();
        }
        Ok(result.modified_count == 1)
    }
}
