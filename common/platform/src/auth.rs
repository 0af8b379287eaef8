//! Keeps a service's token cutoffs current (see [`common_api::auth`]): the accounts whose tokens
//! issued before an instant are refused, read from the `tokens_valid_after` of their documents.
//!
//! Where its truth comes from: every [`POLL`], the cutoffs stamped within the last [`RECENT`]
//! (an index range on `tokens_valid_after`, a handful of accounts at most); every [`FULL_EVERY`],
//! every cutoff within the last token lifetime (older ones refuse only tokens that have expired
//! anyway, and are forgotten then). The full read also catches a cutoff whose write landed more
//! than [`RECENT`] after its stamp (a write retried across a failover, or a user service whose
//! clock runs behind). So a password change, a role change or a disable refuses the account's
//! older tokens on every service and replica within about [`POLL`], with no database read per
//! request, on a standalone server and a replica set alike.
//!
//! Why polling and not a change stream: a change stream makes the server examine every write to
//! the database, whatever the stream filters, and wakes on each; with three services following
//! `users` that cost a quarter of the primary's CPU while orders poured in, against a few indexed
//! reads a second here (measured in BENCHMARKS.md, "Flash sale").

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common_api::auth::{TOKENS_VALID_AFTER, TokenKeys, USERS};
use futures_util::TryStreamExt;
use mongodb::{
    Collection, Database,
    bson::{DateTime, Document, doc},
    error::Error,
};
use tokio::time::Instant;

use crate::{config::Config, server::Shutdown};

/// How often the cutoffs stamped lately are read.
pub const POLL: Duration = Duration::from_millis(250);

/// How far back (by this service's clock) a poll reads cutoffs.
const RECENT: Duration = Duration::from_secs(60);

/// How often every cutoff of the last token lifetime is read, and older ones forgotten.
const FULL_EVERY: Duration = Duration::from_secs(60);

/// How long to wait after a failed read.
const RETRY: Duration = Duration::from_secs(1);

/// A token's clock leeway, which keeps a cutoff longer than the token lifetime alone would.
const LEEWAY: Duration = Duration::from_secs(60);

/// The service's token keys, with their cutoffs kept current from `db` until `shutdown`.
pub fn token_keys(config: &Config, db: &Database, shutdown: Shutdown) -> TokenKeys {
    let keys = TokenKeys::new(&config.jwt_secret, config.access_token_ttl);
    tokio::spawn(follow(db.collection(USERS), keys.clone(), shutdown));
    keys
}

async fn follow(users: Collection<Document>, keys: TokenKeys, mut shutdown: Shutdown) {
    let mut full_due = Instant::now();
    loop {
        let full = Instant::now() >= full_due;
        let since = if full {
            oldest_relevant(&keys) * 1000
        } else {
            unix_millis() - i64::try_from(RECENT.as_millis()).unwrap_or(i64::MAX)
        };
        let pause = match load(&users, &keys, since).await {
            Ok(()) => {
                if full {
                    keys.cutoffs()
                        .forget_before(u64::try_from(oldest_relevant(&keys)).unwrap_or(0));
                    full_due = Instant::now() + FULL_EVERY;
                }
                POLL
            }
            Err(err) => {
                tracing::warn!(error = %err, "token cutoffs could not be read; retrying");
                RETRY
            }
        };
        tokio::select! {
            () = shutdown.signalled() => return,
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// Reads the cutoffs stamped after `since` (milliseconds since the epoch).
async fn load(users: &Collection<Document>, keys: &TokenKeys, since: i64) -> Result<(), Error> {
    let recent: Vec<Document> = users
        .find(doc! { TOKENS_VALID_AFTER: { "$gt": DateTime::from_millis(since) } })
        .projection(doc! { TOKENS_VALID_AFTER: 1 })
        .await?
        .try_collect()
        .await?;
    keys.cutoffs().merge(recent.iter().filter_map(|account| {
        let id = account.get_object_id("_id").ok()?;
        let at = account.get_datetime(TOKENS_VALID_AFTER).ok()?;
        Some((id, at.timestamp_millis()))
    }));
    Ok(())
}

fn unix_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

/// The second before which a cutoff refuses only expired tokens.
fn oldest_relevant(keys: &TokenKeys) -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let kept = (keys.access_ttl() + LEEWAY).as_secs();
    i64::try_from(now.saturating_sub(kept)).unwrap_or(0)
}
