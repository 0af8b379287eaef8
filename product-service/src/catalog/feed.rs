//! Loads the catalog from MongoDB and keeps it current: a change stream on a replica set, a
//! periodic reload on a standalone server (see the module above for how stale that allows).

use std::{collections::HashMap, time::Duration};

use common_catalog::{PRODUCTS, field};
use common_platform::server::Shutdown;
use futures_util::{FutureExt, StreamExt, TryStreamExt};
use mongodb::{
    Collection, Database,
    bson::{Bson, DateTime, Document, RawDocumentBuf, doc, oid::ObjectId},
    change_stream::{
        ChangeStream,
        event::{ChangeStreamEvent, OperationType},
    },
    error::{Error, ErrorKind},
};
use serde::Deserialize;

use super::{Catalog, Change, Model, Row};

/// How often a standalone server's catalog is reloaded unless `CATALOG_POLL_SECS` says otherwise.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5);
/// The first pause before reopening a failed change stream; it doubles up to [`RETRY_MAX`].
const RETRY_MIN: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// The most change events applied under one write lock.
const MAX_BATCH: usize = 8192;
/// The fields the model reads; an update touching none of them is not sent to it.
const MODEL_FIELDS: [&str; 7] = [
    field::NAME,
    field::PRICE,
    field::CATEGORY,
    field::CATEGORY_KEY,
    field::STOCK,
    field::SELLER_ID,
    field::CREATED_AT,
];
/// The server's answer to `$changeStream` on a standalone server.
const CHANGE_STREAMS_UNSUPPORTED: i32 = 40573;

type Events = ChangeStream<ChangeStreamEvent<RawDocumentBuf>>;

/// How the catalog follows the database.
enum Source {
    /// A change stream (replica sets).
    Stream(Box<Events>),
    /// Periodic reloads (standalone servers).
    Poll,
}

/// Loads the catalog from `db` and keeps it current in the background until `shutdown`.
pub async fn start(
    db: &Database,
    poll_interval: Duration,
    shutdown: Shutdown,
) -> Result<Catalog, Error> {
    let products = db.collection::<RawDocumentBuf>(PRODUCTS);
    let catalog = Catalog::default();
    let source = resync(&products, &catalog).await?;
    if matches!(source, Source::Poll) {
        tracing::info!(
            ?poll_interval,
            "MongoDB offers no change streams here (standalone); the catalog is reloaded periodically"
        );
    }
    tokio::spawn(keep_current(
        products,
        catalog.clone(),
        source,
        poll_interval,
        shutdown,
    ));
    Ok(catalog)
}

/// Opens a change stream (if the server has them), then loads the whole catalog into `catalog`.
/// The stream is opened first, so that a change made during the load is delivered afterwards.
async fn resync(products: &Collection<RawDocumentBuf>, catalog: &Catalog) -> Result<Source, Error> {
    let source = match watch(products).await {
        Ok(stream) => Source::Stream(Box::new(stream)),
        Err(err) if server_code(&err) == Some(CHANGE_STREAMS_UNSUPPORTED) => Source::Poll,
        Err(err) => return Err(err),
    };
    let started = std::time::Instant::now();
    let model = load(products).await?;
    tracing::debug!(
        products = model.len(),
        approx_bytes = model.heap_bytes(),
        took = ?started.elapsed(),
        "catalog loaded"
    );
    catalog.replace(model);
    Ok(source)
}

async fn keep_current(
    products: Collection<RawDocumentBuf>,
    catalog: Catalog,
    source: Source,
    poll_interval: Duration,
    mut shutdown: Shutdown,
) {
    let mut source = Some(source);
    let mut retry = RETRY_MIN;
    loop {
        let pause = match source.take() {
            Some(Source::Stream(mut stream)) => {
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
            Some(Source::Poll) => poll_interval,
            None => retry,
        };
        tokio::select! {
            () = shutdown.signalled() => return,
            () = tokio::time::sleep(pause) => {}
        }
        match resync(&products, &catalog).await {
            Ok(next) => {
                source = Some(next);
                retry = RETRY_MIN;
            }
            Err(err) => {
                tracing::warn!(error = %err, "catalog reload failed; retrying");
                retry = (retry * 2).min(RETRY_MAX);
            }
        }
    }
}

/// A change stream of the events that can change the model, without the fields it never reads.
async fn watch(products: &Collection<RawDocumentBuf>) -> Result<Events, Error> {
    let mut touches_model: Vec<Document> = vec![doc! { "operationType": { "$ne": "update" } }];
    touches_model.extend(MODEL_FIELDS.iter().map(|name| {
        doc! { format!("updateDescription.updatedFields.{name}"): { "$exists": true } }
    }));
    touches_model
        .push(doc! { "updateDescription.removedFields": { "$in": MODEL_FIELDS.to_vec() } });
    let pipeline = [
        doc! { "$match": { "$or": touches_model } },
        doc! { "$project": {
            format!("fullDocument.{}", field::DESCRIPTION): 0,
            format!("fullDocument.{}", field::HOLDS): 0,
            format!("fullDocument.{}", field::RETURNS): 0,
            format!("fullDocument.{}", field::IMAGE): 0,
        } },
    ];
    products.watch().pipeline(pipeline).await
}

/// Applies events until the stream is invalidated (`Ok`) or fails (`Err`). Events that are
/// already waiting are applied together, under one write lock.
async fn follow(
    stream: &mut Events,
    products: &Collection<RawDocumentBuf>,
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
        let (changes, missing, invalidated) = translate(events, catalog);
        catalog.apply(changes);
        if !missing.is_empty() {
            catalog.apply(fetch(products, &missing).await?);
        }
        if let Some(err) = failure {
            return Err(err);
        }
        if invalidated {
            return Ok(());
        }
    }
}

/// Turns events into changes; returns them, the products whose current state must be read
/// (an update to a product the model does not hold), and whether the stream was invalidated.
fn translate(
    events: Vec<ChangeStreamEvent<RawDocumentBuf>>,
    catalog: &Catalog,
) -> (Vec<Change>, Vec<ObjectId>, bool) {
    let mut changes = Vec::with_capacity(events.len());
    let mut missing = Vec::new();
    // Rows changed earlier in this batch, which the model has not seen yet.
    let mut pending: HashMap<ObjectId, Option<Row>> = HashMap::new();
    for event in events {
        let id = event
            .document_key
            .as_ref()
            .and_then(|key| key.get_object_id(field::ID).ok());
        match (event.operation_type, id) {
            (OperationType::Insert | OperationType::Replace, Some(id)) => {
                let row = event.full_document.as_ref().and_then(row_from_raw);
                pending.insert(id, row.clone());
                changes.push(row.map_or(Change::Remove(id), Change::Upsert));
            }
            (OperationType::Update, Some(id)) => {
                let Some(update) = event.update_description else {
                    missing.push(id);
                    continue;
                };
                let fields = &update.updated_fields;
                let removed = update
                    .removed_fields
                    .iter()
                    .any(|name| MODEL_FIELDS.contains(&name.as_str()));
                let changed = MODEL_FIELDS
                    .iter()
                    .filter(|name| fields.contains_key(**name));
                match (changed.count(), fields.contains_key(field::STOCK), removed) {
                    (0, _, false) => continue,
                    // The common case (every order): only the stock changed, and no row is needed.
                    (1, true, false) => {
                        let stock = fields.get(field::STOCK).and_then(whole).unwrap_or_default();
                        let known = match pending.get_mut(&id) {
                            Some(Some(row)) => {
                                row.stock = stock;
                                true
                            }
                            Some(None) => false,
                            None => catalog.contains(id),
                        };
                        if known {
                            changes.push(Change::Stock(id, stock));
                        } else {
                            missing.push(id);
                        }
                    }
                    _ => {
                        let current = match pending.get(&id) {
                            Some(row) => row.clone(),
                            None => catalog.row(id),
                        };
                        let Some(mut row) = current else {
                            missing.push(id);
                            continue;
                        };
                        patch(&mut row, fields, &update.removed_fields);
                        changes.push(Change::Upsert(row.clone()));
                        pending.insert(id, Some(row));
                    }
                }
            }
            (OperationType::Delete, Some(id)) => {
                pending.insert(id, None);
                changes.push(Change::Remove(id));
            }
            (
                OperationType::Invalidate
                | OperationType::Drop
                | OperationType::Rename
                | OperationType::DropDatabase,
                _,
            ) => return (changes, missing, true),
            _ => {}
        }
    }
    (changes, missing, false)
}

/// Applies an update's changed and removed fields to `row`.
fn patch(row: &mut Row, updated: &Document, removed: &[String]) {
    for (name, value) in updated {
        match name.as_str() {
            field::NAME => row.name_lower = value.as_str().unwrap_or_default().to_lowercase(),
            field::PRICE => row.price = number(value).unwrap_or_default(),
            field::CATEGORY => row.category = value.as_str().unwrap_or_default().trim().to_owned(),
            field::CATEGORY_KEY => row.category_key = value.as_str().unwrap_or_default().to_owned(),
            field::STOCK => row.stock = whole(value).unwrap_or_default(),
            field::SELLER_ID => row.seller = value.as_object_id().unwrap_or(row.seller),
            field::CREATED_AT => {
                row.created_ms = value.as_datetime().map_or(0, |at| at.timestamp_millis());
            }
            _ => {}
        }
    }
    for name in removed {
        match name.as_str() {
            field::NAME => row.name_lower.clear(),
            field::PRICE => row.price = 0.0,
            field::CATEGORY => row.category.clear(),
            field::CATEGORY_KEY => row.category_key = common_catalog::category_key(&row.category),
            field::STOCK => row.stock = 0,
            _ => {}
        }
    }
}

/// The fields of a stored product that the model reads.
#[derive(Deserialize)]
struct StoredRow {
    #[serde(rename = "_id")]
    id: ObjectId,
    #[serde(default)]
    name: String,
    #[serde(default)]
    price: Bson,
    #[serde(default)]
    category: String,
    #[serde(default)]
    category_key: Option<String>,
    #[serde(default)]
    stock: Bson,
    seller_id: ObjectId,
    created_at: DateTime,
}

/// The row of a stored product, or `None` (logged) when the document is not a product: such a
/// document, written by hand, is left out of lists rather than stopping the service.
fn row_from_raw(raw: &RawDocumentBuf) -> Option<Row> {
    match mongodb::bson::from_slice::<StoredRow>(raw.as_bytes()) {
        Ok(stored) => Some(Row {
            id: stored.id,
            name_lower: stored.name.to_lowercase(),
            category_key: stored
                .category_key
                .unwrap_or_else(|| common_catalog::category_key(&stored.category)),
            category: stored.category,
            seller: stored.seller_id,
            price: number(&stored.price).unwrap_or_default(),
            stock: whole(&stored.stock).unwrap_or_default(),
            created_ms: stored.created_at.timestamp_millis(),
        }),
        Err(err) => {
            tracing::warn!(error = %err, "a document in products is not a product; it is not listed");
            None
        }
    }
}

/// The fields [`StoredRow`] reads.
fn model_projection() -> Document {
    MODEL_FIELDS
        .iter()
        .map(|name| (name.to_string(), Bson::Int32(1)))
        .collect()
}

/// Reads the whole catalog into a new model, streaming: no copy of the collection is held.
async fn load(products: &Collection<RawDocumentBuf>) -> Result<Model, Error> {
    let expected = products.estimated_document_count().await.unwrap_or(0);
    let mut model = Model::with_capacity(usize::try_from(expected).unwrap_or(0));
    model.begin_bulk();
    let mut cursor = products
        .find(doc! {})
        .projection(model_projection())
        .batch_size(10_000)
        .await?;
    while let Some(raw) = cursor.try_next().await? {
        if let Some(row) = row_from_raw(&raw) {
            model.upsert(row);
        }
    }
    model.end_bulk();
    Ok(model)
}

/// The current state of `ids`: a row for each that exists, a removal for each that does not.
async fn fetch(
    products: &Collection<RawDocumentBuf>,
    ids: &[ObjectId],
) -> Result<Vec<Change>, Error> {
    let mut found: HashMap<ObjectId, Row> = HashMap::new();
    let mut cursor = products
        .find(doc! { field::ID: { "$in": ids } })
        .projection(model_projection())
        .await?;
    while let Some(raw) = cursor.try_next().await? {
        if let Some(row) = row_from_raw(&raw) {
            found.insert(row.id, row);
        }
    }
    Ok(ids
        .iter()
        .map(|id| found.remove(id).map_or(Change::Remove(*id), Change::Upsert))
        .collect())
}

fn number(value: &Bson) -> Option<f64> {
    match value {
        Bson::Double(v) => Some(*v),
        Bson::Int32(v) => Some(f64::from(*v)),
        Bson::Int64(v) => Some(*v as f64),
        _ => None,
    }
}

fn whole(value: &Bson) -> Option<i64> {
    match value {
        Bson::Int32(v) => Some(i64::from(*v)),
        Bson::Int64(v) => Some(*v),
        Bson::Double(v) if v.fract() == 0.0 => Some(*v as i64),
        _ => None,
    }
}

fn server_code(err: &Error) -> Option<i32> {
    match err.kind.as_ref() {
        ErrorKind::Command(command) => Some(command.code),
        _ => None,
    }
}
