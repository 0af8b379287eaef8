//! `GET /categories`: counts per category, case-insensitive and sorted by name, following changes.

use axum::http::StatusCode;
use common::auth::Role;
use serde_json::json;

use crate::helpers::{ProductSteps, spawn_app};

#[tokio::test]
async fn categories_are_counted_case_insensitively_and_sorted_by_name() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    for (name, category) in [
        ("Lamp", "Home"),
        ("Novel", "books"),
        ("Mug", "home"),
        ("Atlas", "Books"),
        ("Chair", " Home "),
        ("Loose screw", ""),
        ("Apple", "Garden"),
    ] {
        app.create_product(
            &seller,
            json!({"name": name, "price": 1, "category": category}),
        )
        .await;
    }

    let response = app.get("/categories").send().await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.json(),
        json!([
            {"name": "books", "product_count": 2},
            {"name": "Garden", "product_count": 1},
            {"name": "Home", "product_count": 3},
        ])
    );
}

#[tokio::test]
async fn categories_follow_changes_to_products() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = app
        .create_product(
            &seller,
            json!({"name": "Lamp", "price": 1, "category": "Home"}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    app.patch(&format!("/products/{id}"))
        .bearer(&seller.token)
        .json(&json!({"category": "Lighting"}))
        .send()
        .await;
    let after_patch = app.get("/categories").send().await.json();
    app.delete(&format!("/products/{id}"))
        .bearer(&seller.token)
        .send()
        .await;
    let after_delete = app.get("/categories").send().await.json();

    assert_eq!(
        after_patch,
        json!([{"name": "Lighting", "product_count": 1}])
    );
    assert_eq!(after_delete, json!([]));
}
