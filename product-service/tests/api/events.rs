//! The product events: each change a client can see records its event exactly once, with the
//! product as `GET /products/{id}` shows it right after; a refused change records none; the
//! events of one product come in the order of its changes. Deletes, category renames and what
//! an event never shows are in [`deletes_and_renames`].

mod deletes_and_renames;

use axum::http::{Method, StatusCode};
use common_api::auth::Role;
use common_catalog::PRODUCTS;
use common_testing::{Caller, TestResponse, kinds};
use mongodb::bson::oid::ObjectId;
use serde_json::{Value, json};

use crate::helpers::{ProductSteps, TestApp, eventually, spawn_app};

/// `GET /products/{id}`, asserting success.
async fn shown(app: &TestApp, id: &str) -> Value {
    let response = app.get(&format!("/products/{id}")).send().await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    response.json()
}

async fn patch(app: &TestApp, caller: &Caller, id: &str, body: Value) -> TestResponse {
    app.patch(&format!("/products/{id}"))
        .bearer(&caller.token)
        .json(&body)
        .send()
        .await
}

async fn adjust(app: &TestApp, caller: &Caller, id: &str, delta: i64) -> TestResponse {
    app.post(&format!("/products/{id}/stock"))
        .bearer(&caller.token)
        .json(&json!({ "delta": delta }))
        .send()
        .await
}

#[tokio::test]
async fn creating_a_product_records_product_created_with_the_product_as_get_shows_it() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);

    let created = app
        .create_product(
            &seller,
            json!({"name": "Lamp", "price": 12.5, "category": "Home", "stock": 3}),
        )
        .await;

    let id = created["id"].as_str().unwrap();
    let events = app.db.settled_events(id, 1).await;
    assert_eq!(kinds(&events), ["product.created"]);
    assert_eq!(events[0].data, shown(&app, id).await);
    assert_eq!(events[0].data, created);
    eventually("the outbox is emptied", || async {
        app.db.outbox_backlog(PRODUCTS).await == 0
    })
    .await;
}

#[tokio::test]
async fn a_patch_records_product_updated_with_the_changed_product() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = app.product_with_stock(&seller, "Lamp", 3).await;

    let response = patch(
        &app,
        &seller,
        &id,
        json!({"name": "Desk lamp", "price": 20}),
    )
    .await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let events = app.db.settled_events(&id, 2).await;
    assert_eq!(kinds(&events), ["product.created", "product.updated"]);
    assert_eq!(events[1].data, shown(&app, &id).await);
    assert_eq!(events[1].data["name"], "Desk lamp");
}

#[tokio::test]
async fn an_image_upload_and_its_removal_each_record_product_updated() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = app.product_with_stock(&seller, "Lamp", 3).await;
    let uri = format!("/products/{id}/image");

    let uploaded = app
        .request(Method::PUT, &uri)
        .bearer(&seller.token)
        .header("content-type", "image/png")
        .body(b"\x89PNG\r\n\x1a\nsome pixels".to_vec())
        .send()
        .await;
    assert_eq!(uploaded.status, StatusCode::OK, "{}", uploaded.text());
    let with_image = app.db.settled_events(&id, 2).await;
    let after_upload = shown(&app, &id).await;
    let removed = app.delete(&uri).bearer(&seller.token).send().await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.text());

    let events = app.db.settled_events(&id, 3).await;
    assert_eq!(
        kinds(&events),
        ["product.created", "product.updated", "product.updated"]
    );
    assert_eq!(with_image[1].data, after_upload);
    assert_eq!(with_image[1].data, uploaded.json());
    assert!(after_upload["image_url"].is_string(), "{after_upload}");
    assert_eq!(events[2].data, shown(&app, &id).await);
    assert_eq!(events[2].data["image_url"], Value::Null);
}

#[tokio::test]
async fn stock_reaching_zero_records_out_of_stock_and_rising_from_zero_back_in_stock() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = app.product_with_stock(&seller, "Mug", 2).await;

    assert_eq!(adjust(&app, &seller, &id, -1).await.status, StatusCode::OK);
    assert_eq!(adjust(&app, &seller, &id, -1).await.status, StatusCode::OK);
    let out = app.db.settled_events(&id, 2).await;
    let empty = shown(&app, &id).await;
    assert_eq!(adjust(&app, &seller, &id, 5).await.status, StatusCode::OK);
    let back = app.db.settled_events(&id, 3).await;
    let refilled = shown(&app, &id).await;
    assert_eq!(adjust(&app, &seller, &id, 1).await.status, StatusCode::OK);

    let events = app.db.settled_events(&id, 3).await;
    assert_eq!(
        kinds(&events),
        [
            "product.created",
            "product.out_of_stock",
            "product.back_in_stock"
        ]
    );
    assert_eq!(out[1].data, empty);
    assert_eq!(out[1].data["stock"], 0);
    assert_eq!(back[2].data, refilled);
    assert_eq!(back[2].data["stock"], 5);
}

#[tokio::test]
async fn a_refused_change_records_nothing() {
    let app = spawn_app().await;
    let (seller, stranger, buyer) = (
        app.caller(Role::Seller),
        app.caller(Role::Seller),
        app.caller(Role::Buyer),
    );
    let id = app.product_with_stock(&seller, "Mug", 3).await;
    let image = format!("/products/{id}/image");

    let refusals = [
        (adjust(&app, &seller, &id, -4).await, StatusCode::CONFLICT),
        (
            adjust(&app, &seller, &id, 1_000_000_000).await,
            StatusCode::CONFLICT,
        ),
        (adjust(&app, &stranger, &id, 1).await, StatusCode::FORBIDDEN),
        (
            patch(&app, &stranger, &id, json!({"name": "Mine"})).await,
            StatusCode::FORBIDDEN,
        ),
        (
            patch(&app, &seller, &id, json!({"name": " "})).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            app.delete(&format!("/products/{id}"))
                .bearer(&stranger.token)
                .send()
                .await,
            StatusCode::FORBIDDEN,
        ),
        (
            app.delete(&image).bearer(&stranger.token).send().await,
            StatusCode::FORBIDDEN,
        ),
        (
            app.post("/products")
                .bearer(&buyer.token)
                .json(&json!({"name": "Mug", "price": 1}))
                .send()
                .await,
            StatusCode::FORBIDDEN,
        ),
        (
            patch(
                &app,
                &seller,
                &ObjectId::new().to_hex(),
                json!({"name": "X"}),
            )
            .await,
            StatusCode::NOT_FOUND,
        ),
    ];

    for (response, status) in refusals {
        assert_eq!(response.status, status, "{}", response.text());
    }
    let events = app.db.settled_events(&id, 1).await;
    assert_eq!(kinds(&events), ["product.created"]);
    assert_eq!(app.db.events().await.len(), 1);
    assert_eq!(app.stock_of(&id).await, 3);
}

#[tokio::test]
async fn the_events_of_one_product_come_in_the_order_of_its_changes() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = app.product_with_stock(&seller, "First", 1).await;

    for name in ["Second", "Third"] {
        let response = patch(&app, &seller, &id, json!({ "name": name })).await;
        assert_eq!(response.status, StatusCode::OK);
    }
    assert_eq!(adjust(&app, &seller, &id, -1).await.status, StatusCode::OK);
    assert_eq!(adjust(&app, &seller, &id, 2).await.status, StatusCode::OK);
    let response = patch(&app, &seller, &id, json!({"name": "Fourth"})).await;
    assert_eq!(response.status, StatusCode::OK);
    let deleted = app
        .delete(&format!("/products/{id}"))
        .bearer(&seller.token)
        .send()
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);

    let events = app.db.settled_events(&id, 7).await;
    assert_eq!(
        kinds(&events),
        [
            "product.created",
            "product.updated",
            "product.updated",
            "product.out_of_stock",
            "product.back_in_stock",
            "product.updated",
            "product.deleted",
        ]
    );
    let seen: Vec<(&str, i64)> = events
        .iter()
        .map(|event| {
            let data = &event.data;
            (
                data["name"].as_str().unwrap(),
                data["stock"].as_i64().unwrap(),
            )
        })
        .collect();
    let expected = [
        ("First", 1),
        ("Second", 1),
        ("Third", 1),
        ("Third", 0),
        ("Third", 2),
        ("Fourth", 2),
        ("Fourth", 2),
    ];
    assert_eq!(seen, expected);
    assert!(events.windows(2).all(|pair| pair[0].seq < pair[1].seq));
}
