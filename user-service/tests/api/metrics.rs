//! `GET /metrics`: the user service's counters, counted by a process of its own, and the
//! `METRICS_PATH` setting.

use axum::http::{Method, StatusCode};
use common_testing::{ServiceProcess, TestDb, http, metric};
use serde_json::json;

use crate::helpers::{PASSWORD, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_and_logins_by_outcome_are_counted() {
    let db = TestDb::new("user_service").await;
    let service = ServiceProcess::start(
        env!("CARGO_BIN_EXE_user-service"),
        &db.config,
        &[("RATE_LIMIT_BURST", "100")],
    )
    .await;
    let address = service.address;
    let post = |path: &'static str, password: &'static str| async move {
        let body = json!({"email": "ada@example.com", "password": password});
        http(address, Method::POST, path, &[], Some(&body))
            .await
            .unwrap()
            .status
    };
    let scrape = || async {
        http(address, Method::GET, "/metrics", &[], None)
            .await
            .unwrap()
            .text()
    };
    let before = scrape().await;

    assert_eq!(post("/users/register", PASSWORD).await, StatusCode::OK);
    assert_eq!(post("/users/login", PASSWORD).await, StatusCode::OK);
    for _ in 0..5 {
        assert_eq!(
            post("/users/login", "wrong password").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        post("/users/login", "wrong password").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let after = scrape().await;

    let moved = |name: &str, labels: &[(&str, &str)]| {
        metric(&after, name, labels) - metric(&before, name, labels)
    };
    assert_eq!(
        moved("users_registered_total", &[("service", "user-service")]),
        1.0,
        "{after}"
    );
    assert_eq!(moved("logins_total", &[("outcome", "ok")]), 1.0);
    assert_eq!(moved("logins_total", &[("outcome", "failed")]), 5.0);
    assert_eq!(moved("logins_total", &[("outcome", "limited")]), 1.0);
    assert_eq!(
        moved(
            "http_requests_total",
            &[("route", "/users/login"), ("status", "401")]
        ),
        5.0
    );
    // MongoDB commands are timed only when MONGODB_COMMAND_METRICS asks for it.
    assert!(
        !after.contains("mongodb_command_duration_seconds"),
        "{after}"
    );
}

#[tokio::test]
async fn metrics_path_moves_the_route_or_turns_it_off() {
    let default = spawn_app_with(&[]).await;
    let moved = spawn_app_with(&[("METRICS_PATH", "/internal/metrics")]).await;
    let off = spawn_app_with(&[("METRICS_PATH", "off")]).await;

    let served = default.get("/metrics").send().await;
    assert_eq!(served.status, StatusCode::OK);
    // The scrape itself is in flight while the page is rendered.
    assert!(
        served.text().contains("http_requests_in_flight"),
        "{}",
        served.text()
    );
    assert_eq!(
        moved.get("/internal/metrics").send().await.status,
        StatusCode::OK
    );
    moved
        .get("/metrics")
        .send()
        .await
        .assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    off.get("/metrics")
        .send()
        .await
        .assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
}
