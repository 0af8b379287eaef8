//! Reading and listing orders: whose a user sees, and what is never shown.

use axum::http::StatusCode;
use common_api::auth::Role;
use mongodb::bson::doc;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn someone_elses_order_is_404_to_a_buyer_and_visible_to_an_admin() {
    let app = spawn_app().await;
    let mug = app.product("Mug", "8.0", 10).await;
    let (owner, other, admin) = (
        app.caller(Role::Buyer),
        app.caller(Role::Buyer),
        app.caller(Role::Admin),
    );
    let order = app.placed(&owner, &[(mug, 1)]).await;
    let uri = format!("/orders/{order}");

    let by_other = app.get(&uri).bearer(&other.token).send().await;
    let by_admin = app.get(&uri).bearer(&admin.token).send().await;
    let by_owner = app.get(&uri).bearer(&owner.token).send().await;
    let anonymous = app.get(&uri).send().await;

    let body = by_other.assert_error(StatusCode::NOT_FOUND, "ORDER_NOT_FOUND");
    assert_eq!(body["detail"], "Order not found");
    assert_eq!(by_admin.status, StatusCode::OK);
    assert_eq!(by_admin.json(), by_owner.json());
    anonymous.assert_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
}

#[tokio::test]
async fn a_malformed_order_id_is_400_and_an_unknown_one_404() {
    let app = spawn_app().await;
    let buyer = app.caller(Role::Buyer);

    let malformed = app.get("/orders/123").bearer(&buyer.token).send().await;
    let unknown = app
        .get("/orders/0123456789abcdef01234567")
        .bearer(&buyer.token)
        .send()
        .await;

    let body = malformed.assert_error(StatusCode::BAD_REQUEST, "INVALID_ID");
    assert_eq!(body["detail"], "Invalid order id");
    unknown.assert_error(StatusCode::NOT_FOUND, "ORDER_NOT_FOUND");
}

#[tokio::test]
async fn a_users_list_is_their_own_paged_and_newest_first() {
    let app = spawn_app().await;
    let mug = app.product("Mug", "1.0", 100).await;
    let (buyer, other) = (app.caller(Role::Buyer), app.caller(Role::Buyer));
    let mut placed = Vec::new();
    for quantity in 1..=5 {
        placed.push(app.placed(&buyer, &[(mug, quantity)]).await.to_hex());
    }
    app.placed(&other, &[(mug, 1)]).await;

    let first_page = app.get("/orders?limit=3").bearer(&buyer.token).send().await;
    let second_page = app
        .get("/orders?limit=3&offset=3")
        .bearer(&buyer.token)
        .send()
        .await;

    assert_eq!(first_page.header("x-total-count"), Some("5"));
    let ids = |page: &common_testing::TestResponse| -> Vec<String> {
        page.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut seen = ids(&first_page);
    seen.extend(ids(&second_page));
    placed.reverse();
    assert_eq!(seen, placed, "newest first, no gaps or repeats");
    assert_eq!(
        first_page.header("link"),
        Some("</orders?limit=3&offset=3>; rel=\"next\"")
    );
    assert!(first_page.json()[0]["items"].is_array());
}

#[tokio::test]
async fn another_users_list_is_403_to_a_buyer_and_open_to_an_admin() {
    let app = spawn_app().await;
    let mug = app.product("Mug", "1.0", 100).await;
    let (buyer, other, admin) = (
        app.caller(Role::Buyer),
        app.caller(Role::Buyer),
        app.caller(Role::Admin),
    );
    app.placed(&other, &[(mug, 1)]).await;
    app.placed(&buyer, &[(mug, 1)]).await;

    let forbidden = app
        .get(&format!("/orders?user_id={}", other.id))
        .bearer(&buyer.token)
        .send()
        .await;
    let own = app
        .get(&format!("/orders?user_id={}", buyer.id))
        .bearer(&buyer.token)
        .send()
        .await;
    let by_admin = app
        .get(&format!("/orders?user_id={}", other.id))
        .bearer(&admin.token)
        .send()
        .await;
    let everyone = app.get("/orders").bearer(&admin.token).send().await;

    forbidden.assert_error(StatusCode::FORBIDDEN, "FORBIDDEN");
    assert_eq!(own.header("x-total-count"), Some("1"));
    assert_eq!(by_admin.header("x-total-count"), Some("1"));
    assert_eq!(by_admin.json()[0]["user_id"], other.id.to_hex());
    assert_eq!(everyone.header("x-total-count"), Some("2"));
}

#[tokio::test]
async fn the_list_filters_by_status_and_never_shows_bookkeeping() {
    let app = spawn_app().await;
    let mug = app.product("Mug", "1.0", 100).await;
    let buyer = app.caller(Role::Buyer);
    let kept = app.placed(&buyer, &[(mug, 1)]).await;
    let cancelled = app.placed(&buyer, &[(mug, 1)]).await;
    let cancelling = app.placed(&buyer, &[(mug, 1)]).await;
    app.post(&format!("/orders/{cancelled}/cancel"))
        .bearer(&buyer.token)
        .send()
        .await;
    app.db
        .db
        .collection::<mongodb::bson::Document>("orders")
        .update_one(
            doc! { "_id": cancelling },
            doc! { "$set": { "status": "CANCELLING" } },
        )
        .await
        .unwrap();
    app.orders
        .insert_tombstone(mongodb::bson::oid::ObjectId::new())
        .await
        .unwrap();

    let placed = app
        .get("/orders?status=PLACED")
        .bearer(&buyer.token)
        .send()
        .await;
    let cancelled_list = app
        .get("/orders?status=CANCELLED")
        .bearer(&buyer.token)
        .send()
        .await;
    let all = app
        .get("/orders")
        .bearer(&app.caller(Role::Admin).token)
        .send()
        .await;
    let in_progress = app
        .get(&format!("/orders/{cancelling}"))
        .bearer(&buyer.token)
        .send()
        .await;
    let unknown_status = app
        .get("/orders?status=FAILED")
        .bearer(&buyer.token)
        .send()
        .await;
    let empty_filters = app
        .get("/orders?user_id=&status=")
        .bearer(&buyer.token)
        .send()
        .await;

    assert_eq!(placed.json()[0]["id"], kept.to_hex());
    assert_eq!(placed.header("x-total-count"), Some("1"));
    assert_eq!(cancelled_list.header("x-total-count"), Some("2"));
    for order in cancelled_list.json().as_array().unwrap() {
        assert_eq!(
            order["status"], "CANCELLED",
            "a cancel in progress reads as CANCELLED"
        );
    }
    assert_eq!(
        all.header("x-total-count"),
        Some("3"),
        "tombstones are never listed"
    );
    assert_eq!(in_progress.json()["status"], "CANCELLED");
    assert_eq!(
        unknown_status.assert_validation_error(),
        vec![json!(["query", "status"])]
    );
    assert_eq!(
        empty_filters.status,
        StatusCode::OK,
        "empty means no filter"
    );
    assert_eq!(empty_filters.header("x-total-count"), Some("3"));
}
