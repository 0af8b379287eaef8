//! Status changes: an admin moves an order along `PLACED → SHIPPED → DELIVERED`, and only so.

use axum::http::StatusCode;
use common_api::auth::Role;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn an_admin_moves_an_order_from_placed_to_shipped_to_delivered_only() {
    let app = spawn_app().await;
    let mug = app.product("Mug", "1.0", 100).await;
    let (buyer, admin) = (app.caller(Role::Buyer), app.caller(Role::Admin));
    let order = app.placed(&buyer, &[(mug, 1)]).await;
    let uri = format!("/orders/{order}");
    let set = |status: &'static str| {
        let (client, token, uri) = (app.client.clone(), admin.token.clone(), uri.clone());
        async move {
            client
                .patch(&uri)
                .bearer(&token)
                .json(&json!({"status": status}))
                .send()
                .await
        }
    };

    let skip = set("DELIVERED").await;
    let shipped = set("SHIPPED").await;
    let again = set("SHIPPED").await;
    let delivered = set("DELIVERED").await;
    let back = set("PLACED").await;
    let cancel = set("CANCELLED").await;

    let body = skip.assert_error(StatusCode::CONFLICT, "INVALID_TRANSITION");
    assert!(
        body["detail"].as_str().unwrap().contains("PLACED"),
        "{body}"
    );
    assert_eq!(shipped.status, StatusCode::OK);
    assert_eq!(shipped.json()["status"], "SHIPPED");
    again.assert_error(StatusCode::CONFLICT, "INVALID_TRANSITION");
    assert_eq!(delivered.json()["status"], "DELIVERED");
    back.assert_error(StatusCode::CONFLICT, "INVALID_TRANSITION");
    cancel.assert_error(StatusCode::CONFLICT, "INVALID_TRANSITION");
    assert_eq!(app.stock(mug).await, 99, "shipping does not touch stock");
}

#[tokio::test]
async fn status_changes_are_for_admins_and_checked() {
    let app = spawn_app().await;
    let mug = app.product("Mug", "1.0", 100).await;
    let (buyer, admin) = (app.caller(Role::Buyer), app.caller(Role::Admin));
    let order = app.placed(&buyer, &[(mug, 1)]).await;

    let by_buyer = app
        .patch(&format!("/orders/{order}"))
        .bearer(&buyer.token)
        .json(&json!({"status": "SHIPPED"}))
        .send()
        .await;
    let unknown_status = app
        .patch(&format!("/orders/{order}"))
        .bearer(&admin.token)
        .json(&json!({"status": "LOST"}))
        .send()
        .await;
    let unknown_order = app
        .patch("/orders/0123456789abcdef01234567")
        .bearer(&admin.token)
        .json(&json!({"status": "SHIPPED"}))
        .send()
        .await;
    let malformed = app
        .patch("/orders/xyz")
        .bearer(&admin.token)
        .json(&json!({"status": "SHIPPED"}))
        .send()
        .await;

    by_buyer.assert_error(StatusCode::FORBIDDEN, "FORBIDDEN");
    assert_eq!(
        unknown_status.assert_validation_error(),
        vec![json!(["body", "status"])]
    );
    unknown_order.assert_error(StatusCode::NOT_FOUND, "ORDER_NOT_FOUND");
    malformed.assert_error(StatusCode::BAD_REQUEST, "INVALID_ID");
}
