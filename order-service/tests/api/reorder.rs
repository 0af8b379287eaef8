//! Reorders: the same lines again, at today's prices, under the rules of placing an order.

use axum::http::StatusCode;
use common_api::auth::Role;
use common_catalog::field;
use mongodb::bson::doc;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_reorder_places_the_same_lines_at_todays_prices() {
    let app = spawn_app().await;
    let kettle = app.product("Kettle", "30.0", 10).await;
    let mug = app.product("Mug", "8.0", 10).await;
    let buyer = app.caller(Role::Buyer);
    let original = app.placed(&buyer, &[(kettle, 1), (mug, 2)]).await;
    app.post(&format!("/orders/{original}/cancel"))
        .bearer(&buyer.token)
        .send()
        .await;
    app.update_product(kettle, doc! { "$set": { field::PRICE: 25.0 } })
        .await;

    let response = app
        .post(&format!("/orders/{original}/reorder"))
        .bearer(&buyer.token)
        .send()
        .await;

    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    let placed = response.json();
    assert_ne!(placed["id"], original.to_hex());
    assert_eq!(placed["status"], "PLACED");
    assert_eq!(placed["total"], 41.0);
    assert_eq!((app.stock(kettle).await, app.stock(mug).await), (9, 8));
    app.settle().await;
    app.assert_stock_invariant().await;
}

#[tokio::test]
async fn a_reorder_is_for_the_owner_and_follows_the_ordering_rules() {
    let app = spawn_app().await;
    let mug = app.product("Mug", "8.0", 3).await;
    let (owner, other, admin) = (
        app.caller(Role::Buyer),
        app.caller(Role::Buyer),
        app.caller(Role::Admin),
    );
    let original = app.placed(&owner, &[(mug, 2)]).await;
    let uri = format!("/orders/{original}/reorder");

    let by_other = app.post(&uri).bearer(&other.token).send().await;
    let by_admin = app.post(&uri).bearer(&admin.token).send().await;
    let short = app.post(&uri).bearer(&owner.token).send().await;
    let malformed = app
        .post("/orders/nope/reorder")
        .bearer(&owner.token)
        .send()
        .await;

    by_other.assert_error(StatusCode::NOT_FOUND, "ORDER_NOT_FOUND");
    by_admin.assert_error(StatusCode::NOT_FOUND, "ORDER_NOT_FOUND");
    short.assert_error(StatusCode::CONFLICT, "INSUFFICIENT_STOCK");
    malformed.assert_error(StatusCode::BAD_REQUEST, "INVALID_ID");
    assert_eq!(app.stock(mug).await, 1, "the refused reorder took nothing");
    app.settle().await;
    app.assert_stock_invariant().await;
}

#[tokio::test]
async fn reordering_an_old_order_over_the_quantity_cap_is_422_and_takes_nothing() {
    let app = spawn_app().await;
    let mug = app.product("Mug", "1.0", 2_000_000).await;
    let owner = app.caller(Role::Buyer);
    // Stored before the combined quantity was capped: one line, or lines not yet combined.
    let combined = app.stored_order(&owner, &[(mug, 1_000_000)]).await;
    let repeated = app
        .stored_order(&owner, &[(mug, 10_000), (mug, 10_000)])
        .await;

    let responses = [
        app.post(&format!("/orders/{combined}/reorder"))
            .bearer(&owner.token)
            .send()
            .await,
        app.post(&format!("/orders/{repeated}/reorder"))
            .bearer(&owner.token)
            .send()
            .await,
    ];

    for response in responses {
        assert_eq!(
            response.assert_validation_error(),
            vec![json!(["path", "id"])]
        );
    }
    assert_eq!(app.stock(mug).await, 2_000_000);
    assert_eq!(app.markers(mug).await, (0, 0), "no hold left");
    assert_eq!(app.db.count("orders", doc! {}).await, 2, "no new order");
}

#[tokio::test]
async fn reordering_lines_whose_sum_overflows_is_422_not_a_crash() {
    let app = spawn_app().await;
    let mug = app.product("Mug", "1.0", 10).await;
    let owner = app.caller(Role::Buyer);
    let original = app
        .stored_order(&owner, &[(mug, i64::MAX), (mug, i64::MAX)])
        .await;

    let response = app
        .post(&format!("/orders/{original}/reorder"))
        .bearer(&owner.token)
        .send()
        .await;

    assert_eq!(
        response.assert_validation_error(),
        vec![json!(["path", "id"])]
    );
    assert_eq!(app.stock(mug).await, 10);
    assert_eq!(app.db.count("orders", doc! {}).await, 1, "no new order");
}
