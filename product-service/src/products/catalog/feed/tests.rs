//! Unit tests of [`super::translate`]: one per kind of change event, each against a model as
//! the catalog would hold it.

use common_api::money::Currency;
use mongodb::{
    bson::{DateTime, Document, RawDocumentBuf, doc, oid::ObjectId},
    change_stream::event::ChangeStreamEvent,
};

use super::{
    Change, Model, Row,
    translate::{Translation, translate},
};

const SELLER: ObjectId = ObjectId::from_bytes([7; 12]);

type Event = ChangeStreamEvent<RawDocumentBuf>;

/// A product document with the fields the model keeps, its price in minor units.
fn stored(id: ObjectId, name: &str, stock: i64) -> Document {
    doc! {
        "_id": id, "name": name, "price": 950_i64, "category": "Home", "category_key": "home",
        "stock": stock, "seller_id": SELLER, "created_at": DateTime::from_millis(1_000),
    }
}

/// The row of [`stored`]'s document.
fn row(id: ObjectId, name: &str, stock: i64) -> Row {
    Row {
        id,
        name_lower: name.to_lowercase(),
        category: "Home".into(),
        category_key: "home".into(),
        seller: SELLER,
        price: 950,
        stock,
        created_ms: 1_000,
    }
}

/// A change event as the server sends it, with `rest` its operation's own fields.
fn event(operation: &str, id: ObjectId, rest: Document) -> Event {
    let mut event = doc! {
        "_id": { "_data": "token" },
        "operationType": operation,
        "documentKey": { "_id": id },
    };
    event.extend(rest);
    // Through bytes, as the driver reads events.
    let bytes = mongodb::bson::to_vec(&event).expect("an event serializes");
    mongodb::bson::from_slice(&bytes).expect("a well-formed change event")
}

fn with_document(operation: &str, id: ObjectId, document: Document) -> Event {
    event(operation, id, doc! { "fullDocument": document })
}

fn update(id: ObjectId, set: Document, removed: &[&str]) -> Event {
    let description = doc! { "updatedFields": set, "removedFields": removed };
    event("update", id, doc! { "updateDescription": description })
}

fn delete(id: ObjectId) -> Event {
    event("delete", id, Document::new())
}

/// What `events` come to against a model holding `rows`.
fn translated(rows: Vec<Row>, events: Vec<Event>) -> Translation {
    translate(events, &Model::from_rows(rows), Currency::USD)
}

fn translation(changes: Vec<Change>, missing: Vec<ObjectId>, invalidated: bool) -> Translation {
    Translation {
        changes,
        missing,
        invalidated,
    }
}

#[test]
fn an_insert_becomes_the_row_of_its_document() {
    let id = ObjectId::new();

    let out = translated(
        vec![],
        vec![with_document("insert", id, stored(id, "Desk Lamp", 3))],
    );

    let expected = vec![Change::Upsert(row(id, "Desk Lamp", 3))];
    assert_eq!(out, translation(expected, vec![], false));
}

#[test]
fn an_insert_of_a_document_that_is_not_a_product_removes_it() {
    let id = ObjectId::new();

    let out = translated(
        vec![],
        vec![with_document("insert", id, doc! { "_id": id, "hello": 1 })],
    );

    assert_eq!(out, translation(vec![Change::Remove(id)], vec![], false));
}

#[test]
fn an_update_of_catalog_fields_patches_the_row_the_model_holds() {
    let id = ObjectId::new();
    let set = doc! { "name": "Floor LAMP", "price": 1_200_i64, "updated_at": 5 };

    let out = translated(vec![row(id, "Lamp", 3)], vec![update(id, set, &[])]);

    let patched = Row {
        name_lower: "floor lamp".into(),
        price: 1_200,
        ..row(id, "Lamp", 3)
    };
    assert_eq!(
        out,
        translation(vec![Change::Upsert(patched)], vec![], false)
    );
}

#[test]
fn a_float_price_from_before_money_was_exact_is_converted_in_the_currency() {
    let (inserted, updated) = (ObjectId::new(), ObjectId::new());
    let mut legacy = stored(inserted, "Old", 1);
    legacy.insert("price", 1.005);
    let set = doc! { "price": 2.675 };

    let out = translated(
        vec![row(updated, "Lamp", 3)],
        vec![
            with_document("insert", inserted, legacy),
            update(updated, set, &[]),
        ],
    );

    // Half to even at two decimals: 1.005 → 1.00, 2.675 → 2.68.
    let expected = vec![
        Change::Upsert(Row {
            price: 100,
            ..row(inserted, "Old", 1)
        }),
        Change::Upsert(Row {
            price: 268,
            ..row(updated, "Lamp", 3)
        }),
    ];
    assert_eq!(out, translation(expected, vec![], false));
}

#[test]
fn an_update_of_a_product_the_model_does_not_hold_is_read_from_the_database() {
    let id = ObjectId::new();

    let out = translated(vec![], vec![update(id, doc! { "name": "Lamp" }, &[])]);

    assert_eq!(out, translation(vec![], vec![id], false));
}

#[test]
fn a_stock_only_update_is_a_stock_change_and_needs_no_row() {
    let (known, unknown) = (ObjectId::new(), ObjectId::new());

    let out = translated(
        vec![row(known, "Lamp", 3)],
        vec![
            update(known, doc! { "stock": 1_i64 }, &[]),
            update(unknown, doc! { "stock": 2 }, &[]),
        ],
    );

    assert_eq!(
        out,
        translation(vec![Change::Stock(known, 1)], vec![unknown], false)
    );
}

#[test]
fn an_update_of_fields_the_model_does_not_keep_changes_nothing() {
    let id = ObjectId::new();

    let out = translated(
        vec![row(id, "Lamp", 3)],
        vec![update(id, doc! { "description": "x" }, &["image"])],
    );

    assert_eq!(out, Translation::default());
}

#[test]
fn a_replace_becomes_the_row_of_its_new_document_and_later_events_build_on_it() {
    let id = ObjectId::new();
    let garden = doc! { "category": " Garden ", "category_key": "garden" };

    let out = translated(
        vec![row(id, "Lamp", 3)],
        vec![
            with_document("replace", id, stored(id, "Chair", 7)),
            update(id, doc! { "stock": 6 }, &[]),
            update(id, garden, &["stock"]),
        ],
    );

    let moved = Row {
        category: "Garden".into(),
        category_key: "garden".into(),
        stock: 0,
        ..row(id, "Chair", 6)
    };
    let expected = vec![
        Change::Upsert(row(id, "Chair", 7)),
        Change::Stock(id, 6),
        Change::Upsert(moved),
    ];
    assert_eq!(out, translation(expected, vec![], false));
}

#[test]
fn a_delete_removes_the_product_and_a_later_update_of_it_is_read_again() {
    let id = ObjectId::new();

    let out = translated(
        vec![row(id, "Lamp", 3)],
        vec![delete(id), update(id, doc! { "stock": 1 }, &[])],
    );

    assert_eq!(out, translation(vec![Change::Remove(id)], vec![id], false));
}

#[test]
fn an_update_that_marks_a_product_deleted_removes_it() {
    let (id, other) = (ObjectId::new(), ObjectId::new());
    let marked = doc! { "deleted_at": DateTime::from_millis(9_000), "outbox": [] };
    let mut replaced = stored(other, "Chair", 1);
    replaced.insert("deleted_at", DateTime::from_millis(9_000));

    let out = translated(
        vec![row(id, "Lamp", 3), row(other, "Chair", 1)],
        vec![
            update(id, marked, &[]),
            update(id, doc! { "stock": 1 }, &[]),
            with_document("replace", other, replaced),
        ],
    );

    let expected = vec![Change::Remove(id), Change::Remove(other)];
    assert_eq!(out, translation(expected, vec![id], false));
}

#[test]
fn an_update_of_the_outbox_alone_changes_nothing() {
    let id = ObjectId::new();

    let out = translated(
        vec![row(id, "Lamp", 3)],
        vec![update(id, doc! { "outbox": [] }, &["outbox"])],
    );

    assert_eq!(out, Translation::default());
}

#[test]
fn an_invalidate_ends_the_batch_and_other_events_are_ignored() {
    let id = ObjectId::new();

    let out = translated(
        vec![row(id, "Lamp", 3)],
        vec![
            event("createIndexes", id, Document::new()),
            delete(id),
            event("invalidate", id, Document::new()),
            delete(ObjectId::new()),
        ],
    );

    assert_eq!(out, translation(vec![Change::Remove(id)], vec![], true));
}
