//! Moving an order along `PLACED → SHIPPED → DELIVERED`: one conditional update a step, so two
//! admins moving the same order cannot both succeed, and a cancel that won first stops it.

use mongodb::bson::oid::ObjectId;

use super::{OrderEngine, TransitionError};
use crate::{
    models::OrderStatus,
    store::{OrderDoc, StoredStatus},
};

impl OrderEngine {
    /// Moves order `id` to `to` if that is its next status, and returns it.
    pub async fn advance(
        &self,
        id: ObjectId,
        to: OrderStatus,
    ) -> Result<OrderDoc, TransitionError> {
        if let Some((from, into)) = step_to(to)
            && let Some(order) = self.orders.transition(id, None, from, into).await?
        {
            tracing::info!(order_id = %id, status = to.as_str(), "order status changed");
            return Ok(order);
        }
        let order = self
            .orders
            .find(id, None)
            .await?
            .ok_or(TransitionError::NotFound)?;
        Err(TransitionError::NotAllowed {
            id,
            from: order.status,
            to,
        })
    }
}

/// The stored statuses of the step that ends in `to`; `None` when no step does.
fn step_to(to: OrderStatus) -> Option<(StoredStatus, StoredStatus)> {
    match to {
        OrderStatus::Shipped => Some((StoredStatus::Placed, StoredStatus::Shipped)),
        OrderStatus::Delivered => Some((StoredStatus::Shipped, StoredStatus::Delivered)),
        // A pending checkout leaves PENDING_PAYMENT only through its payment, its cancel or its
        // expiry, never by an admin's PATCH.
        OrderStatus::PendingPayment
        | OrderStatus::Placed
        | OrderStatus::Cancelled
        | OrderStatus::Expired
        | OrderStatus::RefundDue => None,
    }
}
