//! Stock adjustments: who may make them, the 409s that change nothing, the maximum, and concurrent
//! takes that never oversell.

use axum::http::StatusCode;
use common_api::auth::Role;
use mongodb::bson::doc;
use serde_json::json;
use tokio::task::JoinSet;

use crate::helpers::{ProductSteps, spawn_app};

#[tokio::test]
async fn the_owner_adds_and_takes_stock() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = app.product_with_stock(&seller, "Mug", 5).await;
    let uri = format!("/products/{id}/stock");

    let added = app
        .post(&uri)
        .bearer(&seller.token)
        .json(&json!({"delta": 7}))
        .send()
        .await;
    let taken = app
        .post(&uri)
        .bearer(&seller.token)
        .json(&json!({"delta": -12}))
        .send()
        .await;

    assert_eq!(added.status, StatusCode::OK, "{}", added.text());
    assert_eq!(added.json()["stock"], 12);
    assert_eq!(taken.status, StatusCode::OK);
    assert_eq!(taken.json()["stock"], 0);
    assert_eq!(app.stock_of(&id).await, 0);
}

#[tokio::test]
async fn taking_more_than_is_in_stock_is_409_and_changes_nothing() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = app.product_with_stock(&seller, "Mug", 3).await;

    let response = app
        .post(&format!("/products/{id}/stock"))
        .bearer(&seller.token)
        .json(&json!({"delta": -4}))
        .send()
        .await;

    let body = response.assert_error(StatusCode::CONFLICT, "INSUFFICIENT_STOCK");
    assert!(
        body["detail"].as_str().unwrap().contains(&id),
        "names the product: {body}"
    );
    assert_eq!(app.stock_of(&id).await, 3);
}

#[tokio::test]
async fn stock_above_the_maximum_is_409_and_changes_nothing() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = app.product_with_stock(&seller, "Mug", 999_999_999).await;

    let response = app
        .post(&format!("/products/{id}/stock"))
        .bearer(&seller.token)
        .json(&json!({"delta": 2}))
        .send()
        .await;

    response.assert_error(StatusCode::CONFLICT, "STOCK_LIMIT");
    assert_eq!(app.stock_of(&id).await, 999_999_999);
}

#[tokio::test]
async fn stock_above_the_maximum_can_still_be_taken_but_not_raised() {
    // Cancelled orders give their units back without a cap, so stock can end above the maximum
    // (an order took 5 from a full product, the seller topped it up, the order was cancelled).
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = app.product_with_stock(&seller, "Mug", 1_000_000_000).await;
    let oid = mongodb::bson::oid::ObjectId::parse_str(&id).unwrap();
    app.db
        .db
        .collection::<mongodb::bson::Document>("products")
        .update_one(doc! { "_id": oid }, doc! { "$inc": { "stock": 5 } })
        .await
        .unwrap();
    let uri = format!("/products/{id}/stock");

    let taken = app
        .post(&uri)
        .bearer(&seller.token)
        .json(&json!({"delta": -2}))
        .send()
        .await;
    let raised = app
        .post(&uri)
        .bearer(&seller.token)
        .json(&json!({"delta": 1}))
        .send()
        .await;

    assert_eq!(taken.status, StatusCode::OK, "{}", taken.text());
    assert_eq!(taken.json()["stock"], 1_000_000_003);
    raised.assert_error(StatusCode::CONFLICT, "STOCK_LIMIT");
    assert_eq!(app.stock_of(&id).await, 1_000_000_003);
}

#[tokio::test]
async fn a_zero_fractional_or_missing_delta_is_422() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = app.product_with_stock(&seller, "Mug", 3).await;

    for body in [
        json!({"delta": 0}),
        json!({"delta": 1.5}),
        json!({"delta": "1"}),
        json!({"delta": 1_000_000_001}),
        json!({}),
    ] {
        let response = app
            .post(&format!("/products/{id}/stock"))
            .bearer(&seller.token)
            .json(&body)
            .send()
            .await;

        assert_eq!(
            response.assert_validation_error(),
            vec![json!(["body", "delta"])],
            "{body}"
        );
    }
    assert_eq!(app.stock_of(&id).await, 3);
}

#[tokio::test]
async fn only_the_owner_or_an_admin_changes_stock() {
    let app = spawn_app().await;
    let owner = app.caller(Role::Seller);
    let other = app.caller(Role::Seller);
    let buyer = app.caller(Role::Buyer);
    let admin = app.caller(Role::Admin);
    let id = app.product_with_stock(&owner, "Mug", 3).await;
    let uri = format!("/products/{id}/stock");
    let body = json!({"delta": -1});

    let by_other = app.post(&uri).bearer(&other.token).json(&body).send().await;
    let by_buyer = app.post(&uri).bearer(&buyer.token).json(&body).send().await;
    let anonymous = app.post(&uri).json(&body).send().await;
    let by_admin = app.post(&uri).bearer(&admin.token).json(&body).send().await;

    by_other.assert_error(StatusCode::FORBIDDEN, "FORBIDDEN");
    by_buyer.assert_error(StatusCode::FORBIDDEN, "FORBIDDEN");
    anonymous.assert_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert_eq!(by_admin.status, StatusCode::OK);
    assert_eq!(app.stock_of(&id).await, 2);
}

#[tokio::test]
async fn a_non_owner_learns_403_even_when_the_stock_would_not_suffice() {
    let app = spawn_app().await;
    let owner = app.caller(Role::Seller);
    let other = app.caller(Role::Seller);
    let id = app.product_with_stock(&owner, "Mug", 0).await;

    let response = app
        .post(&format!("/products/{id}/stock"))
        .bearer(&other.token)
        .json(&json!({"delta": -1}))
        .send()
        .await;

    response.assert_error(StatusCode::FORBIDDEN, "FORBIDDEN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_single_unit_takes_on_a_stock_of_20_let_exactly_20_through() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = app.product_with_stock(&seller, "Hot item", 20).await;
    let mut takes = JoinSet::new();
    for _ in 0..50 {
        let client = app.client.clone();
        let (uri, token) = (format!("/products/{id}/stock"), seller.token.clone());
        takes.spawn(async move {
            client
                .post(&uri)
                .bearer(&token)
                .json(&json!({"delta": -1}))
                .send()
                .await
        });
    }

    let responses = takes.join_all().await;

    let succeeded = responses
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(succeeded, 20);
    for response in responses.iter().filter(|r| r.status != StatusCode::OK) {
        response.assert_error(StatusCode::CONFLICT, "INSUFFICIENT_STOCK");
    }
    let mut stocks_seen: Vec<i64> = responses
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .map(|r| r.json()["stock"].as_i64().unwrap())
        .collect();
    stocks_seen.sort_unstable();
    assert_eq!(
        stocks_seen,
        (0..20).collect::<Vec<_>>(),
        "each take saw its own result"
    );
    assert_eq!(app.stock_of(&id).await, 0);
}

#[tokio::test]
async fn a_whole_valued_delta_is_taken_as_an_integer() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = app.product_with_stock(&seller, "Mug", 5).await;
    let uri = format!("/products/{id}/stock");

    let taken = app
        .post(&uri)
        .bearer(&seller.token)
        .json(&json!({"delta": -2.0}))
        .send()
        .await;
    let added = app
        .post(&uri)
        .bearer(&seller.token)
        .json(&json!({"delta": 1e1}))
        .send()
        .await;

    assert_eq!(taken.status, StatusCode::OK, "{}", taken.text());
    assert_eq!(taken.json()["stock"], json!(3));
    assert_eq!(added.status, StatusCode::OK, "{}", added.text());
    assert_eq!(added.json()["stock"], json!(13));
    assert_eq!(app.stock_of(&id).await, 13);
}

#[tokio::test]
async fn a_fractional_or_out_of_range_delta_is_422_at_the_delta() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = app.product_with_stock(&seller, "Mug", 5).await;

    for delta in [json!(-2.5), json!(0.0), json!(1e19), json!(-1e300)] {
        let response = app
            .post(&format!("/products/{id}/stock"))
            .bearer(&seller.token)
            .json(&json!({ "delta": delta }))
            .send()
            .await;

        assert_eq!(
            response.assert_validation_error(),
            vec![json!(["body", "delta"])],
            "{delta}"
        );
    }
    assert_eq!(app.stock_of(&id).await, 5);
}
