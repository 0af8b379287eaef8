//! The core concurrency scenarios again, on a standalone server (no replica set): the design uses
//! no transactions, so it must hold there too.

use common_testing::{Mongod, TestDb};

use crate::{
    helpers::{TestApp, spawn_app_on},
    scenarios,
};

async fn app_on(mongod: &Mongod) -> TestApp {
    spawn_app_on(TestDb::on_server(&mongod.uri(), "order_service", &[]).await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_core_concurrency_scenarios_hold_on_a_standalone_server() {
    let mongod = Mongod::start_standalone().await;

    scenarios::two_hundred_orders_for_fifty_units(&app_on(&mongod).await).await;
    scenarios::two_line_orders_are_all_or_nothing(&app_on(&mongod).await).await;
    scenarios::twenty_repeats_of_one_key_make_one_order(&app_on(&mongod).await).await;
    scenarios::two_concurrent_cancels_return_stock_once(&app_on(&mongod).await).await;
}
