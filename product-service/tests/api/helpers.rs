//! A product service on a fresh database, callers with tokens, and products to work with.

use axum::http::StatusCode;
use common_platform::server::Shutdown;
use common_testing::{TestClient, TestDb};
use product_service::{AppState, ProductSettings, app};
use serde_json::{Value, json};

pub use common_testing::{Caller, TestApp};

/// Starts the product service on a database of its own.
pub async fn spawn_app() -> TestApp {
    spawn_app_on(TestDb::new("product_service").await).await
}

/// Starts the product service on `db`, with the settings its variables give.
pub async fn spawn_app_on(db: TestDb) -> TestApp {
    let settings = ProductSettings::from_lookup(db.lookup()).expect("the test settings are valid");
    TestApp::new(spawn_instance(&db, settings).await, db)
}

/// Another instance of the service on `db`, as a second replica would run.
pub async fn spawn_instance(db: &TestDb, settings: ProductSettings) -> TestClient {
    let state = AppState::with_settings(
        db.config.clone(),
        db.db.clone(),
        settings,
        Shutdown::never(),
    )
    .await
    .expect("the service starts");
    TestClient::new(app(state))
}

/// The steps most tests share, as a seller or a shopper would take them.
pub trait ProductSteps {
    /// Creates a product as `seller` and returns it, asserting success.
    async fn create_product(&self, seller: &Caller, body: Value) -> Value;

    /// Creates a product named `name` with `stock` units as `seller`; returns its id.
    async fn product_with_stock(&self, seller: &Caller, name: &str, stock: i64) -> String;

    /// Creates a product named `name` in `category` as `seller`; returns its id.
    async fn product_in(&self, seller: &Caller, name: &str, category: &str) -> String;

    /// The product's stock as the API reports it.
    async fn stock_of(&self, id: &str) -> i64;
}

impl ProductSteps for TestApp {
    async fn create_product(&self, seller: &Caller, body: Value) -> Value {
        let response = self
            .post("/products")
            .bearer(&seller.token)
            .json(&body)
            .send()
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
        response.json()
    }

    async fn product_with_stock(&self, seller: &Caller, name: &str, stock: i64) -> String {
        let product = self
            .create_product(seller, json!({"name": name, "price": 10.0, "stock": stock}))
            .await;
        product["id"].as_str().unwrap().to_owned()
    }

    async fn product_in(&self, seller: &Caller, name: &str, category: &str) -> String {
        let product = self
            .create_product(
                seller,
                json!({"name": name, "price": 1, "category": category}),
            )
            .await;
        product["id"].as_str().unwrap().to_owned()
    }

    async fn stock_of(&self, id: &str) -> i64 {
        let response = self.get(&format!("/products/{id}")).send().await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        response.json()["stock"].as_i64().unwrap()
    }
}

/// The `name`s of a list response, in order.
pub fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|product| product["name"].as_str().unwrap().to_owned())
        .collect()
}

/// A product document as another writer (or an earlier system) stores it, for tests that write
/// behind the service's back: category key derived from `category`, no image, no order
/// bookkeeping.
pub fn product_doc(
    name: &str,
    category: &str,
    stock: i64,
    seller: mongodb::bson::oid::ObjectId,
    created_at: mongodb::bson::DateTime,
) -> common_catalog::ProductDoc {
    common_catalog::ProductDoc {
        id: mongodb::bson::oid::ObjectId::new(),
        name: name.to_owned(),
        description: String::new(),
        price: 100.into(),
        category: category.to_owned(),
        category_key: common_catalog::category_key(category),
        stock,
        seller_id: seller,
        created_at,
        updated_at: created_at,
        holds: Vec::new(),
        returns: Vec::new(),
        image: None,
    }
}

/// Waits until `holds` is true, for what the service does in the background (the category
/// upkeep, the catalog's feed); fails naming `what` after 15 s.
pub async fn eventually<F, Fut>(what: &str, mut holds: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !holds().await {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not happen"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
