//! Bad requests in general: every one answered in the contract's error shape, never a 500.

use axum::http::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, UserSteps, spawn_app};

#[tokio::test]
async fn malformed_json_is_400_invalid_json() {
    let app = spawn_app().await;

    for body in [
        "{\"email\": \"ada@example.com\", ",
        "{'email': 'a'}",
        "{\"email\": NaN}",
        "",
    ] {
        let response = app
            .post("/users/register")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;

        response.assert_error(StatusCode::BAD_REQUEST, "INVALID_JSON");
    }
}

#[tokio::test]
async fn a_body_without_a_json_content_type_is_415() {
    let app = spawn_app().await;
    let body = json!({"email": "ada@example.com", "password": PASSWORD}).to_string();

    let plain = app
        .post("/users/register")
        .header("content-type", "text/plain")
        .body(body.clone())
        .send()
        .await;
    let missing = app.post("/users/register").body(body).send().await;

    plain.assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE");
    missing.assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE");
}

#[tokio::test]
async fn a_json_content_type_with_a_charset_is_accepted() {
    let app = spawn_app().await;

    let response = app
        .post("/users/register")
        .header("content-type", "application/json; charset=utf-8")
        .body(json!({"email": "ada@example.com", "password": PASSWORD}).to_string())
        .send()
        .await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
}

#[tokio::test]
async fn a_1_mib_body_is_413() {
    let app = spawn_app().await;
    let name = "n".repeat(1024 * 1024);

    let response = app
        .post("/users/register")
        .json(&json!({"email": "ada@example.com", "password": PASSWORD, "name": name}))
        .send()
        .await;

    response.assert_error(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn an_unknown_route_is_404_in_the_error_shape() {
    let app = spawn_app().await;

    let response = app.get("/no/such/route").send().await;

    let body = response.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(body["detail"], "No such route");
}

#[tokio::test]
async fn a_wrong_method_is_405_in_the_error_shape() {
    let app = spawn_app().await;

    let response = app.delete("/users/register").send().await;

    response.assert_error(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn a_path_that_is_not_utf8_is_answered_in_the_error_shape() {
    let app = spawn_app().await;
    let (_, tokens) = app.signed_in("ada@example.com", "buyer").await;

    let response = app
        .get("/users/%FF%FE")
        .bearer(tokens["access_token"].as_str().unwrap())
        .send()
        .await;

    assert!(response.status.is_client_error(), "{}", response.status);
    assert!(response.json()["error_code"].is_string());
}
