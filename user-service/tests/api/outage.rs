//! The database goes away and comes back while the service keeps running.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common_platform::config::Config;
use common_testing::{Mongod, TestClient, test_lookup};
use serde_json::json;
use user_service::{AppState, app, settings::UserSettings};

use crate::helpers::PASSWORD;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_db_answers_503_within_2_s_while_mongodb_is_down_and_200_once_it_is_back() {
    let mut mongod = Mongod::start_standalone().await;
    let lookup = test_lookup(&mongod.uri(), "outage", &[]);
    let config = Config::from_lookup(0, &lookup).unwrap();
    let settings = UserSettings::from_lookup(&lookup).unwrap();
    let db = common_platform::db::connect(&config, "tests")
        .await
        .unwrap();
    common_platform::db::wait_until_reachable(&db, 20)
        .await
        .unwrap();
    let client = TestClient::new(app(AppState::new(config, settings, db).await.unwrap()));
    assert_eq!(client.get("/health/db").send().await.status, StatusCode::OK);

    mongod.stop();
    let started = Instant::now();
    let down = client.get("/health/db").send().await;
    let elapsed = started.elapsed();
    let register = client
        .post("/users/register")
        .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
        .send()
        .await;

    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        down.json(),
        json!({"status": "error", "detail": "The database is unavailable", "error_code": "DB_UNAVAILABLE"})
    );
    assert!(
        elapsed < Duration::from_secs(2),
        "answered after {elapsed:?}"
    );
    let body = register.assert_error(StatusCode::SERVICE_UNAVAILABLE, "DB_UNAVAILABLE");
    let detail = body["detail"].as_str().unwrap();
    assert!(!detail.contains("127.0.0.1") && !detail.to_lowercase().contains("server selection"));

    mongod.restart().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = client.get("/health/db").send().await;
        if response.status == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the service did not recover: {}",
            response.text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let register = client
        .post("/users/register")
        .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
        .send()
        .await;
    assert_eq!(register.status, StatusCode::OK, "{}", register.text());
}
