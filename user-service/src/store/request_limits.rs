//! Limits on requests per key (an email, an account) that must hold across replicas and
//! restarts: at most `max` requests per fixed window, counted in MongoDB (`request_limits`, one
//! document per key, removed by a TTL index when its window ends). A key is limited whether or
//! not an account stands behind it, so a limit reveals nothing about which emails have accounts.

use std::time::Duration;

use common_api::time;
use common_platform::db::{is_duplicate_key, ttl_index};
use mongodb::{
    Collection, Database,
    bson::{DateTime, doc},
    error::Error,
    options::ReturnDocument,
};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Window {
    count: i64,
    ends: DateTime,
    now: DateTime,
}

/// Whether a request may go on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allowance {
    /// It may.
    Allowed,
    /// The key's window is full: try again after this many seconds.
    Limited { retry_after_secs: u64 },
}

/// Counts requests per key.
#[derive(Clone)]
pub struct RequestLimits {
    windows: Collection<Window>,
}

impl RequestLimits {
    /// The store over `db.request_limits`.
    pub fn new(db: &Database) -> Self {
        Self {
            windows: db.collection("request_limits"),
        }
    }

    /// Creates the TTL index that removes a window once it has ended.
    pub async fn ensure_indexes(&self) -> Result<(), Error> {
        let expiry = ttl_index("ends", Duration::ZERO, "window_end_ttl", None);
        self.windows.create_index(expiry).await?;
        Ok(())
    }

    /// Counts a request of `key` against `max` per `window` (server time); whether it may go on.
    pub async fn hit(&self, key: &str, max: i64, window: Duration) -> Result<Allowance, Error> {
        let over = doc! { "$lt": [{ "$ifNull": ["$ends", DateTime::from_millis(0)] }, "$$NOW"] };
        let pipeline = vec![doc! { "$set": {
            "count": { "$cond": [over.clone(), 1, { "$add": ["$count", 1] }] },
            "ends": { "$cond": [over, { "$add": ["$$NOW", time::millis(window)] }, "$ends"] },
            "now": "$$NOW",
        } }];
        let hit = || {
            self.windows
                .find_one_and_update(doc! { "_id": key }, pipeline.clone())
                .upsert(true)
                .return_document(ReturnDocument::After)
        };
        // Two first requests of a key may race to insert its document; the loser runs again.
        let counted = match hit().await {
            Err(err) if is_duplicate_key(&err) => hit().await?,
            result => result?,
        };
        Ok(match counted {
            Some(window) if window.count > max => {
                let left = window.ends.timestamp_millis() - window.now.timestamp_millis();
                Allowance::Limited {
                    retry_after_secs: u64::try_from(left).unwrap_or(0).div_ceil(1000).max(1),
                }
            }
            _ => Allowance::Allowed,
        })
    }
}
