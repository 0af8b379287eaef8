//! What a batch of change events means for the model: a pure function of the events and the
//! model as it is, so each kind of event is tested without a database (`super::tests`).
//!
//! - insert, replace: the full document becomes the row (or, if it is not a product or is marked
//!   deleted, a removal);
//! - update: one that marks the product deleted (`deleted_at`) is a removal, as its delete is
//!   (the relay removes the document later); a stock-only update (every order) becomes a stock
//!   change; one of other fields the model keeps is applied to the row; one of fields it does
//!   not keep (such as the outbox alone, which the server already leaves out of the stream) is
//!   ignored; an update of a product the model does not hold yet is read from MongoDB
//!   (`missing`);
//! - delete: a removal;
//! - invalidate, drop, rename, dropDatabase: the stream ends, and the catalog is reloaded.
//!
//! Events of one batch are applied in order, each on top of the previous ones (`pending`).

use std::collections::HashMap;

use common_api::money::{Currency, StoredAmount};
use common_catalog::field;
use common_platform::events::DELETED_AT;
use mongodb::{
    bson::{Bson, DateTime, Document, RawDocumentBuf, oid::ObjectId},
    change_stream::event::{ChangeStreamEvent, OperationType},
};
use serde::Deserialize;

use super::{Change, Model, Row};

/// The fields the model reads; an update touching none of them is not sent to it.
pub(super) const MODEL_FIELDS: [&str; 7] = [
    field::NAME,
    field::PRICE,
    field::CATEGORY,
    field::CATEGORY_KEY,
    field::STOCK,
    field::SELLER_ID,
    field::CREATED_AT,
];

/// What a batch of events comes to.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Translation {
    /// The changes to apply, in order.
    pub changes: Vec<Change>,
    /// Products whose current state must be read first: an update to one the model does not
    /// hold.
    pub missing: Vec<ObjectId>,
    /// Whether the stream ended (the catalog must be reloaded).
    pub invalidated: bool,
}

/// Translates `events` against `model` as it is before them.
pub(super) fn translate(
    events: Vec<ChangeStreamEvent<RawDocumentBuf>>,
    model: &Model,
    currency: Currency,
) -> Translation {
    let mut out = Translation {
        changes: Vec::with_capacity(events.len()),
        ..Translation::default()
    };
    // Rows changed earlier in this batch, which the model has not seen yet.
    let mut pending: HashMap<ObjectId, Option<Row>> = HashMap::new();
    for event in events {
        let id = event
            .document_key
            .as_ref()
            .and_then(|key| key.get_object_id(field::ID).ok());
        match (event.operation_type, id) {
            (OperationType::Insert | OperationType::Replace, Some(id)) => {
                let row = event
                    .full_document
                    .as_ref()
                    .filter(|raw| !matches!(raw.get(DELETED_AT), Ok(Some(_))))
                    .and_then(|raw| row_from_raw(raw, currency));
                pending.insert(id, row.clone());
                out.changes
                    .push(row.map_or(Change::Remove(id), Change::Upsert));
            }
            (OperationType::Update, Some(id)) => match event.update_description {
                Some(update) => updated(
                    id,
                    &update.updated_fields,
                    &update.removed_fields,
                    model,
                    currency,
                    &mut pending,
                    &mut out,
                ),
                None => out.missing.push(id),
            },
            (OperationType::Delete, Some(id)) => {
                pending.insert(id, None);
                out.changes.push(Change::Remove(id));
            }
            (
                OperationType::Invalidate
                | OperationType::Drop
                | OperationType::Rename
                | OperationType::DropDatabase,
                _,
            ) => {
                out.invalidated = true;
                return out;
            }
            _ => {}
        }
    }
    out
}

/// An update of product `id` that set `fields` and removed `removed`.
fn updated(
    id: ObjectId,
    fields: &Document,
    removed: &[String],
    model: &Model,
    currency: Currency,
    pending: &mut HashMap<ObjectId, Option<Row>>,
    out: &mut Translation,
) {
    if fields.contains_key(DELETED_AT) {
        pending.insert(id, None);
        out.changes.push(Change::Remove(id));
        return;
    }
    let removes_kept = removed
        .iter()
        .any(|name| MODEL_FIELDS.contains(&name.as_str()));
    let changed = MODEL_FIELDS
        .iter()
        .filter(|name| fields.contains_key(**name));
    match (
        changed.count(),
        fields.contains_key(field::STOCK),
        removes_kept,
    ) {
        (0, _, false) => {}
        // The common case (every order): only the stock changed, and no row is needed.
        (1, true, false) => {
            let stock = fields.get(field::STOCK).and_then(whole).unwrap_or_default();
            let known = match pending.get_mut(&id) {
                Some(Some(row)) => {
                    row.stock = stock;
                    true
                }
                Some(None) => false,
                None => model.contains(id),
            };
            if known {
                out.changes.push(Change::Stock(id, stock));
            } else {
                out.missing.push(id);
            }
        }
        _ => {
            let current = match pending.get(&id) {
                Some(row) => row.clone(),
                None => model.row(id),
            };
            let Some(mut row) = current else {
                out.missing.push(id);
                return;
            };
            patch(&mut row, fields, removed, currency);
            out.changes.push(Change::Upsert(row.clone()));
            pending.insert(id, Some(row));
        }
    }
}

/// Applies an update's changed and removed fields to `row`.
fn patch(row: &mut Row, updated: &Document, removed: &[String], currency: Currency) {
    for (name, value) in updated {
        match name.as_str() {
            field::NAME => row.name_lower = value.as_str().unwrap_or_default().to_lowercase(),
            field::PRICE => row.price = amount(value, currency).unwrap_or_default(),
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
            field::PRICE => row.price = 0,
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
pub(super) fn row_from_raw(raw: &RawDocumentBuf, currency: Currency) -> Option<Row> {
    match mongodb::bson::from_slice::<StoredRow>(raw.as_bytes()) {
        Ok(stored) => Some(Row {
            id: stored.id,
            name_lower: stored.name.to_lowercase(),
            category_key: stored
                .category_key
                .unwrap_or_else(|| common_catalog::category_key(&stored.category)),
            category: stored.category,
            seller: stored.seller_id,
            price: amount(&stored.price, currency).unwrap_or_default(),
            stock: whole(&stored.stock).unwrap_or_default(),
            created_ms: stored.created_at.timestamp_millis(),
        }),
        Err(err) => {
            tracing::warn!(error = %err, "a document in products is not a product; it is not listed");
            None
        }
    }
}

/// A stored price in minor units: an integer as it is, a float of major units (from before money
/// was exact) converted in `currency`.
fn amount(value: &Bson, currency: Currency) -> Option<i64> {
    match value {
        Bson::Int32(v) => Some(i64::from(*v)),
        Bson::Int64(v) => Some(*v),
        Bson::Double(v) => StoredAmount::Legacy(*v).minor(currency),
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
