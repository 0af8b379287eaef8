//! Reading, changing and deleting one product.

use axum::http::{Method, StatusCode};
use common_api::auth::Role;
use serde_json::json;

use crate::helpers::{ProductSteps, spawn_app};

const UNKNOWN_ID: &str = "0123456789abcdef01234567";

#[tokio::test]
async fn anyone_reads_a_product() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let created = app
        .create_product(&seller, json!({"name": "Mug", "price": 8.5}))
        .await;

    let response = app
        .get(&format!("/products/{}", created["id"].as_str().unwrap()))
        .send()
        .await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json(), created);
}

#[tokio::test]
async fn every_id_route_answers_400_for_a_malformed_id_and_404_for_an_unknown_one() {
    let app = spawn_app().await;
    let admin = app.caller(Role::Admin);
    let routes = [
        (Method::GET, "", None),
        (Method::PATCH, "", Some(json!({"price": 1}))),
        (Method::DELETE, "", None),
        (Method::POST, "/stock", Some(json!({"delta": 1}))),
    ];

    for (method, suffix, body) in routes {
        for (id, status, code) in [
            ("not-an-id", StatusCode::BAD_REQUEST, "INVALID_ID"),
            (
                "0123456789abcdef0123456",
                StatusCode::BAD_REQUEST,
                "INVALID_ID",
            ),
            (UNKNOWN_ID, StatusCode::NOT_FOUND, "PRODUCT_NOT_FOUND"),
        ] {
            let mut request = app
                .request(method.clone(), &format!("/products/{id}{suffix}"))
                .bearer(&admin.token);
            if let Some(body) = &body {
                request = request.json(body);
            }

            let response = request.send().await;

            let error = response.assert_error(status, code);
            let expected = if code == "INVALID_ID" {
                "Invalid product id"
            } else {
                "Product not found"
            };
            assert_eq!(error["detail"], expected, "{method} {id}{suffix}");
        }
    }
}

#[tokio::test]
async fn the_owner_patches_some_fields_and_the_rest_stay() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let created = app
        .create_product(&seller, json!({"name": "Mug", "description": "Blue", "price": 8.5, "category": "Kitchen", "stock": 4}))
        .await;
    let id = created["id"].as_str().unwrap();

    let response = app
        .patch(&format!("/products/{id}"))
        .bearer(&seller.token)
        .json(&json!({"price": 7.25, "category": " Dining ", "stock": 999}))
        .send()
        .await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let product = response.json();
    assert_eq!(product["price"], 7.25);
    assert_eq!(product["category"], "Dining");
    assert_eq!(product["name"], "Mug");
    assert_eq!(product["description"], "Blue");
    assert_eq!(product["stock"], 4, "stock changes only through /stock");
    assert_eq!(product["created_at"], created["created_at"]);
    assert_eq!(
        app.get(&format!("/products/{id}")).send().await.json(),
        product
    );
    let by_category = app.get("/products?category=dining").send().await;
    assert_eq!(by_category.header("x-total-count"), Some("1"));
}

#[tokio::test]
async fn only_the_owner_or_an_admin_may_patch() {
    let app = spawn_app().await;
    let owner = app.caller(Role::Seller);
    let other_seller = app.caller(Role::Seller);
    let buyer = app.caller(Role::Buyer);
    let admin = app.caller(Role::Admin);
    let id = app.product_with_stock(&owner, "Mug", 1).await;
    let uri = format!("/products/{id}");

    let by_other = app
        .patch(&uri)
        .bearer(&other_seller.token)
        .json(&json!({"name": "Stolen"}))
        .send()
        .await;
    let by_buyer = app
        .patch(&uri)
        .bearer(&buyer.token)
        .json(&json!({"name": "Stolen"}))
        .send()
        .await;
    let anonymous = app
        .patch(&uri)
        .json(&json!({"name": "Stolen"}))
        .send()
        .await;
    let unchanged = app.get(&uri).send().await.json();
    let by_admin = app
        .patch(&uri)
        .bearer(&admin.token)
        .json(&json!({"name": "Moderated"}))
        .send()
        .await;

    by_other.assert_error(StatusCode::FORBIDDEN, "FORBIDDEN");
    by_buyer.assert_error(StatusCode::FORBIDDEN, "FORBIDDEN");
    anonymous.assert_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert_eq!(unchanged["name"], "Mug");
    assert_eq!(by_admin.status, StatusCode::OK);
    assert_eq!(by_admin.json()["name"], "Moderated");
    assert_eq!(
        by_admin.json()["seller_id"],
        owner.id.to_hex(),
        "the owner stays"
    );
}

#[tokio::test]
async fn an_invalid_or_empty_patch_is_422_and_changes_nothing() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = app.product_with_stock(&seller, "Mug", 1).await;
    let uri = format!("/products/{id}");

    for (body, loc) in [
        (json!({"price": -1}), json!(["body", "price"])),
        (json!({"name": "  "}), json!(["body", "name"])),
        (json!({"name": "n".repeat(201)}), json!(["body", "name"])),
        (json!({"price": "12"}), json!(["body", "price"])),
        (json!({}), json!(["body"])),
        (json!({"stock": 5}), json!(["body"])),
    ] {
        let response = app
            .patch(&uri)
            .bearer(&seller.token)
            .json(&body)
            .send()
            .await;

        assert!(response.assert_validation_error().contains(&loc), "{body}");
    }
    let product = app.get(&uri).send().await.json();
    assert_eq!(
        (product["name"].as_str(), product["price"].as_f64()),
        (Some("Mug"), Some(10.0))
    );
}

#[tokio::test]
async fn the_owner_or_an_admin_deletes_a_product() {
    let app = spawn_app().await;
    let owner = app.caller(Role::Seller);
    let other_seller = app.caller(Role::Seller);
    let admin = app.caller(Role::Admin);
    let first = app.product_with_stock(&owner, "Mug", 1).await;
    let second = app.product_with_stock(&owner, "Cup", 1).await;

    let by_other = app
        .delete(&format!("/products/{first}"))
        .bearer(&other_seller.token)
        .send()
        .await;
    let by_owner = app
        .delete(&format!("/products/{first}"))
        .bearer(&owner.token)
        .send()
        .await;
    let again = app
        .delete(&format!("/products/{first}"))
        .bearer(&owner.token)
        .send()
        .await;
    let by_admin = app
        .delete(&format!("/products/{second}"))
        .bearer(&admin.token)
        .send()
        .await;
    let anonymous = app.delete(&format!("/products/{second}")).send().await;

    by_other.assert_error(StatusCode::FORBIDDEN, "FORBIDDEN");
    assert_eq!(by_owner.status, StatusCode::NO_CONTENT);
    assert!(by_owner.body.is_empty());
    again.assert_error(StatusCode::NOT_FOUND, "PRODUCT_NOT_FOUND");
    assert_eq!(by_admin.status, StatusCode::NO_CONTENT);
    anonymous.assert_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    let gone = app.get(&format!("/products/{first}")).send().await;
    gone.assert_error(StatusCode::NOT_FOUND, "PRODUCT_NOT_FOUND");
    assert_eq!(
        app.get("/products").send().await.header("x-total-count"),
        Some("0")
    );
}
