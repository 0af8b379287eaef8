//! Cancelling an order: every line's units go back to stock exactly once.
//!
//! ```text
//!  PLACED or PENDING_PAYMENT ──(one conditional update: the single winner)──► CANCELLING
//!     for each line: return it unless the product carries this order's return marker
//!                    (stock += q and push the marker, in one update)
//!  CANCELLING ──(conditional update)──► CANCELLED
//! ```
//!
//! A cancel stopped halfway (crash, database error) stays `CANCELLING`, which clients read as
//! `CANCELLED`; the recovery pass finishes it, and the markers make every line's return happen
//! once whoever gets there first. An unpaid checkout's expiry returns its lines the same way
//! (`EXPIRING` → `EXPIRED`, see [`super::checkout`]), and so does a failed payment (a cancel). The
//! markers carry the order's stock key: its id, or, for an order paid after expiry and revived,
//! the key its stock was taken again under, so a later cancel never meets the expiry's markers.
//!
//! **Clearing the markers.** A marker may go once no one can still be returning that order's
//! lines. The recovery pass only touches a cancel left `CANCELLING` for the grace period, so a
//! request that took the order to `CANCELLING` and to `CANCELLED` itself, in less than half the
//! grace period, was the only one ever to return its lines, and all its returns have been
//! answered: it clears the markers at once, in one update. Without that, markers would stay for
//! twice the grace period, and place/cancel churn on one product would keep every cancel of the
//! last minutes on its document (measured: 200 cancels left 200 markers). Markers of a cancel that
//! the recovery pass finished, or whose clearing failed, are cleared by the recovery pass twice
//! the grace period later.

use common_api::auth::AuthUser;
use mongodb::{bson::oid::ObjectId, error::Error};
use tokio::time::Instant;

use mongodb::bson::doc;

use super::{CancelError, OrderEngine, reading::owner_scope};
use crate::store::{OrderDoc, StoredStatus};

/// A return of every line of an order: by a cancel, or by a checkout's expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Return {
    /// `CANCELLING` → `CANCELLED`.
    Cancel,
    /// `EXPIRING` → `EXPIRED`.
    Expiry,
}

impl Return {
    /// The status while the lines are being returned.
    pub(super) fn during(self) -> StoredStatus {
        match self {
            Self::Cancel => StoredStatus::Cancelling,
            Self::Expiry => StoredStatus::Expiring,
        }
    }

    fn done(self) -> StoredStatus {
        match self {
            Self::Cancel => StoredStatus::Cancelled,
            Self::Expiry => StoredStatus::Expired,
        }
    }
}

impl OrderEngine {
    /// Cancels order `id` for `caller` (its owner or an admin) and returns it, cancelled; on a
    /// task of its own bounded by the step timeout, so a cancel begun is not left half done by a
    /// client going away.
    pub async fn cancel(&self, caller: &AuthUser, id: ObjectId) -> Result<OrderDoc, CancelError> {
        let owner = owner_scope(caller);
        self.run_detached(move |engine| async move { engine.cancel_now(id, owner).await })
            .await
    }

    async fn cancel_now(
        &self,
        id: ObjectId,
        owner: Option<ObjectId>,
    ) -> Result<OrderDoc, CancelError> {
        let started = Instant::now();
        let mut filter = doc! {
            "_id": id,
            "status": { "$in": [StoredStatus::Placed.as_str(), StoredStatus::PendingPayment.as_str()] },
        };
        if let Some(owner) = owner {
            filter.insert("user_id", owner);
        }
        let cancelling = self
            .orders
            .change(
                filter,
                StoredStatus::Cancelling,
                mongodb::bson::Document::new(),
            )
            .await?;
        let Some(order) = cancelling else {
            let order = self
                .orders
                .find(id, owner)
                .await?
                .ok_or(CancelError::NotFound)?;
            return Err(CancelError::NotCancellable {
                id,
                status: order.status,
            });
        };
        tracing::info!(order_id = %id, "cancelling order");
        match self.finish_return(&order, Return::Cancel).await? {
            Some(cancelled) => {
                if started.elapsed() < self.settings.grace / 2 {
                    self.clear_markers(&order).await;
                }
                Ok(cancelled)
            }
            // Someone else finished it in between; it is cancelled all the same.
            None => self
                .orders
                .find(id, None)
                .await?
                .ok_or(CancelError::NotFound),
        }
    }

    /// Clears the return markers of `order`, which only this request returned lines of (see the
    /// module's note). A failure is left to the recovery pass.
    async fn clear_markers(&self, order: &OrderDoc) {
        let products: Vec<ObjectId> = order.items.iter().map(|line| line.product_id).collect();
        if let Err(err) = self
            .inventory
            .clear_return_markers(&products, order.stock_key())
            .await
        {
            tracing::warn!(order_id = %order.id, error = %err, "return markers left for the recovery pass");
        }
    }

    /// Returns every line of an order being cancelled or expired (each once, under its stock
    /// key) and marks it `CANCELLED` or `EXPIRED`. `None` when another actor marked it first.
    pub(super) async fn finish_return(
        &self,
        order: &OrderDoc,
        kind: Return,
    ) -> Result<Option<OrderDoc>, Error> {
        for line in &order.items {
            let returned = self
                .inventory
                .return_line(line.product_id, order.stock_key(), line.quantity)
                .await?;
            if returned {
                // Only the actor whose return applied counts it, so each unit counts once.
                metrics::counter!("stock_units_returned_total")
                    .increment(line.quantity.unsigned_abs());
            }
        }
        let mut set = mongodb::bson::Document::new();
        if kind == Return::Expiry {
            set.insert("expired_at", mongodb::bson::DateTime::now());
        }
        let done = self
            .orders
            .change(
                doc! { "_id": order.id, "status": kind.during().as_str() },
                kind.done(),
                set,
            )
            .await?;
        if done.is_some() {
            match kind {
                Return::Cancel => metrics::counter!("orders_cancelled_total").increment(1),
                Return::Expiry => {
                    metrics::counter!("checkouts_total", "outcome" => "expired").increment(1)
                }
            }
        }
        Ok(done)
    }
}
