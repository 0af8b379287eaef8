//! The core concurrency scenarios on the replica set.

use crate::{helpers::spawn_app, scenarios};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_orders_for_fifty_units_place_exactly_fifty() {
    scenarios::two_hundred_orders_for_fifty_units(&spawn_app().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_two_line_orders_in_both_line_orders_are_all_or_nothing() {
    scenarios::two_line_orders_are_all_or_nothing(&spawn_app().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_repeats_of_an_idempotency_key_make_one_order() {
    scenarios::twenty_repeats_of_one_key_make_one_order(&spawn_app().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_concurrent_cancels_return_the_stock_once() {
    scenarios::two_concurrent_cancels_return_stock_once(&spawn_app().await).await;
}
