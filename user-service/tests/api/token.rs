//! `POST /users/token`: the OAuth2 password grant that Swagger UI's "Authorize" sends, and the
//! OAuth2 password flow every service's OpenAPI document declares for it.

use axum::http::StatusCode;
use common_testing::TestResponse;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, UserSteps, spawn_app, spawn_app_with};

const FORM: &str = "application/x-www-form-urlencoded";

async fn token(app: &TestApp, form: &str) -> TestResponse {
    app.post("/users/token")
        .header("content-type", FORM)
        .body(form.to_owned())
        .send()
        .await
}

#[tokio::test]
async fn the_password_grant_as_swagger_ui_sends_it_answers_an_access_token() {
    let app = spawn_app().await;
    app.register("ada@example.com", "seller").await;

    // Swagger UI's form: the grant, the credentials, an empty scope.
    let response = token(
        &app,
        "grant_type=password&username=Ada%40Example.com&password=correct+horse+battery&scope=",
    )
    .await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let body = response.json();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 30 * 60);
    assert!(body.get("refresh_token").is_none(), "{body}");
    let me = app
        .get("/users/me")
        .bearer(body["access_token"].as_str().unwrap())
        .send()
        .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["role"], "seller");
}

#[tokio::test]
async fn the_grant_type_may_be_left_out_but_not_be_another_grant() {
    let app = spawn_app().await;
    app.register("ada@example.com", "buyer").await;

    let without = token(
        &app,
        "username=ada%40example.com&password=correct+horse+battery",
    )
    .await;
    let other = token(
        &app,
        "grant_type=client_credentials&username=ada%40example.com&password=correct+horse+battery",
    )
    .await;

    assert_eq!(without.status, StatusCode::OK, "{}", without.text());
    assert_eq!(
        other.assert_validation_error(),
        vec![json!(["body", "grant_type"])]
    );
}

#[tokio::test]
async fn wrong_credentials_are_401_and_share_the_login_limit() {
    let app = spawn_app().await;
    app.register("ada@example.com", "buyer").await;

    for _ in 0..3 {
        token(&app, "username=ada%40example.com&password=wrong+password")
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
    }
    for _ in 0..2 {
        app.login("ada@example.com", "wrong password").await;
    }
    let blocked = token(
        &app,
        "username=ada%40example.com&password=correct+horse+battery",
    )
    .await;

    blocked.assert_error(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS");
    assert!(blocked.header("retry-after").is_some());
}

#[tokio::test]
async fn a_missing_field_is_422_and_json_is_415() {
    let app = spawn_app().await;

    let missing = token(&app, "username=ada%40example.com").await;
    let json = app
        .post("/users/token")
        .json(&json!({"username": "ada@example.com", "password": PASSWORD}))
        .send()
        .await;

    assert_eq!(
        missing.assert_validation_error(),
        vec![json!(["body", "password"])]
    );
    json.assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE");
}

#[tokio::test]
async fn the_token_route_is_rate_limited_per_client_like_login() {
    let app = spawn_app_with(&[("RATE_LIMIT_PER_MINUTE", "1"), ("RATE_LIMIT_BURST", "2")]).await;

    for _ in 0..2 {
        token(
            &app,
            "username=nobody%40example.com&password=wrong+password",
        )
        .await;
    }
    let limited = token(
        &app,
        "username=nobody%40example.com&password=wrong+password",
    )
    .await;

    limited.assert_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
}

#[tokio::test]
async fn every_protected_route_offers_the_oauth2_password_flow_at_the_configured_token_url() {
    let app = spawn_app_with(&[(
        "OAUTH2_TOKEN_URL",
        "https://shop.example.com/api/users/token",
    )])
    .await;

    let doc = app.get("/openapi.json").send().await.json();

    let scheme = &doc["components"]["securitySchemes"]["oauth2"];
    assert_eq!(scheme["type"], "oauth2");
    assert_eq!(
        scheme["flows"]["password"]["tokenUrl"],
        "https://shop.example.com/api/users/token"
    );
    let me = &doc["paths"]["/users/me"]["get"]["security"];
    assert_eq!(me, &json!([{"bearer": []}, {"oauth2": []}]));
    // Public routes stay public.
    assert!(
        doc["paths"]["/users/token"]["post"]
            .get("security")
            .is_none()
    );
    assert_eq!(
        doc["paths"]["/users/token"]["post"]["requestBody"]["content"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["application/x-www-form-urlencoded"]
    );
}
