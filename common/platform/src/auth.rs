//! Keeps a service's token cutoffs current (see [`common_api::auth`]): the accounts whose tokens
//! issued before an instant are refused, read from the `tokens_valid_after` of their documents.
//!
//! Where its truth comes from: a load of the accounts whose cutoff falls within the last token
//! lifetime (older cutoffs refuse only tokens that have expired anyway), then a change stream of
//! the updates that set a cutoff, opened before the load so nothing set during it is missed.
//! How stale it may be: a change stream event arrives within milliseconds; a failed stream is
//! reopened and the load done again; where MongoDB has no change streams (a standalone server)
//! the load runs every [`POLL`]. So a password change, a role change or a disable refuses the
//! account's older tokens on every service and replica within about a second, with no database
//! read per request.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common_api::auth::{TOKENS_VALID_AFTER, TokenKeys, USERS};
use futures_util::{StreamExt, TryStreamExt};
use mongodb::{
    Collection, Database,
    bson::{DateTime, Document, doc},
    change_stream::{ChangeStream, event::ChangeStreamEvent},
    error::{Error, ErrorKind},
};

use crate::{config::Config, server::Shutdown};

/// How often the cutoffs are loaded where MongoDB has no change streams.
pub const POLL: Duration = Duration::from_secs(1);

/// How long to wait before opening a failed change stream again.
const RETRY: Duration = Duration::from_secs(1);

/// How often cutoffs older than a token's lifetime are forgotten.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// A token's clock leeway, which keeps a cutoff longer than the token lifetime alone would.
const LEEWAY: Duration = Duration::from_secs(60);

/// The server's answer to `$changeStream` on a standalone server.
const CHANGE_STREAMS_UNSUPPORTED: i32 = 40573;

/// The service's token keys, with their cutoffs kept current from `db` until `shutdown`.
pub fn token_keys(config: &Config, db: &Database, shutdown: Shutdown) -> TokenKeys {
    let keys = TokenKeys::new(&config.jwt_secret, config.access_token_ttl);
    tokio::spawn(follow(db.collection(USERS), keys.clone(), shutdown));
    keys
}

async fn follow(users: Collection<Document>, keys: TokenKeys, mut shutdown: Shutdown) {
    loop {
        let pause = match watch(&users).await {
            Ok(Some(mut stream)) => match load(&users, &keys).await {
                Ok(()) => {
                    let ended = tokio::select! {
                        () = shutdown.signalled() => return,
                        ended = apply(&mut stream, &keys) => ended,
                    };
                    if let Err(err) = ended {
                        tracing::warn!(error = %err, "token cutoff change stream failed; reloading");
                    }
                    RETRY
                }
                Err(err) => {
                    tracing::warn!(error = %err, "token cutoffs could not be loaded; retrying");
                    RETRY
                }
            },
            Ok(None) => {
                if let Err(err) = load(&users, &keys).await {
                    tracing::warn!(error = %err, "token cutoffs could not be loaded; retrying");
                }
                POLL
            }
            Err(err) => {
                tracing::warn!(error = %err, "token cutoff change stream could not be opened; retrying");
                RETRY
            }
        };
        tokio::select! {
            () = shutdown.signalled() => return,
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// A change stream of the updates that set a cutoff; `None` where there are no change streams.
async fn watch(
    users: &Collection<Document>,
) -> Result<Option<ChangeStream<ChangeStreamEvent<Document>>>, Error> {
    let set = format!("updateDescription.updatedFields.{TOKENS_VALID_AFTER}");
    let written = format!("fullDocument.{TOKENS_VALID_AFTER}");
    let pipeline = [doc! { "$match": { "$or": [
        { "operationType": "update", &set: { "$exists": true } },
        { "operationType": { "$in": ["insert", "replace"] }, &written: { "$exists": true } },
    ] } }];
    match users.watch().pipeline(pipeline).await {
        Ok(stream) => Ok(Some(stream)),
        Err(err) if matches!(err.kind.as_ref(), ErrorKind::Command(e) if e.code == CHANGE_STREAMS_UNSUPPORTED) => {
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

/// Loads the cutoffs of the last token lifetime, and forgets older ones.
async fn load(users: &Collection<Document>, keys: &TokenKeys) -> Result<(), Error> {
    let since = oldest_relevant(keys);
    let recent: Vec<Document> = users
        .find(doc! { TOKENS_VALID_AFTER: { "$gt": DateTime::from_millis(since * 1000) } })
        .projection(doc! { TOKENS_VALID_AFTER: 1 })
        .await?
        .try_collect()
        .await?;
    keys.cutoffs().merge(recent.iter().filter_map(|account| {
        let id = account.get_object_id("_id").ok()?;
        let at = account.get_datetime(TOKENS_VALID_AFTER).ok()?;
        Some((id, at.timestamp_millis()))
    }));
    keys.cutoffs()
        .forget_before(u64::try_from(since).unwrap_or(0));
    Ok(())
}

/// Applies the stream's events until it fails or ends.
async fn apply(
    stream: &mut ChangeStream<ChangeStreamEvent<Document>>,
    keys: &TokenKeys,
) -> Result<(), Error> {
    let mut pruned = tokio::time::Instant::now();
    while let Some(event) = stream.next().await {
        let event = event?;
        let id = event
            .document_key
            .as_ref()
            .and_then(|key| key.get_object_id("_id").ok());
        let at = event
            .update_description
            .as_ref()
            .map(|update| &update.updated_fields)
            .or(event.full_document.as_ref())
            .and_then(|fields| fields.get_datetime(TOKENS_VALID_AFTER).ok());
        if let (Some(id), Some(at)) = (id, at) {
            keys.cutoffs().set(id, at.timestamp_millis());
        }
        if pruned.elapsed() > PRUNE_EVERY {
            let since = oldest_relevant(keys);
            keys.cutoffs()
                .forget_before(u64::try_from(since).unwrap_or(0));
            pruned = tokio::time::Instant::now();
        }
    }
    Ok(())
}

/// The second before which a cutoff refuses only expired tokens.
fn oldest_relevant(keys: &TokenKeys) -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let kept = (keys.access_ttl() + LEEWAY).as_secs();
    i64::try_from(now.saturating_sub(kept)).unwrap_or(0)
}
