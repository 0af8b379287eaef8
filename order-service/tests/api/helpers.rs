//! An order service on a fresh database, products to order, and checks of the stock invariant.

use std::{collections::HashMap, ops::Deref};

use axum::http::StatusCode;
use common_api::auth::Role;
use common_catalog::{PRODUCTS, ProductDoc, field};
use common_platform::server::Shutdown;
use common_testing::{TestClient, TestDb, TestResponse, access_token};
use mongodb::bson::{DateTime, Document, doc, oid::ObjectId};
use order_service::{
    AppState, OrderSettings, app,
    engine::recovery::{Cutoffs, RecoveryReport},
    store::{Claims, Inventory, OrderDoc, OrderLine, OrderStore, StoredStatus},
};
use serde_json::{Value, json};

/// The app under test, its state and stores (to drive the order steps directly) and its database.
pub struct TestApp {
    pub client: TestClient,
    pub state: AppState,
    /// Orders, over the app's database.
    pub orders: OrderStore,
    /// The stock side of orders, over the app's database.
    pub inventory: Inventory,
    /// Idempotency keys, over the app's database.
    pub claims: Claims,
    pub db: TestDb,
    /// Initial stock of every product created, for the invariant.
    initial: std::sync::Mutex<HashMap<ObjectId, i64>>,
}

impl Deref for TestApp {
    type Target = TestClient;

    fn deref(&self) -> &TestClient {
        &self.client
    }
}

/// Stores a product in `db` as the product service would (its price, a decimal in USD such as
/// `"19.99"`, as minor units); returns its id.
pub async fn insert_product(db: &TestDb, name: &str, price: &str, stock: i64) -> ObjectId {
    let price = common_api::money::Currency::USD
        .minor_exact(&price.parse().expect("a decimal"))
        .expect("a price in cents")
        .into();
    let id = ObjectId::new();
    let now = DateTime::now();
    db.db
        .collection::<ProductDoc>(PRODUCTS)
        .insert_one(ProductDoc {
            id,
            name: name.to_owned(),
            description: String::new(),
            price,
            category: String::new(),
            category_key: String::new(),
            stock,
            seller_id: ObjectId::new(),
            created_at: now,
            updated_at: now,
            holds: Vec::new(),
            returns: Vec::new(),
            image: None,
        })
        .await
        .unwrap();
    id
}

/// A caller: a user id and an access token for it.
#[derive(Clone)]
pub struct Caller {
    pub id: ObjectId,
    pub token: String,
}

/// Starts the order service on a database of its own on the test MongoDB.
pub async fn spawn_app() -> TestApp {
    spawn_app_on(TestDb::new("order_service").await).await
}

/// Starts the order service on `db`.
pub async fn spawn_app_on(db: TestDb) -> TestApp {
    let state = AppState::new(db.config.clone(), db.db.clone(), Shutdown::never())
        .await
        .expect("the service starts");
    test_app(db, state)
}

/// Starts the order service on `db` with `settings`.
pub async fn spawn_app_with(db: TestDb, settings: OrderSettings) -> TestApp {
    let state = AppState::with_settings(
        db.config.clone(),
        db.db.clone(),
        settings,
        Shutdown::never(),
    )
    .await
    .expect("the service starts");
    test_app(db, state)
}

/// The app of `state`, on `db`.
pub fn test_app_of(db: TestDb, state: AppState) -> TestApp {
    test_app(db, state)
}

fn test_app(db: TestDb, state: AppState) -> TestApp {
    TestApp {
        client: TestClient::new(app(state.clone())),
        state,
        orders: OrderStore::new(&db.db),
        inventory: Inventory::new(&db.db),
        claims: Claims::new(&db.db),
        db,
        initial: Default::default(),
    }
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

    /// Stores a product as the product service would (its price, a decimal in USD such as
    /// `"19.99"`, as minor units), and remembers its initial stock.
    pub async fn product(&self, name: &str, price: &str, stock: i64) -> ObjectId {
        let id = insert_product(&self.db, name, price, stock).await;
        self.initial.lock().unwrap().insert(id, stock);
        id
    }

    /// A product, read from the database.
    async fn product_doc(&self, id: ObjectId) -> ProductDoc {
        self.db
            .db
            .collection::<ProductDoc>(PRODUCTS)
            .find_one(doc! { field::ID: id })
            .await
            .unwrap()
            .expect("the product exists")
    }

    /// The product's stock.
    pub async fn stock(&self, id: ObjectId) -> i64 {
        self.product_doc(id).await.stock
    }

    /// How many holds and return markers the product carries.
    pub async fn markers(&self, id: ObjectId) -> (usize, usize) {
        let product = self.product_doc(id).await;
        (product.holds.len(), product.returns.len())
    }

    /// Sets fields of a product behind the service's back, as the product service or a seller
    /// would.
    pub async fn update_product(&self, id: ObjectId, update: Document) {
        self.db
            .db
            .collection::<ProductDoc>(PRODUCTS)
            .update_one(doc! { field::ID: id }, update)
            .await
            .unwrap();
    }

    /// Places an order for `items` (pairs of product and quantity) as `caller`.
    pub async fn order(&self, caller: &Caller, items: &[(ObjectId, i64)]) -> TestResponse {
        self.order_with(caller, items, None).await
    }

    /// Places an order, with an `Idempotency-Key` if given.
    pub async fn order_with(
        &self,
        caller: &Caller,
        items: &[(ObjectId, i64)],
        key: Option<&str>,
    ) -> TestResponse {
        send_order(&self.client, caller, items, key).await
    }

    /// Places an order that must succeed; returns its id.
    pub async fn placed(&self, caller: &Caller, items: &[(ObjectId, i64)]) -> ObjectId {
        let response = self.order(caller, items).await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
        ObjectId::parse_str(response.json()["id"].as_str().unwrap()).unwrap()
    }

    /// Stores a cancelled order of `owner` with `lines` as they are given, behind the service's
    /// back, as an earlier version of the service might have stored it; returns its id.
    pub async fn stored_order(&self, owner: &Caller, lines: &[(ObjectId, i64)]) -> ObjectId {
        let id = ObjectId::new();
        let now = DateTime::now();
        let items = lines
            .iter()
            .map(|&(product_id, quantity)| OrderLine {
                product_id,
                quantity,
                name: "Old line".to_owned(),
                unit_price: 100.into(),
            })
            .collect();
        self.db
            .db
            .collection::<OrderDoc>("orders")
            .insert_one(OrderDoc::new(
                id,
                owner.id,
                items,
                StoredStatus::Cancelled,
                0.into(),
                now,
            ))
            .await
            .unwrap();
        id
    }

    /// Waits until every queued hold release is written.
    pub async fn settle(&self) {
        self.state.engine.flush_releases().await;
    }

    /// Runs a recovery pass that treats everything as old, as a pass long after a crash would.
    pub async fn recover_all(&self) -> RecoveryReport {
        let later = DateTime::from_millis(DateTime::now().timestamp_millis() + 1000);
        let cutoffs = Cutoffs {
            stale_before: later,
            markers_before: later,
        };
        self.state
            .engine
            .recover(cutoffs)
            .await
            .expect("the recovery pass runs")
    }

    /// The stored status of an order, tombstones included.
    pub async fn status(&self, order: ObjectId) -> Option<String> {
        let found = self
            .db
            .db
            .collection::<Document>("orders")
            .find_one(doc! { "_id": order })
            .await
            .unwrap();
        found.map(|order| order.get_str("status").unwrap().to_owned())
    }

    /// Asserts, for every product, initial stock = current stock + units in orders that are not
    /// cancelled or failed, and that no product carries a hold.
    pub async fn assert_stock_invariant(&self) {
        let broken = self.stock_invariant_breaches().await;
        assert!(broken.is_empty(), "{}", broken.join("\n"));
    }

    /// Waits up to `limit` for the recovery passes of running services to settle what crashes and
    /// outages left, then asserts the invariant, and that no cancel is left half done.
    pub async fn assert_stock_invariant_within(&self, limit: std::time::Duration) {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let mut broken = self.stock_invariant_breaches().await;
            // A cancel or an expiry whose lines are all back but which a crash left unfinished
            // already satisfies the invariant; it still has to be finished.
            for status in ["CANCELLING", "EXPIRING", "REVIVING"] {
                let unfinished = self.db.count("orders", doc! { "status": status }).await;
                if unfinished > 0 {
                    broken.push(format!("{unfinished} orders left {status}"));
                }
            }
            if broken.is_empty() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "not settled after {limit:?}:\n{}",
                broken.join("\n")
            );
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }

    /// What breaks the stock invariant now, one line per product.
    async fn stock_invariant_breaches(&self) -> Vec<String> {
        let mut sold: HashMap<ObjectId, i64> = HashMap::new();
        let orders: Vec<Document> = {
            use futures_util::TryStreamExt;
            self.db
                .db
                .collection::<Document>("orders")
                // The orders that hold their stock; while a return is unfinished, its order
                // counts as holding every line, which the loop above waits out.
                .find(
                    doc! { "status": { "$nin": ["CANCELLED", "FAILED", "EXPIRED", "REFUND_DUE"] } },
                )
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap()
        };
        for order in orders {
            for line in order.get_array("items").unwrap() {
                let line = line.as_document().unwrap();
                *sold
                    .entry(line.get_object_id("product_id").unwrap())
                    .or_default() += line.get_i64("quantity").unwrap();
            }
        }
        let initial = self.initial.lock().unwrap().clone();
        let mut broken = Vec::new();
        for (product, initial) in initial {
            let doc = self.product_doc(product).await;
            let sold = sold.get(&product).copied().unwrap_or_default();
            if initial != doc.stock + sold || doc.stock < 0 || !doc.holds.is_empty() {
                broken.push(format!(
                    "product {product}: initial {initial}, stock {}, sold {sold}, holds {}",
                    doc.stock,
                    doc.holds.len()
                ));
            }
        }
        broken
    }
}

/// `POST /orders` for `items` (pairs of product and quantity) as `caller`, with an optional key;
/// usable from spawned tasks with a clone of the client.
pub async fn send_order(
    client: &TestClient,
    caller: &Caller,
    items: &[(ObjectId, i64)],
    key: Option<&str>,
) -> TestResponse {
    let items: Vec<Value> = items
        .iter()
        .map(|(product, quantity)| json!({"product_id": product.to_hex(), "quantity": quantity}))
        .collect();
    let mut request = client
        .post("/orders")
        .bearer(&caller.token)
        .json(&json!({"items": items}));
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    request.send().await
}
