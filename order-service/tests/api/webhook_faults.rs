//! Delivery with the service as a process of its own: SIGKILL between a change and its delivery,
//! and between a delivery and its record, loses no event; two replicas deliver each event once.
//! No in-process service runs here, so every delivery is the processes' own.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use common_api::auth::Role;
use common_testing::{ServiceProcess, TestDb, access_token, http};
use mongodb::bson::{DateTime, oid::ObjectId};
use order_service::store::{OrderDoc, OrderLine, OrderStore, StoredStatus};
use serde_json::{Value, json};

use crate::{
    helpers::insert_product,
    receiver::{Behaviour, Receiver},
};

const BINARY: &str = env!("CARGO_BIN_EXE_order-service");

const WEBHOOKS: &[(&str, &str)] = &[
    ("WEBHOOK_ALLOW_HTTP", "true"),
    ("WEBHOOK_ALLOW_PRIVATE", "true"),
    ("WEBHOOK_TIMEOUT_SECS", "1"),
    ("WEBHOOK_RETRY_BASE_SECS", "1"),
];

async fn product(db: &TestDb, stock: i64) -> ObjectId {
    insert_product(db, "Pen", "3.00", stock).await
}

async fn call(
    service: &ServiceProcess,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let bearer = format!("Bearer {token}");
    let answer = http(
        service.address,
        method,
        path,
        &[("authorization", &bearer)],
        body,
    )
    .await
    .unwrap();
    let json = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    (answer.status, json)
}

async fn subscribe(service: &ServiceProcess, admin: &str, url: &str) -> String {
    let (status, body) = call(
        service,
        Method::POST,
        "/webhooks",
        admin,
        Some(&json!({"url": url, "events": ["order.placed"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn place(service: &ServiceProcess, buyer: &str, product: ObjectId) -> String {
    let order = json!({"items": [{"product_id": product.to_hex(), "quantity": 1}]});
    let (status, body) = call(service, Method::POST, "/orders", buyer, Some(&order)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// The order ids the receiver was told of.
fn orders_received(receiver: &Receiver) -> Vec<String> {
    receiver
        .received()
        .iter()
        .map(|r| r.json()["data"]["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_between_a_change_and_its_delivery_still_delivers_it() {
    let db = TestDb::new("order_service").await;
    let admin = access_token(&db.config, ObjectId::new(), Role::Admin);
    let buyer_id = ObjectId::new();
    let buyer = access_token(&db.config, buyer_id, Role::Buyer);
    let pen = product(&db, 10).await;
    let receiver = Receiver::start(Behaviour::Answer(200)).await;
    let mut service = ServiceProcess::start(BINARY, &db.config, WEBHOOKS).await;
    subscribe(&service, &admin, &receiver.url).await;

    // Killed the instant its answer arrives: the event is relayed and delivered, or not yet.
    let answered = place(&service, &buyer, pen).await;
    service.kill();
    // A change committed by a process that died before its relay ran: the order as placing
    // writes it, with its event, and nothing running.
    let committed = ObjectId::new();
    let line = OrderLine {
        product_id: pen,
        quantity: 1,
        name: "Pen".into(),
        unit_price: 300.into(),
    };
    let order = OrderDoc::new(
        committed,
        buyer_id,
        vec![line],
        StoredStatus::Placed,
        300.into(),
        DateTime::now(),
    );
    OrderStore::new(&db.db).insert(&order).await.unwrap();
    service.restart().await;

    receiver.wait_for(2, Duration::from_secs(15)).await;
    let told = orders_received(&receiver);
    assert!(told.contains(&answered), "{told:?}");
    assert!(told.contains(&committed.to_hex()), "{told:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_between_a_delivery_and_its_record_sends_it_again_with_the_same_id() {
    let db = TestDb::new("order_service").await;
    let admin = access_token(&db.config, ObjectId::new(), Role::Admin);
    let buyer = access_token(&db.config, ObjectId::new(), Role::Buyer);
    let pen = product(&db, 10).await;
    let receiver = Receiver::start(Behaviour::Hold).await;
    let mut service = ServiceProcess::start(BINARY, &db.config, WEBHOOKS).await;
    let webhook = subscribe(&service, &admin, &receiver.url).await;

    place(&service, &buyer, pen).await;
    receiver.wait_for(1, Duration::from_secs(10)).await;
    service.kill();
    receiver.release();
    receiver.set(Behaviour::Answer(200));
    service.restart().await;

    // The claim of the killed attempt lapses after the timeout (1 s) and its margin (5 s).
    let received = receiver.wait_for(2, Duration::from_secs(20)).await;
    assert_eq!(received[0].id(), received[1].id());
    let mut delivered = false;
    for _ in 0..50 {
        let path = format!("/webhooks/{webhook}/deliveries?status=DELIVERED");
        let (_, listed) = call(&service, Method::GET, &path, &admin, None).await;
        if listed.as_array().is_some_and(|d| d.len() == 1) {
            delivered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        delivered,
        "the delivery is recorded as delivered after the second attempt"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_deliver_each_event_once() {
    let db = TestDb::new("order_service").await;
    let admin = access_token(&db.config, ObjectId::new(), Role::Admin);
    let buyer = access_token(&db.config, ObjectId::new(), Role::Buyer);
    let pen = product(&db, 100).await;
    let receiver = Receiver::start(Behaviour::Answer(200)).await;
    let one = ServiceProcess::start(BINARY, &db.config, WEBHOOKS).await;
    let two = ServiceProcess::start(BINARY, &db.config, WEBHOOKS).await;
    subscribe(&one, &admin, &receiver.url).await;

    let mut placed = Vec::new();
    for i in 0..20 {
        let replica = if i % 2 == 0 { &one } else { &two };
        placed.push(place(replica, &buyer, pen).await);
    }
    receiver.wait_for(20, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut told = orders_received(&receiver);
    assert_eq!(told.len(), 20, "each event exactly once: {told:?}");
    told.sort();
    placed.sort();
    assert_eq!(told, placed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_events_and_deliveries_by_outcome() {
    let db = TestDb::new("order_service").await;
    let admin = access_token(&db.config, ObjectId::new(), Role::Admin);
    let buyer = access_token(&db.config, ObjectId::new(), Role::Buyer);
    let pen = product(&db, 10).await;
    let live = Receiver::start(Behaviour::Answer(200)).await;
    let failing = Receiver::start(Behaviour::Answer(500)).await;
    let service = ServiceProcess::start(BINARY, &db.config, WEBHOOKS).await;
    subscribe(&service, &admin, &live.url).await;
    subscribe(&service, &admin, &failing.url).await;

    place(&service, &buyer, pen).await;
    live.wait_for(1, Duration::from_secs(10)).await;
    failing.wait_for(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let scraped = http(service.address, Method::GET, "/metrics", &[], None)
        .await
        .unwrap();
    let text = String::from_utf8(scraped.body.to_vec()).unwrap();

    let counted: &[(&str, &[(&str, &str)])] = &[
        ("events_recorded_total", &[("type", "order.placed")]),
        ("webhook_deliveries_total", &[("outcome", "delivered")]),
        ("webhook_deliveries_total", &[("outcome", "rejected")]),
        ("webhook_delivery_duration_seconds_count", &[]),
        ("webhook_delivery_lag_seconds_count", &[]),
    ];
    for (name, labels) in counted {
        let value = common_testing::metric(&text, name, labels);
        assert!(value >= 1.0, "{name}{labels:?} in\n{text}");
    }
    assert!(text.contains("webhook_oldest_pending_seconds"), "{text}");
}
