//! Health routes, Swagger UI, the OpenAPI document, request ids and CORS.

use axum::http::StatusCode;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn health_answers_ok() {
    let app = spawn_app().await;

    let response = app.get("/health").send().await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json(), json!({"status": "ok"}));
}

#[tokio::test]
async fn health_db_reports_the_database_and_its_latency() {
    let app = spawn_app().await;

    let response = app.get("/health/db").send().await;

    assert_eq!(response.status, StatusCode::OK);
    let body = response.json();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["db"], app.db.db.name());
    assert!(
        body["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
        "{body}"
    );
}

#[tokio::test]
async fn swagger_ui_is_served_from_the_binary() {
    let app = spawn_app().await;

    let redirect = app.get("/docs").send().await;
    let page = app.get("/docs/").send().await;
    let script = app.get("/docs/swagger-ui-bundle.js").send().await;
    let config = app.get("/docs/swagger-initializer.js").send().await;

    assert!(redirect.status.is_redirection());
    assert_eq!(redirect.header("location"), Some("/docs/"));
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("swagger-ui"));
    assert_eq!(script.status, StatusCode::OK);
    assert!(
        script.body.len() > 100_000,
        "the bundle is embedded, not fetched"
    );
    assert!(config.text().contains("/openapi.json"));
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_with_bearer_auth() {
    let app = spawn_app().await;

    let response = app.get("/openapi.json").send().await;

    assert_eq!(response.status, StatusCode::OK);
    let doc = response.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for (path, method) in [
        ("/users/register", "post"),
        ("/users/login", "post"),
        ("/users/token", "post"),
        ("/users/refresh", "post"),
        ("/users/logout", "post"),
        ("/users/me", "get"),
        ("/users/{id}", "get"),
        ("/users", "get"),
        ("/health", "get"),
        ("/health/db", "get"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is documented"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(
        common_testing::missing_shared_responses(&doc),
        Vec::<String>::new(),
        "every body lists 400, 413, 415 and 422; every token 401"
    );
    let register = &doc["paths"]["/users/register"]["post"]["responses"];
    assert!(register["413"].is_object() && register["503"].is_object());
    assert!(doc["paths"]["/users/me"]["get"]["security"].is_array());
    assert!(doc["paths"]["/users/register"]["post"]["responses"]["409"].is_object());
    for schema in [
        "ErrorBody",
        "ValidationErrorBody",
        "RegisterRequest",
        "TokenResponse",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "schema {schema}"
        );
    }
}

#[tokio::test]
async fn the_request_id_is_generated_or_echoed() {
    let app = spawn_app().await;

    let generated = app.get("/health").send().await;
    let echoed = app
        .get("/health")
        .header("x-request-id", "trace-me-42")
        .send()
        .await;

    let id = generated.header("x-request-id").unwrap();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert_eq!(echoed.header("x-request-id"), Some("trace-me-42"));
}

#[tokio::test]
async fn cors_allows_any_origin_and_exposes_the_paging_headers() {
    let app = spawn_app().await;

    let preflight = app
        .request(axum::http::Method::OPTIONS, "/users/login")
        .header("origin", "https://shop.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await;
    let simple = app
        .get("/health")
        .header("origin", "https://shop.example.com")
        .send()
        .await;

    assert_eq!(preflight.status, StatusCode::OK);
    assert_eq!(preflight.header("access-control-allow-origin"), Some("*"));
    let allowed = preflight
        .header("access-control-allow-headers")
        .unwrap()
        .to_lowercase();
    assert!(allowed.contains("authorization") && allowed.contains("content-type"));
    let exposed = simple
        .header("access-control-expose-headers")
        .unwrap()
        .to_lowercase();
    for header in ["x-total-count", "link", "x-request-id"] {
        assert!(exposed.contains(header), "{header} exposed: {exposed}");
    }
}

#[tokio::test]
async fn the_openapi_document_states_the_constraints_the_service_enforces() {
    let app = spawn_app().await;

    let doc = app.get("/openapi.json").send().await.json();

    let schemas = &doc["components"]["schemas"];
    let register = &schemas["RegisterRequest"]["properties"];
    assert_eq!(register["password"]["minLength"], 8, "{register}");
    assert_eq!(register["password"]["maxLength"], 72, "{register}");
    assert!(
        register["password"]["description"]
            .as_str()
            .unwrap()
            .contains("bytes")
    );
    assert_eq!(register["name"]["maxLength"], 100);
    assert_eq!(register["email"]["format"], "email");
    assert_eq!(register["email"]["maxLength"], 254);
    assert_eq!(
        schemas["Role"]["enum"],
        json!(["buyer", "seller", "admin"]),
        "{}",
        schemas["Role"]
    );
    assert_eq!(
        schemas["LoginRequest"]["properties"]["email"]["maxLength"],
        254
    );
}

/// What the binary prints of itself (`--openapi`, `--settings`) is what it serves and what
/// docs/configuration.md says.
#[tokio::test]
async fn it_describes_itself_as_it_serves_and_as_documented() {
    let app = spawn_app().await;

    let served = app.get("/openapi.json").send().await.json();

    common_testing::assert_describes_itself::<user_service::settings::UserSettings>(
        &user_service::SERVICE,
        &served,
        &app.db.config.oauth2_token_url,
    );
}
