//! The product events of a deletion (the product as it last was, then gone) and of a category
//! rename (one event per moved product), and what no event ever shows.

use axum::http::StatusCode;
use common_api::auth::Role;
use common_catalog::PRODUCTS;
use common_testing::kinds;
use mongodb::bson::{DateTime, doc, oid::ObjectId};
use serde_json::{Value, json};

use super::{patch, shown};
use crate::helpers::{ProductSteps, eventually, spawn_app};

/// The fields of a product as the API shows it: all an event's data may hold.
const API_FIELDS: [&str; 11] = [
    "category",
    "created_at",
    "currency",
    "description",
    "id",
    "image_url",
    "name",
    "price",
    "seller_id",
    "stock",
    "updated_at",
];

/// The field names of `data`, sorted.
fn fields(data: &Value) -> Vec<&str> {
    let mut names: Vec<&str> = data
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    names
}

#[tokio::test]
async fn deleting_a_product_records_product_deleted_with_the_product_as_it_last_was() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = app.product_with_stock(&seller, "Lamp", 3).await;
    let last = shown(&app, &id).await;

    let deleted = app
        .delete(&format!("/products/{id}"))
        .bearer(&seller.token)
        .send()
        .await;

    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text());
    let after = app.get(&format!("/products/{id}")).send().await;
    after.assert_error(StatusCode::NOT_FOUND, "PRODUCT_NOT_FOUND");
    let events = app.db.settled_events(&id, 2).await;
    assert_eq!(kinds(&events), ["product.created", "product.deleted"]);
    assert_eq!(events[1].data, last);
    let oid = ObjectId::parse_str(&id).unwrap();
    eventually("the relay removes the deleted product", || async {
        app.db
            .documents(PRODUCTS, doc! { "_id": oid })
            .await
            .is_empty()
    })
    .await;
    let again = app
        .delete(&format!("/products/{id}"))
        .bearer(&seller.token)
        .send()
        .await;
    again.assert_error(StatusCode::NOT_FOUND, "PRODUCT_NOT_FOUND");
    assert_eq!(app.db.events_of(&id).await.len(), 2);
}

#[tokio::test]
async fn a_category_rename_gives_each_moved_product_one_product_updated_in_the_new_category() {
    let app = spawn_app().await;
    let (admin, seller) = (app.caller(Role::Admin), app.caller(Role::Seller));
    let moved = [
        app.product_in(&seller, "Sofa", "Home").await,
        app.product_in(&seller, "Chair", "home").await,
    ];
    let stayed = app.product_in(&seller, "Rake", "Garden").await;

    let renamed = app
        .patch("/categories/home")
        .bearer(&admin.token)
        .json(&json!({"name": "Living Room"}))
        .send()
        .await;

    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text());
    for id in &moved {
        let events = app.db.settled_events(id, 2).await;
        assert_eq!(kinds(&events), ["product.created", "product.updated"]);
        assert_eq!(events[1].data["category"], "Living Room");
        assert_eq!(events[1].data, shown(&app, id).await);
    }
    assert_ne!(
        app.db.events_of(&moved[0]).await[1].id,
        app.db.events_of(&moved[1]).await[1].id
    );
    assert_eq!(
        kinds(&app.db.settled_events(&stayed, 1).await),
        ["product.created"]
    );
}

#[tokio::test]
async fn no_event_shows_the_order_services_bookkeeping_or_the_outbox() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = app.product_with_stock(&seller, "Lamp", 3).await;
    let oid = ObjectId::parse_str(&id).unwrap();
    let bookkeeping = doc! { "$set": {
        "holds": [{ "order": ObjectId::new(), "qty": 1_i64, "at": DateTime::now() }],
        "returns": [{ "order": ObjectId::new(), "at": DateTime::now() }],
    } };
    app.db
        .db
        .collection::<mongodb::bson::Document>(PRODUCTS)
        .update_one(doc! { "_id": oid }, bookkeeping)
        .await
        .unwrap();

    let response = patch(&app, &seller, &id, json!({"description": "Warm"})).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let deleted = app
        .delete(&format!("/products/{id}"))
        .bearer(&seller.token)
        .send()
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);

    let events = app.db.settled_events(&id, 3).await;
    assert_eq!(
        kinds(&events),
        ["product.created", "product.updated", "product.deleted"]
    );
    for event in &events {
        assert_eq!(fields(&event.data), API_FIELDS, "{}", event.data);
    }
}
