//! Checkout: a pending order holds its stock while the buyer pays, until its payment is
//! confirmed by the provider, fails, or its deadline passes.
//!
//! ```text
//!  POST /orders {checkout: true} ──(placing, as any order)──► PENDING_PAYMENT, pay_by = now + hold
//!    payment.succeeded ──(one conditional update, event kept)──► PLACED (payment_id, paid_at)
//!    payment.failed    ──(one conditional update, event kept)──► CANCELLING ──► CANCELLED
//!    the buyer cancels ──────────────────────────────────────────► CANCELLING ──► CANCELLED
//!    pay_by passes     ──(expiry pass, any replica)──────────────► EXPIRING ──► EXPIRED
//!  EXPIRED, then payment.succeeded ──► REVIVING under a new stock key K
//!     take every line again under K (as placing takes them: all or nothing)
//!       every line taken ──► PLACED, K's holds released
//!       a line cannot be ──► give back what K took ──► REFUND_DUE (nothing held; refund the payment)
//! ```
//!
//! Lines go back to stock through the cancel machinery ([`super::cancelling`]): `CANCELLING` and
//! `EXPIRING` are finished by whoever gets there, each line returned once thanks to its return
//! marker, so replicas racing to expire an order, and a crash in the middle, change nothing.
//! The expiry pass also finishes an `EXPIRING` order left for a few seconds by an expirer that
//! stopped.
//!
//! **Each provider event applies once.** An event's id is kept on the order in the same update
//! that applies it, and a payment only ever moves an order out of `PENDING_PAYMENT` or
//! `EXPIRED`, once: a replay finds its id there and changes nothing; replays racing each other
//! race for one conditional update, and the losers find the winner's id. An amount or currency
//! that differs from the order's is refused (`PAYMENT_MISMATCH`) and leaves it pending.
//!
//! **A payment after expiry** takes the stock under a new key K, so the holds and return markers
//! of the revived order never meet those of its expiry (a later cancel returns its lines under K).
//! A revival cut off midway stays `REVIVING`; after the grace period the recovery pass ends it
//! as `REFUND_DUE` and gives back whatever K still holds, so the stock is never lost or sold
//! twice, and the payment is refunded rather than the order half served.

use common_api::time::minus;
use common_platform::server::Shutdown;
use futures_util::{StreamExt, stream};
use mongodb::{
    bson::{DateTime, oid::ObjectId},
    error::Error,
};

use super::{OrderEngine, cancelling::Return, errors::PaymentError};
use crate::store::{OrderDoc, Payment, PaymentKind, StoredStatus};

/// How many due orders one expiry pass reads at a time.
const EXPIRY_BATCH: i64 = 1_000;
/// How many orders one replica expires at once.
const EXPIRING_AT_ONCE: usize = 16;

/// What a payment event did.
#[derive(Debug)]
pub enum PaymentOutcome {
    /// The pending order is paid: `PLACED`.
    Paid(OrderDoc),
    /// The payment failed: the order is cancelled and its stock is back.
    Failed(OrderDoc),
    /// Paid after expiry, and its stock taken again: `PLACED`.
    Revived(OrderDoc),
    /// Paid after expiry, and its stock could not be taken again: `REFUND_DUE`.
    RefundDue(OrderDoc),
    /// The event was applied before; nothing changed.
    Replayed(OrderDoc),
}

impl PaymentOutcome {
    /// The order as it is now.
    pub fn into_order(self) -> OrderDoc {
        match self {
            Self::Paid(order)
            | Self::Failed(order)
            | Self::Revived(order)
            | Self::RefundDue(order)
            | Self::Replayed(order) => order,
        }
    }
}

impl OrderEngine {
    /// Applies a verified payment event to its order, once; on a task of its own bounded by the
    /// step timeout, as every order change.
    pub async fn apply_payment(&self, payment: Payment) -> Result<PaymentOutcome, PaymentError> {
        self.run_detached(move |engine| async move { engine.apply_payment_now(&payment).await })
            .await
    }

    async fn apply_payment_now(&self, payment: &Payment) -> Result<PaymentOutcome, PaymentError> {
        // Each round either applies the event or finds the order changed by another actor, so a
        // few rounds settle any race.
        for _ in 0..4 {
            let order = self
                .orders
                .find(payment.order_id, None)
                .await?
                .ok_or(PaymentError::UnknownOrder)?;
            if order.payment_events.contains(&payment.event) {
                return Ok(PaymentOutcome::Replayed(order));
            }
            self.check_amount(&order, payment)?;
            let now = DateTime::now();
            match (payment.kind, order.status) {
                (PaymentKind::Succeeded, StoredStatus::PendingPayment) => {
                    let paid = self
                        .orders
                        .apply_payment(payment, StoredStatus::Placed, now)
                        .await?;
                    if let Some(paid) = paid {
                        tracing::info!(order_id = %paid.id, "checkout paid");
                        metrics::counter!("checkouts_total", "outcome" => "paid").increment(1);
                        return Ok(PaymentOutcome::Paid(paid));
                    }
                }
                (PaymentKind::Failed, StoredStatus::PendingPayment) => {
                    let cancelling = self
                        .orders
                        .apply_payment(payment, StoredStatus::Cancelling, now)
                        .await?;
                    if let Some(cancelling) = cancelling {
                        tracing::info!(order_id = %cancelling.id, "checkout payment failed; cancelling");
                        metrics::counter!("checkouts_total", "outcome" => "failed").increment(1);
                        let cancelled =
                            match self.finish_return(&cancelling, Return::Cancel).await? {
                                Some(cancelled) => cancelled,
                                None => self.current(cancelling.id).await?,
                            };
                        return Ok(PaymentOutcome::Failed(cancelled));
                    }
                }
                (PaymentKind::Succeeded, StoredStatus::Expiring) => {
                    // Its lines are going back: finish that first, then take them again.
                    self.finish_return(&order, Return::Expiry).await?;
                }
                (PaymentKind::Succeeded, StoredStatus::Expired) => {
                    let key = ObjectId::new();
                    if let Some(reviving) = self.orders.begin_revival(payment, key, now).await? {
                        return Ok(self.revive(reviving, key).await?);
                    }
                }
                (_, status) => return Err(PaymentError::NotPending(status)),
            }
        }
        let status = self.current(payment.order_id).await?.status;
        Err(PaymentError::NotPending(status))
    }

    /// Refuses a payment whose amount or currency is not the order's total (logged and counted;
    /// the order stays as it is).
    fn check_amount(&self, order: &OrderDoc, payment: &Payment) -> Result<(), PaymentError> {
        let total = order
            .total_in(self.currency)
            .ok_or(PaymentError::Unpriced(order.id))?;
        if payment.amount == total && payment.currency == self.currency.code() {
            return Ok(());
        }
        tracing::warn!(
            order_id = %order.id,
            event = %payment.event,
            amount = payment.amount,
            currency = %payment.currency,
            expected_amount = total,
            expected_currency = self.currency.code(),
            "payment does not match the order's total; the order is left as it is"
        );
        metrics::counter!("checkouts_total", "outcome" => "mismatch").increment(1);
        Err(PaymentError::Mismatch {
            expected: total,
            currency: self.currency,
        })
    }

    /// Takes every line of `order` (`REVIVING` under `key`) again: `PLACED` if every line can be,
    /// else `REFUND_DUE` with nothing held.
    async fn revive(&self, order: OrderDoc, key: ObjectId) -> Result<PaymentOutcome, Error> {
        let at = DateTime::now();
        let mut taken: Vec<(ObjectId, i64)> = Vec::with_capacity(order.items.len());
        for line in &order.items {
            match self
                .inventory
                .take(line.product_id, line.quantity, key, at)
                .await
            {
                Ok(Some(_)) => taken.push((line.product_id, line.quantity)),
                Ok(None) => {
                    self.give_back(key, taken.into_iter()).await;
                    let refund = match self
                        .orders
                        .end_revival(order.id, key, StoredStatus::RefundDue)
                        .await?
                    {
                        Some(refund) => refund,
                        None => self.current(order.id).await?,
                    };
                    tracing::warn!(order_id = %order.id, product_id = %line.product_id, "paid after expiry, but the stock is gone: refund due");
                    metrics::counter!("checkouts_total", "outcome" => "paid_after_expiry_refund_due")
                        .increment(1);
                    return Ok(PaymentOutcome::RefundDue(refund));
                }
                Err(err) => {
                    // The take may have applied: give it back too. The order stays REVIVING,
                    // which the recovery pass ends.
                    let lines = taken.into_iter().chain([(line.product_id, line.quantity)]);
                    self.give_back(key, lines).await;
                    return Err(err);
                }
            }
        }
        let products: Vec<ObjectId> = taken.iter().map(|(product, _)| *product).collect();
        match self
            .orders
            .end_revival(order.id, key, StoredStatus::Placed)
            .await?
        {
            Some(placed) => {
                self.releaser.release(key, products).await;
                tracing::info!(order_id = %placed.id, "paid after expiry; stock taken again");
                metrics::counter!("checkouts_total", "outcome" => "paid_after_expiry_placed")
                    .increment(1);
                Ok(PaymentOutcome::Revived(placed))
            }
            // The recovery pass ended it as REFUND_DUE meanwhile: what was taken goes back.
            None => {
                self.give_back(key, taken.into_iter()).await;
                Ok(PaymentOutcome::RefundDue(self.current(order.id).await?))
            }
        }
    }

    /// Order `id` as it is now; it exists (orders are never removed).
    async fn current(&self, id: ObjectId) -> Result<OrderDoc, Error> {
        self.orders.find(id, None).await?.ok_or_else(|| {
            Error::custom(format!(
                "order {id} disappeared while a payment was applied"
            ))
        })
    }

    /// One expiry pass: every pending order past its deadline becomes `EXPIRING` (once, whichever
    /// replica gets there), and its lines go back; an `EXPIRING` order its expirer left for a few
    /// seconds is finished too. Returns how many orders this pass expired.
    pub async fn expire_due(&self) -> Result<usize, Error> {
        let now = DateTime::now();
        let mut expired = 0;
        loop {
            let due = self.orders.due_for_expiry(now, EXPIRY_BATCH).await?;
            let batch = due.len();
            expired += self
                .each_at_once(due, |id| async move {
                    match self.orders.begin_expiry(id, now).await? {
                        Some(expiring) => self.finish_expiry(&expiring).await,
                        None => Ok(false),
                    }
                })
                .await?;
            if batch < EXPIRY_BATCH as usize {
                break;
            }
        }
        let left_since = minus(now, self.settings.expiry_interval * 2);
        let left = self
            .orders
            .stuck_in(StoredStatus::Expiring, left_since)
            .await?;
        self.each_at_once(
            left,
            |order| async move { self.finish_expiry(&order).await },
        )
        .await?;
        Ok(expired)
    }

    /// Returns an expiring order's lines within a step; `true` if this actor marked it `EXPIRED`.
    async fn finish_expiry(&self, order: &OrderDoc) -> Result<bool, Error> {
        match tokio::time::timeout(
            self.settings.step_timeout,
            self.finish_return(order, Return::Expiry),
        )
        .await
        {
            Ok(done) => Ok(done?.is_some()),
            Err(_) => {
                tracing::warn!(order_id = %order.id, "expiring an order timed out; next pass");
                Ok(false)
            }
        }
    }

    /// Runs `work` over `items`, [`EXPIRING_AT_ONCE`] at a time; how many returned `true`.
    async fn each_at_once<T, F, Fut>(&self, items: Vec<T>, work: F) -> Result<usize, Error>
    where
        F: Fn(T) -> Fut,
        Fut: Future<Output = Result<bool, Error>>,
    {
        let results: Vec<Result<bool, Error>> = stream::iter(items)
            .map(work)
            .buffer_unordered(EXPIRING_AT_ONCE)
            .collect()
            .await;
        let mut done = 0;
        for result in results {
            done += usize::from(result?);
        }
        Ok(done)
    }

    /// Runs an expiry pass every `expiry_interval` until shutdown.
    pub async fn expire_periodically(self, mut shutdown: Shutdown) {
        let mut interval = tokio::time::interval(self.settings.expiry_interval);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                () = shutdown.signalled() => return,
            }
            match self.expire_due().await {
                Ok(0) => {}
                Ok(expired) => tracing::info!(expired, "unpaid checkouts expired"),
                Err(err) => tracing::warn!(error = %err, "expiry pass failed; retrying"),
            }
        }
    }
}
