//! Exact money in the catalog: prices written before money was exact (floats of dollars) are
//! converted at startup, and one written later by an older replica reads correctly until then.

use common_api::auth::Role;
use common_testing::TestDb;
use mongodb::bson::{Bson, DateTime, Document, doc, oid::ObjectId};
use serde_json::json;

use crate::helpers::{ProductSteps, spawn_app, spawn_app_on};

/// A product as the service stored it before money was exact: its price a float of dollars.
fn float_priced(name: &str, price: f64) -> Document {
    let now = DateTime::now();
    doc! {
        "_id": ObjectId::new(), "name": name, "description": "", "price": price,
        "category": "", "category_key": "", "stock": 1, "seller_id": ObjectId::new(),
        "created_at": now, "updated_at": now,
    }
}

async fn stored_prices(db: &TestDb) -> Vec<(String, Bson)> {
    let mut prices: Vec<(String, Bson)> = db
        .documents("products", doc! {})
        .await
        .into_iter()
        .map(|product| {
            let name = product.get_str("name").unwrap().to_owned();
            (name, product.get("price").unwrap().clone())
        })
        .collect();
    prices.sort_by(|a, b| a.0.cmp(&b.0));
    prices
}

#[tokio::test]
async fn float_prices_are_converted_to_cents_at_startup_half_to_even_and_once() {
    let db = TestDb::new("product_service").await;
    let products = db.db.collection::<Document>("products");
    products
        .insert_many([
            float_priced("a", 1.005),
            float_priced("b", 1.115),
            float_priced("c", 2.675),
            float_priced("d", 19.99),
            float_priced("e", 0.0),
        ])
        .await
        .unwrap();

    let app = spawn_app_on(db).await;

    let expected = [("a", 100), ("b", 112), ("c", 268), ("d", 1_999), ("e", 0)]
        .map(|(name, cents)| (name.to_owned(), Bson::Int64(cents)));
    assert_eq!(stored_prices(&app.db).await, expected);
    let listed = app.get("/products?sort=name").send().await.json();
    let shown: Vec<f64> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|product| product["price"].as_f64().unwrap())
        .collect();
    assert_eq!(shown, [1.0, 1.12, 2.68, 19.99, 0.0]);
    // A second start finds nothing left to convert, and changes nothing.
    let restarted =
        crate::helpers::spawn_instance(&app.db, product_service::ProductSettings::default()).await;
    drop(restarted);
    assert_eq!(stored_prices(&app.db).await, expected);
}

#[tokio::test]
async fn a_float_price_written_after_startup_reads_and_filters_exactly() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    app.create_product(&seller, json!({"name": "New", "price": 1.12}))
        .await;
    // As an older replica still running during a rolling upgrade would write it.
    let old = float_priced("Old", 1.115);
    let id = old.get_object_id("_id").unwrap();
    app.db
        .db
        .collection::<Document>("products")
        .insert_one(old)
        .await
        .unwrap();

    let one = app.get(&format!("/products/{id}")).send().await.json();
    assert_eq!(
        (one["price"].as_f64(), one["currency"].as_str()),
        (Some(1.12), Some("USD"))
    );
    // The read model, fed by the change stream, keeps it at 1.12 too.
    let mut total = None;
    for _ in 0..100 {
        let response = app
            .get("/products?min_price=1.12&max_price=1.12")
            .send()
            .await;
        total = response.header("x-total-count").map(str::to_owned);
        if total.as_deref() == Some("2") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(total.as_deref(), Some("2"));
    let bounded = app.get("/products?min_price=1.121").send().await;
    assert_eq!(bounded.header("x-total-count"), Some("0"));
}
