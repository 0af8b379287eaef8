//! `GET /products`: order, paging and its links, search by name, the category filter, and 422s.

use std::collections::HashSet;

use axum::http::StatusCode;
use common_api::auth::Role;
use serde_json::json;

use crate::helpers::{ProductSteps, names, spawn_app};

#[tokio::test]
async fn the_list_is_oldest_first_and_open_to_anyone() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    for name in ["First", "Second", "Third"] {
        app.create_product(&seller, json!({"name": name, "price": 1}))
            .await;
    }

    let response = app.get("/products").send().await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(names(&response.json()), ["First", "Second", "Third"]);
    assert_eq!(response.header("x-total-count"), Some("3"));
    assert_eq!(response.header("link"), None);
}

#[tokio::test]
async fn paging_neither_skips_nor_repeats_products() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let expected: Vec<String> = (0..23).map(|i| format!("Product {i:02}")).collect();
    for name in &expected {
        app.create_product(&seller, json!({"name": name, "price": 1}))
            .await;
    }

    let mut seen = Vec::new();
    let mut next = Some("/products?limit=5".to_owned());
    let mut pages = 0;
    while let Some(uri) = next {
        let response = app.get(&uri).send().await;
        assert_eq!(response.status, StatusCode::OK, "{uri}");
        assert_eq!(response.header("x-total-count"), Some("23"));
        seen.extend(names(&response.json()));
        pages += 1;
        next = response.header("link").and_then(|link| {
            link.split(", ")
                .find(|part| part.ends_with("rel=\"next\""))
                .map(|part| part[1..part.find('>').unwrap()].to_owned())
        });
    }

    assert_eq!(pages, 5);
    assert_eq!(seen, expected);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 23);
}

#[tokio::test]
async fn a_middle_page_links_to_its_neighbours_and_keeps_the_filters() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    for i in 0..7 {
        app.create_product(&seller, json!({"name": format!("Lamp {i}"), "price": 1}))
            .await;
    }

    let response = app.get("/products?q=lamp&limit=2&offset=2").send().await;

    assert_eq!(names(&response.json()), ["Lamp 2", "Lamp 3"]);
    assert_eq!(
        response.header("link"),
        Some(
            "</products?q=lamp&limit=2&offset=4>; rel=\"next\", </products?q=lamp&limit=2&offset=0>; rel=\"prev\""
        )
    );
}

#[tokio::test]
async fn search_is_a_case_insensitive_substring_of_the_name() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    for name in [
        "Desk LAMP",
        "Lampshade",
        "Floor lamp",
        "Mug",
        "Crème brûlée torch",
    ] {
        app.create_product(&seller, json!({"name": name, "price": 1}))
            .await;
    }

    let lamp = app.get("/products?q=lamp").send().await.json();
    let accented = app.get("/products?q=BRÛL").send().await.json();
    let empty = app.get("/products?q=").send().await;

    assert_eq!(names(&lamp), ["Desk LAMP", "Lampshade", "Floor lamp"]);
    assert_eq!(names(&accented), ["Crème brûlée torch"]);
    assert_eq!(
        empty.header("x-total-count"),
        Some("5"),
        "an empty q is no filter"
    );
}

#[tokio::test]
async fn search_takes_regex_metacharacters_literally() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    for name in [
        "Lamp (large)",
        "a.*b",
        r"back\slash",
        "a{1,99999}",
        "Plain",
        "aaaa",
    ] {
        app.create_product(&seller, json!({"name": name, "price": 1}))
            .await;
    }

    for (q, expected) in [
        ("(", vec!["Lamp (large)"]),
        (".*", vec!["a.*b"]),
        (r"\", vec![r"back\slash"]),
        ("a{1,99999}", vec!["a{1,99999}"]),
        ("[", vec![]),
        ("^Plain$", vec![]),
        ("|", vec![]),
    ] {
        let query = q_param(q);
        let response = app.get(&format!("/products?{query}")).send().await;

        assert_eq!(
            response.status,
            StatusCode::OK,
            "q={q}: {}",
            response.text()
        );
        assert_eq!(names(&response.json()), expected, "q={q}");
    }
}

#[tokio::test]
async fn a_search_longer_than_any_name_is_422_not_a_500() {
    let app = spawn_app().await;

    let long = "(".repeat(10_000);
    let response = app
        .get(&format!("/products?{}", q_param(&long)))
        .send()
        .await;
    let longest_allowed = "a".repeat(200);
    let allowed = app
        .get(&format!("/products?{}", q_param(&longest_allowed)))
        .send()
        .await;

    assert_eq!(
        response.assert_validation_error(),
        vec![json!(["query", "q"])]
    );
    assert_eq!(allowed.status, StatusCode::OK);
}

#[tokio::test]
async fn the_category_filter_is_exact_and_case_insensitive() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    for (name, category) in [
        ("Lamp", "Home"),
        ("Mug", "home"),
        ("Homeware book", "Books"),
        ("Chair", "Home office"),
    ] {
        app.create_product(
            &seller,
            json!({"name": name, "price": 1, "category": category}),
        )
        .await;
    }

    let response = app.get("/products?category=HOME").send().await;
    let unfiltered = app.get("/products?category=").send().await;

    assert_eq!(names(&response.json()), ["Lamp", "Mug"]);
    assert_eq!(response.header("x-total-count"), Some("2"));
    assert_eq!(
        unfiltered.header("x-total-count"),
        Some("4"),
        "an empty category is no filter"
    );
}

#[tokio::test]
async fn search_and_category_combine() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    for (name, category) in [
        ("Desk lamp", "Home"),
        ("Lamp oil", "Garden"),
        ("Mug", "Home"),
    ] {
        app.create_product(
            &seller,
            json!({"name": name, "price": 1, "category": category}),
        )
        .await;
    }

    let response = app.get("/products?q=lamp&category=home").send().await;

    assert_eq!(names(&response.json()), ["Desk lamp"]);
}

#[tokio::test]
async fn out_of_range_paging_is_422_at_the_query_parameter() {
    let app = spawn_app().await;

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("offset=-1", "offset"),
        ("limit=abc", "limit"),
        ("offset=1.5", "offset"),
    ] {
        let response = app.get(&format!("/products?{query}")).send().await;

        assert_eq!(
            response.assert_validation_error(),
            vec![json!(["query", field])],
            "{query}"
        );
    }
}

/// `q=<text>` percent-encoded.
fn q_param(text: &str) -> String {
    let mut encoded = String::from("q=");
    for byte in text.as_bytes() {
        if byte.is_ascii_alphanumeric() {
            encoded.push(*byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}
