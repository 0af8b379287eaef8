//! `POST /products`: who may create, the stored product, defaults, and the 422s of invalid fields.

use axum::http::StatusCode;
use common_api::auth::Role;
use mongodb::bson::doc;
use serde_json::{Value, json};

use common_testing::TestDb;

use crate::helpers::{ProductSteps, spawn_app, spawn_app_on};

#[tokio::test]
async fn a_seller_creates_a_product_and_owns_it() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);

    let response = app
        .post("/products")
        .bearer(&seller.token)
        .json(&json!({"name": "  Desk lamp ", "description": "Warm light", "price": 39.9, "category": "Home", "stock": 25}))
        .send()
        .await;

    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    let product = response.json();
    assert_eq!(product["name"], "Desk lamp");
    assert_eq!(product["description"], "Warm light");
    assert_eq!(product["price"], 39.9);
    assert_eq!(product["currency"], "USD");
    assert_eq!(product["category"], "Home");
    assert_eq!(product["stock"], 25);
    assert_eq!(product["seller_id"], seller.id.to_hex());
    assert_eq!(product["id"].as_str().unwrap().len(), 24);
    assert_eq!(product["created_at"], product["updated_at"]);
    let keys: Vec<&str> = product
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys.len(),
        11,
        "exactly id, name, description, price, currency, category, stock, seller_id, created_at, updated_at, image_url: {keys:?}"
    );
    assert_eq!(product["image_url"], json!(null));
}

#[tokio::test]
async fn optional_fields_default_and_prices_are_kept_as_sent() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);

    let product = app
        .create_product(&seller, json!({"name": "Pencil", "price": 0.1}))
        .await;
    let whole = app
        .create_product(&seller, json!({"name": "Book", "price": 12}))
        .await;

    assert_eq!(product["description"], "");
    assert_eq!(product["category"], "");
    assert_eq!(product["stock"], 0);
    assert_eq!(product["price"], 0.1);
    assert_eq!(whole["price"].as_f64(), Some(12.0));
}

#[tokio::test]
async fn an_admin_may_create_products_but_a_buyer_may_not() {
    let app = spawn_app().await;
    let admin = app.caller(Role::Admin);
    let buyer = app.caller(Role::Buyer);
    let body = json!({"name": "Mug", "price": 8.5});

    let by_admin = app
        .post("/products")
        .bearer(&admin.token)
        .json(&body)
        .send()
        .await;
    let by_buyer = app
        .post("/products")
        .bearer(&buyer.token)
        .json(&body)
        .send()
        .await;
    let anonymous = app.post("/products").json(&body).send().await;

    assert_eq!(by_admin.status, StatusCode::CREATED);
    by_buyer.assert_error(StatusCode::FORBIDDEN, "FORBIDDEN");
    anonymous.assert_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    let stored = app.db.count("products", doc! {}).await;
    assert_eq!(stored, 1);
}

#[tokio::test]
async fn invalid_products_are_422_at_the_field_and_nothing_is_stored() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let valid = json!({"name": "Mug", "price": 8.5, "stock": 3});
    let with = |field: &str, value: Value| {
        let mut body = valid.clone();
        body[field] = value;
        body
    };
    let cases = [
        (with("price", json!(-1)), "price"),
        (with("price", json!("12")), "price"),
        (with("price", json!("NaN")), "price"),
        (with("price", json!(1_000_000_000.01)), "price"),
        (with("price", Value::Null), "price"),
        (with("stock", json!(1.5)), "stock"),
        (with("stock", json!(-3)), "stock"),
        (with("stock", json!(1_000_000_001)), "stock"),
        (with("name", json!("n".repeat(201))), "name"),
        (with("name", json!("   ")), "name"),
        (with("name", json!("")), "name"),
        (with("category", json!("c".repeat(101))), "category"),
        (with("description", json!("d".repeat(5001))), "description"),
        (json!({"price": 8.5}), "name"),
        (json!({"name": "Mug"}), "price"),
    ];

    for (body, field) in cases {
        let response = app
            .post("/products")
            .bearer(&seller.token)
            .json(&body)
            .send()
            .await;

        let locs = response.assert_validation_error();
        assert!(locs.contains(&json!(["body", field])), "{body} → {locs:?}");
    }
    let stored = app.db.count("products", doc! {}).await;
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn a_price_beyond_any_float_is_422_and_a_bare_nan_is_malformed_json() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);

    let huge = app
        .post("/products")
        .bearer(&seller.token)
        .header("content-type", "application/json")
        .body(r#"{"name": "Mug", "price": 1e309}"#)
        .send()
        .await;
    let nan = app
        .post("/products")
        .bearer(&seller.token)
        .header("content-type", "application/json")
        .body(r#"{"name": "Mug", "price": NaN}"#)
        .send()
        .await;

    assert_eq!(
        huge.assert_validation_error(),
        vec![json!(["body", "price"])]
    );
    nan.assert_error(StatusCode::BAD_REQUEST, "INVALID_JSON");
}

#[tokio::test]
async fn a_price_of_exactly_the_limits_is_accepted() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);

    let free = app
        .create_product(&seller, json!({"name": "Sticker", "price": 0}))
        .await;
    let dear = app
        .create_product(
            &seller,
            json!({"name": "Yacht", "price": 1e9, "stock": 1_000_000_000}),
        )
        .await;

    assert_eq!(free["price"].as_f64(), Some(0.0));
    assert_eq!(dear["price"].as_f64(), Some(1e9));
    assert_eq!(dear["stock"], 1_000_000_000);
}

#[tokio::test]
async fn a_price_one_step_above_the_limit_or_past_the_cents_is_422() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);

    // The nearest double to this text is 1e9 + 2^-23, above the limit, not 1e9.
    let above = app
        .post("/products")
        .bearer(&seller.token)
        .header("content-type", "application/json")
        .body(r#"{"name": "Yacht", "price": 1000000000.0000001}"#)
        .send()
        .await;
    let precise = app
        .post("/products")
        .bearer(&seller.token)
        .header("content-type", "application/json")
        .body(r#"{"name": "Pencil", "price": 0.30000000000000004}"#)
        .send()
        .await;

    assert_eq!(
        above.assert_validation_error(),
        vec![json!(["body", "price"])]
    );
    // The double nearest 0.1 + 0.2 is not 0.3, and has more decimals than cents.
    assert_eq!(
        precise.assert_validation_error(),
        vec![json!(["body", "price"])]
    );
    assert_eq!(app.db.count("products", doc! {}).await, 0);
}

#[tokio::test]
async fn prices_are_exact_to_the_cent_and_more_decimals_are_422() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);

    let refused = app
        .post("/products")
        .bearer(&seller.token)
        .json(&json!({"name": "Pen", "price": 19.999}))
        .send()
        .await;
    let cents = app
        .create_product(&seller, json!({"name": "Pen", "price": 19.99}))
        .await;
    let tenths = app
        .create_product(&seller, json!({"name": "Cap", "price": 0.3}))
        .await;
    let patched = app
        .patch(&format!("/products/{}", cents["id"].as_str().unwrap()))
        .bearer(&seller.token)
        .json(&json!({"price": 1.005}))
        .send()
        .await;

    assert_eq!(
        refused.assert_validation_error(),
        vec![json!(["body", "price"])]
    );
    assert!(
        refused.text().contains("at most 2 decimals in USD"),
        "{}",
        refused.text()
    );
    assert_eq!(
        patched.assert_validation_error(),
        vec![json!(["body", "price"])]
    );
    // Written exactly: `19.99`, not 19.989999999999998; `0.3`, not 0.30000000000000004.
    let listed = app.get("/products?sort=price").send().await;
    assert!(
        listed.text().contains(r#""price":0.3,"#),
        "{}",
        listed.text()
    );
    assert!(
        listed.text().contains(r#""price":19.99,"#),
        "{}",
        listed.text()
    );
    assert_eq!(tenths["currency"], "USD");
    // Stored as integer cents.
    let stored = app
        .db
        .db
        .collection::<mongodb::bson::Document>("products")
        .find_one(doc! { "name": "Pen" })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.get("price"),
        Some(&mongodb::bson::Bson::Int64(1_999))
    );
}

#[tokio::test]
async fn a_currency_without_decimals_refuses_a_fraction_and_one_with_three_keeps_them() {
    let yen =
        spawn_app_on(TestDb::with_overrides("product_service", &[("CURRENCY", "JPY")]).await).await;
    let dinar =
        spawn_app_on(TestDb::with_overrides("product_service", &[("CURRENCY", "KWD")]).await).await;
    let (yen_seller, dinar_seller) = (yen.caller(Role::Seller), dinar.caller(Role::Seller));

    let fraction = yen
        .post("/products")
        .bearer(&yen_seller.token)
        .json(&json!({"name": "Tea", "price": 1.5}))
        .send()
        .await;
    let whole = yen
        .create_product(&yen_seller, json!({"name": "Tea", "price": 1500}))
        .await;
    let fils = dinar
        .create_product(&dinar_seller, json!({"name": "Tea", "price": 1.005}))
        .await;
    let past_fils = dinar
        .post("/products")
        .bearer(&dinar_seller.token)
        .json(&json!({"name": "Tea", "price": 1.0005}))
        .send()
        .await;

    assert_eq!(
        fraction.assert_validation_error(),
        vec![json!(["body", "price"])]
    );
    assert!(
        fraction.text().contains("at most 0 decimals in JPY"),
        "{}",
        fraction.text()
    );
    assert_eq!(
        (whole["price"].clone(), whole["currency"].clone()),
        (json!(1500), json!("JPY"))
    );
    let listed = yen.get("/products").send().await.text();
    assert!(listed.contains(r#""price":1500,"#), "{listed}");
    assert_eq!(
        (fils["price"].as_f64(), fils["currency"].as_str()),
        (Some(1.005), Some("KWD"))
    );
    assert_eq!(
        past_fils.assert_validation_error(),
        vec![json!(["body", "price"])]
    );
}

#[tokio::test]
async fn a_whole_valued_stock_is_taken_as_an_integer() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);

    let decimal = app
        .create_product(
            &seller,
            json!({"name": "Mug", "price": 8.5, "stock": 1000.0}),
        )
        .await;
    let exponent = app
        .create_product(
            &seller,
            json!({"name": "Plate", "price": 2.0, "stock": 1e3}),
        )
        .await;

    assert_eq!(decimal["stock"], json!(1000));
    assert_eq!(exponent["stock"], json!(1000));
    let stored = app
        .db
        .count("products", doc! { "stock": { "$type": "long" } })
        .await;
    assert_eq!(stored, 2, "stored as integers");
}

#[tokio::test]
async fn a_fractional_or_out_of_range_stock_is_422_at_the_stock() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);

    for stock in [
        json!(1.5),
        json!(1e20),
        json!(-0.5),
        json!("3"),
        json!(1e9 + 1.0),
    ] {
        let response = app
            .post("/products")
            .bearer(&seller.token)
            .json(&json!({"name": "Mug", "price": 8.5, "stock": stock}))
            .send()
            .await;

        assert_eq!(
            response.assert_validation_error(),
            vec![json!(["body", "stock"])],
            "{stock}"
        );
    }
    assert_eq!(app.db.count("products", doc! {}).await, 0);
}
