//! `GET /inventory`: who sees what, the order (lowest stock first), paging, and bad thresholds.

use axum::http::StatusCode;
use common_api::auth::Role;
use serde_json::json;

use crate::helpers::{ProductSteps, names, spawn_app};

#[tokio::test]
async fn a_seller_sees_only_their_own_low_stock_lowest_first() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let other = app.caller(Role::Seller);
    for (name, stock) in [("Five", 5), ("Zero", 0), ("Two", 2), ("Ten", 10)] {
        app.product_with_stock(&seller, name, stock).await;
    }
    app.product_with_stock(&other, "Theirs", 1).await;

    let response = app
        .get("/inventory?below=5")
        .bearer(&seller.token)
        .send()
        .await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(names(&response.json()), ["Zero", "Two", "Five"]);
    assert_eq!(response.header("x-total-count"), Some("3"));
}

#[tokio::test]
async fn an_admin_sees_every_sellers_products() {
    let app = spawn_app().await;
    let (one, two) = (app.caller(Role::Seller), app.caller(Role::Seller));
    app.product_with_stock(&one, "One", 3).await;
    app.product_with_stock(&two, "Two", 1).await;
    app.product_with_stock(&two, "Plenty", 100).await;

    let response = app
        .get("/inventory?below=3")
        .bearer(&app.caller(Role::Admin).token)
        .send()
        .await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(names(&response.json()), ["Two", "One"]);
}

#[tokio::test]
async fn a_buyer_is_403_and_no_token_401() {
    let app = spawn_app().await;

    let buyer = app
        .get("/inventory?below=3")
        .bearer(&app.caller(Role::Buyer).token)
        .send()
        .await;
    let anonymous = app.get("/inventory?below=3").send().await;

    buyer.assert_error(StatusCode::FORBIDDEN, "FORBIDDEN");
    anonymous.assert_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
}

#[tokio::test]
async fn a_negative_or_non_integer_threshold_is_422_naming_below() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);

    for below in ["-1", "abc", "1.5", "99999999999999999999"] {
        let response = app
            .get(&format!("/inventory?below={below}"))
            .bearer(&seller.token)
            .send()
            .await;
        assert_eq!(
            response.assert_validation_error(),
            [json!(["query", "below"])],
            "below={below}"
        );
    }
}

#[tokio::test]
async fn without_below_the_sold_out_products_are_listed() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    app.product_with_stock(&seller, "Sold out", 0).await;
    app.product_with_stock(&seller, "One left", 1).await;

    for uri in ["/inventory", "/inventory?below="] {
        let response = app.get(uri).bearer(&seller.token).send().await;
        assert_eq!(response.status, StatusCode::OK, "{uri}");
        assert_eq!(names(&response.json()), ["Sold out"], "{uri}");
    }
}

#[tokio::test]
async fn ties_are_ordered_by_id_and_pages_carry_the_paging_headers() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let mut expected = Vec::new();
    for i in 0..5 {
        let id = app.product_with_stock(&seller, &format!("P{i}"), 2).await;
        expected.push((2, id));
    }
    expected.push((1, app.product_with_stock(&seller, "Lowest", 1).await));
    expected.sort();
    let expected: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();

    let first = app
        .get("/inventory?below=2&limit=4")
        .bearer(&seller.token)
        .send()
        .await;
    let second = app
        .get("/inventory?below=2&limit=4&offset=4")
        .bearer(&seller.token)
        .send()
        .await;

    let ids = |list: &serde_json::Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(first.header("x-total-count"), Some("6"));
    assert_eq!(second.header("x-total-count"), Some("6"));
    let link = first.header("link").unwrap();
    assert!(
        link.contains("offset=4") && link.contains("below=2") && link.contains("rel=\"next\""),
        "{link}"
    );
    assert!(second.header("link").unwrap().contains("rel=\"prev\""));
    let mut seen = ids(&first.json());
    seen.extend(ids(&second.json()));
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn a_stock_change_moves_a_product_at_once() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = app.product_with_stock(&seller, "Mug", 10).await;
    let before = app
        .get("/inventory?below=3")
        .bearer(&seller.token)
        .send()
        .await;

    app.post(&format!("/products/{id}/stock"))
        .bearer(&seller.token)
        .json(&json!({"delta": -8}))
        .send()
        .await;
    let after = app
        .get("/inventory?below=3")
        .bearer(&seller.token)
        .send()
        .await;

    assert_eq!(names(&before.json()), Vec::<String>::new());
    assert_eq!(names(&after.json()), ["Mug"]);
    assert_eq!(after.json()[0]["stock"], 2);
}
