//! The failed-login limit: at most [`MAX_FAILURES`] failures per email within [`WINDOW`].
//!
//! The state lives in MongoDB (`login_attempts`, one document per email), so the limit holds
//! across restarts and across replicas of the service. A login first *claims* a slot with one
//! atomic pipeline update: it drops attempts older than the window and appends its own only while
//! fewer than the limit remain. A slot is given back when the password turns out right, so only
//! failures stay counted, and concurrent guesses cannot slip past the limit between a check and a
//! write. Times come from the server (`$$NOW`), so replicas with skewed clocks agree. A TTL index
//! removes a document once its newest attempt has left the window.

use std::time::Duration;

use common::{db::ttl_index, time};
use mongodb::{
    Collection, Database,
    bson::{DateTime, doc, oid::ObjectId},
    error::Error,
    options::ReturnDocument,
};
use serde::{Deserialize, Serialize};

/// Failures allowed within [`WINDOW`] before logins for that email answer 429.
pub const MAX_FAILURES: i32 = 5;
/// How long a failure counts.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Serialize, Deserialize)]
struct AttemptsDoc {
    #[serde(rename = "_id")]
    email: String,
    attempts: Vec<AttemptEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct AttemptEntry {
    id: ObjectId,
    at: DateTime,
}

/// The result of claiming a login attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum LoginAttempt {
    /// The attempt may proceed; give the slot back with [`LoginAttempts::succeeded`] if the
    /// password is right.
    Admitted(ObjectId),
    /// Too many failures: try again after this many seconds.
    Blocked { retry_after_secs: u64 },
}

/// Counts failed logins per email.
#[derive(Clone)]
pub struct LoginAttempts {
    attempts: Collection<AttemptsDoc>,
}

impl LoginAttempts {
    /// The store over `db.login_attempts`.
    pub fn new(db: &Database) -> Self {
        Self {
            attempts: db.collection("login_attempts"),
        }
    }

    /// Creates the TTL index that removes documents whose attempts have all expired.
    pub async fn ensure_indexes(&self) -> Result<(), Error> {
        let expiry = ttl_index("expires_at", Duration::ZERO, "expires_at_ttl", None);
        self.attempts.create_index(expiry).await?;
        Ok(())
    }

    /// Claims an attempt for `email`, or reports how long it is blocked.
    pub async fn begin(&self, email: &str) -> Result<LoginAttempt, Error> {
        let id = ObjectId::new();
        let window_ms = time::millis(WINDOW);
        let pipeline = vec![
            doc! { "$set": { "attempts": { "$filter": {
                "input": { "$ifNull": ["$attempts", []] },
                "cond": { "$gt": ["$$this.at", { "$subtract": ["$$NOW", window_ms] }] },
            } } } },
            doc! { "$set": { "attempts": { "$cond": [
                { "$lt": [{ "$size": "$attempts" }, MAX_FAILURES] },
                { "$concatArrays": ["$attempts", [{ "id": id, "at": "$$NOW" }]] },
                "$attempts",
            ] } } },
            doc! { "$set": { "expires_at": { "$add": [{ "$max": "$attempts.at" }, window_ms] } } },
        ];
        let upsert = || {
            self.attempts
                .find_one_and_update(doc! { "_id": email }, pipeline.clone())
                .upsert(true)
                .return_document(ReturnDocument::After)
        };
        // Two first attempts for one email may race to insert its document; the loser's upsert
        // fails on the unique `_id` and, run again, updates the winner's document.
        let doc = match upsert().await {
            Err(err) if common::db::is_duplicate_key(&err) => upsert().await?,
            result => result?,
        };
        let Some(doc) = doc else {
            // An upsert with ReturnDocument::After always returns the document.
            return Ok(LoginAttempt::Admitted(id));
        };
        if doc.attempts.iter().any(|attempt| attempt.id == id) {
            return Ok(LoginAttempt::Admitted(id));
        }
        let oldest = doc
            .attempts
            .iter()
            .map(|attempt| attempt.at)
            .min()
            .unwrap_or(DateTime::from_millis(0));
        let unblocks_at = time::plus(oldest, WINDOW);
        let wait_ms = unblocks_at
            .timestamp_millis()
            .saturating_sub(DateTime::now().timestamp_millis());
        Ok(LoginAttempt::Blocked {
            retry_after_secs: wait_ms.max(1000).unsigned_abs().div_ceil(1000),
        })
    }

    /// Gives back the slot of a successful attempt, so that only failures count.
    pub async fn succeeded(&self, email: &str, attempt: ObjectId) -> Result<(), Error> {
        self.attempts
            .update_one(
                doc! { "_id": email },
                doc! { "$pull": { "attempts": { "id": attempt } } },
            )
            .await?;
        Ok(())
    }
}
