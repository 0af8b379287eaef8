//! Crash safety without killing anything: each test drives the order steps directly to leave the
//! state a crash would leave at that point, runs the recovery pass, and checks that at rest
//! initial stock = current stock + units in orders that hold their stock.

use axum::http::StatusCode;
use common_api::auth::Role;
use mongodb::bson::{DateTime, oid::ObjectId};
use order_service::{
    engine::placing::total,
    store::{Claim, ClaimId, OrderDoc, OrderLine, StoredStatus},
};

use crate::helpers::{TestApp, spawn_app};

/// Takes `lines` for a new order id, as a request would before storing the order.
async fn take(app: &TestApp, lines: &[(ObjectId, i64)]) -> (ObjectId, OrderDoc) {
    let id = ObjectId::new();
    let at = DateTime::now();
    let buyer = ObjectId::new();
    let mut items = Vec::new();
    for (product, quantity) in lines {
        let snapshot = app
            .inventory
            .take(*product, *quantity, id, at)
            .await
            .unwrap()
            .expect("enough stock");
        items.push(OrderLine {
            product_id: *product,
            quantity: *quantity,
            name: snapshot.name,
            unit_price: snapshot
                .price
                .minor(common_api::money::Currency::USD)
                .unwrap()
                .into(),
        });
    }
    let total = total(&items, common_api::money::Currency::USD).unwrap();
    let order = OrderDoc::new(id, buyer, items, StoredStatus::Placed, total.into(), at);
    (id, order)
}

#[tokio::test]
async fn holds_without_an_order_are_given_back_and_the_order_can_never_appear() {
    let app = spawn_app().await;
    let kettle = app.product("Kettle", "30.0", 5).await;
    let mug = app.product("Mug", "8.0", 5).await;
    // A crash after taking both lines, before storing the order.
    let (id, order) = take(&app, &[(kettle, 2), (mug, 1)]).await;
    assert_eq!((app.stock(kettle).await, app.stock(mug).await), (3, 4));

    let report = app.recover_all().await;

    assert_eq!(report.orders_abandoned, 1);
    assert_eq!(report.lines_given_back, 2);
    assert_eq!((app.stock(kettle).await, app.stock(mug).await), (5, 5));
    assert_eq!(app.status(id).await.as_deref(), Some("FAILED"));
    let late = app.orders.insert(&order).await;
    assert!(
        late.is_err_and(|err| common_platform::db::is_duplicate_key(&err)),
        "a late insert loses"
    );
    let admin = app.caller(Role::Admin);
    let read = app
        .get(&format!("/orders/{id}"))
        .bearer(&admin.token)
        .send()
        .await;
    read.assert_error(StatusCode::NOT_FOUND, "ORDER_NOT_FOUND");
    app.assert_stock_invariant().await;
    assert_eq!(
        app.recover_all().await,
        Default::default(),
        "a second pass finds nothing"
    );
}

#[tokio::test]
async fn a_crash_between_the_give_backs_of_a_refused_order_is_finished() {
    let app = spawn_app().await;
    let kettle = app.product("Kettle", "30.0", 5).await;
    let mug = app.product("Mug", "8.0", 5).await;
    let (id, _) = take(&app, &[(kettle, 2), (mug, 1)]).await;
    // The request gave back the first line, then stopped.
    assert!(app.inventory.give_back(kettle, id, 2).await.unwrap());

    let report = app.recover_all().await;

    assert_eq!(report.lines_given_back, 1, "only the line still held");
    assert_eq!((app.stock(kettle).await, app.stock(mug).await), (5, 5));
    app.assert_stock_invariant().await;
}

#[tokio::test]
async fn an_order_stored_with_its_holds_still_on_keeps_its_stock() {
    let app = spawn_app().await;
    let kettle = app.product("Kettle", "30.0", 5).await;
    let mug = app.product("Mug", "8.0", 5).await;
    // A crash after storing the order, before its holds were released.
    let (id, order) = take(&app, &[(kettle, 2), (mug, 1)]).await;
    app.orders.insert(&order).await.unwrap();

    let report = app.recover_all().await;

    assert_eq!(report.holds_released, 2);
    assert_eq!(report.lines_given_back, 0);
    assert_eq!((app.stock(kettle).await, app.stock(mug).await), (3, 4));
    assert_eq!(app.status(id).await.as_deref(), Some("PLACED"));
    app.assert_stock_invariant().await;
}

#[tokio::test]
async fn a_cancel_stopped_halfway_is_finished_and_each_line_returned_once() {
    let app = spawn_app().await;
    let kettle = app.product("Kettle", "30.0", 5).await;
    let mug = app.product("Mug", "8.0", 5).await;
    let buyer = app.caller(Role::Buyer);
    let id = app.placed(&buyer, &[(kettle, 2), (mug, 3)]).await;
    app.settle().await;
    // A crash after the cancel won and returned one line.
    let order = app
        .orders
        .transition(id, None, StoredStatus::Placed, StoredStatus::Cancelling)
        .await
        .unwrap()
        .unwrap();
    let first_line = &order.items[0];
    assert!(
        app.inventory
            .return_line(first_line.product_id, id, first_line.quantity)
            .await
            .unwrap()
    );
    let read = app
        .get(&format!("/orders/{id}"))
        .bearer(&buyer.token)
        .send()
        .await
        .json();
    assert_eq!(
        read["status"], "CANCELLED",
        "a cancel in progress reads as CANCELLED"
    );

    let report = app.recover_all().await;

    assert_eq!(report.cancels_finished, 1);
    assert_eq!(report.markers_cleared, 2);
    assert_eq!((app.stock(kettle).await, app.stock(mug).await), (5, 5));
    assert_eq!(app.status(id).await.as_deref(), Some("CANCELLED"));
    assert_eq!(app.markers(kettle).await, (0, 0));
    app.recover_all().await;
    assert_eq!(
        (app.stock(kettle).await, app.stock(mug).await),
        (5, 5),
        "not returned twice"
    );
    app.assert_stock_invariant().await;
}

#[tokio::test]
async fn a_return_marker_stops_a_second_return_of_the_same_line() {
    let app = spawn_app().await;
    let mug = app.product("Mug", "8.0", 5).await;
    let order = ObjectId::new();

    let first = app.inventory.return_line(mug, order, 2).await.unwrap();
    let second = app.inventory.return_line(mug, order, 2).await.unwrap();

    assert!(first && !second);
    assert_eq!(app.stock(mug).await, 7);
}

#[tokio::test]
async fn a_key_claimed_for_an_order_that_never_appeared_is_released() {
    let app = spawn_app().await;
    let mug = app.product("Mug", "8.0", 5).await;
    let buyer = app.caller(Role::Buyer);
    let claim = ClaimId {
        user_id: buyer.id,
        key: "crashed-checkout".to_owned(),
    };
    // A crash right after claiming the key.
    let abandoned = ObjectId::new();
    let won = app
        .claims
        .claim(&claim, "fingerprint", abandoned)
        .await
        .unwrap();
    assert!(matches!(won, Claim::Won));

    let report = app.recover_all().await;
    let retry = app
        .order_with(&buyer, &[(mug, 1)], Some("crashed-checkout"))
        .await;

    assert_eq!(report.keys_released, 1);
    assert_eq!(
        app.status(abandoned).await.as_deref(),
        Some("FAILED"),
        "the order id is settled, so that order can never be stored under the freed key"
    );
    assert_eq!(retry.status, StatusCode::CREATED, "{}", retry.text());
    assert_eq!(retry.header("idempotent-replayed"), None);
    assert_eq!(app.stock(mug).await, 4);
}

#[tokio::test]
async fn a_key_whose_order_was_stored_but_not_confirmed_keeps_replaying_it() {
    let app = spawn_app().await;
    let mug = app.product("Mug", "8.0", 5).await;
    let buyer = app.caller(Role::Buyer);
    let first = app.order_with(&buyer, &[(mug, 1)], Some("k1")).await;
    app.db
        .db
        .collection::<mongodb::bson::Document>("idempotency_keys")
        .update_many(
            mongodb::bson::doc! {},
            mongodb::bson::doc! { "$set": { "confirmed": false } },
        )
        .await
        .unwrap();

    let report = app.recover_all().await;
    let repeat = app.order_with(&buyer, &[(mug, 1)], Some("k1")).await;

    assert_eq!(report.keys_confirmed, 1);
    assert_eq!(repeat.json()["id"], first.json()["id"]);
    assert_eq!(repeat.header("idempotent-replayed"), Some("true"));
    assert_eq!(app.stock(mug).await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_recovery_pass_racing_a_late_insert_lets_exactly_one_win() {
    let app = spawn_app().await;
    let kettle = app.product("Kettle", "30.0", 1000).await;
    let mug = app.product("Mug", "8.0", 1000).await;
    let (mut placed, mut abandoned) = (0, 0);
    // The insert starts from immediately (it usually wins) to well after the pass has decided
    // (the pass wins); in between the two really race.
    let delays_us = [
        0, 0, 0, 250, 500, 750, 1000, 1500, 2000, 3000, 4000, 6000, 10_000, 50_000, 100_000,
    ];

    for delay in delays_us {
        let (id, order) = take(&app, &[(kettle, 3), (mug, 2)]).await;
        let late_insert = async {
            tokio::time::sleep(std::time::Duration::from_micros(delay)).await;
            app.orders.insert(&order).await
        };
        let (report, insert) = tokio::join!(app.recover_all(), late_insert);

        match (insert, app.status(id).await.as_deref()) {
            (Ok(()), Some("PLACED")) => {
                placed += 1;
                assert_eq!(report.lines_given_back, 0, "a placed order keeps its stock");
            }
            (Err(err), Some("FAILED")) if common_platform::db::is_duplicate_key(&err) => {
                abandoned += 1;
                assert_eq!(report.orders_abandoned, 1);
            }
            (insert, status) => panic!("both or neither won: insert {insert:?}, status {status:?}"),
        }
        app.recover_all().await;
        app.assert_stock_invariant().await;
    }
    assert!(
        placed > 0 && abandoned > 0,
        "placed {placed}, abandoned {abandoned}"
    );
}
