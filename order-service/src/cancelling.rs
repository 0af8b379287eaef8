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

use crate::{
    AppState,
    models::OrderStatus,
    store::{OrderDoc, StoredStatus},
};

/// 404 `ORDER_NOT_FOUND`, also for someone else's order.
pub fn order_not_found() -> ApiError {
    ApiError::not_found("ORDER_NOT_FOUND", "Order not found")
}

/// Cancels order `id` for `caller` (its owner or an admin) and returns it, cancelled.
pub async fn cancel_order(
    state: &AppState,
    caller: &AuthUser,
    id: ObjectId,
) -> ApiResult<OrderDoc> {
    let owner = (!caller.is_admin()).then_some(caller.id);
    let cancelling = state
        .orders
        .transition(id, owner, StoredStatus::Placed, StoredStatus::Cancelling)
        .await?;
    let Some(order) = cancelling else {
        let order = state
            .orders
            .find(id, owner)
            .await?
            .ok_or_else(order_not_found)?;
        let status = OrderStatus::from(order.status).as_str();
        return Err(ApiError::conflict(
            "ORDER_NOT_CANCELLABLE",
            format!("Only PLACED orders can be cancelled; this one is {status}"),
        ));
    };
    tracing::info!(order_id = %id, "cancelling order");
    match finish_cancel(state, &order).await? {
        Some(cancelled) => Ok(cancelled),
        // Someone else finished it in between; it is cancelled all the same.
        None => state
            .orders
            .find(id, None)
            .await?
            .ok_or_else(order_not_found),
    }
}

/// Returns every line of a `CANCELLING` order (each once) and marks it `CANCELLED`. `None` when
/// another actor marked it first.
pub async fn finish_cancel(state: &AppState, order: &OrderDoc) -> Result<Option<OrderDoc>, Error> {
    for line in &order.items {
        state
            .inventory
            .return_line(line.product_id, order.id, line.quantity)
            .await?;
    }
    state
        .orders
        .transition(
            order.id,
            None,
            StoredStatus::Cancelling,
            StoredStatus::Cancelled,
        )
        .await
}
