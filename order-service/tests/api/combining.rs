//! Orders of one product combined into one write (group commit): they are combined, the orders
//! that fit are exactly those one-by-one takes would serve, keys still place an order once, and
//! SIGKILLs in the middle of combined batches lose no stock.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::http::{Method, StatusCode};
use common_api::auth::Role;
use common_testing::{ServiceProcess, TestDb, http, metric};
use serde_json::json;
use tokio::task::JoinSet;

use crate::helpers::{send_order, spawn_app, spawn_app_on};

const BINARY: &str = env!("CARGO_BIN_EXE_order-service");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_orders_of_one_product_share_combined_writes() {
    let app = spawn_app().await;
    let kettle = app.product("Kettle", "10.00", 1000).await;
    let service = ServiceProcess::start(BINARY, &app.db.config, &[]).await;
    let buyer = app.caller(Role::Buyer);
    let bearer = format!("Bearer {}", buyer.token);
    let body = json!({"items": [{"product_id": kettle.to_hex(), "quantity": 2}]});

    let mut orders = JoinSet::new();
    for _ in 0..96 {
        let (bearer, body) = (bearer.clone(), body.clone());
        let address = service.address;
        orders.spawn(async move {
            http(
                address,
                Method::POST,
                "/orders",
                &[("authorization", &bearer)],
                Some(&body),
            )
            .await
            .unwrap()
            .status
        });
    }
    let statuses = orders.join_all().await;
    let scraped = http(service.address, Method::GET, "/metrics", &[], None)
        .await
        .unwrap();
    let text = String::from_utf8(scraped.body.to_vec()).unwrap();

    assert!(
        statuses.iter().all(|s| *s == StatusCode::CREATED),
        "{statuses:?}"
    );
    let batches = metric(&text, "order_take_batch_size_count", &[]);
    let takes = metric(&text, "order_take_batch_size_sum", &[]);
    assert_eq!(takes, 96.0);
    assert!(
        batches < 96.0,
        "{batches} writes for 96 takes: nothing was combined"
    );
    assert_eq!(app.stock(kettle).await, 1000 - 2 * 96);
    app.assert_stock_invariant_within(Duration::from_secs(10))
        .await;
}

#[tokio::test]
async fn when_the_sum_does_not_fit_each_order_is_served_only_if_it_fits_what_is_left() {
    let app = spawn_app().await;
    let teapot = app.product("Teapot", "20.00", 25).await;
    let mut orders = JoinSet::new();
    for i in 0..60 {
        let quantity = [1, 2, 3, 5][i % 4];
        let (client, buyer) = (app.client.clone(), app.caller(Role::Buyer));
        orders.spawn(async move {
            (
                quantity,
                send_order(&client, &buyer, &[(teapot, quantity)], None).await,
            )
        });
    }

    let answers = orders.join_all().await;

    app.settle().await;
    let left = app.stock(teapot).await;
    let served: i64 = answers
        .iter()
        .filter(|(_, answer)| answer.status == StatusCode::CREATED)
        .map(|(quantity, _)| quantity)
        .sum();
    assert_eq!(served + left, 25, "no unit oversold or lost");
    for (quantity, answer) in answers
        .iter()
        .filter(|(_, a)| a.status != StatusCode::CREATED)
    {
        answer.assert_error(StatusCode::CONFLICT, "INSUFFICIENT_STOCK");
        // Refused only when it did not fit what was left at its turn, which is never less than
        // what is left now.
        assert!(
            *quantity > left,
            "an order of {quantity} refused with {left} left"
        );
    }
    app.assert_stock_invariant().await;
}

#[tokio::test]
async fn a_key_places_one_order_while_its_repeats_race_combined_takes() {
    let app = spawn_app().await;
    let pen = app.product("Pen", "1.00", 500).await;
    let buyer = app.caller(Role::Buyer);
    let mut orders = JoinSet::new();
    for i in 0..40 {
        let (client, buyer) = (app.client.clone(), buyer.clone());
        let key = if i % 2 == 0 {
            "same-key".to_owned()
        } else {
            format!("key-{i}")
        };
        orders.spawn(async move {
            (
                key.clone(),
                send_order(&client, &buyer, &[(pen, 1)], Some(&key)).await,
            )
        });
    }

    let answers = orders.join_all().await;

    let same: Vec<String> = answers
        .iter()
        .filter(|(key, _)| key == "same-key")
        .filter(|(_, answer)| answer.status == StatusCode::CREATED)
        .map(|(_, answer)| answer.json()["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!same.is_empty());
    assert!(
        same.iter().all(|id| *id == same[0]),
        "one order for the key: {same:?}"
    );
    for (key, answer) in &answers {
        if key == "same-key" && answer.status != StatusCode::CREATED {
            answer.assert_error(StatusCode::CONFLICT, "IDEMPOTENCY_KEY_IN_USE");
        } else if key != "same-key" {
            assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text());
        }
    }
    app.settle().await;
    assert_eq!(
        app.stock(pen).await,
        500 - 21,
        "twenty keys of their own and one shared"
    );
    app.assert_stock_invariant().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkills_in_the_middle_of_combined_batches_lose_no_stock() {
    let app = spawn_app_on(TestDb::new("order_service").await).await;
    let hot = app.product("Flash sale", "5.00", 100_000).await;
    let quick = [
        ("REQUEST_TIMEOUT_SECS", "2"),
        ("ORDER_RECOVERY_GRACE_SECS", "6"),
    ];
    let mut killed = ServiceProcess::start(BINARY, &app.db.config, &quick).await;
    let survivor = ServiceProcess::start(BINARY, &app.db.config, &quick).await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = JoinSet::new();
    for i in 0..16 {
        let bearer = format!("Bearer {}", app.caller(Role::Buyer).token);
        let replicas = [killed.address, survivor.address];
        let stop = Arc::clone(&stop);
        let body = json!({"items": [{"product_id": hot.to_hex(), "quantity": 1 + i % 3}]});
        clients.spawn(async move {
            let mut turn = i;
            while !stop.load(Ordering::Relaxed) {
                turn += 1;
                let address = replicas[turn % 2];
                let answer = http(
                    address,
                    Method::POST,
                    "/orders",
                    &[("authorization", &bearer)],
                    Some(&body),
                )
                .await;
                if let Ok(answer) = answer {
                    // Cut mid-request by the kill, or 201: nothing else.
                    assert!(
                        [StatusCode::CREATED, StatusCode::SERVICE_UNAVAILABLE]
                            .contains(&answer.status),
                        "{} {}",
                        answer.status,
                        String::from_utf8_lossy(&answer.body)
                    );
                }
            }
        });
    }

    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        killed.kill();
        tokio::time::sleep(Duration::from_millis(100)).await;
        killed.restart().await;
    }
    stop.store(true, Ordering::Relaxed);
    clients.join_all().await;

    app.assert_stock_invariant_within(Duration::from_secs(40))
        .await;
}
