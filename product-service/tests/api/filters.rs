//! `GET /products` filters (`seller_id`, `min_price`, `max_price`, `in_stock`), sorts, their
//! 422s, and paging that neither skips nor repeats under each sort.

use std::collections::HashSet;

use axum::http::StatusCode;
use common_api::auth::Role;
use serde_json::json;

use crate::helpers::{ProductSteps, names, spawn_app};

#[tokio::test]
async fn a_seller_lists_their_own_products() {
    let app = spawn_app().await;
    let (ada, bo) = (app.caller(Role::Seller), app.caller(Role::Seller));
    app.product_with_stock(&ada, "Ada's lamp", 1).await;
    app.product_with_stock(&bo, "Bo's lamp", 1).await;
    app.product_with_stock(&ada, "Ada's desk", 1).await;

    let response = app
        .get(&format!("/products?seller_id={}", ada.id.to_hex()))
        .send()
        .await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(names(&response.json()), ["Ada's lamp", "Ada's desk"]);
    assert_eq!(response.header("x-total-count"), Some("2"));
}

#[tokio::test]
async fn price_bounds_are_inclusive_and_in_stock_keeps_products_with_stock() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    for (name, price, stock) in [
        ("A", 5.0, 1),
        ("B", 10.0, 0),
        ("C", 15.5, 2),
        ("D", 20.0, 3),
    ] {
        app.create_product(
            &seller,
            json!({"name": name, "price": price, "stock": stock}),
        )
        .await;
    }

    let ranged = app
        .get("/products?min_price=10&max_price=15.5")
        .send()
        .await;
    let cheap = app.get("/products?max_price=10").send().await;
    let stocked = app.get("/products?in_stock=true&min_price=10").send().await;
    let any = app.get("/products?in_stock=false").send().await;

    assert_eq!(names(&ranged.json()), ["B", "C"]);
    assert_eq!(names(&cheap.json()), ["A", "B"]);
    assert_eq!(names(&stocked.json()), ["C", "D"]);
    assert_eq!(stocked.header("x-total-count"), Some("2"));
    assert_eq!(names(&any.json()), ["A", "B", "C", "D"]);
}

#[tokio::test]
async fn each_sort_orders_the_list_and_breaks_ties_by_id() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    for (name, price) in [
        ("banana", 3.0),
        ("Apple", 3.0),
        ("cherry", 1.0),
        ("apple", 2.0),
    ] {
        app.create_product(&seller, json!({"name": name, "price": price}))
            .await;
    }

    let sorted = |sort: &'static str| {
        let app = &app;
        async move {
            let response = app.get(&format!("/products?sort={sort}")).send().await;
            assert_eq!(response.status, StatusCode::OK, "{}", response.text());
            names(&response.json())
        }
    };

    assert_eq!(
        sorted("created_at").await,
        ["banana", "Apple", "cherry", "apple"]
    );
    assert_eq!(
        sorted("-created_at").await,
        ["apple", "cherry", "Apple", "banana"]
    );
    // Equal prices keep creation (id) order ascending, and the reverse descending.
    assert_eq!(
        sorted("price").await,
        ["cherry", "apple", "banana", "Apple"]
    );
    assert_eq!(
        sorted("-price").await,
        ["Apple", "banana", "apple", "cherry"]
    );
    // Names compare in any case; equal names keep creation order.
    assert_eq!(sorted("name").await, ["Apple", "apple", "banana", "cherry"]);
}

#[tokio::test]
async fn paging_neither_skips_nor_repeats_under_any_sort() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    for i in 0..17 {
        // Few distinct prices and names, so ties are everywhere.
        app.create_product(
            &seller,
            json!({"name": format!("Item {}", i % 3), "price": (i % 4) as f64}),
        )
        .await;
    }

    for sort in ["created_at", "-created_at", "price", "-price", "name"] {
        let mut seen = Vec::new();
        for offset in (0..17).step_by(5) {
            let response = app
                .get(&format!("/products?sort={sort}&limit=5&offset={offset}"))
                .send()
                .await;
            assert_eq!(response.header("x-total-count"), Some("17"));
            for product in response.json().as_array().unwrap() {
                seen.push(product["id"].as_str().unwrap().to_owned());
            }
        }
        let whole = app
            .get(&format!("/products?sort={sort}&limit=100"))
            .send()
            .await;
        let expected: Vec<String> = whole
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(seen, expected, "{sort}");
        assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 17, "{sort}");
    }
}

#[tokio::test]
async fn bad_filters_and_sorts_are_422_naming_the_parameter() {
    let app = spawn_app().await;

    for (uri, field) in [
        ("/products?min_price=10&max_price=5", "min_price"),
        ("/products?sort=cheapest", "sort"),
        ("/products?sort=-name", "sort"),
        ("/products?seller_id=not-an-id", "seller_id"),
        ("/products?seller_id=0123456789abcdef0123456", "seller_id"),
        ("/products?min_price=abc", "min_price"),
        ("/products?max_price=NaN", "max_price"),
        ("/products?max_price=inf", "max_price"),
        ("/products?in_stock=yes", "in_stock"),
    ] {
        let response = app.get(uri).send().await;
        let locs = response.assert_validation_error();
        assert_eq!(locs, [json!(["query", field])], "{uri}");
    }
}

#[tokio::test]
async fn empty_filters_are_no_filters() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    app.product_with_stock(&seller, "Lamp", 0).await;

    let response = app
        .get("/products?seller_id=&min_price=&max_price=&in_stock=&sort=&q=&category=")
        .send()
        .await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(names(&response.json()), ["Lamp"]);
}

#[tokio::test]
async fn an_unknown_seller_or_category_lists_nothing() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    app.product_with_stock(&seller, "Lamp", 1).await;

    let by_seller = app
        .get("/products?seller_id=0123456789abcdef01234567")
        .send()
        .await;
    let by_category = app.get("/products?category=nothing").send().await;

    assert_eq!(by_seller.json(), json!([]));
    assert_eq!(by_seller.header("x-total-count"), Some("0"));
    assert_eq!(by_category.header("x-total-count"), Some("0"));
}
