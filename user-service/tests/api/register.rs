//! `POST /users/register`: the stored account, one account per email even under a race, the
//! refused admin role, and a 422 naming every invalid field.

use axum::http::StatusCode;
use mongodb::bson::{Document, doc};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::helpers::{PASSWORD, UserSteps, spawn_app};

#[tokio::test]
async fn register_returns_200_with_the_new_account_and_no_secrets() {
    let app = spawn_app().await;

    let response = app
        .post("/users/register")
        .json(&json!({"email": "ada@example.com", "password": PASSWORD, "name": "Ada"}))
        .send()
        .await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let body = response.json();
    let id = body["id"].as_str().unwrap();
    assert_eq!(id.len(), 24);
    assert!(
        id.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    assert_eq!(
        body,
        json!({"id": id, "email": "ada@example.com", "name": "Ada", "role": "buyer"})
    );
    let stored: Document = app
        .db
        .db
        .collection("users")
        .find_one(doc! { "email": "ada@example.com" })
        .await
        .unwrap()
        .unwrap();
    let hash = stored.get_str("password_hash").unwrap();
    assert!(hash.starts_with("$2b$"), "stored a bcrypt hash");
    assert!(!response.text().contains(PASSWORD) && !response.text().contains(hash));
}

#[tokio::test]
async fn register_defaults_name_to_empty_and_accepts_the_seller_role() {
    let app = spawn_app().await;

    let response = app
        .post("/users/register")
        .json(&json!({"email": "sam@example.com", "password": PASSWORD, "role": "seller"}))
        .send()
        .await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json()["name"], "");
    assert_eq!(response.json()["role"], "seller");
}

#[tokio::test]
async fn register_stores_the_email_trimmed_and_lowercased() {
    let app = spawn_app().await;

    let body = app.register("  Ada.Lovelace@Example.COM ", "buyer").await;

    assert_eq!(body["email"], "ada.lovelace@example.com");
}

#[tokio::test]
async fn register_returns_409_for_an_email_taken_in_another_case() {
    let app = spawn_app().await;
    app.register("Email@X.io", "buyer").await;

    let response = app
        .post("/users/register")
        .json(&json!({"email": "email@x.io", "password": PASSWORD}))
        .send()
        .await;

    response.assert_error(StatusCode::CONFLICT, "EMAIL_TAKEN");
    let count = app.db.count("users", doc! {}).await;
    assert_eq!(count, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_one_of_20_concurrent_registrations_of_one_email_succeeds() {
    let app = spawn_app().await;
    let mut requests = JoinSet::new();
    for i in 0..20 {
        let client = app.client.clone();
        requests.spawn(async move {
            client
                .post("/users/register")
                .json(&json!({"email": "race@example.com", "password": PASSWORD, "name": format!("n{i}")}))
                .send()
                .await
        });
    }

    let responses = requests.join_all().await;

    let created = responses
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(created, 1);
    for response in responses.iter().filter(|r| r.status != StatusCode::OK) {
        response.assert_error(StatusCode::CONFLICT, "EMAIL_TAKEN");
    }
    let count = app
        .db
        .count("users", doc! { "email": "race@example.com" })
        .await;
    assert_eq!(count, 1);
}

#[tokio::test]
async fn register_refuses_the_admin_role_with_403_and_stores_nothing() {
    let app = spawn_app().await;

    let response = app
        .post("/users/register")
        .json(&json!({"email": "mallory@example.com", "password": PASSWORD, "role": "admin"}))
        .send()
        .await;

    response.assert_error(StatusCode::FORBIDDEN, "FORBIDDEN");
    let login = app.login("mallory@example.com", PASSWORD).await;
    login.assert_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
}

#[tokio::test]
async fn register_returns_422_naming_each_invalid_field() {
    let app = spawn_app().await;
    let cases: Vec<(Value, Value)> = vec![
        (json!({"password": PASSWORD}), json!(["body", "email"])),
        (
            json!({"email": "ada@example.com"}),
            json!(["body", "password"]),
        ),
        (
            json!({"email": "not-an-email", "password": PASSWORD}),
            json!(["body", "email"]),
        ),
        (
            json!({"email": "ada@localhost", "password": PASSWORD}),
            json!(["body", "email"]),
        ),
        (
            json!({"email": {"$ne": null}, "password": PASSWORD}),
            json!(["body", "email"]),
        ),
        (
            json!({"email": "ada@example.com", "password": "1234567"}),
            json!(["body", "password"]),
        ),
        // 36 two-byte characters and one more byte: 73 bytes, though only 37 characters.
        (
            json!({"email": "ada@example.com", "password": format!("{}a", "é".repeat(36))}),
            json!(["body", "password"]),
        ),
        (
            json!({"email": "ada@example.com", "password": PASSWORD, "name": "n".repeat(101)}),
            json!(["body", "name"]),
        ),
        (
            json!({"email": "ada@example.com", "password": PASSWORD, "role": "superuser"}),
            json!(["body", "role"]),
        ),
        (
            json!({"email": "ada@example.com", "password": 12345678}),
            json!(["body", "password"]),
        ),
        (json!(["ada@example.com", PASSWORD]), json!(["body"])),
    ];

    for (body, loc) in cases {
        let response = app.post("/users/register").json(&body).send().await;

        let locs = response.assert_validation_error();
        assert!(locs.contains(&loc), "{body} → {locs:?}, expected {loc}");
    }
    let count = app.db.count("users", doc! {}).await;
    assert_eq!(count, 0, "nothing is stored for invalid input");
}

#[tokio::test]
async fn register_reports_every_invalid_field_at_once() {
    let app = spawn_app().await;

    let response = app
        .post("/users/register")
        .json(&json!({"email": "nope", "password": "short", "name": "n".repeat(101)}))
        .send()
        .await;

    let locs = response.assert_validation_error();
    assert_eq!(
        locs,
        vec![
            json!(["body", "email"]),
            json!(["body", "password"]),
            json!(["body", "name"])
        ]
    );
}

#[tokio::test]
async fn register_accepts_a_password_of_exactly_72_bytes_in_multibyte_characters() {
    let app = spawn_app().await;
    let password = "é".repeat(36);

    let response = app
        .post("/users/register")
        .json(&json!({"email": "ada@example.com", "password": password}))
        .send()
        .await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(
        app.login("ada@example.com", &password).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn register_ignores_unknown_fields() {
    let app = spawn_app().await;

    let response = app
        .post("/users/register")
        .json(&json!({"email": "ada@example.com", "password": PASSWORD, "is_admin": true, "_id": "x"}))
        .send()
        .await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json()["role"], "buyer");
}
