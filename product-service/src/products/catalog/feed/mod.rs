//! Loads the catalog from MongoDB and keeps it current: a change stream on a replica set, a
//! periodic reload on a standalone server (see the module above for how stale that allows).
//!
//! This part only moves events; what an event means for the model is `translate`'s, a pure
//! function of the events and the model as it is.

#[cfg(test)]
mod tests;
mod translate;

use std::{collections::HashMap, time::Duration};

use common_api::money::Currency;
use common_platform::server::Shutdown;
use futures_util::{FutureExt, StreamExt, TryStreamExt};
use mongodb::{bson::oid::ObjectId, error::Error};

use self::translate::{MODEL_FIELDS, Translation, row_from_raw};
use super::{Catalog, Change, Model, Row};
use crate::store::{ChangeEvents, ProductStore, Watch};

/// How often a standalone server's catalog is reloaded unless `CATALOG_POLL_SECS` says otherwise.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5);
/// The first pause before reopening a failed change stream; it doubles up to [`RETRY_MAX`].
const RETRY_MIN: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// The most change events applied under one write lock.
const MAX_BATCH: usize = 8192;

/// Loads the catalog from `products` and keeps it current in the background until `shutdown`.
pub async fn start(
    products: &ProductStore,
    currency: Currency,
    poll_interval: Duration,
    shutdown: Shutdown,
) -> Result<Catalog, Error> {
    let catalog = Catalog::new(currency);
    let watch = resync(products, &catalog).await?;
    if matches!(watch, Watch::Unsupported) {
        tracing::info!(
            ?poll_interval,
            "MongoDB offers no change streams here (standalone); the catalog is reloaded periodically"
        );
    }
    tokio::spawn(keep_current(
        products.clone(),
        catalog.clone(),
        watch,
        poll_interval,
        shutdown,
    ));
    Ok(catalog)
}

/// Opens a change stream (if the server has them), then loads the whole catalog into `catalog`.
/// The stream is opened first, so that a change made during the load is delivered afterwards.
async fn resync(products: &ProductStore, catalog: &Catalog) -> Result<Watch, Error> {
    let watch = products.watch(&MODEL_FIELDS).await?;
    let started = std::time::Instant::now();
    let model = load(products, catalog.currency()).await?;
    tracing::debug!(
        products = model.len(),
        approx_bytes = model.heap_bytes(),
        took = ?started.elapsed(),
        "catalog loaded"
    );
    catalog.replace(model);
    Ok(watch)
}

async fn keep_current(
    products: ProductStore,
    catalog: Catalog,
    watch: Watch,
    poll_interval: Duration,
    mut shutdown: Shutdown,
) {
    let mut watch = Some(watch);
    let mut retry = RETRY_MIN;
    loop {
        let pause = match watch.take() {
            Some(Watch::Stream(mut stream)) => {
                let ended = tokio::select! {
                    () = shutdown.signalled() => return,
                    ended = follow(&mut stream, &products, &catalog) => ended,
                };
                match ended {
                    Ok(()) => tracing::info!("catalog change stream invalidated; reloading"),
                    Err(err) => {
                        tracing::warn!(error = %err, "catalog change stream failed; reloading")
                    }
                }
                retry
            }
            Some(Watch::Unsupported) => poll_interval,
            None => retry,
        };
        tokio::select! {
            () = shutdown.signalled() => return,
            () = tokio::time::sleep(pause) => {}
        }
        match resync(&products, &catalog).await {
            Ok(next) => {
                watch = Some(next);
                retry = RETRY_MIN;
            }
            Err(err) => {
                tracing::warn!(error = %err, "catalog reload failed; retrying");
                retry = (retry * 2).min(RETRY_MAX);
            }
        }
    }
}

/// Applies events until the stream is invalidated (`Ok`) or fails (`Err`). Events that are
/// already waiting are applied together, under one write lock.
async fn follow(
    stream: &mut ChangeEvents,
    products: &ProductStore,
    catalog: &Catalog,
) -> Result<(), Error> {
    loop {
        let Some(first) = stream.next().await else {
            return Ok(());
        };
        let mut events = vec![first?];
        let mut failure = None;
        while events.len() < MAX_BATCH {
            // Only what has already arrived: a pending fetch stays in the stream for next time.
            match stream.next().now_or_never() {
                Some(Some(Ok(event))) => events.push(event),
                Some(Some(Err(err))) => {
                    failure = Some(err);
                    break;
                }
                Some(None) | None => break,
            }
        }
        let Translation {
            changes,
            missing,
            invalidated,
        } = catalog.with_model(|model| translate::translate(events, model, catalog.currency()));
        catalog.apply(changes);
        if !missing.is_empty() {
            catalog.apply(fetch(products, &missing, catalog.currency()).await?);
        }
        if let Some(err) = failure {
            return Err(err);
        }
        if invalidated {
            return Ok(());
        }
    }
}

/// Reads the whole catalog into a new model, streaming: no copy of the collection is held.
async fn load(products: &ProductStore, currency: Currency) -> Result<Model, Error> {
    let expected = products.estimated_count().await;
    let mut model = Model::with_capacity(usize::try_from(expected).unwrap_or(0));
    model.begin_bulk();
    let mut cursor = products.all_raw(&MODEL_FIELDS).await?;
    while let Some(raw) = cursor.try_next().await? {
        if let Some(row) = row_from_raw(&raw, currency) {
            model.upsert(row);
        }
    }
    model.end_bulk();
    Ok(model)
}

/// The current state of `ids`: a row for each that exists, a removal for each that does not.
async fn fetch(
    products: &ProductStore,
    ids: &[ObjectId],
    currency: Currency,
) -> Result<Vec<Change>, Error> {
    let mut found: HashMap<ObjectId, Row> = HashMap::new();
    let mut cursor = products.some_raw(ids, &MODEL_FIELDS).await?;
    while let Some(raw) = cursor.try_next().await? {
        if let Some(row) = row_from_raw(&raw, currency) {
            found.insert(row.id, row);
        }
    }
    Ok(ids
        .iter()
        .map(|id| found.remove(id).map_or(Change::Remove(*id), Change::Upsert))
        .collect())
}
