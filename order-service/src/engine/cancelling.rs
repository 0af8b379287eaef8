//! Cancelling an order: every line's units go back to stock exactly once.
//!
//! ```text
//!  PLACED ──(one conditional update: the single winner)──► CANCELLING
//!     for each line: return it unless the product carries this order's return marker
//!                    (stock += q and push the marker, in one update)
//!  CANCELLING ──(conditional update)──► CANCELLED
//! ```
//!
//! A cancel stopped halfway (crash, database error) stays `CANCELLING`, which clients read as
//! `CANCELLED`; the recovery pass finishes it, and the markers make every line's return happen
//! once whoever gets there first. Markers are cleared by the recovery pass long after the cancel
//! has finished, when no one can still be returning that order's lines.

use common::{ApiError, ApiResult, auth::AuthUser};
use mongodb::{bson::oid::ObjectId, error::Error};

use super::OrderEngine;
use crate::{
    models::{order_not_found, status_shown},
    store::{OrderDoc, StoredStatus},
};

impl OrderEngine {
    /// Cancels order `id` for `caller` (its owner or an admin) and returns it, cancelled; on a
    /// task of its own bounded by the step timeout, so a cancel begun is not left half done by a
    /// client going away.
    pub async fn cancel(&self, caller: &AuthUser, id: ObjectId) -> ApiResult<OrderDoc> {
        let owner = (!caller.is_admin()).then_some(caller.id);
        self.run_detached(move |engine| async move { engine.cancel_now(id, owner).await })
            .await
    }

    async fn cancel_now(&self, id: ObjectId, owner: Option<ObjectId>) -> ApiResult<OrderDoc> {
        let cancelling = self
            .orders
            .transition(id, owner, StoredStatus::Placed, StoredStatus::Cancelling)
            .await?;
        let Some(order) = cancelling else {
            let order = self
                .orders
                .find(id, owner)
                .await?
                .ok_or_else(order_not_found)?;
            let status = status_shown(&order)?.as_str();
            return Err(ApiError::conflict(
                "ORDER_NOT_CANCELLABLE",
                format!("Only PLACED orders can be cancelled; this one is {status}"),
            ));
        };
        tracing::info!(order_id = %id, "cancelling order");
        match self.finish_cancel(&order).await? {
            Some(cancelled) => Ok(cancelled),
            // Someone else finished it in between; it is cancelled all the same.
            None => self
                .orders
                .find(id, None)
                .await?
                .ok_or_else(order_not_found),
        }
    }

    /// Returns every line of a `CANCELLING` order (each once) and marks it `CANCELLED`. `None`
    /// when another actor marked it first.
    pub(super) async fn finish_cancel(&self, order: &OrderDoc) -> Result<Option<OrderDoc>, Error> {
        for line in &order.items {
            let returned = self
                .inventory
                .return_line(line.product_id, order.id, line.quantity)
                .await?;
            if returned {
                // Only the actor whose return applied counts it, so each unit counts once.
                metrics::counter!("stock_units_returned_total")
                    .increment(line.quantity.unsigned_abs());
            }
        }
        let cancelled = self
            .orders
            .transition(
                order.id,
                None,
                StoredStatus::Cancelling,
                StoredStatus::Cancelled,
            )
            .await?;
        if cancelled.is_some() {
            metrics::counter!("orders_cancelled_total").increment(1);
        }
        Ok(cancelled)
    }
}
