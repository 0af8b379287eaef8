//! Per-client rate limits on login, register and refresh (429 `RATE_LIMITED`), and the bound on
//! queued bcrypt work (503 `OVERLOADED`).
//!
//! In process there is no peer address, so every request comes from one client unless the test
//! trusts a proxy header and names clients with it.

use std::{
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use axum::http::{Method, StatusCode};
use common_testing::{ServiceProcess, TestClient, TestDb, TestResponse, http_from};
use serde_json::json;
use tokio::task::JoinSet;

use crate::helpers::{PASSWORD, spawn_app_with};

const XFF: &str = "x-forwarded-for";

async fn login_from(client: &TestClient, forwarded_for: &str, email: &str) -> TestResponse {
    client
        .post("/users/login")
        .header(XFF, forwarded_for)
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
}

#[track_caller]
fn assert_rate_limited(response: &TestResponse) {
    let body = response.assert_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    let retry_after: u64 = response
        .header("retry-after")
        .expect("Retry-After is set")
        .parse()
        .expect("Retry-After is whole seconds");
    // One request a minute: the next one is allowed within a minute.
    assert!(
        (1..=60).contains(&retry_after),
        "Retry-After: {retry_after}"
    );
}

#[tokio::test]
async fn a_client_past_its_limit_gets_429_rate_limited_while_another_client_is_still_served() {
    let app = spawn_app_with(&[
        ("RATE_LIMIT_PER_MINUTE", "1"),
        ("RATE_LIMIT_BURST", "3"),
        ("TRUSTED_PROXY_HEADER", "X-Forwarded-For"),
    ])
    .await;
    let flooder = "203.0.113.1";

    // Login, register and refresh share one allowance per client.
    let login = login_from(&app, flooder, "nobody@example.com").await;
    let register = app
        .post("/users/register")
        .header(XFF, flooder)
        .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
        .send()
        .await;
    let refresh = app
        .post("/users/refresh")
        .header(XFF, flooder)
        .json(&json!({"refresh_token": "not a token"}))
        .send()
        .await;
    let over_the_limit = login_from(&app, flooder, "ada@example.com").await;
    // Addresses the client itself puts in front of the proxy's entry change nothing.
    let spoofed = login_from(
        &app,
        &format!("198.51.100.77, {flooder}"),
        "ada@example.com",
    )
    .await;
    let refresh_over_the_limit = app
        .post("/users/refresh")
        .header(XFF, flooder)
        .json(&json!({"refresh_token": "not a token"}))
        .send()
        .await;
    let other_client = login_from(&app, "198.51.100.2", "ada@example.com").await;

    login.assert_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
    assert_eq!(register.status, StatusCode::OK, "{}", register.text());
    refresh.assert_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert_rate_limited(&over_the_limit);
    assert_rate_limited(&spoofed);
    assert_rate_limited(&refresh_over_the_limit);
    assert_eq!(
        other_client.status,
        StatusCode::OK,
        "{}",
        other_client.text()
    );
}

#[tokio::test]
async fn behind_a_cdn_with_two_trusted_hops_two_clients_of_one_edge_are_limited_separately() {
    let app = spawn_app_with(&[
        ("RATE_LIMIT_PER_MINUTE", "1"),
        ("RATE_LIMIT_BURST", "2"),
        ("TRUSTED_PROXY_HEADER", "X-Forwarded-For"),
        ("TRUSTED_PROXY_HOPS", "2"),
    ])
    .await;
    // The last proxy appends the CDN edge's address after the client's, as Render's front end does.
    let edge = "198.51.100.250";
    let flooder = format!("203.0.113.1, {edge}");
    let neighbour = format!("203.0.113.2, {edge}");

    let first = login_from(&app, &flooder, "nobody@example.com").await;
    let second = login_from(&app, &flooder, "nobody@example.com").await;
    let over_the_limit = login_from(&app, &flooder, "nobody@example.com").await;
    // What the flooder itself sends ahead of the proxies' entries changes nothing.
    let spoofed = login_from(
        &app,
        &format!("192.0.2.99, {flooder}"),
        "nobody@example.com",
    )
    .await;
    let other_client = login_from(&app, &neighbour, "neighbour@example.com").await;

    first.assert_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
    second.assert_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
    assert_rate_limited(&over_the_limit);
    assert_rate_limited(&spoofed);
    other_client.assert_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
}

#[tokio::test]
async fn a_client_cannot_dodge_the_limit_with_x_forwarded_for_when_no_proxy_is_trusted() {
    let app = spawn_app_with(&[("RATE_LIMIT_PER_MINUTE", "1"), ("RATE_LIMIT_BURST", "2")]).await;

    let first = login_from(&app, "192.0.2.1", "nobody@example.com").await;
    let second = login_from(&app, "192.0.2.2", "nobody@example.com").await;
    let third = login_from(&app, "192.0.2.3", "nobody@example.com").await;

    first.assert_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
    second.assert_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
    assert_rate_limited(&third);
}

#[tokio::test]
async fn routes_outside_the_limit_are_not_counted() {
    let app = spawn_app_with(&[("RATE_LIMIT_PER_MINUTE", "1"), ("RATE_LIMIT_BURST", "1")]).await;

    for _ in 0..3 {
        let health = app.get("/health").send().await;
        assert_eq!(health.status, StatusCode::OK);
    }
    let login = login_from(&app, "192.0.2.1", "nobody@example.com").await;

    login.assert_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_bcrypt_queue_answers_503_overloaded_with_retry_after() {
    // Slow hashes and almost no patience: more logins than CPUs cannot all get a slot in time.
    let app = spawn_app_with(&[("BCRYPT_COST", "10"), ("BCRYPT_QUEUE_WAIT_MS", "1")]).await;
    let slots = std::thread::available_parallelism().map_or(2, usize::from);
    let mut logins = JoinSet::new();
    for i in 0..4 * slots + 8 {
        let client = app.client.clone();
        logins.spawn(async move {
            client
                .post("/users/login")
                .json(&json!({"email": format!("nobody{i}@example.com"), "password": PASSWORD}))
                .send()
                .await
        });
    }

    let responses = logins.join_all().await;

    let mut overloaded = 0;
    for response in &responses {
        if response.status == StatusCode::UNAUTHORIZED {
            continue;
        }
        response.assert_error(StatusCode::SERVICE_UNAVAILABLE, "OVERLOADED");
        assert_eq!(response.header("retry-after"), Some("1"));
        overloaded += 1;
    }
    assert!(overloaded > 0, "no login was refused");
    assert!(
        responses
            .iter()
            .any(|r| r.status == StatusCode::UNAUTHORIZED),
        "some logins were checked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_from_one_client_does_not_keep_another_client_from_signing_in() {
    // The defaults that matter here, with a bcrypt cost at which an unlimited flood of 64
    // logins would queue for seconds.
    let app = spawn_app_with(&[
        ("RATE_LIMIT_PER_MINUTE", "30"),
        ("RATE_LIMIT_BURST", "5"),
        ("BCRYPT_QUEUE_WAIT_MS", "1000"),
        ("BCRYPT_COST", "8"),
        ("TRUSTED_PROXY_HEADER", "X-Forwarded-For"),
    ])
    .await;
    let user = "198.51.100.2";
    let registered = app
        .post("/users/register")
        .header(XFF, user)
        .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
        .send()
        .await;
    assert_eq!(registered.status, StatusCode::OK, "{}", registered.text());
    let mut flood = JoinSet::new();
    for i in 0..64 {
        let client = app.client.clone();
        flood.spawn(async move {
            login_from(&client, "203.0.113.66", &format!("nobody{i}@example.com"))
                .await
                .status
        });
    }

    let started = Instant::now();
    let login = login_from(&app, user, "ada@example.com").await;
    let waited = started.elapsed();
    let statuses = flood.join_all().await;

    assert_eq!(login.status, StatusCode::OK, "{}", login.text());
    assert!(waited < Duration::from_secs(5), "the login took {waited:?}");
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(limited >= 64 - 5, "{statuses:?}");
}

#[tokio::test]
async fn the_openapi_document_lists_the_limits_on_the_limited_routes() {
    let app = spawn_app_with(&[]).await;

    let doc = app.get("/openapi.json").send().await.json();

    for (path, codes) in [
        ("/users/login", &["RATE_LIMITED", "OVERLOADED"][..]),
        ("/users/register", &["RATE_LIMITED", "OVERLOADED"][..]),
        ("/users/refresh", &["RATE_LIMITED"][..]),
    ] {
        let responses = &doc["paths"][path]["post"]["responses"];
        let described = format!(
            "{} {}",
            responses["429"]["description"], responses["503"]["description"]
        );
        for code in codes {
            assert!(described.contains(code), "{path} lacks {code}: {described}");
        }
        assert!(described.contains("DB_UNAVAILABLE"), "{path}: {described}");
        assert!(
            responses["429"]["headers"]["Retry-After"].is_object(),
            "{path}: {responses}"
        );
    }
}

/// End to end: the service as a process of its own, a flood of logins from one address (every
/// one of them for an unknown email, so each would cost a bcrypt verification) and, during it, a
/// user signing in from another address. Clients are told apart by their real peer addresses
/// (two loopback addresses), with no proxy header trusted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_from_one_address_leaves_another_address_served_within_a_second() {
    let db = TestDb::new("user_service").await;
    let service = ServiceProcess::start(
        env!("CARGO_BIN_EXE_user-service"),
        &db.config,
        &[("BCRYPT_COST", "8")],
    )
    .await;
    let user: IpAddr = [127, 0, 0, 3].into();
    let flooder: IpAddr = [127, 0, 0, 2].into();
    let credentials = json!({"email": "ada@example.com", "password": PASSWORD});
    let registered = http_from(
        user,
        service.address,
        Method::POST,
        "/users/register",
        &[],
        Some(&credentials),
    )
    .await
    .unwrap();
    assert_eq!(registered.status, StatusCode::OK, "{}", registered.text());

    let stop = Arc::new(AtomicBool::new(false));
    let mut flood = JoinSet::new();
    for connection in 0..32 {
        let stop = Arc::clone(&stop);
        let address = service.address;
        flood.spawn(async move {
            let mut statuses = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let body = json!({"email": format!("nobody{connection}.{n}@example.com"), "password": PASSWORD});
                let answer = http_from(flooder, address, Method::POST, "/users/login", &[], Some(&body)).await;
                statuses.push(answer.map(|answer| answer.status.as_u16()).map_err(|err| err.to_string()));
            }
            statuses
        });
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Four logins a second apart: with the registration, within the user's own burst of five.
    let mut waits = Vec::new();
    for _ in 0..4 {
        let started = Instant::now();
        let login = http_from(
            user,
            service.address,
            Method::POST,
            "/users/login",
            &[],
            Some(&credentials),
        )
        .await
        .unwrap();
        waits.push(started.elapsed());
        assert_eq!(login.status, StatusCode::OK, "{}", login.text());
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let statuses: Vec<_> = flood.join_all().await.into_iter().flatten().collect();

    let limited = statuses.iter().filter(|s| **s == Ok(429)).count();
    println!(
        "login flood: {} flood requests ({limited} answered 429), the other client's logins took {waits:?}",
        statuses.len()
    );
    assert!(
        waits.iter().all(|wait| *wait < Duration::from_secs(1)),
        "{waits:?}"
    );
    assert!(
        statuses.iter().all(|s| matches!(s, Ok(401 | 429))),
        "unexpected answers to the flood: {:?}",
        statuses
            .iter()
            .filter(|s| !matches!(s, Ok(401 | 429)))
            .collect::<Vec<_>>()
    );
    assert!(
        limited > statuses.len() / 2,
        "{limited} of {}",
        statuses.len()
    );
}
