//! Exact money in orders: totals are exact sums written exactly, and orders stored before money
//! was exact (floats of dollars) are converted at startup, or read correctly until then.

use common_api::auth::Role;
use common_testing::TestDb;
use mongodb::bson::{Bson, DateTime, Document, doc, oid::ObjectId};
use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_on};

#[tokio::test]
async fn a_total_is_the_exact_sum_of_its_lines_written_exactly() {
    let app = spawn_app().await;
    let pen = app.product("Pen", "19.99", 100).await;
    let tenth = app.product("Tenth", "0.1", 100).await;
    let fifth = app.product("Fifth", "0.2", 100).await;
    let buyer = app.caller(Role::Buyer);

    let pens = app.order(&buyer, &[(pen, 3)]).await;
    let small = app.order(&buyer, &[(tenth, 3), (fifth, 1)]).await;

    // 59.97, not 59.970000000000006; 0.5, not 0.6000000000000001 or 0.5000000000000001.
    assert!(pens.text().contains(r#""total":59.97,"#), "{}", pens.text());
    assert!(small.text().contains(r#""total":0.5,"#), "{}", small.text());
    let id = pens.json()["id"].as_str().unwrap().to_owned();
    let order = app
        .get(&format!("/orders/{id}"))
        .bearer(&buyer.token)
        .send()
        .await;
    assert!(
        order.text().contains(r#""unit_price":19.99}"#),
        "{}",
        order.text()
    );
    assert_eq!(order.json()["currency"], "USD");
    let stored = app
        .db
        .db
        .collection::<Document>("orders")
        .find_one(doc! { "_id": ObjectId::parse_str(&id).unwrap() })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.get("total"), Some(&Bson::Int64(5_997)));
    let line = stored.get_array("items").unwrap()[0].as_document().unwrap();
    assert_eq!(line.get("unit_price"), Some(&Bson::Int64(1_999)));
}

/// An order as the service stored it before money was exact.
fn float_order(user: ObjectId, unit_price: f64, quantity: i64, total: f64) -> Document {
    let now = DateTime::now();
    doc! {
        "_id": ObjectId::new(), "user_id": user, "status": "DELIVERED",
        "items": [{ "product_id": ObjectId::new(), "quantity": quantity, "name": "Old",
            "unit_price": unit_price }],
        "total": total, "created_at": now, "updated_at": now,
    }
}

#[tokio::test]
async fn float_amounts_of_orders_are_converted_at_startup_and_read_until_then() {
    let db = TestDb::new("order_service").await;
    let buyer = db.caller(Role::Buyer);
    let orders = db.db.collection::<Document>("orders");
    // Before money was exact: 19.999 was kept, and the total rounded to 60.0.
    let before = float_order(buyer.id, 19.999, 3, 60.0);
    let before_id = before.get_object_id("_id").unwrap();
    orders.insert_one(before).await.unwrap();

    let app = spawn_app_on(db).await;

    let converted = orders
        .find_one(doc! { "_id": before_id })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(converted.get("total"), Some(&Bson::Int64(6_000)));
    let line = converted.get_array("items").unwrap()[0]
        .as_document()
        .unwrap();
    assert_eq!(line.get("unit_price"), Some(&Bson::Int64(2_000)));

    // Written later by an older replica: 1.115 × 2, its total rounded to 2.23; shown as 1.12 a
    // unit and their exact sum, 2.24, so the receipt adds up.
    let late = float_order(buyer.id, 1.115, 2, 2.23);
    let late_id = late.get_object_id("_id").unwrap();
    orders.insert_one(late).await.unwrap();
    let shown = app
        .get(&format!("/orders/{late_id}"))
        .bearer(&buyer.token)
        .send()
        .await
        .json();
    assert_eq!(shown["items"][0]["unit_price"], json!(1.12));
    assert_eq!(shown["total"], json!(2.24));
    assert_eq!(shown["currency"], "USD");
}
