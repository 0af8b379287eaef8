//! Changing an account: the holder's name and password, closing it, and an admin's changes to
//! its role and standing, each refusing the account's older tokens at once.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use mongodb::bson::doc;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, UserSteps, access, refresh, spawn_app};

/// Waits (up to 2 s) until `token` is refused on `GET /users/me`; how long that took.
async fn refused_within(app: &TestApp, token: &str) -> Duration {
    let started = Instant::now();
    loop {
        let me = app.get("/users/me").bearer(token).send().await;
        if me.status == StatusCode::UNAUTHORIZED {
            return started.elapsed();
        }
        assert_eq!(me.status, StatusCode::OK, "{}", me.text());
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the token still works after 2 s"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn change_password(
    app: &TestApp,
    tokens: &Value,
    current: &str,
    new: &str,
) -> common_testing::TestResponse {
    app.post("/users/me/password")
        .bearer(access(tokens))
        .json(&json!({"current_password": current, "new_password": new}))
        .send()
        .await
}

#[tokio::test]
async fn a_user_changes_their_name_and_sees_email_verified() {
    let app = spawn_app().await;
    let (_, tokens) = app.signed_in("ada@example.com", "buyer").await;

    let renamed = app
        .patch("/users/me")
        .bearer(access(&tokens))
        .json(&json!({"name": "  Ada Lovelace "}))
        .send()
        .await;
    let too_long = app
        .patch("/users/me")
        .bearer(access(&tokens))
        .json(&json!({"name": "x".repeat(101)}))
        .send()
        .await;
    let anonymous = app
        .patch("/users/me")
        .json(&json!({"name": "Eve"}))
        .send()
        .await;

    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text());
    let body = renamed.json();
    assert_eq!(
        (body["name"].clone(), body["email_verified"].clone()),
        (json!("Ada Lovelace"), json!(false))
    );
    assert_eq!(
        too_long.assert_validation_error(),
        [json!(["body", "name"])]
    );
    anonymous.assert_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    let me = app
        .get("/users/me")
        .bearer(access(&tokens))
        .send()
        .await
        .json();
    assert_eq!(me["name"], "Ada Lovelace");
}

#[tokio::test]
async fn a_password_change_revokes_every_session_and_refuses_older_tokens_at_once() {
    let app = spawn_app().await;
    let (_, tokens) = app.signed_in("ada@example.com", "buyer").await;
    let other_session = app.login("ada@example.com", PASSWORD).await.json();

    let wrong = change_password(&app, &tokens, "not the password", "a brand new password").await;
    let short = change_password(&app, &tokens, PASSWORD, "7 bytes").await;
    let long = change_password(&app, &tokens, PASSWORD, &"x".repeat(73)).await;
    let changed = change_password(&app, &tokens, PASSWORD, "a brand new password").await;

    wrong.assert_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
    assert_eq!(
        short.assert_validation_error(),
        [json!(["body", "new_password"])]
    );
    assert_eq!(
        long.assert_validation_error(),
        [json!(["body", "new_password"])]
    );
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.text());
    refused_within(&app, access(&tokens)).await;
    refused_within(&app, access(&other_session)).await;
    for session in [&tokens, &other_session] {
        let refreshed = app
            .post("/users/refresh")
            .json(&json!({"refresh_token": refresh(session)}))
            .send()
            .await;
        assert_eq!(refreshed.status, StatusCode::UNAUTHORIZED);
    }
    app.login("ada@example.com", PASSWORD)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
    let fresh = app.login("ada@example.com", "a brand new password").await;
    assert_eq!(fresh.status, StatusCode::OK);
    let me = app
        .get("/users/me")
        .bearer(access(&fresh.json()))
        .send()
        .await;
    assert_eq!(
        me.status,
        StatusCode::OK,
        "a token issued after the change works at once"
    );
}

#[tokio::test]
async fn wrong_current_passwords_count_as_failed_logins() {
    let app = spawn_app().await;
    let (_, tokens) = app.signed_in("ada@example.com", "buyer").await;

    for _ in 0..5 {
        let wrong =
            change_password(&app, &tokens, "not the password", "a brand new password").await;
        wrong.assert_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
    }
    let limited = change_password(&app, &tokens, PASSWORD, "a brand new password").await;

    limited.assert_error(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS");
    assert!(limited.header("retry-after").is_some());
    app.login("ada@example.com", PASSWORD)
        .await
        .assert_error(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS");
}

#[tokio::test]
async fn an_admin_demotes_a_seller_whose_old_token_is_refused_and_whose_refresh_is_a_buyer() {
    let app = spawn_app().await;
    let (_, admin) = app.signed_in_admin().await;
    let (seller_id, seller) = app.signed_in("sam@example.com", "seller").await;

    let demoted = app
        .patch(&format!("/users/{seller_id}"))
        .bearer(access(&admin))
        .json(&json!({"role": "buyer"}))
        .send()
        .await;

    assert_eq!(demoted.status, StatusCode::OK, "{}", demoted.text());
    assert_eq!(demoted.json()["role"], "buyer");
    refused_within(&app, access(&seller)).await;
    let refreshed = app
        .post("/users/refresh")
        .json(&json!({"refresh_token": refresh(&seller)}))
        .send()
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text());
    let claims = claims_of(access(&refreshed.json()));
    assert_eq!(claims["role"], "buyer");
}

#[tokio::test]
async fn a_disabled_account_cannot_sign_in_refresh_or_use_its_tokens_until_enabled() {
    let app = spawn_app().await;
    let (_, admin) = app.signed_in_admin().await;
    let (buyer_id, buyer) = app.signed_in("bob@example.com", "buyer").await;

    let disabled = app
        .patch(&format!("/users/{buyer_id}"))
        .bearer(access(&admin))
        .json(&json!({"disabled": true}))
        .send()
        .await;

    assert_eq!(disabled.json()["disabled"], true);
    refused_within(&app, access(&buyer)).await;
    app.login("bob@example.com", PASSWORD)
        .await
        .assert_error(StatusCode::FORBIDDEN, "ACCOUNT_DISABLED");
    app.login("bob@example.com", "a wrong password")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
    let refreshed = app
        .post("/users/refresh")
        .json(&json!({"refresh_token": refresh(&buyer)}))
        .send()
        .await;
    assert_eq!(
        refreshed.status,
        StatusCode::UNAUTHORIZED,
        "a disable revokes refresh tokens"
    );

    let enabled = app
        .patch(&format!("/users/{buyer_id}"))
        .bearer(access(&admin))
        .json(&json!({"disabled": false}))
        .send()
        .await;
    assert_eq!(enabled.json()["disabled"], false);
    assert_eq!(
        app.login("bob@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn admin_changes_refuse_non_admins_oneself_the_last_admin_and_unknown_roles() {
    let app = spawn_app().await;
    let (admin_id, admin) = app.signed_in_admin().await;
    let (buyer_id, buyer) = app.signed_in("bob@example.com", "buyer").await;
    let patch = |token: String, id: String, body: Value| {
        let app = &app;
        async move {
            app.patch(&format!("/users/{id}"))
                .bearer(&token)
                .json(&body)
                .send()
                .await
        }
    };

    let by_buyer = patch(
        access(&buyer).to_owned(),
        buyer_id.clone(),
        json!({"role": "seller"}),
    )
    .await;
    let on_self = patch(
        access(&admin).to_owned(),
        admin_id.clone(),
        json!({"role": "buyer"}),
    )
    .await;
    let superuser = patch(
        access(&admin).to_owned(),
        buyer_id.clone(),
        json!({"role": "superuser"}),
    )
    .await;
    let nothing = patch(access(&admin).to_owned(), buyer_id.clone(), json!({})).await;
    let unknown = patch(
        access(&admin).to_owned(),
        "6560b5f2a1b2c3d4e5f60718".into(),
        json!({"disabled": true}),
    )
    .await;

    by_buyer.assert_error(StatusCode::FORBIDDEN, "FORBIDDEN");
    on_self.assert_error(StatusCode::FORBIDDEN, "FORBIDDEN");
    superuser.assert_validation_error();
    nothing.assert_validation_error();
    unknown.assert_error(StatusCode::NOT_FOUND, "USER_NOT_FOUND");

    // With a second admin, the first may be demoted; the one left is then the last.
    let promoted = patch(
        access(&admin).to_owned(),
        buyer_id.clone(),
        json!({"role": "admin"}),
    )
    .await;
    assert_eq!(promoted.json()["role"], "admin");
    let second = app.login("bob@example.com", PASSWORD).await.json();
    let demote_first = patch(
        access(&second).to_owned(),
        admin_id.clone(),
        json!({"role": "buyer"}),
    )
    .await;
    assert_eq!(
        demote_first.status,
        StatusCode::OK,
        "{}",
        demote_first.text()
    );
    let users = app.db.count("users", doc! { "role": "admin" }).await;
    assert_eq!(users, 1);
    // Bob is the last admin now: nobody can demote or disable him (he cannot either: oneself).
    let own = patch(
        access(&second).to_owned(),
        buyer_id.clone(),
        json!({"disabled": true}),
    )
    .await;
    own.assert_error(StatusCode::FORBIDDEN, "FORBIDDEN");
}

#[tokio::test]
async fn two_admins_demoting_each_other_at_once_leave_one_admin() {
    let app = spawn_app().await;
    let (admin_id, admin) = app.signed_in_admin().await;
    let (other_id, _) = app.signed_in("eve@example.com", "buyer").await;
    let promoted = app
        .patch(&format!("/users/{other_id}"))
        .bearer(access(&admin))
        .json(&json!({"role": "admin"}))
        .send()
        .await;
    assert_eq!(promoted.status, StatusCode::OK);
    let other = app.login("eve@example.com", PASSWORD).await.json();

    let (one, two) = tokio::join!(
        app.patch(&format!("/users/{other_id}"))
            .bearer(access(&admin))
            .json(&json!({"role": "buyer"}))
            .send(),
        app.patch(&format!("/users/{admin_id}"))
            .bearer(access(&other))
            .json(&json!({"role": "buyer"}))
            .send(),
    );

    let statuses = [one.status, two.status];
    assert!(statuses.contains(&StatusCode::OK), "{statuses:?}");
    assert!(statuses.contains(&StatusCode::FORBIDDEN), "{statuses:?}");
    assert_eq!(app.db.count("users", doc! { "role": "admin" }).await, 1);
}

#[tokio::test]
async fn closing_an_account_frees_its_email_refuses_its_tokens_and_records_user_deleted() {
    let app = spawn_app().await;
    let (id, tokens) = app.signed_in("ada@example.com", "buyer").await;

    let wrong = app
        .delete("/users/me")
        .bearer(access(&tokens))
        .json(&json!({"password": "not the password"}))
        .send()
        .await;
    let closed = app
        .delete("/users/me")
        .bearer(access(&tokens))
        .json(&json!({"password": PASSWORD}))
        .send()
        .await;

    wrong.assert_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
    assert_eq!(closed.status, StatusCode::NO_CONTENT, "{}", closed.text());
    refused_within(&app, access(&tokens)).await;
    let refreshed = app
        .post("/users/refresh")
        .json(&json!({"refresh_token": refresh(&tokens)}))
        .send()
        .await;
    assert_eq!(refreshed.status, StatusCode::UNAUTHORIZED);
    app.login("ada@example.com", PASSWORD)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
    let again = app.register("ada@example.com", "buyer").await;
    assert_ne!(again["id"], id);
    let events = app.db.wait_for_events(&id, 2).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["user.registered", "user.deleted"]);
    assert_eq!(events[1].data["email"], "ada@example.com");
    let stored = &app
        .db
        .documents(
            "users",
            doc! { "_id": mongodb::bson::oid::ObjectId::parse_str(&id).unwrap() },
        )
        .await[0];
    for gone in ["password_hash", "verification", "mail_outbox"] {
        assert!(!stored.contains_key(gone), "{gone} kept: {stored}");
    }
    assert_eq!(stored.get_str("name").unwrap(), "");
}

/// The claims of an access token, read without checking its signature.
fn claims_of(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}
