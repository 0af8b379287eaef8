//! The core concurrency scenarios, run against the replica set (`concurrency.rs`) and again
//! against a standalone server (`standalone.rs`).

use std::collections::HashSet;

use axum::http::StatusCode;
use common_api::auth::Role;
use tokio::task::JoinSet;

use crate::helpers::{TestApp, send_order};

/// 200 buyers race for 50 units: exactly 50 orders, the rest 409, stock 0, no holds left.
pub async fn two_hundred_orders_for_fifty_units(app: &TestApp) {
    let product = app.product("Flash sale kettle", "29.99", 50).await;
    let mut orders = JoinSet::new();
    for _ in 0..200 {
        let (client, buyer) = (app.client.clone(), app.caller(Role::Buyer));
        orders.spawn(async move { send_order(&client, &buyer, &[(product, 1)], None).await });
    }

    let responses = orders.join_all().await;

    let placed: Vec<_> = responses
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .collect();
    assert_eq!(placed.len(), 50);
    for refused in responses.iter().filter(|r| r.status != StatusCode::CREATED) {
        refused.assert_error(StatusCode::CONFLICT, "INSUFFICIENT_STOCK");
    }
    let ids: HashSet<String> = placed
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 50, "50 distinct orders");
    for response in &placed {
        assert_eq!(response.json()["status"], "PLACED");
        assert_eq!(response.json()["total"], 29.99);
    }
    app.settle().await;
    assert_eq!(app.stock(product).await, 0);
    assert_eq!(app.markers(product).await, (0, 0), "no holds left");
    app.assert_stock_invariant().await;
}

/// Two-line orders over two scarce products, with the lines in both orders: no oversell, and
/// every order has both lines or does not exist.
pub async fn two_line_orders_are_all_or_nothing(app: &TestApp) {
    let kettle = app.product("Kettle", "30.0", 7).await;
    let teapot = app.product("Teapot", "20.0", 5).await;
    let mut orders = JoinSet::new();
    for i in 0..40 {
        let (client, buyer) = (app.client.clone(), app.caller(Role::Buyer));
        let items = if i % 2 == 0 {
            vec![(kettle, 1), (teapot, 1)]
        } else {
            vec![(teapot, 1), (kettle, 1)]
        };
        orders.spawn(async move {
            let response = send_order(&client, &buyer, &items, None).await;
            (buyer, response)
        });
    }

    let results = orders.join_all().await;

    let mut placed = 0;
    for (buyer, response) in &results {
        if response.status != StatusCode::CREATED {
            response.assert_error(StatusCode::CONFLICT, "INSUFFICIENT_STOCK");
            continue;
        }
        placed += 1;
        let id = response.json()["id"].as_str().unwrap().to_owned();
        let order = app
            .get(&format!("/orders/{id}"))
            .bearer(&buyer.token)
            .send()
            .await
            .json();
        assert_eq!(
            order["items"].as_array().unwrap().len(),
            2,
            "both lines: {order}"
        );
        assert_eq!(order["total"], 50.0);
    }
    assert!((1..=5).contains(&placed), "placed {placed}");
    app.settle().await;
    assert_eq!(app.stock(kettle).await, 7 - placed);
    assert_eq!(app.stock(teapot).await, 5 - placed);
    app.assert_stock_invariant().await;
}

/// The same key sent 20 times at once: one order, stock taken once, every answer 201 with its id.
pub async fn twenty_repeats_of_one_key_make_one_order(app: &TestApp) {
    let product = app.product("Lamp", "40.0", 10).await;
    let buyer = app.caller(Role::Buyer);
    let mut orders = JoinSet::new();
    for _ in 0..20 {
        let (client, buyer) = (app.client.clone(), buyer.clone());
        orders.spawn(async move {
            send_order(&client, &buyer, &[(product, 3)], Some("checkout-7f3a")).await
        });
    }

    let responses = orders.join_all().await;

    let ids: HashSet<String> = responses
        .iter()
        .map(|r| {
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
            r.json()["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "one order");
    let replayed = responses
        .iter()
        .filter(|r| r.header("idempotent-replayed") == Some("true"))
        .count();
    assert_eq!(replayed, 19);
    app.settle().await;
    assert_eq!(app.stock(product).await, 7, "stock taken once");
    let list = app.get("/orders").bearer(&buyer.token).send().await;
    assert_eq!(list.header("x-total-count"), Some("1"));
    app.assert_stock_invariant().await;
}

/// Two cancels of one order at once: one wins, the stock comes back once.
pub async fn two_concurrent_cancels_return_stock_once(app: &TestApp) {
    let product = app.product("Mug", "8.0", 10).await;
    let buyer = app.caller(Role::Buyer);
    let order = app.placed(&buyer, &[(product, 4)]).await;
    let cancel = || {
        let (client, token) = (app.client.clone(), buyer.token.clone());
        async move {
            client
                .post(&format!("/orders/{order}/cancel"))
                .bearer(&token)
                .send()
                .await
        }
    };

    let (first, second) = tokio::join!(tokio::spawn(cancel()), tokio::spawn(cancel()));
    let (first, second) = (first.unwrap(), second.unwrap());

    let mut statuses = [first.status, second.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT]);
    let (winner, loser) = if first.status == StatusCode::OK {
        (first, second)
    } else {
        (second, first)
    };
    assert_eq!(winner.json()["status"], "CANCELLED");
    loser.assert_error(StatusCode::CONFLICT, "ORDER_NOT_CANCELLABLE");
    app.settle().await;
    assert_eq!(app.stock(product).await, 10, "returned once");
    app.recover_all().await;
    assert_eq!(
        app.stock(product).await,
        10,
        "and not again by the recovery pass"
    );
    app.assert_stock_invariant().await;
}
