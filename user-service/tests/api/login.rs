//! `POST /users/login`: tokens for the right password, one answer for every wrong one, and the
//! failed-login limit (429 with `Retry-After`) across restarts, replicas and concurrent guesses.

use axum::http::StatusCode;
use mongodb::bson::doc;
use serde_json::json;
use std::time::Duration;

use tokio::task::JoinSet;

use crate::helpers::{PASSWORD, UserSteps, access, replica_of, spawn_app, spawn_app_with};

#[tokio::test]
async fn login_returns_an_access_and_a_refresh_token() {
    let app = spawn_app().await;
    app.register("ada@example.com", "buyer").await;

    let response = app.login("ada@example.com", PASSWORD).await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let body = response.json();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 30 * 60);
    assert!(body["refresh_token"].as_str().unwrap().len() >= 40);
    let me = app.get("/users/me").bearer(access(&body)).send().await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["email"], "ada@example.com");
}

#[tokio::test]
async fn login_takes_the_email_in_any_case_and_with_spaces() {
    let app = spawn_app().await;
    app.register("ada@example.com", "buyer").await;

    let response = app.login("  ADA@Example.com ", PASSWORD).await;

    assert_eq!(response.status, StatusCode::OK);
}

#[tokio::test]
async fn an_unknown_email_and_a_wrong_password_get_the_same_answer() {
    let app = spawn_app().await;
    app.register("ada@example.com", "buyer").await;

    let wrong_password = app.login("ada@example.com", "not the password").await;
    let unknown_email = app.login("nobody@example.com", PASSWORD).await;

    let a = wrong_password.assert_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
    let b = unknown_email.assert_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
    assert_eq!(a, b);
    assert_eq!(a["detail"], "Invalid credentials");
    assert_eq!(wrong_password.header("www-authenticate"), Some("Bearer"));
}

#[tokio::test]
async fn a_password_longer_than_72_bytes_never_signs_in() {
    let app = spawn_app().await;
    let password = "x".repeat(72);
    app.post("/users/register")
        .json(&json!({"email": "ada@example.com", "password": password}))
        .send()
        .await;

    // bcrypt alone ignores bytes past 72 and would accept this.
    let response = app.login("ada@example.com", &format!("{password}y")).await;

    response.assert_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
}

#[tokio::test]
async fn login_without_a_password_is_422() {
    let app = spawn_app().await;

    let response = app
        .post("/users/login")
        .json(&json!({"email": "ada@example.com"}))
        .send()
        .await;

    assert_eq!(
        response.assert_validation_error(),
        vec![json!(["body", "password"])]
    );
}

#[tokio::test]
async fn five_failures_block_the_email_with_429_and_retry_after() {
    let app = spawn_app().await;
    app.register("ada@example.com", "buyer").await;
    app.register("bob@example.com", "buyer").await;

    for _ in 0..5 {
        let response = app.login("ada@example.com", "wrong password").await;
        response.assert_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
    }
    let blocked = app.login("ada@example.com", PASSWORD).await;
    let unknown_blocked = {
        for _ in 0..5 {
            app.login("ghost@example.com", "wrong password").await;
        }
        app.login("ghost@example.com", "wrong password").await
    };
    let other_email = app.login("bob@example.com", PASSWORD).await;

    blocked.assert_error(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS");
    let retry_after: u64 = blocked.header("retry-after").unwrap().parse().unwrap();
    assert!(
        (1..=15 * 60).contains(&retry_after),
        "Retry-After: {retry_after}"
    );
    unknown_blocked.assert_error(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS");
    assert_eq!(
        other_email.status,
        StatusCode::OK,
        "other emails are not blocked"
    );
}

#[tokio::test]
async fn successful_logins_do_not_count_as_failures() {
    let app = spawn_app().await;
    app.register("ada@example.com", "buyer").await;

    for _ in 0..4 {
        app.login("ada@example.com", "wrong password").await;
    }
    for _ in 0..3 {
        assert_eq!(
            app.login("ada@example.com", PASSWORD).await.status,
            StatusCode::OK
        );
    }
    let fifth_failure = app.login("ada@example.com", "wrong password").await;
    let after = app.login("ada@example.com", PASSWORD).await;

    fifth_failure.assert_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
    after.assert_error(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS");
}

#[tokio::test]
async fn the_limit_holds_across_restarts_and_replicas() {
    let app = spawn_app().await;
    app.register("ada@example.com", "buyer").await;
    let replica = replica_of(&app).await;

    for i in 0..5 {
        let instance = if i % 2 == 0 { &app.client } else { &replica };
        let response = instance
            .post("/users/login")
            .json(&json!({"email": "ada@example.com", "password": "wrong password"}))
            .send()
            .await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    }
    let restarted = replica_of(&app).await;
    let response = restarted
        .post("/users/login")
        .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
        .send()
        .await;

    response.assert_error(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_guesses_get_no_more_than_five_verdicts() {
    let app = spawn_app().await;
    app.register("ada@example.com", "buyer").await;
    let mut guesses = JoinSet::new();
    for i in 0..20 {
        let client = app.client.clone();
        guesses.spawn(async move {
            client
                .post("/users/login")
                .json(&json!({"email": "ada@example.com", "password": format!("guess {i}")}))
                .send()
                .await
                .status
        });
    }

    let statuses = guesses.join_all().await;

    let verdicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let blocked = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((verdicts, blocked), (5, 15));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twelve_concurrent_logins_with_the_right_password_are_never_locked_out() {
    // A real bcrypt cost, so that the logins overlap.
    let app = spawn_app_with(&[("BCRYPT_COST", "10")]).await;
    app.register("ada@example.com", "buyer").await;
    let mut logins = JoinSet::new();
    for _ in 0..12 {
        let client = app.client.clone();
        logins.spawn(async move {
            client
                .post("/users/login")
                .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
                .send()
                .await
        });
    }

    let responses = logins.join_all().await;

    for response in &responses {
        if response.status == StatusCode::OK {
            continue;
        }
        response.assert_error(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS");
        let retry_after: u64 = response.header("retry-after").unwrap().parse().unwrap();
        assert!(retry_after <= 2, "Retry-After: {retry_after}");
    }
    assert!(responses.iter().any(|r| r.status == StatusCode::OK));
    let after = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(after.status, StatusCode::OK, "{}", after.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logins_abandoned_by_the_client_mid_check_leave_the_account_open() {
    let app = spawn_app_with(&[("BCRYPT_COST", "12")]).await;
    app.register("ada@example.com", "buyer").await;

    for _ in 0..5 {
        let abandoned = tokio::time::timeout(
            Duration::from_millis(20),
            app.login("ada@example.com", PASSWORD),
        )
        .await;
        assert!(abandoned.is_err(), "the login was still running");
    }
    // Let the detached bcrypt work of the abandoned logins finish.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let recorded = app.db.count("login_attempts", doc! {}).await;
    let right = app.login("ada@example.com", PASSWORD).await;
    let wrong = app.login("ada@example.com", "wrong password").await;

    assert_eq!(recorded, 0, "nothing was recorded for the abandoned logins");
    assert_eq!(right.status, StatusCode::OK, "{}", right.text());
    wrong.assert_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_right_password_racing_twenty_wrong_guesses_gets_no_more_than_five_wrong_verdicts() {
    let app = spawn_app_with(&[("BCRYPT_COST", "6")]).await;
    app.register("ada@example.com", "buyer").await;
    let mut guesses = JoinSet::new();
    for i in 0..21 {
        let client = app.client.clone();
        let password = if i == 20 {
            PASSWORD.to_owned()
        } else {
            format!("guess {i}")
        };
        guesses.spawn(async move {
            client
                .post("/users/login")
                .json(&json!({"email": "ada@example.com", "password": password}))
                .send()
                .await
                .status
        });
    }

    let statuses = guesses.join_all().await;

    let wrong_verdicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let signed_in = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let blocked = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    // The right password may win only if it finished before the fifth wrong verdict.
    assert_eq!(wrong_verdicts, 5, "{statuses:?}");
    assert!(signed_in <= 1, "{statuses:?}");
    assert_eq!(wrong_verdicts + signed_in + blocked, 21, "{statuses:?}");
    let after = app.login("ada@example.com", PASSWORD).await;
    after.assert_error(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_guesses_for_a_long_non_ascii_email_are_each_answered_401_or_429() {
    let app = spawn_app().await;
    // No account's email (a non-ASCII local part is refused), yet counted under its own spelling:
    // the first failures race to insert the count's document, and MongoDB cuts the duplicate
    // value in its error message inside a character.
    let email: String = "Ω≈ç√∫˜µ≤≥÷åß∂ƒ©…".chars().cycle().take(100).collect();
    for round in 0..5 {
        let email = format!("{email}{round}@example.com");
        let mut guesses = JoinSet::new();
        for i in 0..8 {
            let (client, email) = (app.client.clone(), email.clone());
            guesses.spawn(async move {
                let response = client
                    .post("/users/login")
                    .json(&json!({"email": email, "password": format!("guess {i}")}))
                    .send()
                    .await;
                (response.status, response.text())
            });
        }

        for (status, body) in guesses.join_all().await {
            assert!(
                status == StatusCode::UNAUTHORIZED || status == StatusCode::TOO_MANY_REQUESTS,
                "{status}: {body}"
            );
        }
    }
}
