//! Placing orders: what is stored, what is refused, and that a refusal takes nothing.

use axum::http::StatusCode;
use common_api::auth::Role;
use common_catalog::field;
use mongodb::bson::{doc, oid::ObjectId};
use serde_json::{Value, json};

use crate::helpers::spawn_app;

#[tokio::test]
async fn an_order_takes_the_stock_and_keeps_the_products_as_they_were() {
    let app = spawn_app().await;
    let kettle = app.product("Kettle", "29.99", 10).await;
    let mug = app.product("Mug", "8.5", 10).await;
    let buyer = app.caller(Role::Buyer);

    let response = app.order(&buyer, &[(kettle, 2), (mug, 3)]).await;

    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    let placed = response.json();
    let id = placed["id"].as_str().unwrap();
    assert_eq!(
        placed,
        json!({"id": id, "status": "PLACED", "total": 85.48, "currency": "USD"})
    );
    assert_eq!(response.header("idempotent-replayed"), None);
    assert_eq!((app.stock(kettle).await, app.stock(mug).await), (8, 7));
    app.update_product(
        kettle,
        doc! { "$set": { field::PRICE: 9_900_i64, field::NAME: "Kettle 2" } },
    )
    .await;
    let order = app
        .get(&format!("/orders/{id}"))
        .bearer(&buyer.token)
        .send()
        .await
        .json();
    assert_eq!(order["user_id"], buyer.id.to_hex());
    assert_eq!(order["status"], "PLACED");
    assert_eq!(order["total"], 85.48);
    let mut items = order["items"].as_array().unwrap().clone();
    items.sort_by_key(|item| item["name"].as_str().unwrap().to_owned());
    assert_eq!(
        items,
        vec![
            json!({"product_id": kettle.to_hex(), "quantity": 2, "name": "Kettle", "unit_price": 29.99}),
            json!({"product_id": mug.to_hex(), "quantity": 3, "name": "Mug", "unit_price": 8.5}),
        ]
    );
    app.settle().await;
    app.assert_stock_invariant().await;
}

#[tokio::test]
async fn lines_naming_the_same_product_are_combined() {
    let app = spawn_app().await;
    let mug = app.product("Mug", "8.0", 10).await;
    let buyer = app.caller(Role::Buyer);

    let id = app.placed(&buyer, &[(mug, 1), (mug, 2)]).await;

    let order = app
        .get(&format!("/orders/{id}"))
        .bearer(&buyer.token)
        .send()
        .await
        .json();
    assert_eq!(order["items"].as_array().unwrap().len(), 1);
    assert_eq!(order["items"][0]["quantity"], 3);
    assert_eq!(app.stock(mug).await, 7);
}

#[tokio::test]
async fn insufficient_stock_is_409_naming_the_product_and_takes_nothing() {
    let app = spawn_app().await;
    let mug = app.product("Mug", "8.0", 2).await;
    let buyer = app.caller(Role::Buyer);

    let response = app.order(&buyer, &[(mug, 3)]).await;

    let body = response.assert_error(StatusCode::CONFLICT, "INSUFFICIENT_STOCK");
    assert!(
        body["detail"].as_str().unwrap().contains(&mug.to_hex()),
        "{body}"
    );
    assert_eq!(app.stock(mug).await, 2);
    assert_eq!(app.db.count("orders", doc! {}).await, 0);
}

#[tokio::test]
async fn a_line_failing_after_earlier_lines_were_taken_leaves_no_trace() {
    let app = spawn_app().await;
    // Lines are taken in product-id order, so these are taken before the failing line.
    let first = app.product("First", "1.0", 5).await;
    let second = app.product("Second", "1.0", 5).await;
    let scarce = app.product("Scarce", "1.0", 1).await;
    let missing = ObjectId::new();
    let buyer = app.caller(Role::Buyer);

    let short = app
        .order(&buyer, &[(first, 2), (second, 2), (scarce, 2)])
        .await;
    let unknown = app
        .order(&buyer, &[(first, 2), (second, 2), (missing, 1)])
        .await;

    short.assert_error(StatusCode::CONFLICT, "INSUFFICIENT_STOCK");
    let body = unknown.assert_error(StatusCode::BAD_REQUEST, "PRODUCT_NOT_FOUND");
    assert_eq!(body["detail"], format!("Product {missing} not found"));
    for product in [first, second, scarce] {
        assert_eq!(
            app.markers(product).await,
            (0, 0),
            "no hold left on {product}"
        );
    }
    assert_eq!(
        (
            app.stock(first).await,
            app.stock(second).await,
            app.stock(scarce).await
        ),
        (5, 5, 1)
    );
    assert_eq!(app.db.count("orders", doc! {}).await, 0, "no order stored");
    app.assert_stock_invariant().await;
}

#[tokio::test]
async fn a_malformed_product_id_is_400_naming_it() {
    let app = spawn_app().await;
    let buyer = app.caller(Role::Buyer);

    let response = app
        .post("/orders")
        .bearer(&buyer.token)
        .json(&json!({"items": [{"product_id": "not-an-id", "quantity": 1}]}))
        .send()
        .await;

    let body = response.assert_error(StatusCode::BAD_REQUEST, "INVALID_ID");
    assert_eq!(body["detail"], "Invalid product id not-an-id");
}

#[tokio::test]
async fn bad_quantities_and_item_lists_are_422() {
    let app = spawn_app().await;
    let mug = app.product("Mug", "8.0", 100_000).await;
    let buyer = app.caller(Role::Buyer);
    let line =
        |quantity: Value| json!({"items": [{"product_id": mug.to_hex(), "quantity": quantity}]});
    let quantity_loc = json!(["body", "items", 0, "quantity"]);
    let many: Vec<Value> = (0..101)
        .map(|_| json!({"product_id": mug.to_hex(), "quantity": 1}))
        .collect();
    let cases = [
        (line(json!(0)), quantity_loc.clone()),
        (line(json!(-1)), quantity_loc.clone()),
        (line(json!(1.5)), quantity_loc.clone()),
        (line(json!(10_001)), quantity_loc.clone()),
        (line(json!("2")), quantity_loc.clone()),
        (json!({"items": []}), json!(["body", "items"])),
        (json!({}), json!(["body", "items"])),
        (json!({"items": many}), json!(["body", "items"])),
        (
            json!({"items": [{"quantity": 1}]}),
            json!(["body", "items", 0, "product_id"]),
        ),
    ];

    for (body, loc) in cases {
        let response = app
            .post("/orders")
            .bearer(&buyer.token)
            .json(&body)
            .send()
            .await;

        let locs = response.assert_validation_error();
        assert!(locs.contains(&loc), "{body} → {locs:?}");
    }
    assert_eq!(app.stock(mug).await, 100_000);
    assert_eq!(app.db.count("orders", doc! {}).await, 0);
}

#[tokio::test]
async fn the_largest_order_allowed_is_placed() {
    let app = spawn_app().await;
    let buyer = app.caller(Role::Buyer);
    let mut items = Vec::new();
    for i in 0..100 {
        items.push((
            app.product(&format!("Item {i}"), "1.0", 10_000).await,
            10_000,
        ));
    }

    let response = app.order(&buyer, &items).await;

    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    assert_eq!(response.json()["total"], 1_000_000.0);
    app.settle().await;
    app.assert_stock_invariant().await;
}

#[tokio::test]
async fn only_an_admin_may_order_for_another_user() {
    let app = spawn_app().await;
    let mug = app.product("Mug", "8.0", 10).await;
    let buyer = app.caller(Role::Buyer);
    let other = app.caller(Role::Buyer);
    let admin = app.caller(Role::Admin);
    let body = json!({"user_id": other.id.to_hex(), "items": [{"product_id": mug.to_hex(), "quantity": 1}]});

    let by_buyer = app
        .post("/orders")
        .bearer(&buyer.token)
        .json(&body)
        .send()
        .await;
    let own = json!({"user_id": buyer.id.to_hex(), "items": [{"product_id": mug.to_hex(), "quantity": 1}]});
    let for_self = app
        .post("/orders")
        .bearer(&buyer.token)
        .json(&own)
        .send()
        .await;
    let by_admin = app
        .post("/orders")
        .bearer(&admin.token)
        .json(&body)
        .send()
        .await;

    by_buyer.assert_error(StatusCode::FORBIDDEN, "FORBIDDEN");
    assert_eq!(for_self.status, StatusCode::CREATED);
    assert_eq!(by_admin.status, StatusCode::CREATED, "{}", by_admin.text());
    let id = by_admin.json()["id"].as_str().unwrap().to_owned();
    let order = app
        .get(&format!("/orders/{id}"))
        .bearer(&other.token)
        .send()
        .await;
    assert_eq!(
        order.json()["user_id"],
        other.id.to_hex(),
        "the order is the other user's"
    );
    assert_eq!(app.stock(mug).await, 8);
}

#[tokio::test]
async fn ordering_needs_a_valid_token() {
    let app = spawn_app().await;
    let mug = app.product("Mug", "8.0", 10).await;

    let response = app
        .post("/orders")
        .json(&json!({"items": [{"product_id": mug.to_hex(), "quantity": 1}]}))
        .send()
        .await;

    response.assert_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    assert_eq!(app.stock(mug).await, 10);
}

#[tokio::test]
async fn repeating_a_line_cannot_order_more_than_10000_units_of_one_product() {
    let app = spawn_app().await;
    let mug = app.product("Mug", "1.0", 2_000_000).await;
    let plate = app.product("Plate", "1.0", 10).await;
    let buyer = app.caller(Role::Buyer);
    let hundred_full_lines: Vec<_> = (0..100).map(|_| (mug, 10_000)).collect();

    let repeated = app.order(&buyer, &hundred_full_lines).await;
    let split = app
        .order(
            &buyer,
            &[(plate, 1), (mug, 6_000), (plate, 1), (mug, 4_001)],
        )
        .await;

    // The error points at the first line naming the product whose lines add up to too much.
    assert_eq!(
        repeated.assert_validation_error(),
        vec![json!(["body", "items", 0, "quantity"])]
    );
    assert_eq!(
        split.assert_validation_error(),
        vec![json!(["body", "items", 1, "quantity"])]
    );
    let message = split.json()["detail"][0]["msg"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains(&mug.to_hex()), "{message}");
    assert!(message.contains("10001"), "{message}");
    assert_eq!(
        (app.stock(mug).await, app.stock(plate).await),
        (2_000_000, 10)
    );
    assert_eq!(app.markers(mug).await, (0, 0), "no hold left");
    assert_eq!(app.db.count("orders", doc! {}).await, 0, "no order stored");
}

#[tokio::test]
async fn lines_of_one_product_may_add_up_to_exactly_10000_units() {
    let app = spawn_app().await;
    let mug = app.product("Mug", "1.0", 20_000).await;
    let buyer = app.caller(Role::Buyer);

    let id = app.placed(&buyer, &[(mug, 6_000), (mug, 4_000)]).await;

    let order = app
        .get(&format!("/orders/{id}"))
        .bearer(&buyer.token)
        .send()
        .await
        .json();
    assert_eq!(order["items"].as_array().unwrap().len(), 1);
    assert_eq!(order["items"][0]["quantity"], 10_000);
    assert_eq!(app.stock(mug).await, 10_000);
}

#[tokio::test]
async fn a_whole_valued_quantity_is_taken_as_an_integer() {
    let app = spawn_app().await;
    let mug = app.product("Mug", "8.0", 10).await;
    let plate = app.product("Plate", "2.0", 2_000).await;
    let buyer = app.caller(Role::Buyer);

    let response = app
        .post("/orders")
        .bearer(&buyer.token)
        .json(&json!({"items": [
            {"product_id": mug.to_hex(), "quantity": 2.0},
            {"product_id": plate.to_hex(), "quantity": 1e3},
        ]}))
        .send()
        .await;

    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    assert_eq!(response.json()["total"], 2016.0);
    assert_eq!((app.stock(mug).await, app.stock(plate).await), (8, 1_000));
    let id = response.json()["id"].as_str().unwrap().to_owned();
    let order = app
        .get(&format!("/orders/{id}"))
        .bearer(&buyer.token)
        .send()
        .await
        .json();
    let mut quantities: Vec<Value> = order["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["quantity"].clone())
        .collect();
    quantities.sort_by_key(|quantity| quantity.as_i64());
    assert_eq!(
        quantities,
        vec![json!(2), json!(1000)],
        "stored as integers"
    );
}

#[tokio::test]
async fn fractional_and_out_of_range_quantities_are_422_at_the_quantity() {
    let app = spawn_app().await;
    let mug = app.product("Mug", "8.0", 10).await;
    let buyer = app.caller(Role::Buyer);

    for quantity in [
        json!(1.5),
        json!(0.5),
        json!(1e20),
        json!(-1e20),
        json!(2.000001),
    ] {
        let response = app
            .post("/orders")
            .bearer(&buyer.token)
            .json(&json!({"items": [{"product_id": mug.to_hex(), "quantity": quantity}]}))
            .send()
            .await;

        assert_eq!(
            response.assert_validation_error(),
            vec![json!(["body", "items", 0, "quantity"])],
            "{quantity}"
        );
    }
    assert_eq!(app.stock(mug).await, 10);
}
