//! The service refuses timings under which the recovery pass could settle a live request.

use std::time::Duration;

use common_platform::server::Shutdown;
use common_testing::TestDb;
use order_service::{AppState, OrderSettings};

#[tokio::test]
async fn the_service_starts_with_a_short_grace_period_that_stays_well_above_the_step() {
    let db = TestDb::new("order_service").await;
    let quick = OrderSettings {
        grace: Duration::from_secs(3),
        marker_retention: Duration::from_secs(6),
        step_timeout: Duration::from_secs(1),
        claim_wait: Duration::from_millis(500),
        ..OrderSettings::new(Duration::from_secs(1))
    };

    let state =
        AppState::with_settings(db.config.clone(), db.db.clone(), quick, Shutdown::never()).await;

    assert!(state.is_ok(), "{:?}", state.err());
}

#[tokio::test]
async fn the_service_refuses_a_grace_period_that_a_request_could_outlast() {
    let db = TestDb::new("order_service").await;
    let unsafe_timings = OrderSettings {
        grace: Duration::from_secs(10),
        ..OrderSettings::new(Duration::from_secs(10))
    };

    let state = AppState::with_settings(
        db.config.clone(),
        db.db.clone(),
        unsafe_timings,
        Shutdown::never(),
    )
    .await;

    let refusal = state
        .err()
        .map(|err| format!("{err:#}"))
        .unwrap_or_default();
    assert!(refusal.contains("grace period"), "{refusal}");
}
