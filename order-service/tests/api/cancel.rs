use axum::http::StatusCode;
use common_api::auth::Role;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn cancelling_returns_every_line_to_stock() {
    let app = spawn_app().await;
    let kettle = app.product("Kettle", "30.0", 5).await;
    let mug = app.product("Mug", "8.0", 5).await;
    let buyer = app.caller(Role::Buyer);
    let order = app.placed(&buyer, &[(kettle, 2), (mug, 3)]).await;

    let response = app
        .post(&format!("/orders/{order}/cancel"))
        .bearer(&buyer.token)
        .send()
        .await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let cancelled = response.json();
    assert_eq!(cancelled["status"], "CANCELLED");
    assert_eq!(cancelled["id"], order.to_hex());
    assert_eq!(cancelled["items"].as_array().unwrap().len(), 2);
    assert_eq!((app.stock(kettle).await, app.stock(mug).await), (5, 5));
    let read = app
        .get(&format!("/orders/{order}"))
        .bearer(&buyer.token)
        .send()
        .await
        .json();
    assert_eq!(read["status"], "CANCELLED");
    app.settle().await;
    app.assert_stock_invariant().await;
}

#[tokio::test]
async fn only_placed_orders_can_be_cancelled() {
    let app = spawn_app().await;
    let mug = app.product("Mug", "8.0", 10).await;
    let buyer = app.caller(Role::Buyer);
    let admin = app.caller(Role::Admin);
    let cancelled = app.placed(&buyer, &[(mug, 1)]).await;
    let shipped = app.placed(&buyer, &[(mug, 1)]).await;
    app.post(&format!("/orders/{cancelled}/cancel"))
        .bearer(&buyer.token)
        .send()
        .await;
    app.patch(&format!("/orders/{shipped}"))
        .bearer(&admin.token)
        .json(&json!({"status": "SHIPPED"}))
        .send()
        .await;

    let again = app
        .post(&format!("/orders/{cancelled}/cancel"))
        .bearer(&buyer.token)
        .send()
        .await;
    let after_shipping = app
        .post(&format!("/orders/{shipped}/cancel"))
        .bearer(&buyer.token)
        .send()
        .await;

    again.assert_error(StatusCode::CONFLICT, "ORDER_NOT_CANCELLABLE");
    let body = after_shipping.assert_error(StatusCode::CONFLICT, "ORDER_NOT_CANCELLABLE");
    assert!(
        body["detail"].as_str().unwrap().contains("SHIPPED"),
        "{body}"
    );
    assert_eq!(
        app.stock(mug).await,
        9,
        "one returned, the shipped one still sold"
    );
}

#[tokio::test]
async fn someone_elses_order_cannot_be_cancelled_but_an_admin_may() {
    let app = spawn_app().await;
    let mug = app.product("Mug", "8.0", 10).await;
    let (owner, other, admin) = (
        app.caller(Role::Buyer),
        app.caller(Role::Buyer),
        app.caller(Role::Admin),
    );
    let order = app.placed(&owner, &[(mug, 2)]).await;

    let by_other = app
        .post(&format!("/orders/{order}/cancel"))
        .bearer(&other.token)
        .send()
        .await;
    let by_admin = app
        .post(&format!("/orders/{order}/cancel"))
        .bearer(&admin.token)
        .send()
        .await;

    by_other.assert_error(StatusCode::NOT_FOUND, "ORDER_NOT_FOUND");
    assert_eq!(by_admin.status, StatusCode::OK);
    assert_eq!(app.stock(mug).await, 10);
}

#[tokio::test]
async fn cancelling_a_malformed_or_unknown_order_is_400_or_404() {
    let app = spawn_app().await;
    let buyer = app.caller(Role::Buyer);

    let malformed = app
        .post("/orders/nope/cancel")
        .bearer(&buyer.token)
        .send()
        .await;
    let unknown = app
        .post("/orders/0123456789abcdef01234567/cancel")
        .bearer(&buyer.token)
        .send()
        .await;

    let body = malformed.assert_error(StatusCode::BAD_REQUEST, "INVALID_ID");
    assert_eq!(body["detail"], "Invalid order id");
    let body = unknown.assert_error(StatusCode::NOT_FOUND, "ORDER_NOT_FOUND");
    assert_eq!(body["detail"], "Order not found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn place_and_cancel_churn_on_one_product_leaves_no_return_markers_behind() {
    let app = std::sync::Arc::new(spawn_app().await);
    let product = app.product("Hot", "5.0", 1_000).await;
    let buyer = app.caller(Role::Buyer);
    let started = std::time::Instant::now();

    let mut churn = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (app, buyer) = (std::sync::Arc::clone(&app), buyer.clone());
        churn.spawn(async move {
            for _ in 0..25 {
                let order = app.placed(&buyer, &[(product, 2)]).await;
                let cancelled = app
                    .post(&format!("/orders/{order}/cancel"))
                    .bearer(&buyer.token)
                    .send()
                    .await;
                assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.text());
            }
        });
    }
    churn.join_all().await;
    let elapsed = started.elapsed();

    // Each cancel cleared its own markers once it was done: the document does not keep a
    // marker per cancel of the last minutes.
    let (holds, returns) = app.markers(product).await;
    eprintln!(
        "200 place/cancel pairs in {elapsed:.2?}: {returns} return markers and {holds} holds left"
    );
    assert_eq!(returns, 0);
    assert_eq!(app.stock(product).await, 1_000);
    app.settle().await;
    app.assert_stock_invariant().await;
}
