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
        common_testing::missing_shared_responses(&doc),
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

#[tokio::test]
async fn the_openapi_document_states_the_constraints_the_service_enforces() {
    let app = spawn_app().await;

    let doc = app.get("/openapi.json").send().await.json();

    let schemas = &doc["components"]["schemas"];
    let create = &schemas["CreateOrder"]["properties"];
    assert_eq!(create["items"]["minItems"], 1, "{create}");
    assert_eq!(create["items"]["maxItems"], 100, "{create}");
    assert_eq!(
        create["user_id"]["pattern"], "^[0-9a-fA-F]{24}$",
        "{create}"
    );
    let item = &schemas["OrderItemRequest"]["properties"];
    assert_eq!(item["product_id"]["pattern"], "^[0-9a-fA-F]{24}$");
    assert_eq!(item["quantity"]["minimum"], 1.0, "{item}");
    assert_eq!(item["quantity"]["maximum"], 10000.0, "{item}");
    assert_eq!(schemas["StatusChange"]["minProperties"], 1);
    for path in ["/orders", "/orders/{id}/reorder"] {
        let parameters = doc["paths"][path]["post"]["parameters"].as_array().unwrap();
        let key = parameters
            .iter()
            .find(|p| p["name"] == "Idempotency-Key")
            .unwrap();
        assert_eq!(key["in"], "header");
        assert_eq!(
            key["schema"]["pattern"], "^[\\x21-\\x7E]{1,255}$",
            "{path}: {key}"
        );
    }
    for (path, method) in [
        ("/orders/{id}", "get"),
        ("/orders/{id}", "patch"),
        ("/orders/{id}/cancel", "post"),
        ("/orders/{id}/reorder", "post"),
    ] {
        let parameters = doc["paths"][path][method]["parameters"].as_array().unwrap();
        let id = parameters.iter().find(|p| p["name"] == "id").unwrap();
        assert_eq!(
            id["schema"]["pattern"], "^[0-9a-fA-F]{24}$",
            "{method} {path}: {id}"
        );
    }
    // `?status=` is no filter, so the empty string is a documented value.
    let list = doc["paths"]["/orders"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let status = &list.iter().find(|p| p["name"] == "status").unwrap()["schema"];
    assert_eq!(
        status["anyOf"][0]["$ref"], "#/components/schemas/OrderStatus",
        "{status}"
    );
    assert_eq!(
        status["anyOf"][1]["enum"],
        serde_json::json!([""]),
        "{status}"
    );
}

/// What the binary prints of itself (`--openapi`, `--settings`) is what it serves and what
/// docs/configuration.md says.
#[tokio::test]
async fn it_describes_itself_as_it_serves_and_as_documented() {
    let app = spawn_app().await;

    let served = app.get("/openapi.json").send().await.json();

    common_testing::assert_describes_itself::<order_service::OrderSettings>(
        &order_service::SERVICE,
        &served,
        &app.db.config.oauth2_token_url,
    );
}
