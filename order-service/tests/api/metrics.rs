//! `GET /metrics` of the order service as a process of its own, so that its counters count this
//! test's requests only.

use axum::http::{Method, StatusCode};
use common_api::auth::Role;
use common_testing::{ServiceProcess, http, metric};
use mongodb::bson::oid::ObjectId;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_placed_refused_replayed_and_cancelled_move_their_metrics() {
    let app = spawn_app().await;
    let product = app.product("metered", "5.0", 3).await;
    let service = ServiceProcess::start(
        env!("CARGO_BIN_EXE_order-service"),
        &app.db.config,
        &[("MONGODB_COMMAND_METRICS", "true")],
    )
    .await;
    let address = service.address;
    let bearer = format!("Bearer {}", app.caller(Role::Buyer).token);
    let order = |quantity: i64, key: Option<&'static str>| {
        let bearer = bearer.clone();
        async move {
            let mut headers = vec![("Authorization", bearer.as_str())];
            if let Some(key) = key {
                headers.push(("Idempotency-Key", key));
            }
            let body = json!({"items": [{"product_id": product.to_hex(), "quantity": quantity}]});
            http(address, Method::POST, "/orders", &headers, Some(&body))
                .await
                .unwrap()
        }
    };
    let scrape = || async {
        let answer = http(address, Method::GET, "/metrics", &[], None)
            .await
            .unwrap();
        assert_eq!(answer.status, StatusCode::OK);
        assert!(
            answer
                .header("content-type")
                .unwrap()
                .starts_with("text/plain")
        );
        answer.text()
    };
    let before = scrape().await;

    let placed = order(2, Some("metered-1")).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text());
    assert_eq!(
        order(2, Some("metered-1")).await.status,
        StatusCode::CREATED
    );
    assert_eq!(order(5, None).await.status, StatusCode::CONFLICT);
    let unknown = json!({"items": [{"product_id": ObjectId::new().to_hex(), "quantity": 1}]});
    let headers = [("Authorization", bearer.as_str())];
    let not_found = http(address, Method::POST, "/orders", &headers, Some(&unknown))
        .await
        .unwrap();
    assert_eq!(not_found.status, StatusCode::BAD_REQUEST);
    let id = placed.json()["id"].as_str().unwrap().to_owned();
    let cancel = http(
        address,
        Method::POST,
        &format!("/orders/{id}/cancel"),
        &[("Authorization", bearer.as_str())],
        None,
    )
    .await
    .unwrap();
    assert_eq!(cancel.status, StatusCode::OK);
    http(address, Method::GET, "/no/such/route", &[], None)
        .await
        .unwrap();
    let after = scrape().await;

    let moved = |name: &str, labels: &[(&str, &str)]| {
        metric(&after, name, labels) - metric(&before, name, labels)
    };
    let service_label = [("service", "order-service")];
    assert_eq!(moved("orders_placed_total", &service_label), 1.0, "{after}");
    assert_eq!(moved("orders_idempotent_replays_total", &[]), 1.0);
    assert_eq!(moved("orders_refused_total", &[("reason", "stock")]), 1.0);
    assert_eq!(
        moved("orders_refused_total", &[("reason", "not_found")]),
        1.0
    );
    assert_eq!(moved("orders_cancelled_total", &[]), 1.0);
    assert_eq!(moved("stock_units_taken_total", &[]), 2.0);
    assert_eq!(moved("stock_units_returned_total", &[]), 2.0);
    let post_orders = [("method", "POST"), ("route", "/orders")];
    assert_eq!(
        moved(
            "http_requests_total",
            &[post_orders[0], post_orders[1], ("status", "201")]
        ),
        2.0
    );
    assert_eq!(
        moved(
            "http_request_duration_seconds_count",
            &[post_orders[0], post_orders[1], ("status", "409")]
        ),
        1.0
    );
    assert_eq!(
        moved(
            "http_requests_total",
            &[("route", "/orders/{id}/cancel"), ("status", "200")]
        ),
        1.0
    );
    assert_eq!(
        moved(
            "http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ),
        1.0
    );
    assert!(
        moved(
            "mongodb_command_duration_seconds_count",
            &[("command", "findAndModify"), ("outcome", "ok")]
        ) >= 1.0
    );
    // The scrape itself is in flight while it renders.
    assert_eq!(
        metric(&after, "http_requests_in_flight", &service_label),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_methods_are_counted_as_other_and_do_not_grow_metrics() {
    let app = spawn_app().await;
    let service =
        ServiceProcess::start(env!("CARGO_BIN_EXE_order-service"), &app.db.config, &[]).await;
    let address = service.address;
    let scrape = || async {
        http(address, Method::GET, "/metrics", &[], None)
            .await
            .unwrap()
            .text()
    };
    // One made-up method and one scrape first, so that every series the test touches exists
    // before the baseline.
    let made_up = |n: usize| Method::from_bytes(format!("M{n}{}", "X".repeat(4000)).as_bytes());
    http(address, made_up(0).unwrap(), "/health", &[], None)
        .await
        .unwrap();
    scrape().await;
    let before = scrape().await;

    for n in 1..=50 {
        let answer = http(address, made_up(n).unwrap(), "/health", &[], None)
            .await
            .unwrap();
        assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    }
    let after = scrape().await;

    let other = [("method", "other"), ("route", "/health"), ("status", "405")];
    assert_eq!(
        metric(&after, "http_requests_total", &other)
            - metric(&before, "http_requests_total", &other),
        50.0,
        "the 50 made-up methods were not counted as `other`"
    );
    assert!(!after.contains("XXXX"), "a client's method became a label");
    // The same series, only their values changed (digits of the counters and histogram sums).
    assert!(
        after.len().abs_diff(before.len()) < 200,
        "/metrics grew from {} to {} bytes",
        before.len(),
        after.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkouts_count_each_outcome() {
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let app = spawn_app().await;
    let product = app.product("metered", "5.0", 10).await;
    let service = ServiceProcess::start(
        env!("CARGO_BIN_EXE_order-service"),
        &app.db.config,
        &[
            ("PAYMENT_WEBHOOK_SECRET", SECRET),
            ("CHECKOUT_HOLD_SECS", "5"),
        ],
    )
    .await;
    let address = service.address;
    let bearer = format!("Bearer {}", app.caller(Role::Buyer).token);
    let checkout = || async {
        let body =
            json!({"items": [{"product_id": product.to_hex(), "quantity": 1}], "checkout": true});
        let answer = http(
            address,
            Method::POST,
            "/orders",
            &[("Authorization", bearer.as_str())],
            Some(&body),
        )
        .await
        .unwrap();
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text());
        answer.json()["id"].as_str().unwrap().to_owned()
    };
    let event = |id: &str, kind: &str, order: &str, amount: i64| {
        let body = json!({"type": kind, "data": {"order_id": order, "amount": amount, "currency": "USD", "payment_id": "p"}});
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let signature = standardwebhooks::Webhook::new(SECRET)
            .unwrap()
            .sign(id, at, body.to_string().as_bytes())
            .unwrap();
        let (id, at) = (id.to_owned(), at.to_string());
        async move {
            let headers = [
                ("webhook-id", id.as_str()),
                ("webhook-timestamp", at.as_str()),
                ("webhook-signature", signature.as_str()),
            ];
            http(
                address,
                Method::POST,
                "/payments/webhook",
                &headers,
                Some(&body),
            )
            .await
            .unwrap()
        }
    };
    let scrape = || async {
        http(address, Method::GET, "/metrics", &[], None)
            .await
            .unwrap()
            .text()
    };
    let before = scrape().await;

    let (paid, failed, expired) = (checkout().await, checkout().await, checkout().await);
    assert_eq!(
        event("m1", "payment.succeeded", &paid, 500).await.status,
        StatusCode::OK
    );
    assert_eq!(
        event("m2", "payment.failed", &failed, 500).await.status,
        StatusCode::OK
    );
    assert_eq!(
        event("m3", "payment.succeeded", &expired, 499).await.status,
        StatusCode::CONFLICT
    );
    // The third is left unpaid: it expires 5 s after it was placed.
    let outcome = |exposition: &str, outcome: &str| {
        metric(exposition, "checkouts_total", &[("outcome", outcome)])
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let after = loop {
        let now = scrape().await;
        if outcome(&now, "expired") > outcome(&before, "expired")
            || std::time::Instant::now() > deadline
        {
            break now;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };

    for (name, delta) in [
        ("started", 3.0),
        ("paid", 1.0),
        ("failed", 1.0),
        ("mismatch", 1.0),
        ("expired", 1.0),
    ] {
        assert_eq!(
            outcome(&after, name) - outcome(&before, name),
            delta,
            "{name}"
        );
    }
    assert_eq!(app.stock(product).await, 9);
}
