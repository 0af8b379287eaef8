//! A disabled buyer's token is refused by every replica of the order service within about a
//! second of the user service's change, and `REQUIRE_VERIFIED_EMAIL` asks for a verified email.

use axum::http::{Method, StatusCode};
use common_api::auth::{Grant, Role, TokenKeys};
use common_testing::{ServiceProcess, TestDb, assert_refused_after_cutoff};
use mongodb::bson::oid::ObjectId;
use serde_json::json;

use crate::helpers::{insert_product, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_buyers_token_is_refused_by_both_replicas_within_a_second() {
    let db = TestDb::new("order_service").await;
    let binary = env!("CARGO_BIN_EXE_order-service");
    let one = ServiceProcess::start(binary, &db.config, &[]).await;
    let two = ServiceProcess::start(binary, &db.config, &[]).await;
    let pen = insert_product(&db, "Pen", "1.00", 100).await;
    let order = json!({"items": [{"product_id": pen.to_hex(), "quantity": 1}]});

    let took = assert_refused_after_cutoff(
        &db,
        &[&one, &two],
        (Method::POST, "/orders", Some(&order)),
        Role::Buyer,
    )
    .await;

    eprintln!("refused by both replicas {took:?} after the cutoff");
}

#[tokio::test]
async fn with_require_verified_email_only_a_verified_email_may_order() {
    let db = TestDb::with_overrides("order_service", &[("REQUIRE_VERIFIED_EMAIL", "true")]).await;
    let settings = order_service::OrderSettings::from_lookup(&db.config, db.lookup()).unwrap();
    assert!(settings.require_verified_email);
    let keys = TokenKeys::new(&db.config.jwt_secret, db.config.access_token_ttl);
    let app = spawn_app_with(db, settings).await;
    let pen = app.product("Pen", "1.00", 10).await;
    let token = |email_verified| {
        let grant = Grant {
            user_id: ObjectId::new(),
            role: Role::Buyer,
            email_verified,
            valid_after: None,
        };
        keys.issue(grant).unwrap().token
    };
    let order = json!({"items": [{"product_id": pen.to_hex(), "quantity": 1}]});

    let unverified = app
        .post("/orders")
        .bearer(&token(false))
        .json(&order)
        .send()
        .await;
    let checkout = app
        .post("/orders")
        .bearer(&token(false))
        .json(&json!({"items": [{"product_id": pen.to_hex(), "quantity": 1}], "checkout": true}))
        .send()
        .await;
    let verified = app
        .post("/orders")
        .bearer(&token(true))
        .json(&order)
        .send()
        .await;

    unverified.assert_error(StatusCode::FORBIDDEN, "EMAIL_NOT_VERIFIED");
    checkout.assert_error(StatusCode::FORBIDDEN, "EMAIL_NOT_VERIFIED");
    assert_eq!(verified.status, StatusCode::CREATED, "{}", verified.text());
    assert_eq!(app.stock(pen).await, 9);
}
