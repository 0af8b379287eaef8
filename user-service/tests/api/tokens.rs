//! Refresh tokens (rotation, reuse detection, racing refreshes, logout) and access tokens (their
//! claims, and every kind of bad token answered 401 with `WWW-Authenticate`).

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use common_api::auth::{AccessClaims, Role};
use common_testing::TEST_JWT_SECRET;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;
use tokio::task::JoinSet;

use crate::helpers::{UserSteps, access, refresh, spawn_app};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(sub: &str, typ: &str, exp: u64) -> AccessClaims {
    AccessClaims {
        sub: sub.to_owned(),
        role: Role::Admin,
        typ: typ.to_owned(),
        iat: now(),
        exp,
        jti: "test".to_owned(),
        email_verified: false,
    }
}

fn sign(claims: &AccessClaims, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn refresh_issues_new_tokens_and_spends_the_old_one() {
    let app = spawn_app().await;
    let (_, tokens) = app.signed_in("ada@example.com", "buyer").await;

    let response = app
        .post("/users/refresh")
        .json(&json!({"refresh_token": refresh(&tokens)}))
        .send()
        .await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let renewed = response.json();
    assert_eq!(renewed["token_type"], "bearer");
    assert_ne!(refresh(&renewed), refresh(&tokens));
    let me = app.get("/users/me").bearer(access(&renewed)).send().await;
    assert_eq!(me.status, StatusCode::OK);
}

#[tokio::test]
async fn a_spent_refresh_token_presented_again_revokes_every_refresh_token_of_the_user() {
    let app = spawn_app().await;
    let (_, first_session) = app.signed_in("ada@example.com", "buyer").await;
    let second_session = app
        .login("ada@example.com", crate::helpers::PASSWORD)
        .await
        .json();
    let renewed = app
        .post("/users/refresh")
        .json(&json!({"refresh_token": refresh(&first_session)}))
        .send()
        .await
        .json();

    let replay = app
        .post("/users/refresh")
        .json(&json!({"refresh_token": refresh(&first_session)}))
        .send()
        .await;

    replay.assert_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    for token in [refresh(&renewed), refresh(&second_session)] {
        let response = app
            .post("/users/refresh")
            .json(&json!({"refresh_token": token}))
            .send()
            .await;
        response.assert_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    }
}

#[tokio::test]
async fn racing_refreshes_with_one_token_leave_no_usable_refresh_token() {
    let app = spawn_app().await;
    let (_, tokens) = app.signed_in("ada@example.com", "buyer").await;
    let body = json!({"refresh_token": refresh(&tokens)});
    let mut requests = JoinSet::new();
    for _ in 0..8 {
        let (client, body) = (app.client.clone(), body.clone());
        requests.spawn(async move { client.post("/users/refresh").json(&body).send().await });
    }

    let responses = requests.join_all().await;

    let renewed: Vec<_> = responses
        .iter()
        .filter(|response| response.status == StatusCode::OK)
        .collect();
    assert_eq!(renewed.len(), 1, "exactly one refresh spends the token");
    // The others saw a spent token: a reuse, which revokes every refresh token of the user,
    // including the one just issued to the winner, whatever the interleaving.
    let successor = app
        .post("/users/refresh")
        .json(&json!({"refresh_token": refresh(&renewed[0].json())}))
        .send()
        .await;
    successor.assert_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
}

#[tokio::test]
async fn logout_makes_the_refresh_token_useless() {
    let app = spawn_app().await;
    let (_, tokens) = app.signed_in("ada@example.com", "buyer").await;

    let logout = app
        .post("/users/logout")
        .json(&json!({"refresh_token": refresh(&tokens)}))
        .send()
        .await;
    let refresh_after = app
        .post("/users/refresh")
        .json(&json!({"refresh_token": refresh(&tokens)}))
        .send()
        .await;
    let logout_again = app
        .post("/users/logout")
        .json(&json!({"refresh_token": refresh(&tokens)}))
        .send()
        .await;

    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    assert!(logout.body.is_empty());
    refresh_after.assert_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    logout_again.assert_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
}

#[tokio::test]
async fn an_unknown_refresh_token_is_401() {
    let app = spawn_app().await;

    for route in ["/users/refresh", "/users/logout"] {
        let response = app
            .post(route)
            .json(&json!({"refresh_token": "made-up"}))
            .send()
            .await;
        response.assert_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
        assert_eq!(response.header("www-authenticate"), Some("Bearer"));
    }
}

#[tokio::test]
async fn bad_access_tokens_are_401_with_www_authenticate() {
    let app = spawn_app().await;
    let (id, tokens) = app.signed_in("ada@example.com", "buyer").await;
    let later = now() + 600;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload =
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(&id, "access", later)).unwrap());
    let mut tampered = access(&tokens).to_owned();
    tampered.pop();
    tampered.push(if access(&tokens).ends_with('A') {
        'B'
    } else {
        'A'
    });
    let cases = [
        (
            "another secret",
            format!(
                "Bearer {}",
                sign(
                    &claims(&id, "access", later),
                    "another-secret-another-secret-xx"
                )
            ),
        ),
        ("alg none", format!("Bearer {header}.{payload}.")),
        (
            "expired",
            format!(
                "Bearer {}",
                sign(&claims(&id, "access", now() - 3600), TEST_JWT_SECRET)
            ),
        ),
        (
            "wrong type",
            format!(
                "Bearer {}",
                sign(&claims(&id, "refresh", later), TEST_JWT_SECRET)
            ),
        ),
        ("refresh token", format!("Bearer {}", refresh(&tokens))),
        ("tampered", format!("Bearer {tampered}")),
        ("malformed", "Bearer not.a.jwt".to_owned()),
        ("other scheme", format!("Basic {}", access(&tokens))),
        ("no token", "Bearer ".to_owned()),
    ];

    for (case, authorization) in cases {
        let response = app
            .get("/users/me")
            .header("authorization", authorization)
            .send()
            .await;

        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{case}");
        response.assert_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
        assert_eq!(
            response.header("www-authenticate"),
            Some("Bearer"),
            "{case}"
        );
    }
    let missing = app.get("/users/me").send().await;
    missing.assert_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
}

#[tokio::test]
async fn access_tokens_carry_the_contract_claims() {
    let app = spawn_app().await;
    let (id, tokens) = app.signed_in("sam@example.com", "seller").await;

    let payload = access(&tokens).split('.').nth(1).unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();

    assert_eq!(claims["sub"], id);
    assert_eq!(claims["role"], "seller");
    assert_eq!(claims["typ"], "access");
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        1800
    );
    assert!(claims["jti"].as_str().is_some_and(|jti| !jti.is_empty()));
}
