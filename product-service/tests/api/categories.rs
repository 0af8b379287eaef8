//! `GET /categories` and the categories products create: every managed category with its slug,
//! description and product count, sorted by name regardless of case; a product naming a new
//! category creates it, one differing only in case reuses it; old databases are backfilled.

use axum::http::StatusCode;
use common_api::auth::Role;
use common_catalog::{PRODUCTS, ProductDoc};
use common_testing::TestDb;
use mongodb::bson::{DateTime, Document, doc, oid::ObjectId};
use product_service::{ProductSettings, store::CATEGORIES};
use serde_json::{Value, json};

use crate::helpers::{
    ProductSteps, eventually, product_doc, spawn_app, spawn_app_on, spawn_instance,
};

fn category(name: &str, slug: &str, description: &str, product_count: u64) -> Value {
    json!({"name": name, "slug": slug, "description": description, "product_count": product_count})
}

#[tokio::test]
async fn categories_are_counted_case_insensitively_and_sorted_by_name() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    for (name, category) in [
        ("Lamp", "Home"),
        ("Novel", "books"),
        ("Mug", "home"),
        ("Atlas", "Books"),
        ("Chair", " Home "),
        ("Loose screw", ""),
        ("Apple", "Garden"),
    ] {
        app.create_product(
            &seller,
            json!({"name": name, "price": 1, "category": category}),
        )
        .await;
    }

    let response = app.get("/categories").send().await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.json(),
        json!([
            category("books", "books", "", 2),
            category("Garden", "garden", "", 1),
            category("Home", "home", "", 3),
        ]),
        "sorted by lowercased name; the uncategorised \"\" is not listed"
    );
}

#[tokio::test]
async fn categories_follow_changes_to_products_and_go_with_their_last_product() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let id = app
        .create_product(
            &seller,
            json!({"name": "Lamp", "price": 1, "category": "Home"}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    app.patch(&format!("/products/{id}"))
        .bearer(&seller.token)
        .json(&json!({"category": "Lighting"}))
        .send()
        .await;
    let after_patch = app.get("/categories").send().await.json();
    app.delete(&format!("/products/{id}"))
        .bearer(&seller.token)
        .send()
        .await;
    let after_delete = app.get("/categories").send().await.json();

    // Both were made by the product, not by an admin: each goes when its last product leaves.
    assert_eq!(
        after_patch,
        json!([category("Lighting", "lighting", "", 1)])
    );
    assert_eq!(after_delete, json!([]));
    assert_eq!(app.db.count(CATEGORIES, doc! {}).await, 0);
}

#[tokio::test]
async fn a_product_naming_a_new_category_creates_it_with_a_slug_and_no_description() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);

    let product = app
        .create_product(
            &seller,
            json!({"name": "Rake", "price": 12, "category": "  Home & Garden "}),
        )
        .await;

    assert_eq!(product["category"], "Home & Garden");
    assert_eq!(
        app.get("/categories").send().await.json(),
        json!([category("Home & Garden", "home-garden", "", 1)])
    );
    let stored = app
        .db
        .count(CATEGORIES, doc! { "slug": "home-garden" })
        .await;
    assert_eq!(stored, 1, "the category is stored, not only listed");
}

#[tokio::test]
async fn a_category_differing_only_in_case_reuses_the_existing_one() {
    let app = spawn_app().await;
    let admin = app.caller(Role::Admin);
    let seller = app.caller(Role::Seller);
    app.post("/categories")
        .bearer(&admin.token)
        .json(&json!({"name": "Kitchen", "description": "Pots and pans"}))
        .send()
        .await;

    let created = app
        .create_product(
            &seller,
            json!({"name": "Pan", "price": 20, "category": "KITCHEN"}),
        )
        .await;
    let patched = app
        .patch(&format!("/products/{}", created["id"].as_str().unwrap()))
        .bearer(&seller.token)
        .json(&json!({"category": " kitchen "}))
        .send()
        .await;

    assert_eq!(
        created["category"], "Kitchen",
        "stored as the category's name"
    );
    assert_eq!(patched.json()["category"], "Kitchen");
    assert_eq!(app.db.count(CATEGORIES, doc! {}).await, 1);
    assert_eq!(
        app.get("/categories").send().await.json(),
        json!([category("Kitchen", "kitchen", "Pots and pans", 1)])
    );
    let listed = app.get("/products?category=kitchen").send().await.json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_new_category_whose_slug_is_taken_gets_a_suffixed_slug() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    for category in ["Home & Garden", "Home Garden"] {
        app.create_product(
            &seller,
            json!({"name": "Rake", "price": 1, "category": category}),
        )
        .await;
    }

    let listed = app.get("/categories").send().await.json();

    assert_eq!(listed[0], category("Home & Garden", "home-garden", "", 1));
    assert_eq!(listed[1]["name"], "Home Garden");
    let slug = listed[1]["slug"].as_str().unwrap();
    let suffix = slug.strip_prefix("home-garden-").unwrap();
    assert!(
        suffix.len() == 8 && suffix.bytes().all(|b| b.is_ascii_hexdigit()),
        "{slug}"
    );
    assert_eq!(listed.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_refused_product_change_creates_no_category() {
    let app = spawn_app().await;
    let seller = app.caller(Role::Seller);
    let buyer = app.caller(Role::Buyer);
    let id = app.product_with_stock(&seller, "Lamp", 1).await;

    let response = app
        .patch(&format!("/products/{id}"))
        .bearer(&buyer.token)
        .json(&json!({"category": "Spam"}))
        .send()
        .await;

    response.assert_error(StatusCode::FORBIDDEN, "FORBIDDEN");
    assert_eq!(app.get("/categories").send().await.json(), json!([]));
    assert_eq!(app.db.count(CATEGORIES, doc! {}).await, 0);
}

/// A product as an earlier system stored it: no category document exists for it.
fn old_product(name: &str, category: &str, created_ms: i64) -> ProductDoc {
    product_doc(
        name,
        category,
        1,
        ObjectId::new(),
        DateTime::from_millis(created_ms),
    )
}

#[tokio::test]
async fn from_startup_on_every_category_products_use_gets_a_document_once() {
    let db = TestDb::new("product_service").await;
    let products = db.db.collection::<ProductDoc>(PRODUCTS);
    products
        .insert_many([
            old_product("Kite", "Toys", 1_000),
            old_product("Ball", "TOYS", 2_000),
            old_product("Rake", "Outdoor & Garden", 3_000),
            old_product("Screw", "", 4_000),
        ])
        .await
        .unwrap();
    // As the earlier system stored products: no category key.
    let now = DateTime::now();
    db.db
        .collection::<Document>(PRODUCTS)
        .insert_one(
            doc! { "name": "Sled", "price": 3.5, "stock": 2, "category": "toys",
            "description": "", "seller_id": ObjectId::new(), "created_at": now, "updated_at": now },
        )
        .await
        .unwrap();

    let app = spawn_app_on(db).await;
    let again = spawn_instance(&app.db, ProductSettings::default()).await;

    // The upkeep runs in the background of both instances, which do not wait for it.
    let toys = doc! { "category_key": "toys" };
    eventually("the upkeep", || async {
        app.db.count(CATEGORIES, doc! {}).await == 2
            && app.db.count(PRODUCTS, toys.clone()).await == 3
    })
    .await;
    let expected = json!([
        category("Outdoor & Garden", "outdoor-garden", "", 1),
        category("Toys", "toys", "", 3),
    ]);
    eventually("both lists", || async {
        app.get("/categories").send().await.json() == expected
            && again.get("/categories").send().await.json() == expected
    })
    .await;
    assert_eq!(app.db.count(CATEGORIES, doc! {}).await, 2, "idempotent");
    assert_eq!(app.db.count(CATEGORIES, doc! { "key": "" }).await, 0);
    let keyed = app
        .db
        .count(PRODUCTS, doc! { "category_key": "toys" })
        .await;
    assert_eq!(keyed, 3, "the product without a key was given one");
}
