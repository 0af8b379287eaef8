//! One mailbox, one account: every spelling of an email that reaches the same mailbox (fullwidth
//! letters, case, a domain in Unicode or in punycode) is one account at register, login, the
//! admin bootstrap and the user list; quoted and non-ASCII local parts are refused.

use axum::http::StatusCode;
use mongodb::bson::doc;
use serde_json::json;

use crate::helpers::{PASSWORD, UserSteps, access, spawn_app};

/// `POST /users/register` with `email` and the test password.
async fn try_register(app: &crate::helpers::TestApp, email: &str) -> common_testing::TestResponse {
    app.post("/users/register")
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
}

#[tokio::test]
async fn register_returns_409_for_the_same_mailbox_in_fullwidth_letters() {
    let app = spawn_app().await;
    app.register("a@example.com", "buyer").await;
    app.register("admin@example.com", "buyer").await;

    let fullwidth_domain = try_register(&app, "a@ｅxample.com").await;
    let fullwidth_local = try_register(&app, "ａｄｍｉｎ@example.com").await;

    fullwidth_domain.assert_error(StatusCode::CONFLICT, "EMAIL_TAKEN");
    fullwidth_local.assert_error(StatusCode::CONFLICT, "EMAIL_TAKEN");
    assert_eq!(app.db.count("users", doc! {}).await, 2);
}

#[tokio::test]
async fn register_stores_an_idn_domain_in_punycode_and_refuses_it_again_in_either_form() {
    let app = spawn_app().await;

    let body = app.register("a@bücher.example", "buyer").await;
    let punycode = try_register(&app, "a@xn--bcher-kva.example").await;
    let shouting = try_register(&app, " A@BÜCHER.example ").await;

    assert_eq!(body["email"], "a@xn--bcher-kva.example");
    punycode.assert_error(StatusCode::CONFLICT, "EMAIL_TAKEN");
    shouting.assert_error(StatusCode::CONFLICT, "EMAIL_TAKEN");
    assert_eq!(app.db.count("users", doc! {}).await, 1);
}

#[tokio::test]
async fn register_refuses_a_quoted_local_part_with_422() {
    let app = spawn_app().await;
    app.register("a@example.com", "buyer").await;

    let response = try_register(&app, "\"a\"@example.com").await;

    assert_eq!(
        response.assert_validation_error(),
        vec![json!(["body", "email"])]
    );
    assert_eq!(app.db.count("users", doc! {}).await, 1);
}

#[tokio::test]
async fn register_refuses_a_non_ascii_local_part_such_as_a_cyrillic_lookalike() {
    let app = spawn_app().await;

    // The first letter is CYRILLIC SMALL LETTER A, which looks like the Latin one.
    let lookalike = try_register(&app, "\u{430}dmin@example.com").await;
    let accented = try_register(&app, "zoë@example.com").await;

    assert_eq!(
        lookalike.assert_validation_error(),
        vec![json!(["body", "email"])]
    );
    assert_eq!(
        accented.assert_validation_error(),
        vec![json!(["body", "email"])]
    );
    assert_eq!(app.db.count("users", doc! {}).await, 0);
}

#[tokio::test]
async fn login_finds_the_account_by_any_spelling_of_its_mailbox() {
    let app = spawn_app().await;
    app.register("a@bücher.example", "buyer").await;

    let fullwidth = app.login("ａ@BÜCHER.example", PASSWORD).await;
    let punycode = app.login("A@xn--bcher-kva.example", PASSWORD).await;
    let quoted = app.login("\"a\"@xn--bcher-kva.example", PASSWORD).await;

    assert_eq!(fullwidth.status, StatusCode::OK, "{}", fullwidth.text());
    assert_eq!(punycode.status, StatusCode::OK, "{}", punycode.text());
    quoted.assert_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
}

#[tokio::test]
async fn failures_under_different_spellings_of_one_mailbox_share_one_limit() {
    let app = spawn_app().await;
    app.register("ada@example.com", "buyer").await;

    for email in [
        "ada@example.com",
        "ＡＤＡ@example.com",
        "ada@ｅxample.com",
        " Ada@Example.com",
        "ada@EXAMPLE.COM",
    ] {
        let response = app.login(email, "wrong password").await;
        response.assert_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
    }
    let blocked = app.login("ada@example.com", PASSWORD).await;

    blocked.assert_error(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS");
}

#[tokio::test]
async fn the_admin_email_is_normalised_like_any_other() {
    let app = spawn_app().await;

    app.state
        .accounts
        .ensure_admin(" ＲＯＯＴ@Bücher.example", PASSWORD)
        .await
        .expect("admin created");
    app.state
        .accounts
        .ensure_admin("root@xn--bcher-kva.example", PASSWORD)
        .await
        .expect("admin found");

    let login = app.login("root@xn--bcher-kva.example", PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text());
    let me = app
        .get("/users/me")
        .bearer(access(&login.json()))
        .send()
        .await
        .json();
    assert_eq!(me["email"], "root@xn--bcher-kva.example");
    assert_eq!(me["role"], "admin");
    assert_eq!(app.db.count("users", doc! {}).await, 1);
}

#[tokio::test]
async fn the_user_list_filters_by_any_spelling_of_the_email() {
    let app = spawn_app().await;
    let (_, admin) = app.signed_in_admin().await;
    app.register("ada@bücher.example", "buyer").await;

    // "ａｄａ@BÜCHER.example", percent-encoded.
    let response = app
        .get("/users?email=%EF%BD%81%EF%BD%84%EF%BD%81%40B%C3%9CCHER.example")
        .bearer(access(&admin))
        .send()
        .await;
    let quoted = app
        .get("/users?email=%22ada%22%40xn--bcher-kva.example")
        .bearer(access(&admin))
        .send()
        .await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let users = response.json();
    assert_eq!(users.as_array().unwrap().len(), 1);
    assert_eq!(users[0]["email"], "ada@xn--bcher-kva.example");
    assert_eq!(quoted.status, StatusCode::OK);
    assert_eq!(quoted.json(), json!([]), "no account has a quoted email");
}
