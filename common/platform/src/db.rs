//! Connecting to MongoDB with short timeouts, paged reads, TTL indexes, and duplicate-key errors.
//!
//! Timeouts are the driver's own: an operation that needs an unreachable database fails server
//! selection within [`SERVER_SELECTION_TIMEOUT`] instead of hanging; a whole request is bounded
//! by [`crate::deadline`]. Once the database is back, the driver's monitor finds it again and
//! requests succeed without a restart.

use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use mongodb::{
    Client, Collection, Database, IndexModel,
    bson::{Document, doc},
    error::{Error, ErrorKind, WriteFailure},
    event::EventHandler,
    options::{ClientOptions, IndexOptions},
};
use serde::de::DeserializeOwned;

use common_api::pagination::Page;

use crate::config::Config;

/// How long an operation waits for a usable server before failing (contract: 503 within 2 s).
/// Shorter than a request's database budget ([`crate::deadline::DB_BUDGET`]), so that in an
/// outage the driver's own error usually answers first: it tells the outage apart from a slow
/// database and closes the gate that refuses the requests after it at once.
pub const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(1);
/// How long opening one connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Connections per server unless the URI's `maxPoolSize` says otherwise. The Rust driver's own
/// default is 10, which queues requests behind each other under load long before the database
/// is busy; 100 is what the other official drivers use.
pub const DEFAULT_MAX_POOL_SIZE: u32 = 100;

/// Builds a client for `config.mongo_uri` and returns its database `config.db_name`.
///
/// A connect timeout or pool size given in the URI wins; server selection is capped at
/// [`SERVER_SELECTION_TIMEOUT`] whatever the URI says, since the contract promises an answer within
/// 2 s during an outage. No I/O happens until the first operation, so callers follow with
/// [`wait_until_reachable`].
pub async fn connect(config: &Config, app_name: &str) -> Result<Database, Error> {
    let mut options = ClientOptions::parse(config.mongo_uri.expose()).await?;
    options.app_name.get_or_insert_with(|| app_name.to_owned());
    options.server_selection_timeout = Some(
        options
            .server_selection_timeout
            .map_or(SERVER_SELECTION_TIMEOUT, |t| {
                t.min(SERVER_SELECTION_TIMEOUT)
            }),
    );
    options.connect_timeout.get_or_insert(CONNECT_TIMEOUT);
    options.max_pool_size.get_or_insert(DEFAULT_MAX_POOL_SIZE);
    // Off by default: with a handler set, the driver builds a full document of every command
    // and every reply for its events, which halved the catalog's list throughput (BENCHMARKS.md).
    if config.mongodb_command_metrics {
        options.command_event_handler =
            Some(EventHandler::callback(crate::metrics::record_command));
    }
    let client = Client::with_options(options)?;
    Ok(client.database(&config.db_name))
}

/// Runs `ping` and returns how long the round trip took.
pub async fn ping(db: &Database) -> Result<Duration, Error> {
    let started = Instant::now();
    db.run_command(doc! { "ping": 1 }).await?;
    Ok(started.elapsed())
}

/// Pings until the database answers, up to `attempts` times with a growing pause, so a service
/// started together with its database does not give up while the database is still booting.
pub async fn wait_until_reachable(db: &Database, attempts: u32) -> Result<(), Error> {
    let mut attempt = 1;
    loop {
        match ping(db).await {
            Ok(_) => return Ok(()),
            Err(err) if attempt < attempts => {
                tracing::warn!(attempt, error = %err, "database not reachable yet, retrying");
                tokio::time::sleep(Duration::from_millis(500) * attempt).await;
                attempt += 1;
            }
            Err(err) => return Err(err),
        }
    }
}

/// One page of the documents matching `filter` in `sort` order, and how many match in all. The
/// count and the page are read concurrently, so a list costs one round trip of latency.
pub async fn find_page<T>(
    collection: &Collection<T>,
    filter: Document,
    sort: Document,
    page: Page,
) -> Result<(Vec<T>, u64), Error>
where
    T: DeserializeOwned + Send + Sync,
{
    let total = collection.count_documents(filter.clone()).into_future();
    let items = async move {
        collection
            .find(filter)
            .sort(sort)
            .skip(page.skip())
            .limit(page.limit())
            .await?
            .try_collect()
            .await
    };
    tokio::try_join!(items, total)
}

/// An index whose documents MongoDB deletes `after` the instant in their `field` (a TTL index),
/// named `name`; with `only`, a partial index over the documents matching it, so writes of other
/// documents add no entry.
pub fn ttl_index(field: &str, after: Duration, name: &str, only: Option<Document>) -> IndexModel {
    let options = IndexOptions::builder()
        .expire_after(after)
        .name(name.to_owned())
        .partial_filter_expression(only)
        .build();
    IndexModel::builder()
        .keys(doc! { field: 1 })
        .options(options)
        .build()
}

/// How many documents [`rewrite_each`] rewrites at once.
const REWRITES_AT_ONCE: usize = 16;

/// Rewrites each document of `collection` that `filter` matches, for a backfill run at startup:
/// `rewrite` gives, for a document, the filter its update must still match (so a document changed
/// meanwhile is left as it now is) and the update, or `None` to leave it. Returns how many
/// documents were changed; running it again changes none of those.
pub async fn rewrite_each(
    collection: &Collection<Document>,
    filter: Document,
    rewrite: impl Fn(&Document) -> Option<(Document, Document)>,
) -> Result<u64, Error> {
    let changed = std::sync::atomic::AtomicU64::new(0);
    collection
        .find(filter)
        .await?
        .try_for_each_concurrent(REWRITES_AT_ONCE, |document| {
            let write = rewrite(&document);
            let changed = &changed;
            async move {
                if let Some((unchanged, update)) = write {
                    let result = collection.update_one(unchanged, update).await?;
                    changed.fetch_add(result.modified_count, std::sync::atomic::Ordering::Relaxed);
                }
                Ok(())
            }
        })
        .await?;
    Ok(changed.into_inner())
}

/// The server error code of a unique index violation.
pub const DUPLICATE_KEY: i32 = 11000;

/// The positions of the documents an unordered `insert_many` refused as already there, if those
/// were its only failures (no other write error, no write concern error); `None` otherwise.
pub fn insert_many_duplicates(err: &Error) -> Option<Vec<usize>> {
    let ErrorKind::InsertMany(failure) = err.kind.as_ref() else {
        return None;
    };
    if failure.write_concern_error.is_some() {
        return None;
    }
    failure
        .write_errors
        .iter()
        .flatten()
        .map(|e| (e.code == DUPLICATE_KEY).then_some(e.index))
        .collect()
}

/// Whether `err` is a unique index violation (code 11000), from any kind of write.
pub fn is_duplicate_key(err: &Error) -> bool {
    match err.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(e)) => e.code == DUPLICATE_KEY,
        ErrorKind::Command(e) => e.code == DUPLICATE_KEY,
        ErrorKind::InsertMany(e) => e
            .write_errors
            .iter()
            .flatten()
            .any(|e| e.code == DUPLICATE_KEY),
        _ => false,
    }
}

/// The server error codes of creating an index that exists under other options.
const INDEX_OPTIONS_CONFLICT: [i32; 2] = [85, 86];

/// Creates the TTL index [`ttl_index`] describes on `collection`, or, when it exists with another
/// expiry (the retention setting changed), changes its expiry in place.
pub async fn ensure_ttl_index<T: Send + Sync>(
    collection: &Collection<T>,
    field: &str,
    after: Duration,
    name: &str,
) -> Result<(), Error> {
    let created = collection
        .create_index(ttl_index(field, after, name, None))
        .await;
    match created {
        Ok(_) => Ok(()),
        Err(err) if matches!(err.kind.as_ref(), ErrorKind::Command(e) if INDEX_OPTIONS_CONFLICT.contains(&e.code)) =>
        {
            let seconds = i64::try_from(after.as_secs()).unwrap_or(i64::MAX);
            collection
                .client()
                .database(&collection.namespace().db)
                .run_command(doc! {
                    "collMod": collection.name(),
                    "index": { "name": name, "expireAfterSeconds": seconds },
                })
                .await?;
            Ok(())
        }
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use mongodb::bson::to_document;

    use super::*;

    /// What the driver sends to `createIndexes` for `index`: its keys and options.
    fn definition(index: &IndexModel) -> (Document, Document) {
        let options = index
            .options
            .as_ref()
            .map_or_else(Document::new, |options| to_document(options).unwrap());
        (index.keys.clone(), options)
    }

    // Deployments already hold these indexes under these names; a changed definition under the
    // same name would make `createIndexes` fail, so the helper must send exactly what the
    // hand-written builders it replaced sent.
    #[test]
    fn a_ttl_index_is_defined_as_the_hand_built_ones_it_replaced() {
        let hand_built = IndexModel::builder()
            .keys(doc! { "expires_at": 1 })
            .options(
                IndexOptions::builder()
                    .expire_after(Duration::ZERO)
                    .name("expires_at_ttl".to_owned())
                    .build(),
            )
            .build();
        let helper = ttl_index("expires_at", Duration::ZERO, "expires_at_ttl", None);
        assert_eq!(definition(&helper), definition(&hand_built));
    }

    #[test]
    fn a_partial_ttl_index_is_defined_as_the_hand_built_one_it_replaced() {
        let only = doc! { "status": "FAILED" };
        let hand_built = IndexModel::builder()
            .keys(doc! { "expires_at": 1 })
            .options(
                IndexOptions::builder()
                    .expire_after(Duration::from_secs(3600))
                    .partial_filter_expression(only.clone())
                    .name("tombstone_ttl".to_owned())
                    .build(),
            )
            .build();
        let helper = ttl_index(
            "expires_at",
            Duration::from_secs(3600),
            "tombstone_ttl",
            Some(only),
        );
        assert_eq!(definition(&helper), definition(&hand_built));
        assert_eq!(
            definition(&helper).1,
            doc! {
                "expireAfterSeconds": 3600,
                "name": "tombstone_ttl",
                "partialFilterExpression": { "status": "FAILED" },
            }
        );
    }
}
