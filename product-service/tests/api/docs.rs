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
        ("/products/{id}/image", "put"),
        ("/products/{id}/image", "get"),
        ("/products/{id}/image", "delete"),
        ("/inventory", "get"),
        ("/categories", "post"),
        ("/categories/{slug}", "patch"),
        ("/categories/{slug}", "delete"),
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
        common_testing::missing_shared_responses(&doc),
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
    let delta = &schemas["StockChange"]["properties"]["delta"]["anyOf"];
    assert_eq!(stock["type"], "integer", "{stock}");
    assert_eq!(delta[0]["type"], "integer", "{delta}");
    assert_eq!(delta[1]["type"], "integer", "{delta}");
}

#[tokio::test]
async fn the_openapi_document_states_the_constraints_the_service_enforces() {
    let app = spawn_app().await;

    let doc = app.get("/openapi.json").send().await.json();

    let schemas = &doc["components"]["schemas"];
    let create = &schemas["CreateProduct"]["properties"];
    assert_eq!(create["name"]["minLength"], 1, "{create}");
    assert_eq!(create["name"]["maxLength"], 200, "{create}");
    assert_eq!(create["description"]["maxLength"], 5000);
    assert_eq!(create["category"]["maxLength"], 100);
    assert_eq!(create["price"]["minimum"], 0.0);
    assert_eq!(create["price"]["maximum"], 1e9);
    assert_eq!(create["stock"]["minimum"], 0.0);
    assert_eq!(create["stock"]["maximum"], 1e9);
    let update = &schemas["UpdateProduct"];
    let fields = &update["allOf"][0];
    assert_eq!(fields["minProperties"], 1, "{update}");
    assert_eq!(fields["properties"]["name"]["maxLength"], 200, "{update}");
    // A `null` field counts as absent; at least one field must have a value.
    assert_eq!(
        fields["properties"]["price"]["type"],
        json!(["number", "null"]),
        "{update}"
    );
    let named: Vec<_> = update["allOf"][1]["anyOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|one| {
            let field = one["required"][0].as_str().unwrap().to_owned();
            (field.clone(), one["properties"][&field]["type"].clone())
        })
        .collect();
    assert_eq!(
        named,
        [
            ("name".to_owned(), json!("string")),
            ("description".to_owned(), json!("string")),
            ("price".to_owned(), json!("number")),
            ("category".to_owned(), json!("string"))
        ]
    );
    // Two ranges, since 0 is refused.
    let delta = &schemas["StockChange"]["properties"]["delta"]["anyOf"];
    assert_eq!(delta[0]["minimum"], -1e9, "{delta}");
    assert_eq!(delta[0]["maximum"], -1, "{delta}");
    assert_eq!(delta[1]["minimum"], 1, "{delta}");
    assert_eq!(delta[1]["maximum"], 1e9, "{delta}");
    for (path, method) in [
        ("/products/{id}", "get"),
        ("/products/{id}", "patch"),
        ("/products/{id}", "delete"),
        ("/products/{id}/stock", "post"),
    ] {
        let id = &doc["paths"][path][method]["parameters"][0];
        assert_eq!(id["name"], "id");
        assert_eq!(
            id["schema"]["pattern"], "^[0-9a-fA-F]{24}$",
            "{method} {path}: {id}"
        );
    }
    let list = doc["paths"]["/products"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let param = |name: &str| list.iter().find(|p| p["name"] == name).unwrap().clone();
    assert_eq!(param("q")["schema"]["pattern"], "^[^\\u0000]*$");
    assert_eq!(param("q")["schema"]["maxLength"], 200);
    assert!(param("seller_id")["schema"]["pattern"].is_string());
    assert_eq!(param("limit")["schema"]["maximum"], 1000);
    // An empty filter is no filter, so the empty string is a documented value.
    for name in ["min_price", "max_price", "in_stock", "sort"] {
        let schema = &param(name)["schema"];
        assert_eq!(schema["anyOf"][1]["enum"], json!([""]), "{name}: {schema}");
    }
    assert_eq!(param("min_price")["schema"]["anyOf"][0]["type"], "number");
    assert_eq!(
        param("sort")["schema"]["anyOf"][0]["enum"],
        json!(["created_at", "-created_at", "price", "-price", "name"])
    );
}

#[tokio::test]
async fn the_image_routes_are_documented_with_their_formats_and_headers() {
    let app = spawn_app().await;

    let doc = app.get("/openapi.json").send().await.json();

    let upload = &doc["paths"]["/products/{id}/image"]["put"];
    let binary = &doc["components"]["schemas"]["ImageBytes"];
    assert_eq!(binary["type"], "string", "{binary}");
    assert_eq!(binary["format"], "binary", "{binary}");
    for mime in ["image/png", "image/jpeg", "image/webp"] {
        let schema = &upload["requestBody"]["content"][mime]["schema"];
        assert_eq!(
            schema["$ref"], "#/components/schemas/ImageBytes",
            "{mime}: {upload}"
        );
    }
    for status in [
        "200", "400", "401", "403", "404", "408", "413", "415", "422", "503",
    ] {
        assert!(
            upload["responses"][status].is_object(),
            "PUT image lists {status}"
        );
    }
    let fetch = &doc["paths"]["/products/{id}/image"]["get"]["responses"];
    for header in ["ETag", "Cache-Control", "Content-Length"] {
        assert!(
            fetch["200"]["headers"][header].is_object(),
            "200 has {header}"
        );
    }
    assert!(fetch["304"]["headers"]["ETag"].is_object());
    assert!(fetch["404"].is_object());
    let image_url = &doc["components"]["schemas"]["ProductResponse"]["properties"]["image_url"];
    assert!(image_url.is_object(), "{image_url}");
}

#[tokio::test]
async fn the_inventory_route_documents_below_as_a_whole_number_from_0() {
    let app = spawn_app().await;

    let doc = app.get("/openapi.json").send().await.json();

    let inventory = &doc["paths"]["/inventory"]["get"];
    let below = inventory["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "below")
        .unwrap();
    assert_eq!(below["schema"]["minimum"], 0, "{below}");
    for status in ["200", "401", "403", "422", "503"] {
        assert!(
            inventory["responses"][status].is_object(),
            "inventory lists {status}"
        );
    }
}

#[tokio::test]
async fn the_category_routes_document_their_constraints_and_statuses() {
    let app = spawn_app().await;

    let doc = app.get("/openapi.json").send().await.json();

    let schemas = &doc["components"]["schemas"];
    let create = &schemas["CreateCategory"]["properties"];
    assert_eq!(create["name"]["minLength"], 1, "{create}");
    assert_eq!(create["name"]["maxLength"], 100, "{create}");
    assert_eq!(create["description"]["maxLength"], 1000, "{create}");
    let update = &schemas["UpdateCategory"];
    assert_eq!(update["allOf"][0]["minProperties"], 1, "{update}");
    let listed = &schemas["Category"]["properties"];
    for field in ["name", "slug", "description", "product_count"] {
        assert!(listed[field].is_object(), "Category has {field}: {listed}");
    }
    let category = &doc["paths"]["/categories/{slug}"];
    for (method, statuses) in [
        (
            "patch",
            &[
                "200", "400", "401", "403", "404", "409", "413", "415", "422", "503",
            ][..],
        ),
        ("delete", &["204", "401", "403", "404", "409", "503"][..]),
    ] {
        let slug = &category[method]["parameters"][0];
        assert_eq!(slug["name"], "slug");
        assert!(slug["schema"]["pattern"].is_string(), "{method}: {slug}");
        for status in statuses {
            assert!(
                category[method]["responses"][status].is_object(),
                "{method} /categories/{{slug}} lists {status}"
            );
        }
    }
    let post = &doc["paths"]["/categories"]["post"]["responses"];
    for status in ["201", "401", "403", "409", "422"] {
        assert!(post[status].is_object(), "POST /categories lists {status}");
    }
}

/// What the binary prints of itself (`--openapi`, `--settings`) is what it serves and what
/// docs/configuration.md says.
#[tokio::test]
async fn it_describes_itself_as_it_serves_and_as_documented() {
    let app = spawn_app().await;

    let served = app.get("/openapi.json").send().await.json();

    common_testing::assert_describes_itself::<product_service::ProductSettings>(
        &product_service::SERVICE,
        &served,
        &app.db.config.oauth2_token_url,
    );
}
