//! Order events: each recorded by the change it names, in the same write, with the order as
//! `GET /orders/{id}` showed it right after; relayed in the order of the changes; listed by
//! `GET /events` in commit order. Stock events the order service records on products.

use std::time::Duration;

use axum::http::StatusCode;
use common_api::auth::Role;
use common_catalog::PRODUCTS;
use mongodb::bson::doc;
use serde_json::{Value, json};

use crate::{
    checkout::{checkout, checkout_app, order_of, payment, standard},
    helpers::spawn_app,
};

/// The kinds of `events`, in order.
fn kinds(events: &[common_testing::StoredEvent]) -> Vec<&str> {
    events.iter().map(|event| event.kind.as_str()).collect()
}

#[tokio::test]
async fn each_order_change_records_one_event_with_the_order_as_shown_then() {
    let app = checkout_app(Duration::from_secs(900)).await;
    let pen = app.product("Pen", "2.50", 10).await;
    let buyer = app.caller(Role::Buyer);
    let admin = app.caller(Role::Admin);

    let placed = app.placed(&buyer, &[(pen, 1)]).await.to_hex();
    let after_placing = order_of(&app, &buyer, &placed).await;
    let shipped = app
        .patch(&format!("/orders/{placed}"))
        .bearer(&admin.token)
        .json(&json!({"status": "SHIPPED"}))
        .send()
        .await
        .json();
    let delivered = app
        .patch(&format!("/orders/{placed}"))
        .bearer(&admin.token)
        .json(&json!({"status": "DELIVERED"}))
        .send()
        .await
        .json();
    let (paid, pending) = checkout(&app, &buyer, &[(pen, 2)]).await;
    let pending = {
        assert_eq!(pending["status"], "PENDING_PAYMENT");
        order_of(&app, &buyer, &paid).await
    };
    let paying = standard(
        &app,
        "evt_1",
        &payment("payment.succeeded", &paid, 500, "USD"),
    )
    .await;
    assert_eq!(paying.status, StatusCode::OK, "{}", paying.text());
    let after_paying = order_of(&app, &buyer, &paid).await;
    let (cancelled, _) = checkout(&app, &buyer, &[(pen, 1)]).await;
    let cancelling = app
        .post(&format!("/orders/{cancelled}/cancel"))
        .bearer(&buyer.token)
        .send()
        .await;
    assert_eq!(cancelling.status, StatusCode::OK);

    let first = app.db.wait_for_events(&placed, 3).await;
    let second = app.db.wait_for_events(&paid, 2).await;
    let third = app.db.wait_for_events(&cancelled, 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    assert_eq!(
        kinds(&app.db.events_of(&placed).await),
        ["order.placed", "order.shipped", "order.delivered"]
    );
    assert_eq!(first[0].data, after_placing);
    assert_eq!(first[1].data, shipped);
    assert_eq!(first[2].data, delivered);
    assert_eq!(
        kinds(&app.db.events_of(&paid).await),
        ["order.pending_payment", "order.paid"]
    );
    assert_eq!(second[0].data, pending);
    assert_eq!(second[1].data, after_paying);
    assert_eq!(second[1].data["payment_id"], "pay_1");
    assert_eq!(
        kinds(&app.db.events_of(&cancelled).await),
        ["order.pending_payment", "order.cancelled"]
    );
    assert_eq!(third[1].data["status"], "CANCELLED");
    assert_eq!(app.db.outbox_backlog("orders").await, 0);
}

#[tokio::test]
async fn expiry_and_a_refund_due_record_their_events_and_refusals_record_none() {
    let app = checkout_app(Duration::from_secs(900)).await;
    let pen = app.product("Pen", "5.00", 1).await;
    let buyer = app.caller(Role::Buyer);
    let (id, _) = checkout(&app, &buyer, &[(pen, 1)]).await;
    let oid = mongodb::bson::oid::ObjectId::parse_str(&id).unwrap();
    app.db
        .db
        .collection::<mongodb::bson::Document>("orders")
        .update_one(
            doc! { "_id": oid },
            doc! { "$set": { "pay_by": mongodb::bson::DateTime::now() } },
        )
        .await
        .unwrap();
    app.state.engine.expire_due().await.unwrap();
    // The unit goes to someone else, so the late payment cannot take it again.
    app.placed(&buyer, &[(pen, 1)]).await;
    let late = standard(
        &app,
        "evt_late",
        &payment("payment.succeeded", &id, 500, "USD"),
    )
    .await;
    assert_eq!(late.json()["outcome"], "refund_due");
    // Refused: not cancellable any more, not the next status, not someone's order.
    let refused = app
        .post(&format!("/orders/{id}/cancel"))
        .bearer(&buyer.token)
        .send()
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);

    let events = app.db.wait_for_events(&id, 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    assert_eq!(
        kinds(&app.db.events_of(&id).await),
        ["order.pending_payment", "order.expired", "order.refund_due"]
    );
    assert_eq!(events[1].data["status"], "EXPIRED");
    assert_eq!(events[2].data, order_of(&app, &buyer, &id).await);
}

#[tokio::test]
async fn a_refused_order_records_nothing_and_stock_events_mark_zero_and_back() {
    let app = spawn_app().await;
    let pen = app.product("Pen", "1.00", 2).await;
    let buyer = app.caller(Role::Buyer);

    let short = app.order(&buyer, &[(pen, 3)]).await;
    assert_eq!(short.status, StatusCode::CONFLICT);
    let order = app.placed(&buyer, &[(pen, 2)]).await;
    app.post(&format!("/orders/{order}/cancel"))
        .bearer(&buyer.token)
        .send()
        .await;
    app.settle().await;

    // Only the two orders' events; the refused order left none.
    let all = app.db.events().await;
    assert!(
        all.iter().all(|event| event.data["id"] == order.to_hex()),
        "{all:?}"
    );
    // The product service relays products; here its outbox shows what the takes recorded.
    let product = &app.db.documents(PRODUCTS, doc! { "_id": pen }).await[0];
    let recorded: Vec<(String, i64)> = product
        .get_array("outbox")
        .unwrap()
        .iter()
        .map(|entry| {
            let entry = entry.as_document().unwrap();
            let stock = entry.get_document("doc").unwrap().get_i64("stock").unwrap();
            (entry.get_str("type").unwrap().to_owned(), stock)
        })
        .collect();
    assert_eq!(
        recorded,
        [
            ("product.out_of_stock".to_owned(), 0),
            ("product.back_in_stock".to_owned(), 2)
        ]
    );
    let snapshot = product.get_array("outbox").unwrap()[0]
        .as_document()
        .unwrap()
        .get_document("doc")
        .unwrap()
        .clone();
    for hidden in ["holds", "returns", "outbox"] {
        assert!(!snapshot.contains_key(hidden), "{hidden} in {snapshot}");
    }
}

#[tokio::test]
async fn get_events_pages_in_commit_order_by_type_for_admins_only() {
    let app = spawn_app().await;
    let pen = app.product("Pen", "1.00", 100).await;
    let buyer = app.caller(Role::Buyer);
    let admin = app.caller(Role::Admin);
    let mut orders = Vec::new();
    for _ in 0..5 {
        orders.push(app.placed(&buyer, &[(pen, 1)]).await.to_hex());
    }
    app.post(&format!("/orders/{}/cancel", orders[1]))
        .bearer(&buyer.token)
        .send()
        .await;
    app.db.wait_for_events(&orders[1], 2).await;

    let all = app.get("/events").bearer(&admin.token).send().await;
    let first_two = app
        .get("/events?limit=2")
        .bearer(&admin.token)
        .send()
        .await
        .json();
    let after = first_two[1]["id"].as_str().unwrap();
    let rest = app
        .get(&format!("/events?after={after}"))
        .bearer(&admin.token)
        .send()
        .await
        .json();
    let cancels = app
        .get("/events?types=order.cancelled,order.paid")
        .bearer(&admin.token)
        .send()
        .await
        .json();

    assert_eq!(all.status, StatusCode::OK);
    let all = all.json();
    let listed: Vec<Value> = all.as_array().unwrap().clone();
    assert_eq!(listed.len(), 6);
    let ids: Vec<&str> = listed
        .iter()
        .map(|e| e["data"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        &ids[..5],
        orders.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(
        (listed[5]["type"].clone(), ids[5]),
        (json!("order.cancelled"), orders[1].as_str())
    );
    let mut paged = first_two.as_array().unwrap().clone();
    paged.extend(rest.as_array().unwrap().iter().cloned());
    assert_eq!(paged, listed);
    assert_eq!(cancels.as_array().unwrap().len(), 1);
    for field in ["id", "type", "occurred_at", "data"] {
        assert!(listed[0].get(field).is_some(), "{field}");
    }

    let as_buyer = app.get("/events").bearer(&buyer.token).send().await;
    as_buyer.assert_error(StatusCode::FORBIDDEN, "FORBIDDEN");
    app.get("/events")
        .send()
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    for bad in [
        "/events?after=nothex",
        "/events?after=6560b5f2a1b2c3d4e5f60718",
        "/events?types=order.exploded",
        "/events?limit=0",
        "/events?limit=1001",
    ] {
        let refused = app.get(bad).bearer(&admin.token).send().await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(refused.json()["error_code"], "VALIDATION_ERROR", "{bad}");
    }
}
