//! Reading orders as their caller may see them: their own, or anyone's for an admin. Someone
//! else's order reads as missing rather than forbidden, so its existence does not leak; tombstones
//! and other bookkeeping are never returned (see [`crate::store::OrderStore`]).

use common_api::{auth::AuthUser, pagination::Page};
use mongodb::{bson::oid::ObjectId, error::Error};

use super::{ListError, OrderEngine};
use crate::{models::OrderStatus, store::OrderDoc};

/// The owner whose orders `caller` is limited to: themselves, or no one for an admin.
pub(super) fn owner_scope(caller: &AuthUser) -> Option<ObjectId> {
    (!caller.is_admin()).then_some(caller.id)
}

impl OrderEngine {
    /// Order `id`, if `caller` may see it.
    pub async fn order(&self, caller: &AuthUser, id: ObjectId) -> Result<Option<OrderDoc>, Error> {
        self.orders.find(id, owner_scope(caller)).await
    }

    /// One page of orders, newest first, and how many there are: `user`'s (which must be the
    /// caller, unless they are an admin) or, without `user`, the caller's own (everyone's for an
    /// admin); only those with `status` when it is given.
    pub async fn orders(
        &self,
        caller: &AuthUser,
        user: Option<ObjectId>,
        status: Option<OrderStatus>,
        page: Page,
    ) -> Result<(Vec<OrderDoc>, u64), ListError> {
        let user = match user {
            Some(user) if !caller.may_act_for(user) => return Err(ListError::OthersOrders),
            Some(user) => Some(user),
            None => owner_scope(caller),
        };
        let statuses = status.map(OrderStatus::stored);
        Ok(self.orders.list(user, statuses, page).await?)
    }
}
