//! A demoted seller's token is refused by every replica of the product service within about a
//! second of the user service's change (its cutoff), with no database read per request.

use axum::http::Method;
use common_api::auth::Role;
use common_testing::{ServiceProcess, TestDb, assert_refused_after_cutoff};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demoted_sellers_token_is_refused_by_both_replicas_within_a_second() {
    let db = TestDb::new("product_service").await;
    let binary = env!("CARGO_BIN_EXE_product-service");
    let one = ServiceProcess::start(binary, &db.config, &[]).await;
    let two = ServiceProcess::start(binary, &db.config, &[]).await;
    let product = json!({"name": "Lamp", "price": 10, "stock": 1});

    let took = assert_refused_after_cutoff(
        &db,
        &[&one, &two],
        (Method::POST, "/products", Some(&product)),
        Role::Seller,
    )
    .await;

    eprintln!("refused by both replicas {took:?} after the cutoff");
}
