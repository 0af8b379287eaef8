//! A product service on a fresh database, callers with tokens, and products to work with.

use std::ops::Deref;

use axum::http::StatusCode;
use common::server::Shutdown;
use common::{
    auth::Role,
    testing::{TestClient, TestDb, access_token},
};
use mongodb::bson::oid::ObjectId;
use product_service::{AppState, CatalogSettings, app};
use serde_json::{Value, json};

/// The app under test and its database, dropped last.
pub struct TestApp {
    pub client: TestClient,
    pub db: TestDb,
}

impl Deref for TestApp {
    type Target = TestClient;

    fn deref(&self) -> &TestClient {
        &self.client
    }
}

/// A caller: a user id and an access token for it.
pub struct Caller {
    pub id: ObjectId,
    pub token: String,
}

/// Starts the product service on a database of its own.
pub async fn spawn_app() -> TestApp {
    spawn_app_on(TestDb::new("product_service").await).await
}

/// Starts the product service on `db`.
pub async fn spawn_app_on(db: TestDb) -> TestApp {
    TestApp {
        client: spawn_instance(&db, CatalogSettings::default()).await,
        db,
    }
}

/// Another instance of the service on `db`, as a second replica would run.
pub async fn spawn_instance(db: &TestDb, settings: CatalogSettings) -> TestClient {
    let state = AppState::with_catalog(
        db.config.clone(),
        db.db.clone(),
        settings,
        Shutdown::never(),
    )
    .await
    .expect("the service starts");
    TestClient::new(app(state))
}

impl TestApp {
    /// A new user with `role`, signed with the shared secret as the user service would.
    pub fn caller(&self, role: Role) -> Caller {
        let id = ObjectId::new();
        Caller {
            id,
            token: access_token(&self.db.config, id, role),
        }
    }

    /// Creates a product as `seller` and returns it, asserting success.
    pub async fn create_product(&self, seller: &Caller, body: Value) -> Value {
        let response = self
            .post("/products")
            .bearer(&seller.token)
            .json(&body)
            .send()
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
        response.json()
    }

    /// Creates a product named `name` with `stock` units as `seller`; returns its id.
    pub async fn product_with_stock(&self, seller: &Caller, name: &str, stock: i64) -> String {
        let product = self
            .create_product(seller, json!({"name": name, "price": 10.0, "stock": stock}))
            .await;
        product["id"].as_str().unwrap().to_owned()
    }

    /// The product's stock as the API reports it.
    pub async fn stock_of(&self, id: &str) -> i64 {
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
