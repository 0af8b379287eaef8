//! `POST`, `PATCH` and `DELETE /categories`: admins manage categories; a rename moves every
//! product, and one left half done is completed by a retry or at startup.
//!
//! Over 400 lines on purpose: one test per rule of the admin routes, sharing the helpers at the
//! top; RELIABILITY.md cites them in this file.

use axum::http::{Method, StatusCode};
use common_api::{auth::Role, time::minus};
use common_catalog::{PRODUCTS, ProductDoc};
use common_testing::{Mongod, TestDb};
use mongodb::bson::{DateTime, Document, doc};
use product_service::{
    ProductSettings,
    store::{CATEGORIES, CategoryDoc, PendingRename},
};
use serde_json::{Value, json};
use std::time::Duration;

use crate::helpers::{Caller, ProductSteps, TestApp, eventually, spawn_app, spawn_instance};

fn category(name: &str, slug: &str, description: &str, product_count: u64) -> Value {
    json!({"name": name, "slug": slug, "description": description, "product_count": product_count})
}

async fn create_category(app: &TestApp, admin: &Caller, body: Value) -> Value {
    let response = app
        .post("/categories")
        .bearer(&admin.token)
        .json(&body)
        .send()
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    response.json()
}

/// How many products `GET /products?category=` lists.
async fn listed_in(app: &TestApp, category: &str) -> usize {
    let response = app
        .get(&format!(
            "/products?category={}",
            category.replace(' ', "%20")
        ))
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    response.json().as_array().unwrap().len()
}

#[tokio::test]
async fn an_admin_creates_a_category_that_is_listed_with_no_products() {
    let app = spawn_app().await;
    let admin = app.caller(Role::Admin);

    let created = create_category(
        &app,
        &admin,
        json!({"name": "  Garden tools ", "description": "Rakes and hoes"}),
    )
    .await;
    let bare = create_category(&app, &admin, json!({"name": "Attic"})).await;

    assert_eq!(
        created,
        category("Garden tools", "garden-tools", "Rakes and hoes", 0)
    );
    assert_eq!(bare, category("Attic", "attic", "", 0));
    assert_eq!(
        app.get("/categories").send().await.json(),
        json!([bare, created])
    );
}

#[tokio::test]
async fn a_name_taken_in_any_case_or_by_its_slug_is_409() {
    let app = spawn_app().await;
    let admin = app.caller(Role::Admin);
    create_category(&app, &admin, json!({"name": "Home & Garden"})).await;

    for name in ["HOME & GARDEN", " home & garden ", "Home Garden!"] {
        let response = app
            .post("/categories")
            .bearer(&admin.token)
            .json(&json!({"name": name}))
            .send()
            .await;

        response.assert_error(StatusCode::CONFLICT, "CATEGORY_EXISTS");
    }
    assert_eq!(app.db.count(CATEGORIES, doc! {}).await, 1);
}

#[tokio::test]
async fn a_blank_or_overlong_name_or_description_is_422() {
    let app = spawn_app().await;
    let admin = app.caller(Role::Admin);

    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "    "}), "name"),
        (json!({"name": "c".repeat(101)}), "name"),
        (
            json!({"name": "Ok", "description": "d".repeat(1001)}),
            "description",
        ),
        (json!({"description": "no name"}), "name"),
    ] {
        let response = app
            .post("/categories")
            .bearer(&admin.token)
            .json(&body)
            .send()
            .await;

        assert_eq!(response.assert_validation_error(), [json!(["body", field])]);
    }
    let longest = create_category(&app, &admin, json!({"name": "c".repeat(100)})).await;
    assert_eq!(longest["slug"], "c".repeat(100));
    assert_eq!(app.db.count(CATEGORIES, doc! {}).await, 1);
}

#[tokio::test]
async fn a_patch_with_no_field_or_a_blank_name_is_422() {
    let app = spawn_app().await;
    let admin = app.caller(Role::Admin);
    create_category(&app, &admin, json!({"name": "Home"})).await;

    for body in [
        json!({}),
        json!({"name": null}),
        json!({"name": "   "}),
        json!({"name": "n".repeat(101)}),
    ] {
        let response = app
            .patch("/categories/home")
            .bearer(&admin.token)
            .json(&body)
            .send()
            .await;

        response.assert_validation_error();
    }
}

#[tokio::test]
async fn only_admins_manage_categories() {
    let app = spawn_app().await;
    let admin = app.caller(Role::Admin);
    create_category(&app, &admin, json!({"name": "Home"})).await;
    let routes = [
        (Method::POST, "/categories", Some(json!({"name": "Toys"}))),
        (
            Method::PATCH,
            "/categories/home",
            Some(json!({"name": "Living"})),
        ),
        (Method::DELETE, "/categories/home", None),
    ];

    for (method, path, body) in routes {
        for token in [
            None,
            Some(app.caller(Role::Seller).token),
            Some(app.caller(Role::Buyer).token),
        ] {
            let mut request = app.request(method.clone(), path);
            if let Some(token) = &token {
                request = request.bearer(token);
            }
            if let Some(body) = &body {
                request = request.json(body);
            }

            let response = request.send().await;

            match token {
                None => {
                    response.assert_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
                    assert!(response.header("www-authenticate").is_some());
                }
                Some(_) => {
                    response.assert_error(StatusCode::FORBIDDEN, "FORBIDDEN");
                }
            }
        }
    }
    assert_eq!(
        app.get("/categories").send().await.json(),
        json!([category("Home", "home", "", 0)])
    );
}

#[tokio::test]
async fn an_unknown_slug_is_404() {
    let app = spawn_app().await;
    let admin = app.caller(Role::Admin);

    let patch = app
        .patch("/categories/nothing-here")
        .bearer(&admin.token)
        .json(&json!({"description": "x"}))
        .send()
        .await;
    let delete = app
        .delete("/categories/nothing-here")
        .bearer(&admin.token)
        .send()
        .await;

    patch.assert_error(StatusCode::NOT_FOUND, "CATEGORY_NOT_FOUND");
    delete.assert_error(StatusCode::NOT_FOUND, "CATEGORY_NOT_FOUND");
}

#[tokio::test]
async fn renaming_onto_an_existing_category_is_409_and_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.caller(Role::Admin);
    let seller = app.caller(Role::Seller);
    app.product_in(&seller, "Lamp", "Home").await;
    app.product_in(&seller, "Rake", "Garden").await;

    for name in ["GARDEN", "garden!"] {
        let response = app
            .patch("/categories/home")
            .bearer(&admin.token)
            .json(&json!({"name": name}))
            .send()
            .await;

        response.assert_error(StatusCode::CONFLICT, "CATEGORY_EXISTS");
    }
    assert_eq!(
        app.get("/categories").send().await.json(),
        json!([
            category("Garden", "garden", "", 1),
            category("Home", "home", "", 1),
        ])
    );
    assert_eq!(listed_in(&app, "home").await, 1);
}

#[tokio::test]
async fn a_rename_moves_every_product_and_frees_the_old_name() {
    let app = spawn_app().await;
    let admin = app.caller(Role::Admin);
    let seller = app.caller(Role::Seller);
    for (name, spelled) in [("Lamp", "Home"), ("Mug", "home"), ("Chair", "HOME")] {
        app.product_in(&seller, name, spelled).await;
    }
    app.product_in(&seller, "Rake", "Garden").await;

    let response = app
        .patch("/categories/home")
        .bearer(&admin.token)
        .json(&json!({"name": " Living Room ", "description": "Sofas"}))
        .send()
        .await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let renamed = category("Living Room", "living-room", "Sofas", 3);
    assert_eq!(response.json(), renamed);
    assert_eq!(listed_in(&app, "living room").await, 3);
    assert_eq!(listed_in(&app, "home").await, 0);
    assert_eq!(
        app.get("/categories").send().await.json(),
        json!([category("Garden", "garden", "", 1), renamed])
    );
    let moved = doc! { "category": "Living Room", "category_key": "living room" };
    assert_eq!(app.db.count(PRODUCTS, moved).await, 3);
    assert_eq!(
        app.db
            .count(PRODUCTS, doc! { "category_key": "home" })
            .await,
        0
    );
    create_category(&app, &admin, json!({"name": "Home"})).await;
}

#[tokio::test]
async fn a_rename_changing_only_the_case_respells_the_category_and_its_products() {
    let app = spawn_app().await;
    let admin = app.caller(Role::Admin);
    let seller = app.caller(Role::Seller);
    let id = app.product_in(&seller, "Lamp", "home").await;

    let response = app
        .patch("/categories/home")
        .bearer(&admin.token)
        .json(&json!({"name": "HOME"}))
        .send()
        .await;

    assert_eq!(response.json(), category("HOME", "home", "", 1));
    let product = app.get(&format!("/products/{id}")).send().await.json();
    assert_eq!(product["category"], "HOME");
    assert_eq!(listed_in(&app, "Home").await, 1);
    assert_eq!(app.db.count(CATEGORIES, doc! { "key": "home" }).await, 1);
}

#[tokio::test]
async fn a_description_changes_alone() {
    let app = spawn_app().await;
    let admin = app.caller(Role::Admin);
    create_category(&app, &admin, json!({"name": "Home", "description": "Old"})).await;

    let response = app
        .patch("/categories/home")
        .bearer(&admin.token)
        .json(&json!({"description": "New"}))
        .send()
        .await;

    assert_eq!(response.json(), category("Home", "home", "New", 0));
    assert_eq!(
        app.get("/categories").send().await.json(),
        json!([category("Home", "home", "New", 0)])
    );
}

#[tokio::test]
async fn a_category_in_use_is_not_deleted_until_its_products_move() {
    let app = spawn_app().await;
    let admin = app.caller(Role::Admin);
    let seller = app.caller(Role::Seller);
    // An admin's category, which stays when its last product leaves.
    create_category(&app, &admin, json!({"name": "Home"})).await;
    let id = app.product_in(&seller, "Lamp", "Home").await;

    let refused = app
        .delete("/categories/home")
        .bearer(&admin.token)
        .send()
        .await;
    let still_there = app.get("/categories").send().await.json();
    app.patch(&format!("/products/{id}"))
        .bearer(&seller.token)
        .json(&json!({"category": "Lighting"}))
        .send()
        .await;
    let deleted = app
        .delete("/categories/home")
        .bearer(&admin.token)
        .send()
        .await;
    let again = app
        .delete("/categories/home")
        .bearer(&admin.token)
        .send()
        .await;

    refused.assert_error(StatusCode::CONFLICT, "CATEGORY_IN_USE");
    assert_eq!(still_there, json!([category("Home", "home", "", 1)]));
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text());
    again.assert_error(StatusCode::NOT_FOUND, "CATEGORY_NOT_FOUND");
    assert_eq!(
        app.get("/categories").send().await.json(),
        json!([category("Lighting", "lighting", "", 1)])
    );
    assert_eq!(app.db.count(CATEGORIES, doc! { "key": "home" }).await, 0);
}

/// Leaves the rename of `Home` (with four products) to `Living` as a crash would: recorded on the
/// category, started at `started_at`, with only two products moved.
async fn interrupted_rename(app: &TestApp, started_at: DateTime) {
    let seller = app.caller(Role::Seller);
    for name in ["Lamp", "Mug", "Chair", "Rug"] {
        app.product_in(&seller, name, "Home").await;
    }
    let rename = PendingRename {
        from_name: "Home".into(),
        from_key: "home".into(),
        from_slug: "home".into(),
        started_at,
    };
    app.db
        .db
        .collection::<CategoryDoc>(CATEGORIES)
        .update_one(
            doc! { "key": "home" },
            doc! { "$set": {
                "name": "Living", "key": "living", "slug": "living",
                "keys": ["living", "home"], "slugs": ["living", "home"],
                "rename": mongodb::bson::to_bson(&rename).unwrap(),
            } },
        )
        .await
        .unwrap();
    let products = app.db.db.collection::<ProductDoc>(PRODUCTS);
    for name in ["Lamp", "Mug"] {
        products
            .update_one(
                doc! { "name": name },
                doc! { "$set": { "category": "Living", "category_key": "living" } },
            )
            .await
            .unwrap();
    }
}

async fn assert_rename_finished(app: &TestApp) {
    assert_eq!(
        app.db
            .count(PRODUCTS, doc! { "category_key": "home" })
            .await,
        0
    );
    let living = doc! { "category": "Living", "category_key": "living" };
    assert_eq!(app.db.count(PRODUCTS, living).await, 4);
    let finished = doc! { "keys": ["living"], "slugs": ["living"], "rename": { "$exists": false } };
    assert_eq!(app.db.count(CATEGORIES, finished).await, 1);
    assert_eq!(app.db.count(CATEGORIES, Document::new()).await, 1);
}

#[tokio::test]
async fn an_interrupted_rename_is_completed_after_startup() {
    let app = spawn_app().await;
    interrupted_rename(&app, minus(DateTime::now(), Duration::from_secs(600))).await;

    let restarted = spawn_instance(&app.db, ProductSettings::default()).await;

    // The upkeep runs in the background from startup on.
    eventually("the rename's completion", || async {
        app.db
            .count(CATEGORIES, doc! { "rename": { "$exists": true } })
            .await
            == 0
    })
    .await;
    assert_rename_finished(&app).await;
    assert_eq!(
        restarted.get("/categories").send().await.json(),
        json!([category("Living", "living", "", 4)])
    );
    let listed = restarted.get("/products?category=home").send().await.json();
    assert_eq!(listed, json!([]));
}

#[tokio::test]
async fn a_retry_of_the_patch_completes_an_interrupted_rename() {
    let app = spawn_app().await;
    interrupted_rename(&app, DateTime::now()).await;
    let admin = app.caller(Role::Admin);

    // While the rename is in progress, the old name leads to the new one.
    let seller = app.caller(Role::Seller);
    let during = app
        .create_product(
            &seller,
            json!({"name": "Vase", "price": 1, "category": "home"}),
        )
        .await;
    let retry = app
        .patch("/categories/home")
        .bearer(&admin.token)
        .json(&json!({"name": "Living"}))
        .send()
        .await;

    assert_eq!(during["category"], "Living");
    assert_eq!(retry.status, StatusCode::OK, "{}", retry.text());
    assert_eq!(retry.json(), category("Living", "living", "", 5));
    assert_eq!(
        app.db
            .count(PRODUCTS, doc! { "category_key": "home" })
            .await,
        0
    );
    assert_eq!(
        app.get("/categories").send().await.json(),
        json!([category("Living", "living", "", 5)])
    );
    assert_eq!(listed_in(&app, "living").await, 5);
}

#[tokio::test]
async fn on_a_standalone_server_renames_move_every_product_and_recover_too() {
    let mongod = Mongod::start_standalone().await;
    let db = TestDb::on_server(&mongod.uri(), "product_service", &[]).await;
    let settings = ProductSettings {
        poll_interval: Duration::from_millis(200),
        ..ProductSettings::default()
    };
    let app = TestApp::new(spawn_instance(&db, settings.clone()).await, db);
    let admin = app.caller(Role::Admin);
    interrupted_rename(&app, minus(DateTime::now(), Duration::from_secs(600))).await;

    // The upkeep pass of the running instance finishes it (no restart, no transactions).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while app
        .db
        .count(PRODUCTS, doc! { "category_key": "home" })
        .await
        != 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the rename was not finished"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_rename_finished(&app).await;
    let response = app
        .patch("/categories/living")
        .bearer(&admin.token)
        .json(&json!({"name": "Lounge"}))
        .send()
        .await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.json()["slug"], "lounge");
    let moved = doc! { "category": "Lounge", "category_key": "lounge" };
    assert_eq!(app.db.count(PRODUCTS, moved).await, 4);
    // A periodic reload that read before the rename may briefly undo it in memory; the next one
    // (one poll interval) agrees with MongoDB.
    let expected = json!([category("Lounge", "lounge", "", 4)]);
    while app.get("/categories").send().await.json() != expected
        || listed_in(&app, "lounge").await != 4
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the catalog did not follow"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(listed_in(&app, "living").await, 0);
    drop(app);
    drop(mongod);
}
