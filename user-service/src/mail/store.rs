//! The `mails` collection, and the move of recorded mails into it from the accounts'
//! `mail_outbox` (the protocol is explained in [`super::mailer`]).

use std::time::Duration;

use common_platform::db::ttl_index;
use futures_util::TryStreamExt;
use mongodb::{
    Collection, Database, IndexModel,
    bson::{DateTime, Document, doc, oid::ObjectId},
    error::Error,
    options::{IndexOptions, InsertManyOptions, ReturnDocument},
};
use serde::{Deserialize, Serialize};

use super::{MAIL_OUTBOX, MailEntry};
use crate::store::USERS;

/// The name of the collection of mails taken from the accounts.
pub const MAILS: &str = "mails";

/// How long a settled mail is kept (a TTL index removes it after); a pending one is kept until
/// it is settled.
pub const SETTLED_KEPT: Duration = Duration::from_secs(7 * 24 * 3600);

/// Where a mail stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum MailStatus {
    /// Not sent yet; attempted at `next_attempt_at`.
    Pending,
    /// The SMTP server accepted it.
    Sent,
    /// Written to the log instead (no `SMTP_URL`).
    Logged,
    /// Its link stopped working before it could be sent; it never will be.
    Expired,
}

impl MailStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Sent => "SENT",
            Self::Logged => "LOGGED",
            Self::Expired => "EXPIRED",
        }
    }
}

/// A mail taken from its account, under its entry's id.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MailDoc {
    /// The entry's id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// The entry as it was recorded.
    pub entry: MailEntry,
    /// Where it stands.
    pub status: MailStatus,
    /// How many attempts failed so far.
    #[serde(default)]
    pub failures: i32,
    /// Why the last attempt failed, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When it is attempted next (or, while claimed, when the claim lapses); absent once settled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime>,
    /// When it was settled; the TTL index removes it [`SETTLED_KEPT`] after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled_at: Option<DateTime>,
}

impl MailDoc {
    /// A pending mail of `entry`, due `now`.
    pub(super) fn pending(entry: MailEntry, now: DateTime) -> Self {
        Self {
            id: entry.id,
            entry,
            status: MailStatus::Pending,
            failures: 0,
            last_error: None,
            next_attempt_at: Some(now),
            settled_at: None,
        }
    }
}

/// Reads the accounts' mail outboxes and writes `mails`.
#[derive(Clone)]
pub struct MailStore {
    users: Collection<Document>,
    mails: Collection<MailDoc>,
}

impl MailStore {
    /// The store over `db.users` (outboxes only) and `db.mails`.
    pub fn new(db: &Database) -> Self {
        Self {
            users: db.collection(USERS),
            mails: db.collection(MAILS),
        }
    }

    /// Creates the partial index of accounts with recorded mails (it holds only those, so the
    /// accounts without, nearly all, cost nothing in it), the index of due mails (pending only)
    /// and the retention of settled ones.
    pub async fn ensure_indexes(&self) -> Result<(), Error> {
        let path = format!("{MAIL_OUTBOX}.id");
        let outbox = IndexModel::builder()
            .keys(doc! { &path: 1 })
            .options(
                IndexOptions::builder()
                    .name(MAIL_OUTBOX.to_owned())
                    .partial_filter_expression(doc! { &path: { "$exists": true } })
                    .build(),
            )
            .build();
        self.users.create_index(outbox).await?;
        let due = IndexModel::builder()
            .keys(doc! { "next_attempt_at": 1 })
            .options(
                IndexOptions::builder()
                    .name("due".to_owned())
                    .partial_filter_expression(doc! { "status": MailStatus::Pending.as_str() })
                    .build(),
            )
            .build();
        let settled = ttl_index(
            "settled_at",
            SETTLED_KEPT,
            "settled",
            Some(doc! { "settled_at": { "$exists": true } }),
        );
        self.mails.create_indexes([due, settled]).await?;
        Ok(())
    }

    /// Moves the mails recorded on up to `limit` accounts into `mails`, then removes them from
    /// those accounts; returns how many accounts had some. A mail already moved (by another
    /// replica, or by a pass that crashed before removing it) is recognised by its id and kept
    /// as it is.
    pub async fn move_recorded(&self, limit: i64) -> Result<usize, Error> {
        let path = format!("{MAIL_OUTBOX}.id");
        let accounts: Vec<Document> = self
            .users
            .find(doc! { &path: { "$exists": true } })
            .projection(doc! { MAIL_OUTBOX: 1 })
            .limit(limit)
            .await?
            .try_collect()
            .await?;
        if accounts.is_empty() {
            return Ok(0);
        }
        let now = DateTime::now();
        let mut ids = Vec::with_capacity(accounts.len());
        let mut mails = Vec::new();
        for account in &accounts {
            ids.push(account.get("_id").cloned().unwrap_or_default());
            let outbox = account.get_array(MAIL_OUTBOX).map(Vec::as_slice);
            for stored in outbox.unwrap_or(&[]) {
                match mongodb::bson::from_bson::<MailEntry>(stored.clone()) {
                    Ok(entry) => mails.push(MailDoc::pending(entry, now)),
                    Err(err) => {
                        tracing::error!(error = %err, "a recorded mail is malformed; left in place")
                    }
                }
            }
        }
        if !mails.is_empty() {
            let inserted = self
                .mails
                .insert_many(&mails)
                .with_options(InsertManyOptions::builder().ordered(false).build())
                .await;
            match inserted {
                Err(err) if common_platform::db::insert_many_duplicates(&err).is_none() => {
                    return Err(err);
                }
                _ => {}
            }
        }
        let moved: Vec<ObjectId> = mails.iter().map(|mail| mail.id).collect();
        self.users
            .update_many(
                doc! { "_id": { "$in": &ids } },
                doc! { "$pull": { MAIL_OUTBOX: { "id": { "$in": &moved } } } },
            )
            .await?;
        Ok(accounts.len())
    }

    /// The ids of up to `limit` mails due `now`, soonest first.
    pub async fn due(&self, now: DateTime, limit: i64) -> Result<Vec<ObjectId>, Error> {
        let due: Vec<Document> = self
            .mails
            .clone_with_type::<Document>()
            .find(doc! {
                "status": MailStatus::Pending.as_str(),
                "next_attempt_at": { "$lte": now },
            })
            .sort(doc! { "next_attempt_at": 1 })
            .projection(doc! { "_id": 1 })
            .limit(limit)
            .await?
            .try_collect()
            .await?;
        Ok(due
            .iter()
            .filter_map(|mail| mail.get_object_id("_id").ok())
            .collect())
    }

    /// Claims mail `id` if it is still due `now`, until `until`; the mail, or `None` if another
    /// sender has it or it is settled.
    pub async fn claim(
        &self,
        id: ObjectId,
        now: DateTime,
        until: DateTime,
    ) -> Result<Option<MailDoc>, Error> {
        self.mails
            .find_one_and_update(
                doc! {
                    "_id": id,
                    "status": MailStatus::Pending.as_str(),
                    "next_attempt_at": { "$lte": now },
                },
                doc! { "$set": { "next_attempt_at": until } },
            )
            .return_document(ReturnDocument::After)
            .await
    }

    /// Settles mail `id`, claimed until `claimed_until`, as `status`; `false` if the claim had
    /// lapsed and another sender took it meanwhile (the mail is then left to that one).
    pub async fn settle(
        &self,
        id: ObjectId,
        claimed_until: DateTime,
        status: MailStatus,
    ) -> Result<bool, Error> {
        let settled = self
            .mails
            .update_one(
                claimed(id, claimed_until),
                doc! {
                    "$set": { "status": status.as_str(), "settled_at": DateTime::now() },
                    "$unset": { "next_attempt_at": "" },
                },
            )
            .await?;
        Ok(settled.matched_count == 1)
    }

    /// Records a failed attempt of mail `id`, claimed until `claimed_until`, and makes it due
    /// again at `next`; `false` if the claim had lapsed and another sender took it meanwhile.
    pub async fn failed(
        &self,
        id: ObjectId,
        claimed_until: DateTime,
        error: &str,
        next: DateTime,
    ) -> Result<bool, Error> {
        let recorded = self
            .mails
            .update_one(
                claimed(id, claimed_until),
                doc! {
                    "$set": { "next_attempt_at": next, "last_error": error },
                    "$inc": { "failures": 1 },
                },
            )
            .await?;
        Ok(recorded.matched_count == 1)
    }
}

/// The filter of mail `id` while this sender's claim until `until` holds.
fn claimed(id: ObjectId, until: DateTime) -> Document {
    doc! { "_id": id, "status": MailStatus::Pending.as_str(), "next_attempt_at": until }
}
