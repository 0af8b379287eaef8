//! Reading accounts (`/users/me`, `/users/{id}`, the admins' paged list) and the admin account
//! made at startup from `ADMIN_EMAIL` and `ADMIN_PASSWORD`.

use axum::http::StatusCode;
use mongodb::bson::{Document, doc};
use serde_json::json;

use crate::helpers::{PASSWORD, UserSteps, access, spawn_app, state_on};

#[tokio::test]
async fn me_returns_the_callers_account_with_its_creation_time() {
    let app = spawn_app().await;
    let (id, tokens) = app.signed_in("ada@example.com", "buyer").await;

    let response = app.get("/users/me").bearer(access(&tokens)).send().await;

    assert_eq!(response.status, StatusCode::OK);
    let body = response.json();
    assert_eq!(body["id"], id);
    assert_eq!(body["email"], "ada@example.com");
    assert_eq!(body["role"], "buyer");
    let created_at = body["created_at"].as_str().unwrap();
    let shape: String = created_at
        .chars()
        .map(|c| if c.is_ascii_digit() { '9' } else { c })
        .collect();
    assert_eq!(shape, "9999-99-99T99:99:99Z", "{created_at}");
    assert_eq!(
        (body["email_verified"].clone(), body["disabled"].clone()),
        (json!(false), json!(false))
    );
    assert_eq!(
        body.as_object().unwrap().len(),
        7,
        "no other fields: {body}"
    );
}

#[tokio::test]
async fn a_user_sees_their_own_account_but_not_anothers() {
    let app = spawn_app().await;
    let (ada, ada_tokens) = app.signed_in("ada@example.com", "buyer").await;
    let (bob, _) = app.signed_in("bob@example.com", "buyer").await;

    let own = app
        .get(&format!("/users/{ada}"))
        .bearer(access(&ada_tokens))
        .send()
        .await;
    let other = app
        .get(&format!("/users/{bob}"))
        .bearer(access(&ada_tokens))
        .send()
        .await;

    assert_eq!(own.status, StatusCode::OK);
    assert_eq!(own.json()["email"], "ada@example.com");
    other.assert_error(StatusCode::FORBIDDEN, "FORBIDDEN");
}

#[tokio::test]
async fn an_admin_sees_any_account_and_gets_404_for_an_unknown_one() {
    let app = spawn_app().await;
    let (bob, _) = app.signed_in("bob@example.com", "buyer").await;
    let (_, admin) = app.signed_in_admin().await;

    let found = app
        .get(&format!("/users/{bob}"))
        .bearer(access(&admin))
        .send()
        .await;
    let missing = app
        .get("/users/0123456789abcdef01234567")
        .bearer(access(&admin))
        .send()
        .await;

    assert_eq!(found.status, StatusCode::OK);
    assert_eq!(found.json()["email"], "bob@example.com");
    let body = missing.assert_error(StatusCode::NOT_FOUND, "USER_NOT_FOUND");
    assert_eq!(body["detail"], "User not found");
}

#[tokio::test]
async fn a_malformed_user_id_is_400_invalid_id() {
    let app = spawn_app().await;
    let (_, admin) = app.signed_in_admin().await;

    for id in [
        "abc",
        "0123456789abcdef0123456z",
        "0123456789abcdef012345678",
    ] {
        let response = app
            .get(&format!("/users/{id}"))
            .bearer(access(&admin))
            .send()
            .await;

        let body = response.assert_error(StatusCode::BAD_REQUEST, "INVALID_ID");
        assert_eq!(body["detail"], "Invalid user id");
    }
}

#[tokio::test]
async fn user_routes_need_a_token() {
    let app = spawn_app().await;

    for route in ["/users/me", "/users/0123456789abcdef01234567", "/users"] {
        let response = app.get(route).send().await;
        response.assert_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    }
}

#[tokio::test]
async fn only_admins_list_users() {
    let app = spawn_app().await;
    let (_, buyer) = app.signed_in("ada@example.com", "buyer").await;
    let (_, seller) = app.signed_in("sam@example.com", "seller").await;

    for tokens in [buyer, seller] {
        let response = app.get("/users").bearer(access(&tokens)).send().await;
        response.assert_error(StatusCode::FORBIDDEN, "FORBIDDEN");
    }
}

#[tokio::test]
async fn the_user_list_is_paged_oldest_first_without_gaps_or_repeats() {
    let app = spawn_app().await;
    let (_, admin) = app.signed_in_admin().await;
    for i in 0..6 {
        app.register(&format!("user{i}@example.com"), "buyer").await;
    }

    let mut seen = Vec::new();
    let mut next = Some("/users?limit=3&offset=0".to_owned());
    while let Some(uri) = next {
        let response = app.get(&uri).bearer(access(&admin)).send().await;
        assert_eq!(response.status, StatusCode::OK);
        assert_eq!(response.header("x-total-count"), Some("7"));
        seen.extend(
            response
                .json()
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["email"].as_str().unwrap().to_owned()),
        );
        next = response.header("link").and_then(|link| {
            link.split(", ")
                .find(|part| part.ends_with("rel=\"next\""))
                .map(|part| part[1..part.find('>').unwrap()].to_owned())
        });
    }

    let mut expected = vec!["admin@example.com".to_owned()];
    expected.extend((0..6).map(|i| format!("user{i}@example.com")));
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn the_user_list_filters_by_email_in_any_case() {
    let app = spawn_app().await;
    let (_, admin) = app.signed_in_admin().await;
    app.register("ada@example.com", "buyer").await;
    app.register("bob@example.com", "buyer").await;

    let response = app
        .get("/users?email=ADA%40example.com")
        .bearer(access(&admin))
        .send()
        .await;
    let unfiltered = app.get("/users?email=").bearer(access(&admin)).send().await;

    assert_eq!(response.status, StatusCode::OK);
    let users = response.json();
    assert_eq!(users.as_array().unwrap().len(), 1);
    assert_eq!(users[0]["email"], "ada@example.com");
    assert_eq!(response.header("x-total-count"), Some("1"));
    assert!(users[0].get("password_hash").is_none());
    assert_eq!(
        unfiltered.header("x-total-count"),
        Some("3"),
        "an empty email is no filter: the admin and both users"
    );
}

#[tokio::test]
async fn out_of_range_paging_is_422_at_the_query_parameter() {
    let app = spawn_app().await;
    let (_, admin) = app.signed_in_admin().await;

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("offset=-1", "offset"),
        ("limit=abc", "limit"),
    ] {
        let response = app
            .get(&format!("/users?{query}"))
            .bearer(access(&admin))
            .send()
            .await;

        assert_eq!(
            response.assert_validation_error(),
            vec![json!(["query", field])],
            "{query}"
        );
    }
}

#[tokio::test]
async fn the_admin_account_is_created_once_and_can_sign_in() {
    let app = spawn_app().await;

    app.state
        .accounts
        .ensure_admin("Root@Example.com", PASSWORD)
        .await
        .unwrap();
    app.state
        .accounts
        .ensure_admin("root@example.com", PASSWORD)
        .await
        .unwrap();

    let admins = app
        .db
        .count(
            "users",
            doc! { "email": "root@example.com", "role": "admin" },
        )
        .await;
    assert_eq!(admins, 1);
    let tokens = app.login("root@example.com", PASSWORD).await.json();
    let list = app.get("/users").bearer(access(&tokens)).send().await;
    assert_eq!(list.status, StatusCode::OK);
}

#[tokio::test]
async fn two_replicas_making_the_admin_account_at_once_make_one_and_both_start() {
    let app = spawn_app().await;
    let other = state_on(&app.db).await;

    let (first, second) = tokio::join!(
        app.state
            .accounts
            .ensure_admin("root@example.com", PASSWORD),
        other.accounts.ensure_admin("root@example.com", PASSWORD),
    );

    first.unwrap();
    second.unwrap();
    let admins = app
        .db
        .count(
            "users",
            doc! { "email": "root@example.com", "role": "admin" },
        )
        .await;
    assert_eq!(admins, 1);
}

#[tokio::test]
async fn an_existing_account_becomes_admin_only_with_the_admin_password() {
    let app = spawn_app().await;
    app.register("squatter@example.com", "buyer").await;
    app.register("owner@example.com", "buyer").await;

    app.state
        .accounts
        .ensure_admin("squatter@example.com", "the real admin password")
        .await
        .unwrap();
    app.state
        .accounts
        .ensure_admin("owner@example.com", PASSWORD)
        .await
        .unwrap();

    let role = |email: &'static str| {
        let users = app.db.db.collection::<Document>("users");
        async move {
            let user = users
                .find_one(doc! { "email": email })
                .await
                .unwrap()
                .unwrap();
            user.get_str("role").unwrap().to_owned()
        }
    };
    assert_eq!(role("squatter@example.com").await, "buyer");
    assert_eq!(role("owner@example.com").await, "admin");
}

#[tokio::test]
async fn an_invalid_admin_setting_is_refused_by_name() {
    let app = spawn_app().await;

    let bad_email = app
        .state
        .accounts
        .ensure_admin("root", PASSWORD)
        .await
        .unwrap_err();
    let bad_password = app
        .state
        .accounts
        .ensure_admin("root@example.com", "short")
        .await
        .unwrap_err();

    assert!(
        bad_email.to_string().starts_with("ADMIN_EMAIL"),
        "{bad_email}"
    );
    assert!(
        bad_password.to_string().starts_with("ADMIN_PASSWORD"),
        "{bad_password}"
    );
}
