use axum::http::StatusCode;
use common_api::auth::Role;
use common_catalog::field;
use mongodb::bson::doc;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_repeat_returns_the_first_order_and_takes_nothing_again() {
    let app = spawn_app().await;
    let mug = app.product("Mug", "8.0", 10).await;
    let buyer = app.caller(Role::Buyer);

    let first = app.order_with(&buyer, &[(mug, 2)], Some("order-1")).await;
    let repeat = app.order_with(&buyer, &[(mug, 2)], Some("order-1")).await;

    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(first.header("idempotent-replayed"), None);
    assert_eq!(repeat.status, StatusCode::CREATED);
    assert_eq!(repeat.header("idempotent-replayed"), Some("true"));
    assert_eq!(repeat.json(), first.json());
    assert_eq!(app.stock(mug).await, 8);
}

#[tokio::test]
async fn the_same_key_with_a_different_body_is_422() {
    let app = spawn_app().await;
    let mug = app.product("Mug", "8.0", 10).await;
    let buyer = app.caller(Role::Buyer);
    app.order_with(&buyer, &[(mug, 2)], Some("order-1")).await;

    let different = app.order_with(&buyer, &[(mug, 3)], Some("order-1")).await;

    // The contract's 422 shape: a list of field errors, here naming the header.
    let body = different.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_KEY_REUSED");
    let detail = body["detail"].as_array().expect("detail is a list");
    assert_eq!(detail.len(), 1, "{body}");
    assert_eq!(detail[0]["loc"], json!(["header", "Idempotency-Key"]));
    assert!(
        detail[0]["msg"].as_str().is_some_and(|msg| !msg.is_empty()),
        "{body}"
    );
    assert!(detail[0]["type"].is_string(), "{body}");
    assert_eq!(app.stock(mug).await, 8);
}

#[tokio::test]
async fn keys_belong_to_their_user() {
    let app = spawn_app().await;
    let mug = app.product("Mug", "8.0", 10).await;
    let (ada, bob) = (app.caller(Role::Buyer), app.caller(Role::Buyer));

    let first = app.order_with(&ada, &[(mug, 1)], Some("shared-key")).await;
    let second = app.order_with(&bob, &[(mug, 1)], Some("shared-key")).await;

    assert_eq!(second.status, StatusCode::CREATED);
    assert_ne!(first.json()["id"], second.json()["id"]);
    assert_eq!(second.header("idempotent-replayed"), None);
    assert_eq!(app.stock(mug).await, 8);
}

#[tokio::test]
async fn a_refused_order_frees_its_key_for_a_later_attempt() {
    let app = spawn_app().await;
    let mug = app.product("Mug", "8.0", 1).await;
    let buyer = app.caller(Role::Buyer);

    let refused = app.order_with(&buyer, &[(mug, 2)], Some("retry-me")).await;
    app.update_product(mug, doc! { "$inc": { field::STOCK: 5 } })
        .await;
    let retried = app.order_with(&buyer, &[(mug, 2)], Some("retry-me")).await;

    refused.assert_error(StatusCode::CONFLICT, "INSUFFICIENT_STOCK");
    assert_eq!(retried.status, StatusCode::CREATED, "{}", retried.text());
    assert_eq!(retried.header("idempotent-replayed"), None);
    assert_eq!(app.stock(mug).await, 4);
}

#[tokio::test]
async fn malformed_keys_are_422() {
    let app = spawn_app().await;
    let mug = app.product("Mug", "8.0", 10).await;
    let buyer = app.caller(Role::Buyer);

    for key in ["", "has space", &"k".repeat(256), "tab\there"] {
        let response = app
            .post("/orders")
            .bearer(&buyer.token)
            .header("idempotency-key", key)
            .json(&json!({"items": [{"product_id": mug.to_hex(), "quantity": 1}]}))
            .send()
            .await;

        assert_eq!(
            response.assert_validation_error(),
            vec![json!(["header", "Idempotency-Key"])],
            "{key:?}"
        );
    }
    let longest = app
        .order_with(&buyer, &[(mug, 1)], Some(&"k".repeat(255)))
        .await;
    assert_eq!(longest.status, StatusCode::CREATED);
    assert_eq!(app.stock(mug).await, 9);
}
