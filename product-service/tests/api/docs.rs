//! Health routes, Swagger UI and the OpenAPI document.

use axum::http::StatusCode;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn health_and_swagger_ui_are_served() {
    let app = spawn_app().await;

    let health = app.get("/health").send().await;
    let health_db = app.get("/health/db").send().await;
    let docs = app.get("/docs/").send().await;

    assert_eq!(health.json(), json!({"status": "ok"}));
    assert_eq!(health_db.status, StatusCode::OK);
    assert_eq!(health_db.json()["db"], app.db.db.name());
    assert_eq!(docs.status, StatusCode::OK);
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let app = spawn_app().await;

    let doc = app.get("/openapi.json").send().await.json();

    for (path, method) in [
        ("/products", "post"),
        ("/products", "get"),
        ("/products/{id}", "get"),
        ("/products/{id}", "patch"),
        ("/products/{id}", "delete"),
        ("/products/{id}/stock", "post"),
        ("/categories", "get"),
        ("/health", "get"),
        ("/health/db", "get"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is documented"
        );
    }
    assert!(doc["paths"]["/products"]["post"]["security"].is_array());
    assert!(doc["paths"]["/products/{id}/stock"]["post"]["responses"]["409"].is_object());
    assert!(doc["components"]["schemas"]["ProductResponse"].is_object());
}

#[tokio::test]
async fn every_route_documents_the_shared_error_responses() {
    let app = spawn_app().await;

    let doc = app.get("/openapi.json").send().await.json();

    assert_eq!(
        common::openapi::missing_shared_responses(&doc),
        Vec::<String>::new(),
        "every body lists 400, 413, 415 and 422; every token 401"
    );
    let create = &doc["paths"]["/products"]["post"]["responses"];
    for status in ["400", "401", "403", "413", "415", "422", "503"] {
        assert!(create[status].is_object(), "POST /products lists {status}");
    }
    assert_eq!(
        create["413"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ErrorBody"
    );
}

#[tokio::test]
async fn stock_and_delta_are_documented_as_integers_though_whole_floats_are_accepted() {
    let app = spawn_app().await;

    let doc = app.get("/openapi.json").send().await.json();

    let schemas = &doc["components"]["schemas"];
    let stock = &schemas["CreateProduct"]["properties"]["stock"];
    let delta = &schemas["StockChange"]["properties"]["delta"];
    assert_eq!(stock["type"], "integer", "{stock}");
    assert_eq!(delta["type"], "integer", "{delta}");
}
