//! Webhook subscriptions and deliveries, with real receivers on loopback: signed deliveries,
//! retries with the same `webhook-id`, receivers that fail in every way, isolation between
//! endpoints, disabling, and the URL policy.

use std::{sync::Arc, time::Duration};

use axum::http::StatusCode;
use common_api::auth::Role;
use common_platform::server::Shutdown;
use common_testing::TestDb;
use order_service::{AppState, OrderSettings, WebhookSettings, webhooks::target::Resolve};
use serde_json::{Value, json};

use crate::{
    helpers::{Caller, TestApp, spawn_app_with, test_app_of},
    receiver::{Behaviour, Receiver},
};

/// Webhook settings for tests: loopback receivers over http, a 1 s base and attempt timeout.
pub(crate) fn quick_webhooks() -> WebhookSettings {
    WebhookSettings {
        allow_http: true,
        allow_private: true,
        retry_base: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        ..WebhookSettings::default()
    }
}

async fn app_with(webhooks: WebhookSettings) -> TestApp {
    let db = TestDb::new("order_service").await;
    let settings = OrderSettings {
        webhooks,
        ..OrderSettings::from_lookup(&db.config, db.lookup()).unwrap()
    };
    spawn_app_with(db, settings).await
}

/// Subscribes `url` to `events`; returns the subscription's id and secret.
async fn subscribe(app: &TestApp, admin: &Caller, url: &str, events: &[&str]) -> (String, String) {
    let created = app
        .post("/webhooks")
        .bearer(&admin.token)
        .json(&json!({"url": url, "events": events}))
        .send()
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let body = created.json();
    (
        body["id"].as_str().unwrap().to_owned(),
        body["secret"].as_str().unwrap().to_owned(),
    )
}

/// The deliveries of subscription `id`.
async fn deliveries(app: &TestApp, admin: &Caller, id: &str) -> Vec<Value> {
    let listed = app
        .get(&format!("/webhooks/{id}/deliveries"))
        .bearer(&admin.token)
        .send()
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text());
    listed.json().as_array().unwrap().clone()
}

/// Waits (up to `limit`) until subscription `id` has a delivery whose status is `status`.
async fn wait_for_status(
    app: &TestApp,
    admin: &Caller,
    id: &str,
    status: &str,
    limit: Duration,
) -> Value {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let found = deliveries(app, admin, id).await;
        if let Some(delivery) = found.iter().find(|d| d["status"] == status) {
            return delivery.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {status} delivery: {found:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_subscription_shows_its_secret_only_when_created_and_rotated() {
    let app = app_with(quick_webhooks()).await;
    let admin = app.caller(Role::Admin);
    let buyer = app.caller(Role::Buyer);
    let receiver = Receiver::start(Behaviour::Answer(204)).await;

    let (id, secret) = subscribe(
        &app,
        &admin,
        &receiver.url,
        &["order.placed", "order.placed"],
    )
    .await;
    let read = app
        .get(&format!("/webhooks/{id}"))
        .bearer(&admin.token)
        .send()
        .await
        .json();
    let listed = app.get("/webhooks").bearer(&admin.token).send().await;
    let patched = app
        .patch(&format!("/webhooks/{id}"))
        .bearer(&admin.token)
        .json(&json!({"events": ["*"], "description": "warehouse"}))
        .send()
        .await
        .json();
    let rotated = app
        .post(&format!("/webhooks/{id}/rotate-secret"))
        .bearer(&admin.token)
        .send()
        .await
        .json();

    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(read["events"], json!(["order.placed"]));
    assert_eq!(read["enabled"], true);
    assert!(read.get("secret").is_none(), "{read}");
    assert_eq!(listed.header("x-total-count"), Some("1"));
    assert!(listed.json()[0].get("secret").is_none());
    assert_eq!(
        (patched["events"].clone(), patched["description"].clone()),
        (json!(["*"]), json!("warehouse"))
    );
    let new_secret = rotated["secret"].as_str().unwrap();
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);

    for (method, path) in [
        ("POST", "/webhooks".to_owned()),
        ("GET", "/webhooks".to_owned()),
        ("GET", format!("/webhooks/{id}")),
        ("GET", "/events".to_owned()),
    ] {
        let request = match method {
            "POST" => app
                .post(&path)
                .json(&json!({"url": receiver.url, "events": ["*"]})),
            _ => app.get(&path),
        };
        let refused = request.bearer(&buyer.token).send().await;
        refused.assert_error(StatusCode::FORBIDDEN, "FORBIDDEN");
    }
    let gone = app
        .delete(&format!("/webhooks/{id}"))
        .bearer(&admin.token)
        .send()
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let after = app
        .get(&format!("/webhooks/{id}"))
        .bearer(&admin.token)
        .send()
        .await;
    after.assert_error(StatusCode::NOT_FOUND, "WEBHOOK_NOT_FOUND");
    let again = app
        .delete(&format!("/webhooks/{id}"))
        .bearer(&admin.token)
        .send()
        .await;
    again.assert_error(StatusCode::NOT_FOUND, "WEBHOOK_NOT_FOUND");
    let malformed = app.get("/webhooks/nope").bearer(&admin.token).send().await;
    malformed.assert_error(StatusCode::BAD_REQUEST, "INVALID_ID");
}

/// Resolves `internal.example` to 10.0.0.1 (no DNS server of the test's own is needed).
fn test_resolver() -> Resolve {
    Arc::new(|host, port| {
        Box::pin(async move {
            match host.as_str() {
                "internal.example" => vec![std::net::SocketAddr::from(([10, 0, 0, 1], port))],
                _ => tokio::net::lookup_host((host.as_str(), port))
                    .await
                    .map(Iterator::collect)
                    .unwrap_or_default(),
            }
        })
    })
}

#[tokio::test]
async fn unsafe_or_malformed_subscriptions_are_refused_with_422() {
    let db = TestDb::new("order_service").await;
    let settings = OrderSettings::from_lookup(&db.config, db.lookup()).unwrap();
    let state = AppState::with_resolver(
        db.config.clone(),
        db.db.clone(),
        settings,
        test_resolver(),
        Shutdown::never(),
    )
    .await
    .unwrap();
    let app = test_app_of(db, state);
    let admin = app.caller(Role::Admin);

    for (url, at) in [
        ("ftp://files.example/hook", "url"),
        ("not a url", "url"),
        ("http://hooks.example/", "url"),
        ("https://127.0.0.1/", "url"),
        ("https://[::1]/", "url"),
        ("https://169.254.169.254/latest/meta-data", "url"),
        ("https://internal.example/hook", "url"),
        ("https://localhost:8443/", "url"),
    ] {
        let refused = app
            .post("/webhooks")
            .bearer(&admin.token)
            .json(&json!({"url": url, "events": ["*"]}))
            .send()
            .await;
        let locs = refused.assert_validation_error();
        assert_eq!(locs, [json!(["body", at])], "{url}");
    }
    for (events, loc) in [
        (json!(["order.exploded"]), json!(["body", "events", 0])),
        (json!([]), json!(["body", "events"])),
    ] {
        let refused = app
            .post("/webhooks")
            .bearer(&admin.token)
            .json(&json!({"url": "https://127.0.0.1/", "events": events}))
            .send()
            .await;
        let locs = refused.assert_validation_error();
        assert!(locs.contains(&loc), "{events}: {locs:?}");
    }
    assert_eq!(app.db.count("webhooks", mongodb::bson::doc! {}).await, 0);
}

#[tokio::test]
async fn an_event_is_delivered_once_signed_as_standard_webhooks_say() {
    let app = app_with(quick_webhooks()).await;
    let admin = app.caller(Role::Admin);
    let buyer = app.caller(Role::Buyer);
    let receiver = Receiver::start(Behaviour::Answer(200)).await;
    let (id, secret) = subscribe(&app, &admin, &receiver.url, &["order.placed"]).await;
    let pen = app.product("Pen", "3.00", 5).await;

    let order = app.placed(&buyer, &[(pen, 1)]).await.to_hex();
    let received = receiver.wait_for(1, Duration::from_secs(10)).await;
    let delivered = wait_for_status(&app, &admin, &id, "DELIVERED", Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    assert_eq!(receiver.received().len(), 1);
    let event = received[0].json();
    assert!(received[0].verifies_with(&secret));
    assert!(!received[0].verifies_with("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
    assert_eq!(received[0].id(), event["id"]);
    assert_eq!(event["type"], "order.placed");
    let shown = app
        .get(&format!("/orders/{order}"))
        .bearer(&buyer.token)
        .send()
        .await
        .json();
    assert_eq!(event["data"], shown);
    let logged = app.get("/events").bearer(&admin.token).send().await.json();
    assert_eq!(logged[0], event);
    assert_eq!(delivered["event_id"], event["id"]);
    assert_eq!(delivered["attempts"][0]["http_status"], 200);
    assert!(delivered.get("next_attempt_at").is_none());
}

#[tokio::test]
async fn a_receiver_failing_the_first_attempts_gets_the_event_later_with_the_same_id() {
    let app = app_with(quick_webhooks()).await;
    let admin = app.caller(Role::Admin);
    let buyer = app.caller(Role::Buyer);
    let receiver = Receiver::start(Behaviour::FailFirst(2)).await;
    let (id, secret) = subscribe(&app, &admin, &receiver.url, &["*"]).await;
    let pen = app.product("Pen", "3.00", 5).await;

    app.placed(&buyer, &[(pen, 1)]).await;
    let received = receiver.wait_for(3, Duration::from_secs(20)).await;
    let delivered = wait_for_status(&app, &admin, &id, "DELIVERED", Duration::from_secs(5)).await;

    assert!(received.iter().all(|r| r.id() == received[0].id()));
    assert!(received.iter().all(|r| r.verifies_with(&secret)));
    assert!(
        received[2].at - received[0].at >= Duration::from_millis(2000),
        "backoff: 1 s, then 2 s (±20 %)"
    );
    let statuses: Vec<&Value> = delivered["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["http_status"])
        .collect();
    assert_eq!(statuses, [&json!(500), &json!(500), &json!(200)]);
}

#[tokio::test]
async fn receivers_that_hang_close_redirect_or_answer_10_mb_are_recorded_and_retried() {
    let app = app_with(quick_webhooks()).await;
    let admin = app.caller(Role::Admin);
    let buyer = app.caller(Role::Buyer);
    let hanging = Receiver::start(Behaviour::Hang).await;
    let elsewhere = Receiver::start(Behaviour::Answer(200)).await;
    let redirecting = Receiver::start(Behaviour::Redirect(elsewhere.url.clone())).await;
    let huge = Receiver::start(Behaviour::Huge).await;
    let (closing, connections) = Receiver::closing().await;
    let (hang_id, _) = subscribe(&app, &admin, &hanging.url, &["order.placed"]).await;
    let (redirect_id, _) = subscribe(&app, &admin, &redirecting.url, &["order.placed"]).await;
    let (huge_id, _) = subscribe(&app, &admin, &huge.url, &["order.placed"]).await;
    let (close_id, _) = subscribe(&app, &admin, &closing, &["order.placed"]).await;
    let pen = app.product("Pen", "3.00", 5).await;

    app.placed(&buyer, &[(pen, 1)]).await;
    hanging.wait_for(1, Duration::from_secs(10)).await;
    let delivered =
        wait_for_status(&app, &admin, &huge_id, "DELIVERED", Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let first = |id: &str| {
        let app = &app;
        let admin = &admin;
        let id = id.to_owned();
        async move { deliveries(app, admin, &id).await[0].clone() }
    };
    let hung = first(&hang_id).await;
    assert_eq!(hung["status"], "PENDING");
    assert_eq!(hung["attempts"][0]["error"], "timed out");
    assert!(hung["attempts"][0]["duration_ms"].as_i64().unwrap() >= 900);
    let redirected = first(&redirect_id).await;
    assert_eq!(redirected["attempts"][0]["http_status"], 302);
    assert_eq!(redirected["status"], "PENDING");
    assert!(redirected["next_attempt_at"].is_string());
    assert!(
        elsewhere.received().is_empty(),
        "a redirect is never followed"
    );
    let closed = first(&close_id).await;
    assert_eq!(
        closed["attempts"][0]["error"],
        "connection closed without an answer"
    );
    assert!(*connections.lock().unwrap() >= 1);
    assert_eq!(delivered["attempts"][0]["http_status"], 200);
    assert!(delivered["attempts"][0]["duration_ms"].as_i64().unwrap() < 1000);
}

#[tokio::test]
async fn a_dead_endpoint_does_not_delay_a_live_one() {
    let app = app_with(WebhookSettings {
        timeout: Duration::from_secs(10),
        ..quick_webhooks()
    })
    .await;
    let admin = app.caller(Role::Admin);
    let buyer = app.caller(Role::Buyer);
    let dead = Receiver::start(Behaviour::Hang).await;
    let live = Receiver::start(Behaviour::Answer(200)).await;
    subscribe(&app, &admin, &dead.url, &["order.placed"]).await;
    subscribe(&app, &admin, &live.url, &["order.placed"]).await;
    let pen = app.product("Pen", "3.00", 50).await;

    for _ in 0..5 {
        app.placed(&buyer, &[(pen, 1)]).await;
    }

    // The dead endpoint holds its first attempt for 10 s; the live one gets all five meanwhile.
    let received = live.wait_for(5, Duration::from_secs(5)).await;
    assert_eq!(dead.received().len(), 1);
    let mut ids: Vec<String> = received.iter().map(|r| r.id()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 5);
}

#[tokio::test]
async fn one_orders_events_reach_a_receiver_in_the_order_of_its_changes() {
    let app = app_with(quick_webhooks()).await;
    let admin = app.caller(Role::Admin);
    let buyer = app.caller(Role::Buyer);
    let receiver = Receiver::start(Behaviour::Answer(200)).await;
    subscribe(
        &app,
        &admin,
        &receiver.url,
        &["order.placed", "order.shipped", "order.delivered"],
    )
    .await;
    let pen = app.product("Pen", "3.00", 5).await;

    let order = app.placed(&buyer, &[(pen, 1)]).await;
    for status in ["SHIPPED", "DELIVERED"] {
        app.patch(&format!("/orders/{order}"))
            .bearer(&admin.token)
            .json(&json!({"status": status}))
            .send()
            .await;
    }
    let received = receiver.wait_for(3, Duration::from_secs(10)).await;

    let kinds: Vec<Value> = received.iter().map(|r| r.json()["type"].clone()).collect();
    assert_eq!(
        kinds,
        [
            json!("order.placed"),
            json!("order.shipped"),
            json!("order.delivered")
        ]
    );
}

#[tokio::test]
async fn an_endpoint_failing_for_the_whole_window_is_disabled_and_a_retry_delivers_later() {
    let app = app_with(WebhookSettings {
        retry_window: Duration::from_secs(3),
        ..quick_webhooks()
    })
    .await;
    let admin = app.caller(Role::Admin);
    let buyer = app.caller(Role::Buyer);
    let receiver = Receiver::start(Behaviour::Answer(503)).await;
    let (id, _) = subscribe(&app, &admin, &receiver.url, &["order.placed"]).await;
    let pen = app.product("Pen", "3.00", 5).await;

    app.placed(&buyer, &[(pen, 1)]).await;
    let failed = wait_for_status(&app, &admin, &id, "FAILED", Duration::from_secs(15)).await;
    let disabled = app
        .get(&format!("/webhooks/{id}"))
        .bearer(&admin.token)
        .send()
        .await
        .json();
    let only_failed = app
        .get(&format!("/webhooks/{id}/deliveries?status=FAILED"))
        .bearer(&admin.token)
        .send()
        .await;

    assert!(
        failed["attempts"].as_array().unwrap().len() >= 2,
        "{failed}"
    );
    assert_eq!(disabled["enabled"], false);
    assert_eq!(only_failed.header("x-total-count"), Some("1"));
    let before = receiver.received().len();
    app.placed(&buyer, &[(pen, 1)]).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        receiver.received().len(),
        before,
        "nothing goes to a disabled endpoint"
    );

    receiver.set(Behaviour::Answer(200));
    let enabled = app
        .patch(&format!("/webhooks/{id}"))
        .bearer(&admin.token)
        .json(&json!({"enabled": true}))
        .send()
        .await;
    assert_eq!(enabled.json()["enabled"], true);
    let delivery = failed["id"].as_str().unwrap();
    let retried = app
        .post(&format!("/webhooks/{id}/deliveries/{delivery}/retry"))
        .bearer(&admin.token)
        .send()
        .await;
    assert_eq!(retried.status, StatusCode::ACCEPTED);
    let delivered = wait_for_status(&app, &admin, &id, "DELIVERED", Duration::from_secs(5)).await;
    assert_eq!(delivered["id"], failed["id"]);
    let unknown = app
        .post(&format!(
            "/webhooks/{id}/deliveries/{}/retry",
            mongodb::bson::oid::ObjectId::new()
        ))
        .bearer(&admin.token)
        .send()
        .await;
    unknown.assert_error(StatusCode::NOT_FOUND, "DELIVERY_NOT_FOUND");
}

#[tokio::test]
async fn a_subscription_gets_only_the_types_it_names_and_only_later_events() {
    let app = app_with(quick_webhooks()).await;
    let admin = app.caller(Role::Admin);
    let buyer = app.caller(Role::Buyer);
    let pen = app.product("Pen", "3.00", 5).await;
    let before = app.placed(&buyer, &[(pen, 1)]).await;
    app.db.wait_for_events(&before.to_hex(), 1).await;
    let receiver = Receiver::start(Behaviour::Answer(200)).await;
    subscribe(&app, &admin, &receiver.url, &["order.cancelled"]).await;

    let order = app.placed(&buyer, &[(pen, 1)]).await;
    app.post(&format!("/orders/{order}/cancel"))
        .bearer(&buyer.token)
        .send()
        .await;
    let received = receiver.wait_for(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;

    assert_eq!(receiver.received().len(), 1);
    assert_eq!(received[0].json()["type"], "order.cancelled");
    assert_eq!(received[0].json()["data"]["id"], order.to_hex());
}

#[tokio::test]
async fn a_host_that_resolves_elsewhere_at_delivery_is_checked_again_and_refused() {
    let db = TestDb::new("order_service").await;
    let settings = OrderSettings {
        webhooks: WebhookSettings {
            allow_private: false,
            ..quick_webhooks()
        },
        ..OrderSettings::from_lookup(&db.config, db.lookup()).unwrap()
    };
    let receiver = Receiver::start(Behaviour::Answer(200)).await;
    let port: u16 = receiver
        .url
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches("/hook")
        .parse()
        .unwrap();
    // Public when the subscription is written, the receiver on loopback ever after (DNS rebinding).
    let rebound = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flips = Arc::clone(&rebound);
    let resolve: Resolve = Arc::new(move |_host, _| {
        let private = flips.swap(true, std::sync::atomic::Ordering::SeqCst);
        Box::pin(async move {
            let ip = if private {
                [127, 0, 0, 1]
            } else {
                [93, 184, 215, 14]
            };
            vec![std::net::SocketAddr::from((ip, port))]
        })
    });
    let state = AppState::with_resolver(
        db.config.clone(),
        db.db.clone(),
        settings,
        resolve,
        Shutdown::never(),
    )
    .await
    .unwrap();
    let app = test_app_of(db, state);
    let admin = app.caller(Role::Admin);
    let buyer = app.caller(Role::Buyer);
    let url = format!("http://rebinding.example:{port}/hook");
    let (id, _) = subscribe(&app, &admin, &url, &["order.placed"]).await;
    let pen = app.product("Pen", "3.00", 5).await;

    app.placed(&buyer, &[(pen, 1)]).await;
    let mut attempt = Value::Null;
    for _ in 0..50 {
        if let Some(found) = deliveries(&app, &admin, &id).await.first()
            && !found["attempts"].as_array().unwrap().is_empty()
        {
            attempt = found["attempts"][0].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    assert_eq!(
        attempt["error"],
        "the host resolves to an address that is not public"
    );
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn events_are_settled_up_to_the_lease_base_while_held_and_an_abandoned_lease_is_released() {
    use common_platform::events::{SEQUENCE, settled};
    use mongodb::bson::{DateTime, Document, doc, oid::ObjectId};
    let db = TestDb::new("order_service").await;
    let sequence = db.db.collection::<Document>(SEQUENCE);
    assert_eq!(settled(&db.db).await.unwrap(), 0, "no event numbered yet");
    let in_a_minute = DateTime::from_millis(DateTime::now().timestamp_millis() + 60_000);
    let a_second_ago = DateTime::from_millis(DateTime::now().timestamp_millis() - 1_000);
    let lease = |until: DateTime| doc! { "_id": "events", "holder": ObjectId::new(), "until": until, "base": 40_i64, "next": 45_i64 };

    sequence.insert_one(lease(in_a_minute)).await.unwrap();
    assert_eq!(
        settled(&db.db).await.unwrap(),
        40,
        "a holder may still insert 41 to 45"
    );

    sequence
        .replace_one(doc! { "_id": "events" }, lease(DateTime::from_millis(0)))
        .await
        .unwrap();
    assert_eq!(settled(&db.db).await.unwrap(), 45, "released");

    sequence
        .replace_one(doc! { "_id": "events" }, lease(a_second_ago))
        .await
        .unwrap();
    let abandoned = sequence.find_one(doc! {}).await.unwrap().unwrap();
    assert_eq!(settled(&db.db).await.unwrap(), 45, "expired: released here");
    let after = sequence.find_one(doc! {}).await.unwrap().unwrap();
    assert_eq!(after.get_datetime("until").unwrap().timestamp_millis(), 0);
    assert_ne!(
        after.get("holder"),
        abandoned.get("holder"),
        "its holder's release now fails"
    );
}

#[tokio::test]
async fn an_event_inserted_below_the_dispatchers_place_is_delivered_once_by_its_mark() {
    use common_platform::events::EVENTS;
    use mongodb::bson::{DateTime, Document, doc, oid::ObjectId};
    let app = app_with(quick_webhooks()).await;
    let admin = app.caller(Role::Admin);
    let buyer = app.caller(Role::Buyer);
    let receiver = Receiver::start(Behaviour::Answer(200)).await;
    let (_, secret) = subscribe(&app, &admin, &receiver.url, &["order.placed"]).await;
    let pen = app.product("Pen", "3.00", 5).await;
    app.placed(&buyer, &[(pen, 1)]).await;
    receiver.wait_for(1, Duration::from_secs(10)).await;

    // What a relay stalled past its lease leaves: an event numbered below events already
    // dispatched, marked.
    let events = app.db.db.collection::<Document>(EVENTS);
    let late = ObjectId::new();
    events
        .insert_one(doc! {
            "_id": late, "seq": 0_i64, "type": "order.placed", "occurred_at": DateTime::now(),
            "data": "{\"late\":true}", "undispatched": true,
        })
        .await
        .unwrap();
    let received = receiver.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(received[1].id(), late.to_hex());
    assert!(received[1].verifies_with(&secret));
    assert_eq!(received[1].json()["data"], json!({"late": true}));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while events
        .count_documents(doc! { "_id": late, "undispatched": { "$exists": true } })
        .await
        .unwrap()
        > 0
    {
        assert!(std::time::Instant::now() < deadline, "the mark is cleared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(receiver.received().len(), 2, "each event once");
}
