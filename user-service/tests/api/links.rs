//! The links mailed to account holders, followed as a user would: read from the mail a real SMTP
//! server received, then used. Verification, password reset, and what a hostile client tries.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common_testing::{ReceivedMail, SmtpServer};
use mongodb::bson::{DateTime, doc};
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, UserSteps, access, refresh, spawn_app_with};

const BASE: &str = "http://shop.test";

async fn app_mailing_to(smtp: &SmtpServer) -> TestApp {
    spawn_app_with(&[("SMTP_URL", &smtp.url()), ("PUBLIC_BASE_URL", BASE)]).await
}

/// The token of the link to `page` in `mail`, the same in its text and HTML parts.
fn token_in(mail: &ReceivedMail, page: &str) -> String {
    let link = format!("{BASE}/{page}");
    let token = mail.text_token(&link).expect("a link in the text part");
    assert_eq!(mail.html_token(&link).as_deref(), Some(token.as_str()));
    token
}

async fn post(app: &TestApp, path: &str, body: serde_json::Value) -> common_testing::TestResponse {
    app.post(path).json(&body).send().await
}

#[tokio::test]
async fn following_the_verification_link_verifies_the_email_once() {
    let smtp = SmtpServer::start().await;
    let app = app_mailing_to(&smtp).await;
    let (_, tokens) = app.signed_in("ada@example.com", "buyer").await;

    let mail = &smtp.wait_for(1, Duration::from_secs(10)).await[0];
    let token = token_in(mail, "verify-email.html");
    let verified = post(&app, "/users/verify-email", json!({"token": token})).await;
    let again = post(&app, "/users/verify-email", json!({"token": token})).await;
    let huge = post(
        &app,
        "/users/verify-email",
        json!({"token": "x".repeat(10_000)}),
    )
    .await;
    let unknown = post(
        &app,
        "/users/verify-email",
        json!({"token": "A".repeat(43)}),
    )
    .await;

    assert!(mail.to().ends_with("<ada@example.com>"), "{}", mail.to());
    assert_eq!(
        verified.status,
        StatusCode::NO_CONTENT,
        "{}",
        verified.text()
    );
    again.assert_error(StatusCode::BAD_REQUEST, "INVALID_TOKEN");
    huge.assert_validation_error();
    unknown.assert_error(StatusCode::BAD_REQUEST, "INVALID_TOKEN");
    // The token that said "unverified" is refused; a refreshed one says verified.
    let refreshed = app
        .post("/users/refresh")
        .json(&json!({"refresh_token": refresh(&tokens)}))
        .send()
        .await
        .json();
    let me = app
        .get("/users/me")
        .bearer(access(&refreshed))
        .send()
        .await
        .json();
    assert_eq!(me["email_verified"], true);
    let resent = app
        .post("/users/me/verify-email")
        .bearer(access(&refreshed))
        .send()
        .await;
    assert_eq!(resent.status, StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        smtp.messages().len(),
        1,
        "nothing is sent for a verified email"
    );
}

#[tokio::test]
async fn a_new_verification_link_voids_the_older_one_and_is_rate_limited() {
    let smtp = SmtpServer::start().await;
    let app = app_mailing_to(&smtp).await;
    let (_, tokens) = app.signed_in("ada@example.com", "buyer").await;
    let first = token_in(
        &smtp.wait_for(1, Duration::from_secs(10)).await[0],
        "verify-email.html",
    );

    let resent = app
        .post("/users/me/verify-email")
        .bearer(access(&tokens))
        .send()
        .await;
    let second = token_in(
        &smtp.wait_for(2, Duration::from_secs(10)).await[1],
        "verify-email.html",
    );

    assert_eq!(resent.status, StatusCode::ACCEPTED);
    post(&app, "/users/verify-email", json!({"token": first}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "INVALID_TOKEN");
    let statuses = [
        app.post("/users/me/verify-email")
            .bearer(access(&tokens))
            .send()
            .await
            .status,
        app.post("/users/me/verify-email")
            .bearer(access(&tokens))
            .send()
            .await
            .status,
    ];
    assert_eq!(statuses, [StatusCode::ACCEPTED, StatusCode::ACCEPTED]);
    let limited = app
        .post("/users/me/verify-email")
        .bearer(access(&tokens))
        .send()
        .await;
    limited.assert_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    assert!(limited.header("retry-after").is_some());
    let last = token_in(
        &smtp.wait_for(4, Duration::from_secs(10)).await[3],
        "verify-email.html",
    );
    post(&app, "/users/verify-email", json!({"token": second}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "INVALID_TOKEN");
    let verified = post(&app, "/users/verify-email", json!({"token": last})).await;
    assert_eq!(verified.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_reset_link_sets_a_new_password_once_and_ends_every_session() {
    let smtp = SmtpServer::start().await;
    let app = app_mailing_to(&smtp).await;
    let (_, tokens) = app.signed_in("ada@example.com", "buyer").await;
    smtp.wait_for(1, Duration::from_secs(10)).await;

    let requested = post(
        &app,
        "/users/password-reset",
        json!({"email": " ADA@example.com "}),
    )
    .await;
    let mail = smtp.wait_for(2, Duration::from_secs(10)).await.remove(1);
    let token = token_in(&mail, "reset-password.html");
    let short = post(
        &app,
        "/users/password-reset/confirm",
        json!({"token": token, "new_password": "7 bytes"}),
    )
    .await;
    let long = post(
        &app,
        "/users/password-reset/confirm",
        json!({"token": token, "new_password": "x".repeat(73)}),
    )
    .await;
    let set = post(
        &app,
        "/users/password-reset/confirm",
        json!({"token": token, "new_password": "a fresh password"}),
    )
    .await;
    let twice = post(
        &app,
        "/users/password-reset/confirm",
        json!({"token": token, "new_password": "another password"}),
    )
    .await;

    assert_eq!(requested.status, StatusCode::ACCEPTED);
    assert_eq!(
        short.assert_validation_error(),
        [json!(["body", "new_password"])]
    );
    assert_eq!(
        long.assert_validation_error(),
        [json!(["body", "new_password"])]
    );
    assert_eq!(set.status, StatusCode::NO_CONTENT, "{}", set.text());
    twice.assert_error(StatusCode::BAD_REQUEST, "INVALID_TOKEN");
    let refreshed = app
        .post("/users/refresh")
        .json(&json!({"refresh_token": refresh(&tokens)}))
        .send()
        .await;
    assert_eq!(refreshed.status, StatusCode::UNAUTHORIZED);
    let started = Instant::now();
    while app
        .get("/users/me")
        .bearer(access(&tokens))
        .send()
        .await
        .status
        != StatusCode::UNAUTHORIZED
    {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the old token still works"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    app.login("ada@example.com", PASSWORD)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
    assert_eq!(
        app.login("ada@example.com", "a fresh password")
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn reset_tokens_of_another_kind_expired_superseded_or_of_a_disabled_account_are_refused() {
    let smtp = SmtpServer::start().await;
    let app = app_mailing_to(&smtp).await;
    let (_, admin) = app.signed_in_admin().await;
    let (bob_id, _) = app.signed_in("bob@example.com", "buyer").await;
    let verification = token_in(
        &smtp.wait_for(1, Duration::from_secs(10)).await[0],
        "verify-email.html",
    );
    let reset = |email: &'static str| {
        let app = &app;
        async move { post(app, "/users/password-reset", json!({"email": email})).await }
    };

    reset("bob@example.com").await;
    let older = token_in(
        &smtp.wait_for(2, Duration::from_secs(10)).await[1],
        "reset-password.html",
    );
    reset("bob@example.com").await;
    let newer = token_in(
        &smtp.wait_for(3, Duration::from_secs(10)).await[2],
        "reset-password.html",
    );
    let confirm = |token: String| {
        let app = &app;
        async move {
            post(
                app,
                "/users/password-reset/confirm",
                json!({"token": token, "new_password": "a fresh password"}),
            )
            .await
        }
    };

    confirm(verification)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "INVALID_TOKEN");
    confirm(older)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "INVALID_TOKEN");
    let bob = mongodb::bson::oid::ObjectId::parse_str(&bob_id).unwrap();
    app.db
        .db
        .collection::<mongodb::bson::Document>("users")
        .update_one(
            doc! { "_id": bob },
            doc! { "$set": { "password_reset.expires_at": DateTime::from_millis(0) } },
        )
        .await
        .unwrap();
    confirm(newer.clone())
        .await
        .assert_error(StatusCode::BAD_REQUEST, "INVALID_TOKEN");

    reset("bob@example.com").await;
    let live = token_in(
        &smtp.wait_for(4, Duration::from_secs(10)).await[3],
        "reset-password.html",
    );
    app.patch(&format!("/users/{bob_id}"))
        .bearer(access(&admin))
        .json(&json!({"disabled": true}))
        .send()
        .await;
    confirm(live)
        .await
        .assert_error(StatusCode::FORBIDDEN, "ACCOUNT_DISABLED");
    reset("bob@example.com").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        smtp.messages().len(),
        4,
        "a disabled account gets no reset link"
    );
}

#[tokio::test]
async fn a_reset_for_an_unknown_email_is_answered_alike_and_mails_nothing() {
    let smtp = SmtpServer::start().await;
    let app = app_mailing_to(&smtp).await;
    app.register("ada@example.com", "buyer").await;
    smtp.wait_for(1, Duration::from_secs(10)).await;

    let unknown = post(
        &app,
        "/users/password-reset",
        json!({"email": "nobody@example.com"}),
    )
    .await;
    let malformed = post(
        &app,
        "/users/password-reset",
        json!({"email": "not an email"}),
    )
    .await;

    assert_eq!(unknown.status, StatusCode::ACCEPTED);
    assert_eq!(unknown.text(), "");
    assert_eq!(
        malformed.assert_validation_error(),
        [json!(["body", "email"])]
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        smtp.messages().len(),
        1,
        "only the verification mail of the registration"
    );

    // Three requests per email per 15 minutes, for an email with an account and one without.
    for email in ["ada@example.com", "nobody@example.com"] {
        let fourth = loop {
            let answer = post(&app, "/users/password-reset", json!({"email": email})).await;
            if answer.status != StatusCode::ACCEPTED {
                break answer;
            }
        };
        fourth.assert_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    }
}

#[tokio::test]
async fn reset_requests_take_the_same_time_for_known_and_unknown_emails() {
    let app = spawn_app_with(&[]).await;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..15 {
        let email = format!("user{i}@example.com");
        app.register(&email, "buyer").await;
        for (list, email) in [
            (&mut known, email),
            (&mut unknown, format!("nobody{i}@example.com")),
        ] {
            let started = Instant::now();
            let answer = post(&app, "/users/password-reset", json!({"email": email})).await;
            list.push(started.elapsed());
            assert_eq!(answer.status, StatusCode::ACCEPTED);
        }
    }
    known.sort();
    unknown.sort();
    let (known, unknown) = (known[known.len() / 2], unknown[unknown.len() / 2]);

    let gap = known.abs_diff(unknown);
    assert!(
        gap < Duration::from_millis(20),
        "median {known:?} for known emails, {unknown:?} for unknown"
    );
}
