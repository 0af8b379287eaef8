//! The recovery pass: finishes what stopped requests left behind, so that at rest, for every
//! product, initial stock = current stock + units in orders that are not cancelled or failed.
//!
//! It runs at startup and then on a timer, on every replica at once if need be: each step is a
//! conditional write that takes effect at most once. Only what is older than the grace period
//! (well above the request timeout) is touched, so live requests are left alone.
//!
//! 1. **Cancels left `CANCELLING`** are finished (see [`crate::cancelling`]).
//! 2. **Holds** mean "order O took these units". If O exists, it was placed: the hold is only
//!    pulled. If O does not exist, a `FAILED` tombstone is inserted under O's id; only if that
//!    insert wins is the stock given back. A late insert of the real order then fails on the
//!    duplicate id, so an order is never both sold and given back, nor neither.
//! 3. **Return markers** are cleared once their order has been `CANCELLED` for twice the grace
//!    period, when no one can still be returning its lines.
//! 4. **Idempotency keys** are settled through their order id like holds: if the order does
//!    not exist, a tombstone is inserted and the key is released; otherwise it is confirmed.

use std::collections::HashMap;

use common::server::Shutdown;
use mongodb::{
    bson::{DateTime, oid::ObjectId},
    error::Error,
};

use crate::{AppState, cancelling::finish_cancel, store::StoredStatus};

/// How far back a pass looks.
#[derive(Clone, Copy, Debug)]
pub struct Cutoffs {
    /// Holds, cancels and keys older than this belong to requests that have stopped.
    pub stale_before: DateTime,
    /// Return markers older than this can be cleared.
    pub markers_before: DateTime,
}

impl Cutoffs {
    /// The cutoffs for a pass run now.
    pub fn now(state: &AppState) -> Self {
        let now = DateTime::now().timestamp_millis();
        let ago = |duration: std::time::Duration| {
            DateTime::from_millis(now - i64::try_from(duration.as_millis()).unwrap_or(i64::MAX))
        };
        Self {
            stale_before: ago(state.settings.grace),
            markers_before: ago(state.settings.marker_retention),
        }
    }
}

/// What a pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Cancels finished.
    pub cancels_finished: usize,
    /// Holds of placed orders pulled.
    pub holds_released: usize,
    /// Orders that never completed, now tombstoned.
    pub orders_abandoned: usize,
    /// Lines of such orders given back to stock.
    pub lines_given_back: usize,
    /// Return markers cleared.
    pub markers_cleared: usize,
    /// Idempotency keys released.
    pub keys_released: usize,
    /// Idempotency keys confirmed.
    pub keys_confirmed: usize,
}

impl RecoveryReport {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Runs one pass over everything older than `cutoffs`.
pub async fn recover(state: &AppState, cutoffs: Cutoffs) -> Result<RecoveryReport, Error> {
    let mut report = RecoveryReport::default();
    finish_stuck_cancels(state, cutoffs, &mut report).await?;
    resolve_holds(state, cutoffs, &mut report).await?;
    clear_return_markers(state, cutoffs, &mut report).await?;
    settle_keys(state, cutoffs, &mut report).await?;
    Ok(report)
}

async fn finish_stuck_cancels(
    state: &AppState,
    cutoffs: Cutoffs,
    report: &mut RecoveryReport,
) -> Result<(), Error> {
    for order in state
        .orders
        .stuck_cancellations(cutoffs.stale_before)
        .await?
    {
        // The list may be old by now: check the order is still being cancelled, then finish it
        // within a request's time. So this step is over well before the markers are cleared,
        // which waits for the order to have been CANCELLED for twice the grace period.
        let step = async {
            if state.orders.status_of(order.id).await? != Some(StoredStatus::Cancelling) {
                return Ok(None);
            }
            finish_cancel(state, &order).await
        };
        match tokio::time::timeout(state.settings.step_timeout, step).await {
            Ok(Ok(Some(_))) => report.cancels_finished += 1,
            Ok(Ok(None)) => {}
            Ok(Err(err)) => return Err(err),
            Err(_) => {
                tracing::warn!(order_id = %order.id, "finishing a cancel timed out; next pass")
            }
        }
    }
    Ok(())
}

async fn resolve_holds(
    state: &AppState,
    cutoffs: Cutoffs,
    report: &mut RecoveryReport,
) -> Result<(), Error> {
    let mut fates: HashMap<ObjectId, Option<StoredStatus>> = HashMap::new();
    for (product, hold) in state.inventory.holds_before(cutoffs.stale_before).await? {
        let fate = match fates.get(&hold.order) {
            Some(fate) => *fate,
            None => {
                let fate = decide_fate(state, hold.order, report).await?;
                fates.insert(hold.order, fate);
                fate
            }
        };
        match fate {
            Some(StoredStatus::Failed) => {
                let given_back = state
                    .inventory
                    .give_back(product, hold.order, hold.qty)
                    .await?;
                report.lines_given_back += usize::from(given_back);
            }
            Some(_) => {
                state
                    .inventory
                    .release_holds(&[product], &[hold.order])
                    .await?;
                report.holds_released += 1;
            }
            // A tombstone that expired in between: the next pass decides again.
            None => {}
        }
    }
    Ok(())
}

/// Whether `order` was placed, settling it as abandoned (`FAILED`) if it does not exist.
async fn decide_fate(
    state: &AppState,
    order: ObjectId,
    report: &mut RecoveryReport,
) -> Result<Option<StoredStatus>, Error> {
    if let Some(status) = state.orders.status_of(order).await? {
        return Ok(Some(status));
    }
    if state.orders.insert_tombstone(order).await? {
        tracing::warn!(order_id = %order, "order never completed; settled as abandoned");
        report.orders_abandoned += 1;
        return Ok(Some(StoredStatus::Failed));
    }
    // The real order (or another pass's tombstone) got there first.
    state.orders.status_of(order).await
}

async fn clear_return_markers(
    state: &AppState,
    cutoffs: Cutoffs,
    report: &mut RecoveryReport,
) -> Result<(), Error> {
    for (product, order) in state
        .inventory
        .returns_before(cutoffs.markers_before)
        .await?
    {
        if state
            .orders
            .cancelled_before(order, cutoffs.markers_before)
            .await?
        {
            state.inventory.clear_return_marker(product, order).await?;
            report.markers_cleared += 1;
        }
    }
    Ok(())
}

async fn settle_keys(
    state: &AppState,
    cutoffs: Cutoffs,
    report: &mut RecoveryReport,
) -> Result<(), Error> {
    for claim in state
        .claims
        .unconfirmed_before(cutoffs.stale_before)
        .await?
    {
        // Settled like a hold, through the order id: a late insert of the order can then no
        // longer succeed once its key is free again.
        match decide_fate(state, claim.order_id, report).await? {
            Some(StoredStatus::Failed) => {
                state.claims.release(&claim.id, claim.order_id).await?;
                report.keys_released += 1;
            }
            Some(_) => {
                state.claims.confirm(&claim.id, claim.order_id).await?;
                report.keys_confirmed += 1;
            }
            // A tombstone that expired in between: the next pass decides again.
            None => {}
        }
    }
    Ok(())
}

/// Runs a pass now and then every `recovery_interval` until shutdown.
pub async fn run_periodically(state: AppState, mut shutdown: Shutdown) {
    let mut interval = tokio::time::interval(state.settings.recovery_interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            () = shutdown.signalled() => return,
        }
        match recover(&state, Cutoffs::now(&state)).await {
            Ok(report) if !report.is_empty() => tracing::info!(?report, "recovery pass"),
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "recovery pass failed; retrying next time"),
        }
    }
}
