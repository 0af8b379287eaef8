//! The in-memory catalog agrees with MongoDB: after random writes through the API, by orders and
//! by hand; across two instances; after a restart, a change stream failure, and on a standalone
//! server that has no change streams.
//!
//! Over 400 lines on purpose: every test compares the API's lists with one oracle (`direct`, the
//! same query on the collection) after writes from one generator, both defined once at the top.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common_api::{auth::Role, money::Currency};
use common_catalog::{PRODUCTS, ProductDoc, field};
use common_testing::{Mongod, TestClient, TestDb};
use futures_util::TryStreamExt;
use mongodb::{
    Database,
    bson::{Bson, DateTime, Document, doc, oid::ObjectId},
};
use product_service::ProductSettings;
use serde_json::{Value, json};

use crate::helpers::{
    Caller, ProductSteps, TestApp, product_doc, spawn_app, spawn_app_on, spawn_instance,
};

/// A small deterministic generator (xorshift), so a failure replays exactly.
struct Random(u64);

impl Random {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const NAMES: [&str; 8] = [
    "Desk Lamp (oak)",
    "floor lamp",
    "LAMP (brass)",
    "Garden Chair",
    "chair",
    "a.*b widget",
    "Table",
    "Crème brûlée set",
];
const CATEGORIES: [&str; 5] = ["Home", "home ", "Garden", "Toys", ""];
const PRICES: [f64; 5] = [5.0, 9.99, 12.5, 20.0, 42.0];

/// One `GET /products` as query parameters.
#[derive(Clone, Debug, Default)]
struct Params {
    q: Option<&'static str>,
    category: Option<&'static str>,
    seller: Option<ObjectId>,
    prices: (Option<&'static str>, Option<&'static str>),
    in_stock: bool,
    sort: &'static str,
    limit: i64,
    offset: i64,
}

impl Params {
    fn uri(&self) -> String {
        let mut query = form_pairs(self);
        query.push(("sort".into(), self.sort.into()));
        query.push(("limit".into(), self.limit.to_string()));
        query.push(("offset".into(), self.offset.to_string()));
        let encoded: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect();
        format!("/products?{}", encoded.join("&"))
    }
}

fn form_pairs(params: &Params) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    if let Some(q) = params.q {
        pairs.push(("q".into(), q.into()));
    }
    if let Some(category) = params.category {
        pairs.push(("category".into(), category.into()));
    }
    if let Some(seller) = params.seller {
        pairs.push(("seller_id".into(), seller.to_hex()));
    }
    if let Some(min) = params.prices.0 {
        pairs.push(("min_price".into(), min.to_owned()));
    }
    if let Some(max) = params.prices.1 {
        pairs.push(("max_price".into(), max.to_owned()));
    }
    if params.in_stock {
        pairs.push(("in_stock".into(), "true".into()));
    }
    pairs
}

fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What a direct query on the collection answers: the page's ids and the total.
async fn direct(db: &Database, params: &Params) -> (Vec<String>, u64) {
    let mut filter = Document::new();
    if let Some(q) = params.q {
        filter.insert(
            "$expr",
            doc! { "$gte": [{ "$indexOfCP": [{ "$toLower": "$name" }, q.to_lowercase()] }, 0] },
        );
    }
    if let Some(category) = params.category {
        filter.insert(field::CATEGORY_KEY, category.trim().to_lowercase());
    }
    if let Some(seller) = params.seller {
        filter.insert(field::SELLER_ID, seller);
    }
    let mut price = Document::new();
    // Prices are stored in cents.
    if let Some(min) = params.prices.0 {
        price.insert("$gte", Currency::USD.minor_ceil(&min.parse().unwrap()));
    }
    if let Some(max) = params.prices.1 {
        price.insert("$lte", Currency::USD.minor_floor(&max.parse().unwrap()));
    }
    if !price.is_empty() {
        filter.insert(field::PRICE, price);
    }
    if params.in_stock {
        filter.insert(field::STOCK, doc! { "$gt": 0 });
    }
    let sort = match params.sort {
        "created_at" => doc! { "created_at": 1, "_id": 1 },
        "-created_at" => doc! { "created_at": -1, "_id": -1 },
        "price" => doc! { "price": 1, "_id": 1 },
        "-price" => doc! { "price": -1, "_id": -1 },
        "name" => doc! { "name_key": 1, "_id": 1 },
        other => panic!("unknown sort {other}"),
    };
    let pipeline = [
        doc! { "$match": filter },
        doc! { "$addFields": { "name_key": { "$toLower": "$name" } } },
        doc! { "$sort": sort },
        doc! { "$facet": {
            "page": [{ "$skip": params.offset }, { "$limit": params.limit }, { "$project": { "_id": 1 } }],
            "total": [{ "$count": "n" }],
        } },
    ];
    let result: Vec<Document> = db
        .collection::<Document>(PRODUCTS)
        .aggregate(pipeline)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let facet = &result[0];
    let ids = facet
        .get_array("page")
        .unwrap()
        .iter()
        .map(|d| {
            d.as_document()
                .unwrap()
                .get_object_id("_id")
                .unwrap()
                .to_hex()
        })
        .collect();
    let total = facet
        .get_array("total")
        .unwrap()
        .first()
        .map_or(0, |d| d.as_document().unwrap().get_i32("n").unwrap() as u64);
    (ids, total)
}

/// What the service answers: the page's ids and `X-Total-Count`.
async fn listed(client: &TestClient, params: &Params) -> (Vec<String>, u64) {
    let response = client.get(&params.uri()).send().await;
    assert_eq!(
        response.status,
        StatusCode::OK,
        "{}: {}",
        params.uri(),
        response.text()
    );
    let ids = response
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    let total = response.header("x-total-count").unwrap().parse().unwrap();
    (ids, total)
}

/// Every combination of filters, sorts and pages the comparison covers.
fn combinations(sellers: &[ObjectId]) -> Vec<Params> {
    let mut all = Vec::new();
    for sort in ["created_at", "-created_at", "price", "-price", "name"] {
        for q in [None, Some("LAMP ("), Some("a")] {
            for category in [None, Some("HOME"), Some("garden")] {
                for seller in [None, Some(sellers[0])] {
                    for prices in [(None, None), (Some("9.99"), Some("20"))] {
                        for in_stock in [false, true] {
                            for (limit, offset) in [(4, 0), (4, 4)] {
                                all.push(Params {
                                    q,
                                    category,
                                    seller,
                                    prices,
                                    in_stock,
                                    sort,
                                    limit,
                                    offset,
                                });
                            }
                        }
                    }
                }
            }
        }
    }
    all
}

/// Waits (up to 10 s) until `client` answers `params` as the database does, and returns the
/// last two answers.
async fn converged(client: &TestClient, db: &Database, params: &Params) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if listed(client, params).await == direct(db, params).await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The list of every product, oldest first, as a cheap fingerprint of the whole model.
fn everything() -> Params {
    Params {
        sort: "created_at",
        limit: 1000,
        ..Params::default()
    }
}

/// Takes stock as the order service does: a conditional decrement that leaves a hold, then the
/// hold's release in a second write.
async fn order_directly(db: &Database, product: ObjectId, qty: i64) {
    let products = db.collection::<Document>(PRODUCTS);
    let order = ObjectId::new();
    let taken = products
        .find_one_and_update(
            doc! { field::ID: product, field::STOCK: { "$gte": qty } },
            doc! {
                "$inc": { field::STOCK: -qty },
                "$push": { field::HOLDS: { "order": order, "qty": qty, "at": DateTime::now() } },
            },
        )
        .await
        .unwrap();
    if taken.is_some() {
        products
            .update_one(
                doc! { field::ID: product },
                doc! { "$pull": { field::HOLDS: { "order": order } } },
            )
            .await
            .unwrap();
    }
}

/// Runs `steps` random writes: creates, patches, deletes and stock changes through `app`, orders
/// and hand edits straight on the collection.
async fn random_writes(app: &TestApp, sellers: &[Caller], random: &mut Random, steps: usize) {
    let mut ids: Vec<(String, usize)> = Vec::new();
    for step in 0..steps {
        let action = if ids.len() < 5 { 0 } else { random.below(7) };
        match action {
            0 | 1 => {
                let owner = random.below(sellers.len());
                let body = json!({
                    "name": format!("{} {}", random.pick(&NAMES), step),
                    "price": random.pick(&PRICES),
                    "category": random.pick(&CATEGORIES),
                    "stock": random.below(4),
                });
                let product = app.create_product(&sellers[owner], body).await;
                ids.push((product["id"].as_str().unwrap().to_owned(), owner));
            }
            2 => {
                let (id, owner) = random.pick(&ids).clone();
                let body = match random.below(3) {
                    0 => json!({"name": format!("{} renamed", random.pick(&NAMES))}),
                    1 => json!({"price": random.pick(&PRICES)}),
                    _ => json!({"category": random.pick(&CATEGORIES)}),
                };
                let response = app
                    .patch(&format!("/products/{id}"))
                    .bearer(&sellers[owner].token)
                    .json(&body)
                    .send()
                    .await;
                assert_eq!(response.status, StatusCode::OK, "{}", response.text());
            }
            3 => {
                let at = random.below(ids.len());
                let (id, owner) = ids.swap_remove(at);
                let response = app
                    .delete(&format!("/products/{id}"))
                    .bearer(&sellers[owner].token)
                    .send()
                    .await;
                assert_eq!(response.status, StatusCode::NO_CONTENT);
            }
            4 => {
                let (id, owner) = random.pick(&ids).clone();
                let delta = [-1, 2, 3][random.below(3)];
                let response = app
                    .post(&format!("/products/{id}/stock"))
                    .bearer(&sellers[owner].token)
                    .json(&json!({ "delta": delta }))
                    .send()
                    .await;
                assert!(
                    [StatusCode::OK, StatusCode::CONFLICT].contains(&response.status),
                    "{}",
                    response.text()
                );
            }
            5 => {
                let (id, _) = random.pick(&ids);
                order_directly(&app.db.db, ObjectId::parse_str(id).unwrap(), 1).await;
            }
            _ => {
                let (id, _) = random.pick(&ids);
                app.db
                    .db
                    .collection::<Document>(PRODUCTS)
                    .update_one(
                        doc! { field::ID: ObjectId::parse_str(id).unwrap() },
                        doc! { "$set": { field::PRICE: Bson::Int32(20), field::NAME: "Hand-edited lamp (x)" } },
                    )
                    .await
                    .unwrap();
            }
        }
    }
}

#[tokio::test]
async fn every_filter_sort_and_page_agrees_with_a_direct_query_after_random_writes() {
    let app = spawn_app().await;
    let sellers = [app.caller(Role::Seller), app.caller(Role::Seller)];
    let mut random = Random(0x5eed_cafe_f00d);

    random_writes(&app, &sellers, &mut random, 120).await;

    assert!(converged(&app, &app.db.db, &everything()).await);
    let seller_ids: Vec<ObjectId> = sellers.iter().map(|s| s.id).collect();
    let mut compared = 0;
    for params in combinations(&seller_ids) {
        assert_eq!(
            listed(&app, &params).await,
            direct(&app.db.db, &params).await,
            "{}",
            params.uri()
        );
        compared += 1;
    }
    assert_eq!(compared, 720);
}

#[tokio::test]
async fn two_instances_converge_and_the_writer_reads_its_own_write_at_once() {
    let app = spawn_app().await;
    let other = spawn_instance(&app.db, ProductSettings::default()).await;
    let seller = app.caller(Role::Seller);

    let created = app
        .create_product(
            &seller,
            json!({"name": "Fresh lamp", "price": 3, "stock": 2}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();

    // The writer sees it at once, without waiting for its change stream.
    let mine = app.get("/products?q=fresh").send().await;
    assert_eq!(mine.header("x-total-count"), Some("1"));
    // The other instance sees it, and the writer's later changes, through its change stream.
    assert!(converged(&other, &app.db.db, &everything()).await);
    let response = app
        .patch(&format!("/products/{id}"))
        .bearer(&seller.token)
        .json(&json!({"name": "Renamed lamp"}))
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        app.get("/products?q=renamed")
            .send()
            .await
            .header("x-total-count"),
        Some("1")
    );
    let renamed = Params {
        q: Some("renamed"),
        ..everything()
    };
    assert!(converged(&other, &app.db.db, &renamed).await);
    assert_eq!(listed(&other, &renamed).await.1, 1);

    let response = app
        .delete(&format!("/products/{id}"))
        .bearer(&seller.token)
        .send()
        .await;
    assert_eq!(response.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/products").send().await.header("x-total-count"),
        Some("0")
    );
    assert!(converged(&other, &app.db.db, &everything()).await);
    assert_eq!(listed(&other, &everything()).await.1, 0);
}

#[tokio::test]
async fn an_order_taking_the_last_unit_drops_the_product_from_in_stock_lists() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = app.product_with_stock(&seller, "Last lamp", 1).await;
    let in_stock = Params {
        in_stock: true,
        ..everything()
    };
    assert_eq!(listed(&app, &in_stock).await.1, 1);

    order_directly(&app.db.db, ObjectId::parse_str(&id).unwrap(), 1).await;

    assert!(converged(&app, &app.db.db, &in_stock).await);
    assert_eq!(listed(&app, &in_stock).await.1, 0);
}

#[tokio::test]
async fn a_restarted_instance_loads_the_same_catalog() {
    let app = spawn_app().await;
    let sellers = [app.caller(Role::Seller), app.caller(Role::Seller)];
    random_writes(&app, &sellers, &mut Random(77), 40).await;
    assert!(converged(&app, &app.db.db, &everything()).await);

    let restarted = spawn_instance(&app.db, ProductSettings::default()).await;

    let seller_ids: Vec<ObjectId> = sellers.iter().map(|s| s.id).collect();
    for params in combinations(&seller_ids).iter().step_by(7) {
        assert_eq!(
            listed(&restarted, params).await,
            listed(&app, params).await,
            "{}",
            params.uri()
        );
    }
    assert_eq!(
        restarted.get("/categories").send().await.json(),
        app.get("/categories").send().await.json()
    );
}

#[tokio::test]
async fn documents_written_by_hand_are_listed_or_left_out_without_breaking_the_list() {
    let app = spawn_app().await;
    let products = app.db.db.collection::<Document>(PRODUCTS);
    let now = DateTime::now();
    products
        .insert_many([
            // A product written by hand, with integer price (in cents) and stock and no category key.
            doc! { "name": "Hand Lamp", "price": 700, "stock": 3, "category": "Home",
            "description": "", "seller_id": ObjectId::new(), "created_at": now, "updated_at": now },
            // Not a product at all.
            doc! { "note": "not a product" },
        ])
        .await
        .unwrap();

    assert!(
        converged(
            &app,
            &app.db.db,
            &Params {
                q: Some("hand"),
                ..everything()
            }
        )
        .await
    );
    let response = app.get("/products?category=home").send().await;
    assert_eq!(response.header("x-total-count"), Some("1"));
    assert_eq!(
        app.get("/categories").send().await.json(),
        json!([{"name": "Home", "slug": "home", "description": "", "product_count": 1}])
    );
}

/// Inserts a product straight into the collection, as another writer would.
async fn insert_elsewhere(db: &Database, name: &str, category: &str, stock: i64, seller: ObjectId) {
    let product = product_doc(name, category, stock, seller, DateTime::now());
    db.collection::<ProductDoc>(PRODUCTS)
        .insert_one(product)
        .await
        .unwrap();
}

#[tokio::test]
async fn after_a_change_stream_failure_the_catalog_reloads_and_catches_up() {
    let mongod = Mongod::start_replica_set().await;
    let db = TestDb::on_server(&mongod.uri(), "product_service", &[]).await;
    let app = spawn_app_on(db).await;
    let seller = app.caller(Role::Seller);
    app.product_with_stock(&seller, "Before the failure", 1)
        .await;

    // The next getMore of any change stream fails with an error the driver does not retry.
    app.db
        .db
        .client()
        .database("admin")
        .run_command(doc! {
            "configureFailPoint": "failCommand",
            "mode": { "times": 1 },
            "data": { "failCommands": ["getMore"], "errorCode": 280 },
        })
        .await
        .unwrap();
    // Written behind the service's back, straight into the collection.
    insert_elsewhere(&app.db.db, "After the failure", "", 1, seller.id).await;

    assert!(converged(&app, &app.db.db, &everything()).await);
    assert_eq!(listed(&app, &everything()).await.1, 2);
    drop(app);
    drop(mongod);
}

#[tokio::test]
async fn on_a_standalone_server_the_catalog_is_reloaded_periodically() {
    let mongod = Mongod::start_standalone().await;
    let db = TestDb::on_server(&mongod.uri(), "product_service", &[]).await;
    let settings = ProductSettings {
        poll_interval: Duration::from_millis(200),
        ..ProductSettings::default()
    };
    let app = TestApp::new(spawn_instance(&db, settings).await, db);
    let seller = app.caller(Role::Seller);

    // Its own writes show at once.
    app.product_with_stock(&seller, "Standalone lamp", 1).await;
    assert_eq!(
        app.get("/products?q=standalone")
            .send()
            .await
            .header("x-total-count"),
        Some("1")
    );
    // Another writer's show after a reload.
    insert_elsewhere(&app.db.db, "Another lamp", "Home", 0, seller.id).await;
    assert!(converged(&app, &app.db.db, &everything()).await);
    let in_home = Params {
        category: Some("home"),
        ..everything()
    };
    assert_eq!(listed(&app, &in_home).await.1, 1);
    drop(app);
    drop(mongod);
}

#[tokio::test]
async fn categories_follow_changes_made_elsewhere() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let product = app
        .create_product(
            &seller,
            json!({"name": "Kite", "price": 1, "category": "Toys"}),
        )
        .await;
    let id = ObjectId::parse_str(product["id"].as_str().unwrap()).unwrap();

    app.db
        .db
        .collection::<Document>(PRODUCTS)
        .update_one(
            doc! { field::ID: id },
            doc! { "$set": { field::CATEGORY: "Outdoor", field::CATEGORY_KEY: "outdoor" } },
        )
        .await
        .unwrap();

    // Listed at once from the catalog's feed (the emptied "Toys" stays, managed).
    let deadline = Instant::now() + Duration::from_secs(10);
    let expected: Value = json!([
        {"name": "Outdoor", "slug": "outdoor", "description": "", "product_count": 1},
        {"name": "Toys", "slug": "toys", "description": "", "product_count": 0},
    ]);
    while app.get("/categories").send().await.json() != expected {
        assert!(Instant::now() < deadline, "categories did not follow");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The next upkeep pass (every CATALOG_POLL_SECS, 5 s by default) stores its document.
    let deadline = Instant::now() + Duration::from_secs(15);
    while app
        .db
        .count(
            product_service::store::CATEGORIES,
            doc! { "key": "outdoor", "slug": "outdoor" },
        )
        .await
        != 1
    {
        assert!(Instant::now() < deadline, "no document for the category");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
