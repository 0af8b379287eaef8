//! Checkout: stock held while the buyer pays, confirmed or failed by the payment provider's
//! signed event, expired when unpaid, and a payment after expiry served or refunded.

use std::time::Duration;

use axum::http::StatusCode;
use common_api::auth::Role;
use common_testing::{TestDb, TestResponse};
use mongodb::bson::{doc, oid::ObjectId};
use order_service::{AppState, OrderSettings, providers::stripe_signature};
use serde_json::{Value, json};
use standardwebhooks::Webhook;

use crate::helpers::{Caller, TestApp, spawn_app, spawn_app_with};

const STANDARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const STRIPE_SECRET: &str = "whsec_stripe_endpoint_secret";

/// A service with both providers' secrets, whose checkouts hold their stock for `hold`.
pub(crate) async fn checkout_app(hold: Duration) -> TestApp {
    let db = TestDb::with_overrides(
        "order_service",
        &[
            ("PAYMENT_WEBHOOK_SECRET", STANDARD_SECRET),
            ("STRIPE_WEBHOOK_SECRET", STRIPE_SECRET),
        ],
    )
    .await;
    let settings = settings_of(&db, hold);
    spawn_app_with(db, settings).await
}

fn settings_of(db: &TestDb, hold: Duration) -> OrderSettings {
    OrderSettings {
        checkout_hold: hold,
        ..OrderSettings::from_lookup(&db.config, db.lookup()).unwrap()
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A Standard Webhooks event as a provider signs it, with `id` as its event id.
pub(crate) async fn standard(app: &TestApp, id: &str, body: &Value) -> TestResponse {
    standard_at(app, id, &body.to_string(), unix_now(), &body.to_string()).await
}

/// A Standard Webhooks request whose signature covers `signed` at `at`, with `sent` as its body.
async fn standard_at(app: &TestApp, id: &str, signed: &str, at: i64, sent: &str) -> TestResponse {
    let signature = Webhook::new(STANDARD_SECRET)
        .unwrap()
        .sign(id, at, signed.as_bytes())
        .unwrap();
    app.post("/payments/webhook")
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", at.to_string())
        .header("webhook-signature", signature)
        .body(sent.to_owned())
        .send()
        .await
}

pub(crate) fn payment(kind: &str, order: &str, amount: i64, currency: &str) -> Value {
    json!({"type": kind, "data": {
        "order_id": order, "amount": amount, "currency": currency, "payment_id": "pay_1",
    }})
}

/// A checkout of `items` as `buyer`; returns its id and answer.
pub(crate) async fn checkout(
    app: &TestApp,
    buyer: &Caller,
    items: &[(ObjectId, i64)],
) -> (String, Value) {
    let lines: Vec<Value> = items
        .iter()
        .map(|(product, quantity)| json!({"product_id": product.to_hex(), "quantity": quantity}))
        .collect();
    let response = app
        .post("/orders")
        .bearer(&buyer.token)
        .json(&json!({"items": lines, "checkout": true}))
        .send()
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    let body = response.json();
    (body["id"].as_str().unwrap().to_owned(), body)
}

pub(crate) async fn order_of(app: &TestApp, caller: &Caller, id: &str) -> Value {
    app.get(&format!("/orders/{id}"))
        .bearer(&caller.token)
        .send()
        .await
        .json()
}

#[tokio::test]
async fn a_checkout_holds_its_stock_until_a_signed_payment_places_it_once() {
    let app = checkout_app(Duration::from_secs(900)).await;
    let pen = app.product("Pen", "19.99", 10).await;
    let buyer = app.caller(Role::Buyer);

    let (id, held) = checkout(&app, &buyer, &[(pen, 3)]).await;

    assert_eq!(held["status"], "PENDING_PAYMENT");
    assert_eq!(
        (held["total"].clone(), held["currency"].clone()),
        (json!(59.97), json!("USD"))
    );
    assert!(
        held["expires_at"]
            .as_str()
            .is_some_and(|at| at.ends_with('Z')),
        "{held}"
    );
    assert_eq!(app.stock(pen).await, 7);

    let paid = payment("payment.succeeded", &id, 5_997, "USD");
    let first = standard(&app, "msg_paid", &paid).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    assert_eq!(first.json()["outcome"], "paid");
    let order = order_of(&app, &buyer, &id).await;
    assert_eq!(order["status"], "PLACED");
    assert_eq!(order["payment_id"], "pay_1");
    assert!(order["paid_at"].is_string(), "{order}");

    // The same event again, sequentially and then ten at once: nothing changes.
    let again = standard(&app, "msg_paid", &paid).await;
    assert_eq!(again.json()["outcome"], "replayed", "{}", again.text());
    let racing =
        futures_util::future::join_all((0..10).map(|_| standard(&app, "msg_paid", &paid))).await;
    assert!(
        racing
            .iter()
            .all(|r| r.status == StatusCode::OK && r.json()["outcome"] == "replayed")
    );
    assert_eq!(app.stock(pen).await, 7);
    app.settle().await;
    app.assert_stock_invariant().await;
}

#[tokio::test]
async fn replays_of_one_event_racing_each_other_apply_it_once() {
    let app = checkout_app(Duration::from_secs(900)).await;
    let pen = app.product("Pen", "2.5", 10).await;
    let buyer = app.caller(Role::Buyer);
    let (id, _) = checkout(&app, &buyer, &[(pen, 2)]).await;
    let paid = payment("payment.succeeded", &id, 500, "usd");

    let answers =
        futures_util::future::join_all((0..12).map(|_| standard(&app, "msg_race", &paid))).await;

    let outcomes: Vec<String> = answers
        .iter()
        .map(|r| {
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            r.json()["outcome"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| *o == "paid").count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|o| *o == "replayed").count(),
        11,
        "{outcomes:?}"
    );
    let stored = app.db.documents("orders", doc! {}).await;
    assert_eq!(stored[0].get_array("payment_events").unwrap().len(), 1);
}

#[tokio::test]
async fn a_failed_payment_cancels_the_checkout_and_returns_its_stock_once() {
    let app = checkout_app(Duration::from_secs(900)).await;
    let kettle = app.product("Kettle", "29.99", 5).await;
    let buyer = app.caller(Role::Buyer);
    let (id, _) = checkout(&app, &buyer, &[(kettle, 2)]).await;

    let failed = payment("payment.failed", &id, 5_998, "USD");
    let response = standard(&app, "msg_failed", &failed).await;
    let replay = standard(&app, "msg_failed", &failed).await;

    assert_eq!(response.json()["outcome"], "failed", "{}", response.text());
    assert_eq!(replay.json()["outcome"], "replayed");
    assert_eq!(order_of(&app, &buyer, &id).await["status"], "CANCELLED");
    assert_eq!(app.stock(kettle).await, 5);
    // A success after the failure finds no pending order.
    let late = standard(
        &app,
        "msg_late",
        &payment("payment.succeeded", &id, 5_998, "USD"),
    )
    .await;
    late.assert_error(StatusCode::CONFLICT, "ORDER_NOT_PENDING");
    app.settle().await;
    app.assert_stock_invariant().await;
}

#[tokio::test]
async fn events_that_are_not_genuine_or_do_not_match_change_nothing() {
    let app = checkout_app(Duration::from_secs(900)).await;
    let pen = app.product("Pen", "19.99", 10).await;
    let buyer = app.caller(Role::Buyer);
    let (id, _) = checkout(&app, &buyer, &[(pen, 1)]).await;
    let paid = payment("payment.succeeded", &id, 1_999, "USD");
    let text = paid.to_string();

    // A wrong signature, a missing header, a timestamp 6 minutes old, a body changed after
    // signing: 401, nothing changes.
    let wrong = app
        .post("/payments/webhook")
        .header("content-type", "application/json")
        .header("webhook-id", "msg_x")
        .header("webhook-timestamp", unix_now().to_string())
        .header(
            "webhook-signature",
            "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        )
        .body(text.clone())
        .send()
        .await;
    let missing = app
        .post("/payments/webhook")
        .header("content-type", "application/json")
        .header("webhook-id", "msg_x")
        .body(text.clone())
        .send()
        .await;
    let stale = standard_at(&app, "msg_x", &text, unix_now() - 6 * 60, &text).await;
    let changed_body = payment("payment.succeeded", &id, 1, "USD").to_string();
    let changed = standard_at(&app, "msg_x", &text, unix_now(), &changed_body).await;
    for refused in [&wrong, &missing, &stale, &changed] {
        refused.assert_error(StatusCode::UNAUTHORIZED, "INVALID_SIGNATURE");
    }

    // An unknown order, a cent short, another currency, a malformed id, an unknown type.
    let unknown = ObjectId::new().to_hex();
    standard(
        &app,
        "msg_1",
        &payment("payment.succeeded", &unknown, 1_999, "USD"),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "ORDER_NOT_FOUND");
    standard(
        &app,
        "msg_2",
        &payment("payment.succeeded", &id, 1_998, "USD"),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "PAYMENT_MISMATCH");
    standard(
        &app,
        "msg_3",
        &payment("payment.succeeded", &id, 1_999, "EUR"),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "PAYMENT_MISMATCH");
    let malformed = standard(
        &app,
        "msg_4",
        &payment("payment.succeeded", "nope", 1_999, "USD"),
    )
    .await;
    assert_eq!(
        malformed.assert_validation_error(),
        vec![json!(["body", "data", "order_id"])]
    );
    let unknown_type = standard(
        &app,
        "msg_5",
        &payment("payment.refunded", &id, 1_999, "USD"),
    )
    .await;
    assert_eq!(
        unknown_type.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unknown_type.text()
    );

    let order = order_of(&app, &buyer, &id).await;
    assert_eq!(order["status"], "PENDING_PAYMENT");
    assert_eq!(app.stock(pen).await, 9);
    // An order that is not pending.
    let placed = app.placed(&buyer, &[(pen, 1)]).await.to_hex();
    standard(
        &app,
        "msg_6",
        &payment("payment.succeeded", &placed, 1_999, "USD"),
    )
    .await
    .assert_error(StatusCode::CONFLICT, "ORDER_NOT_PENDING");
    // `checkout` is a boolean.
    let yes = app
        .post("/orders")
        .bearer(&buyer.token)
        .json(&json!({"items": [{"product_id": pen.to_hex(), "quantity": 1}], "checkout": "yes"}))
        .send()
        .await;
    assert_eq!(
        yes.assert_validation_error(),
        vec![json!(["body", "checkout"])]
    );
}

#[tokio::test]
async fn without_a_secret_the_payment_routes_are_404() {
    let app = spawn_app().await;

    let standard = app.post("/payments/webhook").json(&json!({})).send().await;
    let stripe = app.post("/payments/stripe").json(&json!({})).send().await;

    standard.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    stripe.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
}

#[tokio::test]
async fn an_unpaid_checkout_expires_once_with_two_replicas_racing() {
    let app = checkout_app(Duration::from_millis(300)).await;
    let mug = app.product("Mug", "8.0", 10).await;
    let lamp = app.product("Lamp", "12.0", 10).await;
    let buyer = app.caller(Role::Buyer);
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(checkout(&app, &buyer, &[(mug, 1), (lamp, 2)]).await.0);
    }
    assert_eq!((app.stock(mug).await, app.stock(lamp).await), (5, 0));
    let other = AppState::with_settings(
        app.db.config.clone(),
        app.db.db.clone(),
        settings_of(&app.db, Duration::from_millis(300)),
        common_platform::server::Shutdown::never(),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;

    let (one, two) = tokio::join!(app.state.engine.expire_due(), other.engine.expire_due());

    assert_eq!(one.unwrap() + two.unwrap(), 5);
    for id in &ids {
        assert_eq!(order_of(&app, &buyer, id).await["status"], "EXPIRED");
    }
    assert_eq!((app.stock(mug).await, app.stock(lamp).await), (10, 10));
    let listed = app
        .get("/orders?status=EXPIRED")
        .bearer(&buyer.token)
        .send()
        .await;
    assert_eq!(listed.header("x-total-count"), Some("5"));
    app.settle().await;
    app.assert_stock_invariant().await;
}

#[tokio::test]
async fn an_expiry_left_halfway_is_finished_by_the_next_pass() {
    let app = checkout_app(Duration::from_millis(100)).await;
    let mug = app.product("Mug", "8.0", 10).await;
    let lamp = app.product("Lamp", "12.0", 10).await;
    let buyer = app.caller(Role::Buyer);
    let (id, _) = checkout(&app, &buyer, &[(mug, 2), (lamp, 3)]).await;
    let order_id = ObjectId::parse_str(&id).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // An expirer that stopped after its first line: EXPIRING, one line back, one not.
    let expiring = app
        .orders
        .begin_expiry(order_id, mongodb::bson::DateTime::now())
        .await
        .unwrap()
        .unwrap();
    let first = &expiring.items[0];
    assert!(
        app.inventory
            .return_line(first.product_id, order_id, first.quantity)
            .await
            .unwrap()
    );
    app.db
        .db
        .collection::<mongodb::bson::Document>("orders")
        .update_one(
            doc! {"_id": order_id},
            doc! {"$set": {"updated_at": mongodb::bson::DateTime::from_millis(0)}},
        )
        .await
        .unwrap();

    let expired = app.state.engine.expire_due().await.unwrap();

    assert_eq!(expired, 0, "finished, not newly expired");
    assert_eq!(order_of(&app, &buyer, &id).await["status"], "EXPIRED");
    assert_eq!((app.stock(mug).await, app.stock(lamp).await), (10, 10));
    app.settle().await;
    app.assert_stock_invariant().await;
}

#[tokio::test]
async fn a_payment_after_expiry_takes_the_stock_again_or_leaves_a_refund_due() {
    let app = checkout_app(Duration::from_millis(100)).await;
    let pen = app.product("Pen", "5.0", 3).await;
    let buyer = app.caller(Role::Buyer);
    let admin = app.caller(Role::Admin);
    let (served, _) = checkout(&app, &buyer, &[(pen, 2)]).await;
    let (refunded, _) = checkout(&app, &buyer, &[(pen, 1)]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.state.engine.expire_due().await.unwrap();
    assert_eq!(app.stock(pen).await, 3);

    // The stock is there: the order is placed after all.
    let late = standard(
        &app,
        "msg_late_1",
        &payment("payment.succeeded", &served, 1_000, "USD"),
    )
    .await;
    assert_eq!(
        late.json()["outcome"],
        "paid_after_expiry",
        "{}",
        late.text()
    );
    assert_eq!(order_of(&app, &buyer, &served).await["status"], "PLACED");
    assert_eq!(app.stock(pen).await, 1);
    // Another buyer takes the last unit; the second late payment cannot be served.
    app.placed(&app.caller(Role::Buyer), &[(pen, 1)]).await;
    let too_late = standard(
        &app,
        "msg_late_2",
        &payment("payment.succeeded", &refunded, 500, "USD"),
    )
    .await;
    assert_eq!(too_late.status, StatusCode::OK, "{}", too_late.text());
    assert_eq!(too_late.json()["outcome"], "refund_due");
    assert_eq!(
        order_of(&app, &buyer, &refunded).await["status"],
        "REFUND_DUE"
    );
    let due = app
        .get("/orders?status=REFUND_DUE")
        .bearer(&admin.token)
        .send()
        .await;
    assert_eq!(due.header("x-total-count"), Some("1"));
    assert_eq!(app.stock(pen).await, 0);

    // The revived order cancels like any other, its stock back once: its return is kept apart
    // from its expiry's.
    let cancelled = app
        .post(&format!("/orders/{served}/cancel"))
        .bearer(&buyer.token)
        .send()
        .await;
    assert_eq!(
        cancelled.json()["status"],
        "CANCELLED",
        "{}",
        cancelled.text()
    );
    assert_eq!(app.stock(pen).await, 2);
    app.settle().await;
    app.assert_stock_invariant().await;
}

#[tokio::test]
async fn the_buyer_may_cancel_a_pending_checkout_and_an_admin_cannot_ship_it() {
    let app = checkout_app(Duration::from_secs(900)).await;
    let pen = app.product("Pen", "5.0", 3).await;
    let buyer = app.caller(Role::Buyer);
    let admin = app.caller(Role::Admin);
    let (shipped, _) = checkout(&app, &buyer, &[(pen, 1)]).await;
    let (cancelled, _) = checkout(&app, &buyer, &[(pen, 2)]).await;

    let ship = app
        .patch(&format!("/orders/{shipped}"))
        .bearer(&admin.token)
        .json(&json!({"status": "SHIPPED"}))
        .send()
        .await;
    let cancel = app
        .post(&format!("/orders/{cancelled}/cancel"))
        .bearer(&buyer.token)
        .send()
        .await;

    ship.assert_error(StatusCode::CONFLICT, "INVALID_TRANSITION");
    assert_eq!(cancel.json()["status"], "CANCELLED", "{}", cancel.text());
    assert_eq!(app.stock(pen).await, 2);
    app.settle().await;
    app.assert_stock_invariant().await;
}

#[tokio::test]
async fn idempotency_keys_and_reorders_work_for_checkouts() {
    let app = checkout_app(Duration::from_secs(900)).await;
    let pen = app.product("Pen", "5.0", 10).await;
    let buyer = app.caller(Role::Buyer);
    let body = json!({"items": [{"product_id": pen.to_hex(), "quantity": 1}], "checkout": true});
    let send = |body: Value| {
        app.post("/orders")
            .bearer(&buyer.token)
            .header("idempotency-key", "checkout-1")
            .json(&body)
            .send()
    };

    let first = send(body.clone()).await;
    let repeat = send(body).await;
    let not_a_checkout =
        send(json!({"items": [{"product_id": pen.to_hex(), "quantity": 1}]})).await;

    assert_eq!(first.json()["status"], "PENDING_PAYMENT");
    assert_eq!(repeat.json()["id"], first.json()["id"]);
    assert_eq!(repeat.header("idempotent-replayed"), Some("true"));
    not_a_checkout.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_KEY_REUSED");
    let id = first.json()["id"].as_str().unwrap().to_owned();
    let reorder = app
        .post(&format!("/orders/{id}/reorder"))
        .bearer(&buyer.token)
        .json(&json!({"checkout": true}))
        .send()
        .await;
    let plain = app
        .post(&format!("/orders/{id}/reorder"))
        .bearer(&buyer.token)
        .send()
        .await;
    assert_eq!(
        reorder.json()["status"],
        "PENDING_PAYMENT",
        "{}",
        reorder.text()
    );
    assert_eq!(plain.json()["status"], "PLACED", "{}", plain.text());
    // A body must be a JSON object when there is one; one that is not JSON is 415.
    let null = app
        .post(&format!("/orders/{id}/reorder"))
        .bearer(&buyer.token)
        .header("content-type", "application/json")
        .body("null")
        .send()
        .await;
    let not_json = app
        .post(&format!("/orders/{id}/reorder"))
        .bearer(&buyer.token)
        .body("checkout")
        .send()
        .await;
    assert_eq!(null.assert_validation_error(), vec![json!(["body"])]);
    not_json.assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE");
    assert_eq!(app.stock(pen).await, 7);
}

async fn stripe(app: &TestApp, body: &Value, at: i64) -> TestResponse {
    let text = body.to_string();
    app.post("/payments/stripe")
        .header("content-type", "application/json")
        .header(
            "stripe-signature",
            stripe_signature(STRIPE_SECRET, text.as_bytes(), at),
        )
        .body(text)
        .send()
        .await
}

fn intent(event: &str, kind: &str, order: Option<&str>, amount: i64) -> Value {
    let metadata = order.map_or(json!({}), |order| json!({"order_id": order}));
    json!({"id": event, "object": "event", "type": kind, "data": {"object": {
        "id": "pi_123", "object": "payment_intent", "amount": amount, "currency": "usd",
        "metadata": metadata,
    }}})
}

#[tokio::test]
async fn stripe_signed_events_place_or_cancel_a_checkout() {
    let app = checkout_app(Duration::from_secs(900)).await;
    let pen = app.product("Pen", "19.99", 10).await;
    let buyer = app.caller(Role::Buyer);
    let (paid, _) = checkout(&app, &buyer, &[(pen, 1)]).await;
    let (failed, _) = checkout(&app, &buyer, &[(pen, 2)]).await;

    let succeeded = intent("evt_1", "payment_intent.succeeded", Some(&paid), 1_999);
    let ok = stripe(&app, &succeeded, unix_now()).await;
    let replay = stripe(&app, &succeeded, unix_now()).await;
    let fail = stripe(
        &app,
        &intent(
            "evt_2",
            "payment_intent.payment_failed",
            Some(&failed),
            3_998,
        ),
        unix_now(),
    )
    .await;
    let ignored = stripe(
        &app,
        &intent("evt_3", "charge.refunded", None, 0),
        unix_now(),
    )
    .await;
    let no_order = stripe(
        &app,
        &intent("evt_4", "payment_intent.succeeded", None, 1),
        unix_now(),
    )
    .await;
    let stale = stripe(
        &app,
        &intent("evt_5", "payment_intent.succeeded", Some(&paid), 1_999),
        unix_now() - 6 * 60,
    )
    .await;

    assert_eq!(ok.json()["outcome"], "paid", "{}", ok.text());
    assert_eq!(ok.json()["order"]["payment_id"], "pi_123");
    assert_eq!(replay.json()["outcome"], "replayed");
    assert_eq!(fail.json()["outcome"], "failed", "{}", fail.text());
    assert_eq!(ignored.json()["outcome"], "ignored");
    assert_eq!(
        no_order.assert_validation_error(),
        vec![json!(["body", "data", "object", "metadata", "order_id"])]
    );
    stale.assert_error(StatusCode::UNAUTHORIZED, "INVALID_SIGNATURE");
    assert_eq!(app.stock(pen).await, 9);
    app.settle().await;
    app.assert_stock_invariant().await;
}

/// Unpaid checkouts expire while the only replica expiring them is killed (SIGKILL) again and
/// again in the middle of its passes: each order ends `EXPIRED` and each line comes back once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiries_cut_by_sigkill_again_and_again_return_every_line_once() {
    const BINARY: &str = env!("CARGO_BIN_EXE_order-service");
    let app = checkout_app(Duration::from_millis(50)).await;
    let products = [
        app.product("Mug", "8.0", 1_000).await,
        app.product("Lamp", "12.0", 1_000).await,
        app.product("Pen", "1.5", 1_000).await,
    ];
    let buyer = app.caller(Role::Buyer);
    let lines: Vec<(ObjectId, i64)> = products.iter().map(|product| (*product, 1)).collect();
    let mut ids = Vec::new();
    for _ in 0..200 {
        ids.push(checkout(&app, &buyer, &lines).await.0);
    }
    assert_eq!(app.stock(products[0]).await, 800);
    let quick = [
        ("REQUEST_TIMEOUT_SECS", "2"),
        ("ORDER_RECOVERY_GRACE_SECS", "6"),
    ];

    let mut service = common_testing::ServiceProcess::start(BINARY, &app.db.config, &quick).await;
    let mut kills = 0;
    let mut expired_at_kills = Vec::new();
    for pause in [40, 90, 60, 150, 30, 120] {
        tokio::time::sleep(Duration::from_millis(pause)).await;
        service.kill();
        kills += 1;
        expired_at_kills.push(app.db.count("orders", doc! { "status": "EXPIRED" }).await);
        service.restart().await;
    }

    app.assert_stock_invariant_within(Duration::from_secs(30))
        .await;
    eprintln!("expired orders at each of the {kills} kills: {expired_at_kills:?}");
    assert_eq!(
        app.db.count("orders", doc! { "status": "EXPIRED" }).await,
        200
    );
    for product in products {
        assert_eq!(app.stock(product).await, 1_000);
    }
    assert!(
        expired_at_kills.iter().any(|&expired| expired < 200),
        "no kill came before the last expiry: {expired_at_kills:?}"
    );
}

/// A payment after expiry cut off while it took the stock again (a crash): the recovery pass
/// ends it as `REFUND_DUE` and gives back what it held, once.
#[tokio::test]
async fn a_revival_cut_off_midway_ends_as_refund_due_with_its_stock_back() {
    let app = checkout_app(Duration::from_millis(50)).await;
    let mug = app.product("Mug", "8.0", 5).await;
    let lamp = app.product("Lamp", "12.0", 5).await;
    let buyer = app.caller(Role::Buyer);
    let (id, _) = checkout(&app, &buyer, &[(mug, 2), (lamp, 1)]).await;
    let order_id = ObjectId::parse_str(&id).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    app.state.engine.expire_due().await.unwrap();
    // The late payment's request took the first line again under its key, then stopped.
    let key = ObjectId::new();
    let late = order_service::store::Payment {
        event: "standard:msg_cut".into(),
        order_id,
        kind: order_service::store::PaymentKind::Succeeded,
        amount: 2_800,
        currency: "USD".into(),
        payment_id: "pay_cut".into(),
    };
    let now = mongodb::bson::DateTime::now();
    app.orders
        .begin_revival(&late, key, now)
        .await
        .unwrap()
        .unwrap();
    app.inventory.take(mug, 2, key, now).await.unwrap().unwrap();
    assert_eq!(app.stock(mug).await, 3);
    assert_eq!(order_of(&app, &buyer, &id).await["status"], "EXPIRED");

    let report = app.recover_all().await;

    assert_eq!(report.revivals_refunded, 1, "{report:?}");
    assert_eq!(order_of(&app, &buyer, &id).await["status"], "REFUND_DUE");
    assert_eq!((app.stock(mug).await, app.stock(lamp).await), (5, 5));
    // A second pass, and the event's replay, change nothing more.
    app.recover_all().await;
    let replay = standard(
        &app,
        "msg_cut",
        &payment("payment.succeeded", &id, 2_800, "USD"),
    )
    .await;
    assert_eq!(replay.json()["outcome"], "replayed", "{}", replay.text());
    assert_eq!((app.stock(mug).await, app.stock(lamp).await), (5, 5));
    app.assert_stock_invariant().await;
}
