use axum::http::StatusCode;

use crate::helpers::spawn_app;

#[tokio::test]
async fn health_and_docs_are_served_and_every_route_is_described() {
    let app = spawn_app().await;

    let health = app.get("/health/db").send().await;
    let docs = app.get("/docs/").send().await;
    let doc = app.get("/openapi.json").send().await.json();

    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(docs.status, StatusCode::OK);
    for (path, method) in [
        ("/orders", "post"),
        ("/orders", "get"),
        ("/orders/{id}", "get"),
        ("/orders/{id}", "patch"),
        ("/orders/{id}/cancel", "post"),
        ("/orders/{id}/reorder", "post"),
        ("/health", "get"),
        ("/health/db", "get"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is documented"
        );
        if path.starts_with("/orders") {
            assert!(
                doc["paths"][path][method]["security"].is_array(),
                "{method} {path} needs a token"
            );
        }
    }
    assert_eq!(
        common::openapi::missing_shared_responses(&doc),
        Vec::<String>::new(),
        "every body lists 400, 413, 415 and 422; every token 401"
    );
    let status_change = &doc["paths"]["/orders/{id}"]["patch"]["responses"];
    assert!(
        status_change["400"]["description"]
            .as_str()
            .is_some_and(|text| text.contains("INVALID_ID") && text.contains("INVALID_JSON"))
    );
    let parameters = doc["paths"]["/orders"]["post"]["parameters"]
        .as_array()
        .unwrap();
    assert!(
        parameters
            .iter()
            .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header")
    );
}

#[tokio::test]
async fn quantities_are_documented_as_integers_though_whole_floats_are_accepted() {
    let app = spawn_app().await;

    let doc = app.get("/openapi.json").send().await.json();

    let quantity = &doc["components"]["schemas"]["OrderItemRequest"]["properties"]["quantity"];
    assert_eq!(quantity["type"], "integer", "{quantity}");
}
