//! Categories under contention and abuse: product writes racing a rename or a delete, categories
//! that products create and leave, names that share a slug, and long non-ASCII names.

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use axum::http::StatusCode;
use common_api::auth::Role;
use common_catalog::PRODUCTS;
use common_testing::{Mongod, TestDb};
use futures_util::TryStreamExt;
use mongodb::bson::{Document, doc};
use product_service::{ProductSettings, store::CATEGORIES};
use serde_json::{Value, json};

use crate::helpers::{Caller, ProductSteps, TestApp, eventually, spawn_app, spawn_instance};

/// Every category document in MongoDB, by key.
async fn stored_categories(app: &TestApp) -> HashMap<String, Document> {
    app.db
        .documents(CATEGORIES, doc! {})
        .await
        .into_iter()
        .map(|category| (category.get_str("key").unwrap().to_owned(), category))
        .collect()
}

/// Fails unless every product in MongoDB is in a category that exists, spelled as that category
/// now is.
async fn assert_every_product_is_in_a_stored_category(app: &TestApp) {
    let stored = stored_categories(app).await;
    let products: Vec<Document> = app
        .db
        .db
        .collection::<Document>(PRODUCTS)
        .find(doc! {})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    for product in products {
        let (name, key) = (
            product.get_str("category").unwrap(),
            product.get_str("category_key").unwrap(),
        );
        let category = stored
            .get(key)
            .unwrap_or_else(|| panic!("a product is in {name:?}, which has no category"));
        assert_eq!(category.get_str("name").unwrap(), name);
    }
}

/// The service on a MongoDB of its own with fail points, without its periodic upkeep (which
/// would repair afterwards what these tests look for).
async fn app_on_private_mongod() -> (std::sync::Arc<TestApp>, Mongod) {
    let mongod = Mongod::start_replica_set().await;
    let db = TestDb::on_server(&mongod.uri(), "product_service", &[]).await;
    let settings = ProductSettings {
        poll_interval: Duration::from_secs(3600),
        ..ProductSettings::default()
    };
    let client = spawn_instance(&db, settings).await;
    (std::sync::Arc::new(TestApp::new(client, db)), mongod)
}

/// Makes the next `insert` MongoDB receives wait `delay` before it runs: the product write of a
/// request that has already looked its category up.
async fn delay_next_insert(app: &TestApp, delay: Duration) {
    app.db
        .db
        .client()
        .database("admin")
        .run_command(doc! {
            "configureFailPoint": "failCommand",
            "mode": { "times": 1 },
            "data": {
                "failCommands": ["insert"],
                "blockConnection": true,
                "blockTimeMS": delay.as_millis() as i64,
            },
        })
        .await
        .unwrap();
}

/// Creates a product in `category` on a task of its own, whose write is held back by
/// [`delay_next_insert`]; then, while it waits, `meanwhile` runs.
async fn create_product_during(
    app: &std::sync::Arc<TestApp>,
    seller: &Caller,
    category: &str,
    meanwhile: impl Future<Output = ()>,
) -> Value {
    // The event relay inserts too: once it has moved the events of earlier writes, the next
    // insert is this product's.
    eventually("earlier events are relayed", || async {
        app.db.outbox_backlog(PRODUCTS).await == 0
    })
    .await;
    delay_next_insert(app, Duration::from_millis(700)).await;
    let (writer, token, category) = (
        std::sync::Arc::clone(app),
        seller.token.clone(),
        category.to_owned(),
    );
    let creating = tokio::spawn(async move {
        writer
            .post("/products")
            .bearer(&token)
            .json(&json!({"name": "Late", "price": 1, "category": category}))
            .send()
            .await
    });
    // By now the request has looked its category up and waits on its write.
    tokio::time::sleep(Duration::from_millis(200)).await;
    meanwhile.await;
    let created = creating.await.unwrap();
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    created.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_written_after_a_rename_it_looked_up_before_follows_the_rename() {
    let (app, mongod) = app_on_private_mongod().await;
    let admin = app.caller(Role::Admin);
    let seller = app.caller(Role::Seller);
    app.product_in(&seller, "Lamp", "Home").await;

    let created = create_product_during(&app, &seller, "Home", async {
        let renamed = app
            .patch("/categories/home")
            .bearer(&admin.token)
            .json(&json!({"name": "Living"}))
            .send()
            .await;
        assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text());
    })
    .await;

    assert_eq!(created["category"], "Living");
    assert_eq!(
        app.db
            .count(PRODUCTS, doc! { "category_key": "living" })
            .await,
        2
    );
    assert_every_product_is_in_a_stored_category(&app).await;
    assert_eq!(
        app.get("/categories").send().await.json(),
        json!([{"name": "Living", "slug": "living", "description": "", "product_count": 2}])
    );
    drop(app);
    drop(mongod);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_written_as_its_category_is_deleted_keeps_a_category() {
    let (app, mongod) = app_on_private_mongod().await;
    let admin = app.caller(Role::Admin);
    let seller = app.caller(Role::Seller);
    let made = app
        .post("/categories")
        .bearer(&admin.token)
        .json(&json!({"name": "Seasonal", "description": "Gone soon"}))
        .send()
        .await;
    assert_eq!(made.status, StatusCode::CREATED);

    let created = create_product_during(&app, &seller, "Seasonal", async {
        // No product is in it yet: the delete is allowed.
        let deleted = app
            .delete("/categories/seasonal")
            .bearer(&admin.token)
            .send()
            .await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text());
    })
    .await;

    // The product came after the delete: it made the category anew.
    assert_eq!(created["category"], "Seasonal");
    assert_every_product_is_in_a_stored_category(&app).await;
    assert_eq!(
        app.get("/categories").send().await.json(),
        json!([{"name": "Seasonal", "slug": "seasonal", "description": "", "product_count": 1}])
    );
    drop(app);
    drop(mongod);
}

#[tokio::test]
async fn a_category_made_by_products_goes_with_its_last_product_and_an_admins_stays() {
    let app = spawn_app().await;
    let admin = app.caller(Role::Admin);
    let seller = app.caller(Role::Seller);
    let created = app
        .post("/categories")
        .bearer(&admin.token)
        .json(&json!({"name": "Tools"}))
        .send()
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let hammer = app.product_in(&seller, "Hammer", "Tools").await;
    let lamp = app.product_in(&seller, "Lamp", "Home").await;
    let mug = app.product_in(&seller, "Mug", "Home").await;

    for id in [&hammer, &lamp] {
        let response = app
            .delete(&format!("/products/{id}"))
            .bearer(&seller.token)
            .send()
            .await;
        assert_eq!(response.status, StatusCode::NO_CONTENT);
    }
    let one_left = app.get("/categories").send().await.json();
    let moved = app
        .patch(&format!("/products/{mug}"))
        .bearer(&seller.token)
        .json(&json!({"category": "Kitchen"}))
        .send()
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text());

    assert_eq!(
        one_left,
        json!([
            {"name": "Home", "slug": "home", "description": "", "product_count": 1},
            {"name": "Tools", "slug": "tools", "description": "", "product_count": 0},
        ])
    );
    assert_eq!(
        app.get("/categories").send().await.json(),
        json!([
            {"name": "Kitchen", "slug": "kitchen", "description": "", "product_count": 1},
            {"name": "Tools", "slug": "tools", "description": "", "product_count": 0},
        ])
    );
    let stored = stored_categories(&app).await;
    assert_eq!(
        stored.keys().collect::<HashSet<_>>(),
        HashSet::from([&"kitchen".to_owned(), &"tools".to_owned()])
    );
}

#[tokio::test]
async fn a_seller_moving_a_product_through_many_categories_leaves_only_the_last() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = app.product_in(&seller, "Lamp", "Start").await;

    for n in 0..60 {
        let response = app
            .patch(&format!("/products/{id}"))
            .bearer(&seller.token)
            .json(&json!({"category": format!("Spam {n}")}))
            .send()
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    }

    assert_eq!(
        app.get("/categories").send().await.json(),
        json!([{"name": "Spam 59", "slug": "spam-59", "description": "", "product_count": 1}])
    );
    assert_eq!(app.db.count(CATEGORIES, doc! {}).await, 1);
}

#[tokio::test]
async fn names_sharing_a_slug_each_get_a_category_with_a_slug_of_its_own() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    // `x!`, `x?`, `x!?`, …: names that differ only in punctuation, so every one's slug is `x`.
    let marks = ["!", "?", "#", "%", "&", "*", "+", ".", ";", ":", "~"];
    let names: Vec<String> = marks
        .iter()
        .flat_map(|a| marks.iter().map(move |b| format!("x{a}{b}")))
        .take(110)
        .collect();

    for name in &names {
        app.product_in(&seller, "Widget", name).await;
    }

    let stored = stored_categories(&app).await;
    assert_eq!(stored.len(), names.len(), "every name has its category");
    let slugs: HashSet<&str> = stored
        .values()
        .map(|category| category.get_str("slug").unwrap())
        .collect();
    assert_eq!(slugs.len(), names.len(), "slugs are unique");
    assert!(slugs.contains("x"));
    for slug in slugs.iter().filter(|slug| **slug != "x") {
        let suffix = slug.strip_prefix("x-").unwrap();
        assert!(
            suffix.len() == 8 && suffix.bytes().all(|b| b.is_ascii_hexdigit()),
            "{slug}"
        );
    }
    let listed = app.get("/categories").send().await.json();
    assert_eq!(listed.as_array().unwrap().len(), names.len());
}

/// About 100 characters, most of them two or three bytes long: MongoDB cuts such a value in its
/// duplicate-key message in the middle of a character.
fn long_non_ascii_name() -> String {
    "Ω≈ç√∫˜µ≤≥÷åß∂ƒ©…".chars().cycle().take(100).collect()
}

#[tokio::test]
async fn renaming_onto_a_taken_long_non_ascii_name_is_409() {
    let app = spawn_app().await;
    let admin = app.caller(Role::Admin);
    let name = long_non_ascii_name();
    for body in [json!({"name": name}), json!({"name": "Other"})] {
        let response = app
            .post("/categories")
            .bearer(&admin.token)
            .json(&body)
            .send()
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    }

    let renamed = app
        .patch("/categories/other")
        .bearer(&admin.token)
        .json(&json!({"name": name}))
        .send()
        .await;
    let created_again = app
        .post("/categories")
        .bearer(&admin.token)
        .json(&json!({"name": name}))
        .send()
        .await;

    renamed.assert_error(StatusCode::CONFLICT, "CATEGORY_EXISTS");
    created_again.assert_error(StatusCode::CONFLICT, "CATEGORY_EXISTS");
    let listed: Vec<Value> = app
        .get("/categories")
        .send()
        .await
        .json()
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().any(|category| category["name"] == "Other"));
}

#[tokio::test]
async fn products_in_a_long_non_ascii_category_share_it() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let name = long_non_ascii_name();

    app.product_in(&seller, "a", &name).await;
    app.product_in(&seller, "b", &format!("  {name} ")).await;

    let listed = app.get("/categories").send().await.json();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["name"], name.as_str());
    assert_eq!(listed[0]["product_count"], 2);
}
