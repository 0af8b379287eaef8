//! The failed-login limit: at most [`MAX_FAILURES`] wrong passwords per email within [`WINDOW`].
//!
//! The state lives in MongoDB (`login_attempts`, one document per email, its `attempts` the
//! times of recorded failures), so the limit holds across restarts and across replicas. Only
//! *outcomes* are written, never attempts in flight: a login [`checks`](LoginAttempts::check)
//! the limit, verifies the password, and only a wrong password is
//! [`recorded`](LoginAttempts::record_failure). A right password, or a request dropped before
//! its outcome (the client went away mid-bcrypt), leaves nothing behind.
//!
//! Recording is one atomic pipeline update that drops failures older than the window and appends
//! the new one only while fewer than the limit remain; a wrong guess that finds the limit already
//! full is answered 429, not 401. A right password is accepted only if the limit is still open
//! when its verification ends. So every verdict a client receives is as if the guesses had been
//! made one at a time in the order they finished: however many race, no more than five wrong
//! verdicts (and no right one after them) are given per window.
//!
//! Times come from the server (`$$NOW`), so replicas with skewed clocks agree. A TTL index
//! removes a document once its newest failure has left the window.

use std::time::Duration;

use common_api::time;
use common_platform::db::ttl_index;
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
    /// Recorded failures (the name predates the rule that only failures are stored).
    attempts: Vec<FailureEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct FailureEntry {
    id: ObjectId,
    at: DateTime,
}

/// The failures of one email still inside the window, as of the server's clock.
#[derive(Debug, Deserialize)]
struct RecentFailures {
    recent: Vec<FailureEntry>,
    now: DateTime,
}

/// Whether an email may try a password now.
#[derive(Debug, PartialEq, Eq)]
pub enum LoginLimit {
    /// Fewer than [`MAX_FAILURES`] failures within the window.
    Open,
    /// Too many failures: try again after this many seconds.
    Blocked { retry_after_secs: u64 },
}

/// What recording a wrong password led to.
#[derive(Debug, PartialEq, Eq)]
pub enum FailureRecord {
    /// The failure was counted; the client may learn that the password was wrong (401).
    Counted,
    /// The limit was already full (concurrent guesses got there first); nothing was counted and
    /// the client must not learn the verdict (429).
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

    /// Creates the TTL index that removes documents whose failures have all expired.
    pub async fn ensure_indexes(&self) -> Result<(), Error> {
        let expiry = ttl_index("expires_at", Duration::ZERO, "expires_at_ttl", None);
        self.attempts.create_index(expiry).await?;
        Ok(())
    }

    /// Whether `email` may try a password now; writes nothing.
    pub async fn check(&self, email: &str) -> Result<LoginLimit, Error> {
        let pipeline = vec![
            doc! { "$match": { "_id": email } },
            doc! { "$project": {
                "_id": 0,
                "recent": { "$filter": {
                    "input": { "$ifNull": ["$attempts", []] },
                    "cond": { "$gt": ["$$this.at", { "$subtract": ["$$NOW", time::millis(WINDOW)] }] },
                } },
                "now": "$$NOW",
            } },
        ];
        let mut cursor = self
            .attempts
            .aggregate(pipeline)
            .with_type::<RecentFailures>()
            .await?;
        if !cursor.advance().await? {
            return Ok(LoginLimit::Open);
        }
        let failures = cursor.deserialize_current()?;
        if failures.recent.len() < MAX_FAILURES.unsigned_abs() as usize {
            return Ok(LoginLimit::Open);
        }
        Ok(LoginLimit::Blocked {
            retry_after_secs: retry_after(&failures.recent, failures.now),
        })
    }

    /// Counts a wrong password for `email`, unless the limit is already full.
    pub async fn record_failure(&self, email: &str) -> Result<FailureRecord, Error> {
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
        // Two first failures for one email may race to insert its document; the loser's upsert
        // fails on the unique `_id` and, run again, updates the winner's document.
        let doc = match upsert().await {
            Err(err) if common_platform::db::is_duplicate_key(&err) => upsert().await?,
            result => result?,
        };
        // An upsert with ReturnDocument::After always returns the document.
        let Some(doc) = doc else {
            return Ok(FailureRecord::Counted);
        };
        if doc.attempts.iter().any(|failure| failure.id == id) {
            return Ok(FailureRecord::Counted);
        }
        Ok(FailureRecord::Blocked {
            retry_after_secs: retry_after(&doc.attempts, DateTime::now()),
        })
    }
}

/// Whole seconds (at least one) until the oldest of `failures` leaves the window.
fn retry_after(failures: &[FailureEntry], now: DateTime) -> u64 {
    let oldest = failures
        .iter()
        .map(|failure| failure.at)
        .min()
        .unwrap_or(now);
    let wait_ms = time::plus(oldest, WINDOW)
        .timestamp_millis()
        .saturating_sub(now.timestamp_millis());
    wait_ms.max(1000).unsigned_abs().div_ceil(1000)
}
