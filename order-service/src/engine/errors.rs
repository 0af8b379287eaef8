//! How the engine's flows end when they do not succeed: one typed outcome per case, named for
//! what it means. The routes turn them into the contract's answers (`crate::routes`), and the
//! metrics count them (see [`super::placing`]); nothing here knows of HTTP.

use std::time::Duration;

use common_api::money::Currency;
use mongodb::bson::oid::ObjectId;

use super::request::QuantityOutOfRange;
use crate::{models::OrderStatus, store::StoredStatus};

/// Why order work run on a task of its own (placing, cancelling) ended without an outcome of its
/// own.
#[derive(Debug, thiserror::Error)]
pub enum Interrupted {
    /// Cut off at its time limit: the step timeout, or just before the request's database
    /// deadline. What it left, the recovery pass settles.
    #[error("order work exceeded {0:?}")]
    TimedOut(Duration),
    /// The task panicked or was cancelled.
    #[error("order work failed: {0}")]
    Failed(#[from] tokio::task::JoinError),
}

/// Why an order was not placed (`POST /orders`, or a reorder).
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    /// The order names another user as its owner, and the caller is not an admin.
    #[error("only admins may order for another user")]
    ForAnotherUser,
    /// `REQUIRE_VERIFIED_EMAIL` is on and the caller's token says their email is not verified.
    #[error("a verified email is needed to order")]
    EmailNotVerified,
    /// The order to reorder does not exist, or is not the caller's.
    #[error("no such order of the caller's")]
    NotFound,
    /// The lines asked for one product add up to a quantity outside the limit of a line.
    #[error(transparent)]
    QuantityOutOfRange(QuantityOutOfRange),
    /// The stored order to reorder has lines for one product that add up to a quantity outside
    /// that limit (it was stored before the limit applied to combined lines).
    #[error("the order to reorder: {0}")]
    StoredQuantityOutOfRange(QuantityOutOfRange),
    /// This product has fewer units in stock than its line asks for; nothing was taken.
    #[error("insufficient stock for product {0}")]
    InsufficientStock(ObjectId),
    /// No product has this id; nothing was taken.
    #[error("product {0} not found")]
    UnknownProduct(ObjectId),
    /// The caller's `Idempotency-Key` was first used with a different request.
    #[error("the idempotency key was used with a different request")]
    KeyReused,
    /// The first request with the caller's `Idempotency-Key` is still placing its order.
    #[error("a request with this idempotency key is still being processed")]
    KeyInUse,
    /// The recovery pass settled this order id as abandoned before the order could be stored:
    /// its stock is back, and it can never be stored now.
    #[error("order {0} was abandoned before it could be stored")]
    Abandoned(ObjectId),
    /// The product's stored price is no amount (a float written by hand that is not finite or
    /// too large); nothing was taken.
    #[error("product {0} has a stored price that is no amount")]
    Unpriced(ObjectId),
    /// The order's total leaves the range of an amount; nothing was taken.
    #[error("the order's total is out of range")]
    TotalOutOfRange,
    /// The work was cut off or failed.
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] mongodb::error::Error),
}

/// Why an order was not cancelled.
#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    /// No such order, or not the caller's.
    #[error("no such order of the caller's")]
    NotFound,
    /// Only `PLACED` orders can be cancelled; order `id` is in `status`.
    #[error("order {id} is {status:?}, not PLACED")]
    NotCancellable {
        /// The order.
        id: ObjectId,
        /// Its stored status.
        status: StoredStatus,
    },
    /// The work was cut off or failed; a cancel already begun is finished by the recovery pass.
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] mongodb::error::Error),
}

/// Why an order's status was not changed.
#[derive(Debug, thiserror::Error)]
pub enum TransitionError {
    /// No such order.
    #[error("no such order")]
    NotFound,
    /// `to` is not the next status of order `id`, which is in `from`.
    #[error("order {id} cannot go from {from:?} to {to:?}")]
    NotAllowed {
        /// The order.
        id: ObjectId,
        /// Its stored status.
        from: StoredStatus,
        /// The status asked for.
        to: OrderStatus,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] mongodb::error::Error),
}

/// Why a list of orders was not read.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// The caller asked for another user's orders and is not an admin.
    #[error("only admins may list another user's orders")]
    OthersOrders,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] mongodb::error::Error),
}

/// Why a payment event was not applied.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// No such order.
    #[error("no such order")]
    UnknownOrder,
    /// The amount or currency is not the order's total; the order is left as it is.
    #[error("the payment is not the order's total of {expected} minor units of {currency}")]
    Mismatch {
        /// The order's total, in minor units.
        expected: i64,
        /// The order's currency.
        currency: Currency,
    },
    /// The order is not waiting for a payment (nor expired, for a successful one).
    #[error("the order is {0:?}, not pending payment")]
    NotPending(StoredStatus),
    /// The order's stored total is no amount.
    #[error("order {0} has a stored amount that is no amount")]
    Unpriced(ObjectId),
    /// The work was cut off or failed.
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] mongodb::error::Error),
}
