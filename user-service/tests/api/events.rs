//! The user events: a registration, and the admin account made at startup, record
//! `user.registered` exactly once, with the user as `GET /users/{id}` shows it (never a password
//! or its hash); a refused registration records nothing.

use axum::http::{Method, StatusCode};
use common_testing::{ServiceProcess, TestDb, http, kinds};
use serde_json::{Value, json};
use user_service::accounts::AdminAccount;

use crate::helpers::{PASSWORD, UserSteps, access, spawn_app, state_on};

/// `GET /users/me` with the access token of a login body, asserting success.
async fn me(app: &crate::helpers::TestApp, tokens: &Value) -> Value {
    let response = app.get("/users/me").bearer(access(tokens)).send().await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    response.json()
}

/// Fails if `data` holds anything but what the API shows of a user.
fn assert_shows_nothing_secret(data: &Value) {
    let mut fields: Vec<&str> = data
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "created_at",
            "disabled",
            "email",
            "email_verified",
            "id",
            "name",
            "role"
        ],
        "{data}"
    );
    let text = data.to_string();
    assert!(!text.contains(PASSWORD) && !text.contains("$2b$"), "{text}");
}

#[tokio::test]
async fn registering_records_user_registered_with_the_user_as_get_shows_it() {
    let app = spawn_app().await;

    let (id, tokens) = app.signed_in("ada@example.com", "seller").await;

    let events = app.db.settled_events(&id, 1).await;
    assert_eq!(kinds(&events), ["user.registered"]);
    assert_eq!(events[0].data, me(&app, &tokens).await);
    let by_id = app
        .get(&format!("/users/{id}"))
        .bearer(access(&tokens))
        .send()
        .await;
    assert_eq!(events[0].data, by_id.json());
    assert_shows_nothing_secret(&events[0].data);
    assert_eq!(app.db.outbox_backlog("users").await, 0);
}

#[tokio::test]
async fn a_refused_registration_records_nothing() {
    let app = spawn_app().await;
    let first = app.register("ada@example.com", "buyer").await;
    let attempts = [
        (
            json!({"email": "ADA@example.com", "password": PASSWORD}),
            StatusCode::CONFLICT,
        ),
        (
            json!({"email": "root@example.com", "password": PASSWORD, "role": "admin"}),
            StatusCode::FORBIDDEN,
        ),
        (
            json!({"email": "not an email", "password": PASSWORD}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"email": "short@example.com", "password": "short"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];

    for (body, status) in attempts {
        let response = app.post("/users/register").json(&body).send().await;
        assert_eq!(response.status, status, "{}", response.text());
    }

    let id = first["id"].as_str().unwrap();
    let events = app.db.settled_events(id, 1).await;
    assert_eq!(kinds(&events), ["user.registered"]);
    assert_eq!(app.db.events().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_account_made_at_startup_records_user_registered_once() {
    let db = TestDb::new("user_service").await;
    let service = ServiceProcess::start(
        env!("CARGO_BIN_EXE_user-service"),
        &db.config,
        &[
            ("ADMIN_EMAIL", "admin@example.com"),
            ("ADMIN_PASSWORD", PASSWORD),
        ],
    )
    .await;
    let body = json!({"email": "admin@example.com", "password": PASSWORD});
    let login = http(
        service.address,
        Method::POST,
        "/users/login",
        &[],
        Some(&body),
    )
    .await
    .expect("the service answers");
    assert_eq!(login.status, StatusCode::OK, "{}", login.text());
    let bearer = format!("Bearer {}", access(&login.json()));
    let me = http(
        service.address,
        Method::GET,
        "/users/me",
        &[("Authorization", bearer.as_str())],
        None,
    )
    .await
    .unwrap()
    .json();
    let id = me["id"].as_str().unwrap();

    let first = db.settled_events(id, 1).await;
    // Started again (another replica, a restart): the account is there, nothing is recorded.
    let again = state_on(&db)
        .await
        .accounts
        .ensure_admin("admin@example.com", PASSWORD)
        .await
        .unwrap();

    assert_eq!(kinds(&first), ["user.registered"]);
    assert_eq!(first[0].data, me);
    assert_eq!(first[0].data["role"], "admin");
    assert_shows_nothing_secret(&first[0].data);
    assert_eq!(again, AdminAccount::Present);
    assert_eq!(kinds(&db.settled_events(id, 1).await), ["user.registered"]);
}
