//! The recovery pass: finishes what stopped requests left behind, so that at rest, for every
//! product, initial stock = current stock + units in orders that hold their stock
//! (`PENDING_PAYMENT`, `PLACED`, `SHIPPED`, `DELIVERED`).
//!
//! It runs at startup and then on a timer, on every replica at once if need be: each step is a
//! conditional write that takes effect at most once. Only what is older than the grace period
//! (at least [`crate::settings::MIN_GRACE_IN_STEPS`] step timeouts, checked when the engine is built) is
//! touched, so live requests are left alone.
//!
//! 1. **Cancels left `CANCELLING`** are finished (see [`super::cancelling`]); **revivals left
//!    `REVIVING`** (a payment after expiry taking the stock again, see [`super::checkout`]) end
//!    as `REFUND_DUE`, and what their key still holds goes back.
//! 2. **Holds** mean "order O took these units". If O exists, it was placed: the hold is only
//!    pulled. If O does not exist, a `FAILED` tombstone is inserted under O's id; only if that
//!    insert wins is the stock given back. A late insert of the real order then fails on the
//!    duplicate id, so an order is never both sold and given back, nor neither. A hold under a
//!    revival's key follows its order: kept sold once it is `PLACED` (or later), given back once
//!    it is `REFUND_DUE`.
//! 3. **Return markers** are cleared once every return under their key was answered longer ago
//!    than the marker retention (longer than the grace period): the order `CANCELLED`, or
//!    `EXPIRED`, before that.
//! 4. **Idempotency keys** are settled through their order id like holds: if the order does
//!    not exist, a tombstone is inserted and the key is released; otherwise it is confirmed.

use std::collections::HashMap;

use common_api::time::minus;
use common_platform::server::Shutdown;
use mongodb::{
    bson::{DateTime, oid::ObjectId},
    error::Error,
};

use super::{OrderEngine, cancelling::Return};
use crate::{settings::OrderSettings, store::StoredStatus};

/// How far back a pass looks.
#[derive(Clone, Copy, Debug)]
pub struct Cutoffs {
    /// Holds, cancels and keys older than this belong to requests that have stopped.
    pub stale_before: DateTime,
    /// Return markers older than this can be cleared.
    pub markers_before: DateTime,
}

impl Cutoffs {
    /// The cutoffs for a pass run now with `settings`.
    pub fn now(settings: &OrderSettings) -> Self {
        let now = DateTime::now();
        Self {
            stale_before: minus(now, settings.grace),
            markers_before: minus(now, settings.marker_retention),
        }
    }
}

/// What a pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Cancels finished.
    pub cancels_finished: usize,
    /// Revivals cut off midway, ended as `REFUND_DUE`.
    pub revivals_refunded: usize,
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

    /// Adds this pass's actions to `order_recovery_actions_total{action}`, one series per field.
    fn count(&self) {
        let actions = [
            ("cancels_finished", self.cancels_finished),
            ("revivals_refunded", self.revivals_refunded),
            ("holds_released", self.holds_released),
            ("orders_abandoned", self.orders_abandoned),
            ("lines_given_back", self.lines_given_back),
            ("markers_cleared", self.markers_cleared),
            ("keys_released", self.keys_released),
            ("keys_confirmed", self.keys_confirmed),
        ];
        for (action, count) in actions.into_iter().filter(|(_, count)| *count > 0) {
            metrics::counter!("order_recovery_actions_total", "action" => action)
                .increment(count as u64);
        }
    }
}

/// What became of the order id a hold or an idempotency key stands for.
#[derive(Clone, Copy, Debug)]
enum Fate {
    /// The order is stored (in any status): its stock stays sold and its key stands for it.
    Stored,
    /// A `FAILED` tombstone holds its id: its stock goes back and its key is free.
    Abandoned,
    /// Neither any more (a tombstone expired in between): the next pass decides again.
    Undecided,
}

impl From<Option<StoredStatus>> for Fate {
    fn from(status: Option<StoredStatus>) -> Self {
        match status {
            Some(StoredStatus::Failed) => Self::Abandoned,
            Some(_) => Self::Stored,
            None => Self::Undecided,
        }
    }
}

impl OrderEngine {
    /// Runs one pass over everything older than `cutoffs`.
    pub async fn recover(&self, cutoffs: Cutoffs) -> Result<RecoveryReport, Error> {
        let mut report = RecoveryReport::default();
        self.finish_stuck_cancels(cutoffs, &mut report).await?;
        self.end_stuck_revivals(cutoffs, &mut report).await?;
        self.resolve_holds(cutoffs, &mut report).await?;
        self.clear_return_markers(cutoffs, &mut report).await?;
        self.settle_keys(cutoffs, &mut report).await?;
        Ok(report)
    }

    /// Runs a pass now and then every `recovery_interval` until shutdown.
    pub async fn recover_periodically(self, mut shutdown: Shutdown) {
        let mut interval = tokio::time::interval(self.settings.recovery_interval);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                () = shutdown.signalled() => return,
            }
            match self.recover(Cutoffs::now(&self.settings)).await {
                Ok(report) if !report.is_empty() => {
                    tracing::info!(?report, "recovery pass");
                    report.count();
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "recovery pass failed; retrying next time")
                }
            }
        }
    }

    async fn finish_stuck_cancels(
        &self,
        cutoffs: Cutoffs,
        report: &mut RecoveryReport,
    ) -> Result<(), Error> {
        for order in self
            .orders
            .stuck_in(StoredStatus::Cancelling, cutoffs.stale_before)
            .await?
        {
            // The list may be old by now: check the order is still being cancelled, then finish
            // it within a step. So this step is over well before the markers are cleared, which
            // waits for the order to have been CANCELLED for longer than the grace period.
            let step = async {
                if self.orders.status_of(order.id).await? != Some(StoredStatus::Cancelling) {
                    return Ok(None);
                }
                self.finish_return(&order, Return::Cancel).await
            };
            match tokio::time::timeout(self.settings.step_timeout, step).await {
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

    async fn end_stuck_revivals(
        &self,
        cutoffs: Cutoffs,
        report: &mut RecoveryReport,
    ) -> Result<(), Error> {
        for order in self
            .orders
            .stuck_in(StoredStatus::Reviving, cutoffs.stale_before)
            .await?
        {
            let Some(key) = order.revival else { continue };
            if self
                .orders
                .end_revival(order.id, key, StoredStatus::RefundDue)
                .await?
                .is_none()
            {
                continue;
            }
            tracing::warn!(order_id = %order.id, "a revival was cut off; refund due");
            report.revivals_refunded += 1;
            for line in &order.items {
                let given_back = self
                    .inventory
                    .give_back(line.product_id, key, line.quantity)
                    .await?;
                report.lines_given_back += usize::from(given_back);
            }
        }
        Ok(())
    }

    async fn resolve_holds(
        &self,
        cutoffs: Cutoffs,
        report: &mut RecoveryReport,
    ) -> Result<(), Error> {
        let mut fates: HashMap<ObjectId, Fate> = HashMap::new();
        for (product, hold) in self.inventory.holds_before(cutoffs.stale_before).await? {
            let fate = match fates.get(&hold.order) {
                Some(fate) => *fate,
                None => {
                    let fate = self.decide_fate(hold.order, report).await?;
                    fates.insert(hold.order, fate);
                    fate
                }
            };
            match fate {
                Fate::Abandoned => {
                    let given_back = self
                        .inventory
                        .give_back(product, hold.order, hold.qty)
                        .await?;
                    report.lines_given_back += usize::from(given_back);
                }
                Fate::Stored => {
                    self.inventory
                        .release_holds(&[product], &[hold.order])
                        .await?;
                    report.holds_released += 1;
                }
                Fate::Undecided => {}
            }
        }
        Ok(())
    }

    /// Whether `order` was placed, settling it as abandoned (a `FAILED` tombstone) if it does not
    /// exist.
    async fn decide_fate(
        &self,
        order: ObjectId,
        report: &mut RecoveryReport,
    ) -> Result<Fate, Error> {
        if let Some(status) = self.orders.status_of(order).await? {
            return Ok(Fate::from(Some(status)));
        }
        // A revival's key: its holds follow the revived order.
        if let Some(status) = self.orders.revived_under(order).await? {
            return Ok(match status {
                StoredStatus::RefundDue => Fate::Abandoned,
                StoredStatus::Reviving => Fate::Undecided,
                _ => Fate::Stored,
            });
        }
        if self.orders.insert_tombstone(order).await? {
            tracing::warn!(order_id = %order, "order never completed; settled as abandoned");
            report.orders_abandoned += 1;
            return Ok(Fate::Abandoned);
        }
        // The real order (or another pass's tombstone) got there first.
        Ok(Fate::from(self.orders.status_of(order).await?))
    }

    async fn clear_return_markers(
        &self,
        cutoffs: Cutoffs,
        report: &mut RecoveryReport,
    ) -> Result<(), Error> {
        for (product, order) in self
            .inventory
            .returns_before(cutoffs.markers_before)
            .await?
        {
            if self
                .orders
                .returns_done_before(order, cutoffs.markers_before)
                .await?
            {
                self.inventory.clear_return_marker(product, order).await?;
                report.markers_cleared += 1;
            }
        }
        Ok(())
    }

    async fn settle_keys(
        &self,
        cutoffs: Cutoffs,
        report: &mut RecoveryReport,
    ) -> Result<(), Error> {
        for claim in self.claims.unconfirmed_before(cutoffs.stale_before).await? {
            // Settled like a hold, through the order id: a late insert of the order can then no
            // longer succeed once its key is free again.
            match self.decide_fate(claim.order_id, report).await? {
                Fate::Abandoned => {
                    self.claims.release(&claim.id, claim.order_id).await?;
                    report.keys_released += 1;
                }
                Fate::Stored => {
                    self.claims.confirm(&claim.id, claim.order_id).await?;
                    report.keys_confirmed += 1;
                }
                Fate::Undecided => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn cutoffs_lie_the_grace_period_and_the_marker_retention_back() {
        let settings = OrderSettings::new(Duration::from_secs(10));
        let before = DateTime::now();

        let cutoffs = Cutoffs::now(&settings);

        let after = DateTime::now();
        let back = |cutoff: DateTime, from: DateTime| {
            Duration::from_millis((from.timestamp_millis() - cutoff.timestamp_millis()) as u64)
        };
        assert!(back(cutoffs.stale_before, before) <= settings.grace);
        assert!(back(cutoffs.stale_before, after) >= settings.grace);
        assert!(back(cutoffs.markers_before, before) <= settings.marker_retention);
        assert!(back(cutoffs.markers_before, after) >= settings.marker_retention);
    }

    #[test]
    fn only_a_tombstone_means_abandoned_and_only_a_missing_order_is_undecided() {
        assert!(matches!(
            Fate::from(Some(StoredStatus::Failed)),
            Fate::Abandoned
        ));
        assert!(matches!(Fate::from(None), Fate::Undecided));
        for status in StoredStatus::VISIBLE {
            assert!(
                matches!(Fate::from(Some(status)), Fate::Stored),
                "{status:?}"
            );
        }
    }
}
