//! One admin change at a time: a lease (`locks`, one document) that an admin's change to an
//! account holds while it checks that another active admin remains and applies the change, so
//! two admins demoting each other at the same instant cannot leave the shop without one. A
//! holder that dies leaves a lease that lapses after [`LEASE`].

use std::time::Duration;

use common_api::time;
use common_platform::db::is_duplicate_key;
use mongodb::{
    Collection, Database,
    bson::{DateTime, Document, doc, oid::ObjectId},
    error::Error,
};

/// How long a lease lasts: far longer than a check and a write.
const LEASE: Duration = Duration::from_secs(10);

/// How long to wait before asking again.
const RETRY: Duration = Duration::from_millis(5);

/// The lock's document id.
const ADMIN_CHANGES: &str = "admin_changes";

/// The lease on admin changes.
#[derive(Clone)]
pub struct AdminLock {
    locks: Collection<Document>,
}

/// A held lease; release it with [`AdminLock::release`].
#[derive(Debug)]
pub struct Held(ObjectId);

impl AdminLock {
    /// The lock in `db.locks`.
    pub fn new(db: &Database) -> Self {
        Self {
            locks: db.collection("locks"),
        }
    }

    /// Waits for the lease and takes it.
    pub async fn acquire(&self) -> Result<Held, Error> {
        let holder = ObjectId::new();
        loop {
            let now = DateTime::now();
            let taken = self
                .locks
                .update_one(
                    doc! { "_id": ADMIN_CHANGES, "until": { "$lt": now } },
                    doc! { "$set": { "holder": holder, "until": time::plus(now, LEASE) } },
                )
                .upsert(true)
                .await;
            match taken {
                Ok(_) => return Ok(Held(holder)),
                // Held by another: the upsert collides with the existing document.
                Err(err) if is_duplicate_key(&err) => tokio::time::sleep(RETRY).await,
                Err(err) => return Err(err),
            }
        }
    }

    /// Gives the lease back (if it is still this holder's).
    pub async fn release(&self, held: Held) -> Result<(), Error> {
        self.locks
            .update_one(
                doc! { "_id": ADMIN_CHANGES, "holder": held.0 },
                doc! { "$set": { "until": DateTime::from_millis(0) } },
            )
            .await?;
        Ok(())
    }
}
