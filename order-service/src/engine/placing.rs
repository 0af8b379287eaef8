//! Placing an order: all or nothing, never overselling, and nothing lost on a crash.
//!
//! ```text
//!  choose order id ──► [claim Idempotency-Key] ──► for each line, in product-id order:
//!                                                    take: {_id, stock >= q} → stock -= q, push hold
//!                                                          │ a line fails
//!                                  every line taken ◄──────┴──────────► give back the lines taken
//!                                         │                             (only while their hold is
//!                                         ▼                              there); refused
//!                              insert the order (PLACED)
//!                                         │ ok                  │ duplicate id: the recovery
//!                                         ▼                     ▼ pass gave up on it: Abandoned
//!                    queue its holds for release (batched)
//! ```
//!
//! Before any of it, the order is checked: whose it is (only an admin may order for another
//! user), and that each product's lines add up to 1 to 10 000 units ([`OrderRequest::new`]).
//!
//! Only single-document atomic operations are used, so this works the same on a standalone
//! server, a replica set and Atlas. A crash at any point leaves holds behind; the recovery pass
//! resolves them through the order id's uniqueness (see [`super::recovery`]).

use std::time::Instant;

use common_api::{auth::AuthUser, money::Currency};
use mongodb::bson::{DateTime, oid::ObjectId};

use super::{
    OrderEngine, PlaceError,
    request::{Line, NewOrder, OrderRequest},
};
use crate::store::{Claim, ClaimId, Inserted, OrderDoc, OrderLine, StoredStatus};

/// A placed order, and whether it was placed by an earlier request with the same key.
#[derive(Debug)]
pub struct Placed {
    /// The order.
    pub order: OrderDoc,
    /// `true` when an `Idempotency-Key` repeat returned an existing order.
    pub replayed: bool,
}

/// Why an order was not placed, told apart by what it means for its idempotency key.
#[derive(Debug)]
enum Failure {
    /// The order is not stored and never can be: no insert was tried (a line was refused, or
    /// a take failed), or the insert lost to the recovery pass's tombstone. Its key is free again.
    NeverStored(PlaceError),
    /// The insert failed in a way that leaves unknown whether the order is stored. Its key stays
    /// claimed until the recovery pass settles the order id.
    MaybeStored(PlaceError),
}

impl OrderEngine {
    /// Places `order` for `caller` (for themselves, or for anyone if an admin), once per
    /// `Idempotency-Key` when one is given.
    pub async fn place(
        &self,
        caller: &AuthUser,
        order: NewOrder,
        key: Option<String>,
    ) -> Result<Placed, PlaceError> {
        self.check_verified(caller)?;
        let user_id = order.user_id.unwrap_or(caller.id);
        if !caller.may_act_for(user_id) {
            return Err(PlaceError::ForAnotherUser);
        }
        let request = OrderRequest::new(user_id, order.lines)
            .map_err(PlaceError::QuantityOutOfRange)?
            .with_checkout(order.checkout);
        self.place_request(caller.id, request, key).await
    }

    /// Orders the lines of `caller`'s order `id` again, at today's prices, as [`Self::place`]
    /// (as a checkout with `checkout`).
    pub async fn reorder(
        &self,
        caller: &AuthUser,
        id: ObjectId,
        checkout: bool,
        key: Option<String>,
    ) -> Result<Placed, PlaceError> {
        self.check_verified(caller)?;
        let original = self
            .orders
            .find(id, Some(caller.id))
            .await?
            .ok_or(PlaceError::NotFound)?;
        let lines = original.items.iter().map(|line| Line {
            product_id: line.product_id,
            quantity: line.quantity,
        });
        let request = OrderRequest::new(caller.id, lines)
            .map_err(PlaceError::StoredQuantityOutOfRange)?
            .with_checkout(checkout);
        self.place_request(caller.id, request, key).await
    }

    /// With `REQUIRE_VERIFIED_EMAIL`, refuses a caller whose token says their email is not
    /// verified (a token issued before the verification is refused anyway, and refreshed).
    fn check_verified(&self, caller: &AuthUser) -> Result<(), PlaceError> {
        if self.settings.require_verified_email && !caller.email_verified {
            return Err(PlaceError::EmailNotVerified);
        }
        Ok(())
    }

    /// Places `request` with `caller`'s key, on a task of its own bounded by the step timeout,
    /// and counts the outcome.
    async fn place_request(
        &self,
        caller: ObjectId,
        request: OrderRequest,
        key: Option<String>,
    ) -> Result<Placed, PlaceError> {
        let placed = self
            .run_detached(move |engine| async move {
                engine.place_now(caller, &request, key.as_deref()).await
            })
            .await;
        count_placing(&placed);
        placed
    }

    async fn place_now(
        &self,
        caller: ObjectId,
        request: &OrderRequest,
        key: Option<&str>,
    ) -> Result<Placed, PlaceError> {
        let Some(key) = key else {
            return match self.take_and_store(ObjectId::new(), request).await {
                Ok(order) => Ok(Placed {
                    order,
                    replayed: false,
                }),
                Err(Failure::NeverStored(err) | Failure::MaybeStored(err)) => Err(err),
            };
        };
        let id = ClaimId {
            user_id: caller,
            key: key.to_owned(),
        };
        self.place_once(&id, request).await
    }

    /// Places the order for the claim `id`, or returns the order an earlier request placed with
    /// it.
    async fn place_once(&self, id: &ClaimId, request: &OrderRequest) -> Result<Placed, PlaceError> {
        let fingerprint = request.fingerprint();
        // Waiting for the first request ends in time to answer within the request's deadline.
        let wait = match common_api::budget::remaining() {
            Some(left) => self.settings.claim_wait.min(left / 2),
            None => self.settings.claim_wait,
        };
        let deadline = Instant::now() + wait;
        loop {
            let order_id = ObjectId::new();
            match self.claims.claim(id, &fingerprint, order_id).await? {
                Claim::Won => return self.place_claimed(id, order_id, request).await,
                Claim::Held(claim) => {
                    if self.orders.status_of(claim.order_id).await? == Some(StoredStatus::Failed) {
                        // Its order was abandoned: the key is free again, for any body.
                        self.claims.release(id, claim.order_id).await?;
                        continue;
                    }
                    if claim.fingerprint != fingerprint {
                        return Err(PlaceError::KeyReused);
                    }
                    if let Some(order) = self.orders.find(claim.order_id, None).await? {
                        return Ok(Placed {
                            order,
                            replayed: true,
                        });
                    }
                    // The first request is still placing it: wait for it, briefly.
                    if Instant::now() >= deadline {
                        return Err(PlaceError::KeyInUse);
                    }
                    tokio::time::sleep(self.settings.claim_poll).await;
                }
                Claim::Released => {}
            }
        }
    }

    /// Places `order_id` under the claim `id` this request won, then confirms or frees the key.
    async fn place_claimed(
        &self,
        id: &ClaimId,
        order_id: ObjectId,
        request: &OrderRequest,
    ) -> Result<Placed, PlaceError> {
        match self.take_and_store(order_id, request).await {
            Ok(order) => {
                if let Err(err) = self.claims.confirm(id, order_id).await {
                    // The recovery pass confirms it later.
                    tracing::warn!(error = %err, %order_id, "could not confirm an idempotency key");
                }
                Ok(Placed {
                    order,
                    replayed: false,
                })
            }
            Err(Failure::NeverStored(err)) => {
                if let Err(release) = self.claims.release(id, order_id).await {
                    tracing::warn!(error = %release, %order_id, "could not release an idempotency key");
                }
                Err(err)
            }
            // Left claimed: the recovery pass confirms or releases it once it knows.
            Err(Failure::MaybeStored(err)) => Err(err),
        }
    }

    /// Takes every line's stock for `order_id` and stores the order, or takes nothing at all.
    async fn take_and_store(
        &self,
        order_id: ObjectId,
        request: &OrderRequest,
    ) -> Result<OrderDoc, Failure> {
        let at = DateTime::now();
        let mut taken: Vec<OrderLine> = Vec::with_capacity(request.lines.len());
        for line in &request.lines {
            // Combined with the takes of the same product waiting with it (see `combining`).
            match self
                .combiner
                .take(line.product_id, line.quantity, order_id)
                .await
            {
                Ok(Some(snapshot)) => {
                    let Some(unit_price) = snapshot.price.minor(self.currency) else {
                        let lines = taken.iter().map(|l| (l.product_id, l.quantity));
                        let lines = lines.chain([(line.product_id, line.quantity)]);
                        self.give_back(order_id, lines).await;
                        return Err(Failure::NeverStored(PlaceError::Unpriced(line.product_id)));
                    };
                    taken.push(OrderLine {
                        product_id: line.product_id,
                        quantity: line.quantity,
                        name: snapshot.name,
                        unit_price: unit_price.into(),
                    });
                }
                Ok(None) => {
                    let reason = self.why_not_taken(line.product_id).await;
                    let lines = taken.iter().map(|l| (l.product_id, l.quantity));
                    self.give_back(order_id, lines).await;
                    return Err(Failure::NeverStored(reason));
                }
                Err(err) => {
                    // The take may have been applied before the error: give it back as well (it
                    // only happens if its hold is there).
                    let lines = taken.iter().map(|l| (l.product_id, l.quantity));
                    let lines = lines.chain([(line.product_id, line.quantity)]);
                    self.give_back(order_id, lines).await;
                    return Err(Failure::NeverStored(err.into()));
                }
            }
        }
        self.store(order_id, request, taken, at).await
    }

    /// Inserts the order whose lines are all taken (`PLACED`, or `PENDING_PAYMENT` until the
    /// checkout deadline), and queues the release of its holds.
    async fn store(
        &self,
        order_id: ObjectId,
        request: &OrderRequest,
        taken: Vec<OrderLine>,
        at: DateTime,
    ) -> Result<OrderDoc, Failure> {
        let Some(total) = total(&taken, self.currency) else {
            let lines = taken.iter().map(|l| (l.product_id, l.quantity));
            self.give_back(order_id, lines).await;
            return Err(Failure::NeverStored(PlaceError::TotalOutOfRange));
        };
        let (status, pay_by) = if request.checkout {
            let pay_by = common_api::time::plus(at, self.settings.checkout_hold);
            (StoredStatus::PendingPayment, Some(pay_by))
        } else {
            (StoredStatus::Placed, None)
        };
        let order = OrderDoc {
            pay_by,
            ..OrderDoc::new(order_id, request.user_id, taken, status, total.into(), at)
        };
        // Combined with the inserts of other orders waiting with it (see `combining`).
        match self.combiner.insert(order.clone()).await {
            Ok(Inserted::Stored) => {
                let products = order.items.iter().map(|line| line.product_id).collect();
                self.releaser.release(order_id, products).await;
                Ok(order)
            }
            // Only a tombstone can hold this id: the recovery pass settled it as abandoned and
            // gave its stock back, so it can never be stored now.
            Ok(Inserted::Duplicate) => {
                tracing::error!(%order_id, "the recovery pass gave up on this order before it was stored");
                Err(Failure::NeverStored(PlaceError::Abandoned(order_id)))
            }
            Ok(Inserted::Refused) => Err(Failure::MaybeStored(
                mongodb::error::Error::custom("the server refused the order document").into(),
            )),
            Err(err) => Err(Failure::MaybeStored(err.into())),
        }
    }

    /// Why the take of a line of `product` matched nothing: too little stock, or no product.
    async fn why_not_taken(&self, product: ObjectId) -> PlaceError {
        match self.inventory.exists(product).await {
            Ok(true) => PlaceError::InsufficientStock(product),
            Ok(false) => PlaceError::UnknownProduct(product),
            Err(err) => err.into(),
        }
    }

    /// Gives back the lines `order_id` took. A give-back that fails leaves its hold, which the
    /// recovery pass resolves.
    pub(super) async fn give_back(
        &self,
        order_id: ObjectId,
        lines: impl Iterator<Item = (ObjectId, i64)>,
    ) {
        for (product, quantity) in lines {
            if let Err(err) = self.inventory.give_back(product, order_id, quantity).await {
                tracing::warn!(error = %err, %order_id, %product, "give-back failed; left to the recovery pass");
            }
        }
    }
}

/// Counts what became of a request to place an order: `orders_placed_total` and
/// `stock_units_taken_total` for a new order, `orders_idempotent_replays_total` for a replay,
/// `orders_refused_total{reason}` for a refusal for stock or an unknown product.
fn count_placing(placed: &Result<Placed, PlaceError>) {
    match placed {
        Ok(Placed { replayed: true, .. }) => {
            metrics::counter!("orders_idempotent_replays_total").increment(1)
        }
        Ok(Placed { order, .. }) => {
            if order.status == StoredStatus::PendingPayment {
                metrics::counter!("checkouts_total", "outcome" => "started").increment(1);
            } else {
                metrics::counter!("orders_placed_total").increment(1);
            }
            let units: i64 = order.items.iter().map(|line| line.quantity).sum();
            metrics::counter!("stock_units_taken_total").increment(units.unsigned_abs());
        }
        Err(PlaceError::InsufficientStock(_)) => {
            metrics::counter!("orders_refused_total", "reason" => "stock").increment(1)
        }
        Err(PlaceError::UnknownProduct(_)) => {
            metrics::counter!("orders_refused_total", "reason" => "not_found").increment(1)
        }
        Err(_) => {}
    }
}

/// The exact sum of `unit_price × quantity` in minor units of `currency`, with checked
/// arithmetic; `None` when a line's stored price is no amount, or the sum leaves `i64` (which no
/// order within the limits does: 100 lines × 10 000 units × 1e9 × 10³).
pub fn total(lines: &[OrderLine], currency: Currency) -> Option<i64> {
    lines.iter().try_fold(0_i64, |sum, line| {
        sum.checked_add(
            line.unit_price
                .minor(currency)?
                .checked_mul(line.quantity)?,
        )
    })
}

#[cfg(test)]
mod tests {
    use common_api::money::StoredAmount;

    use super::*;

    fn line(unit_price: StoredAmount, quantity: i64) -> OrderLine {
        OrderLine {
            product_id: ObjectId::new(),
            quantity,
            name: String::new(),
            unit_price,
        }
    }

    #[test]
    fn totals_are_exact_integer_sums() {
        let usd = Currency::USD;
        let minor = StoredAmount::Minor;
        // 0.1 × 3 + 0.2 is 0.5 exactly, not 0.5000000000000001.
        assert_eq!(
            total(&[line(minor(10), 3), line(minor(20), 1)], usd),
            Some(50)
        );
        assert_eq!(total(&[line(minor(1_999), 3)], usd), Some(5_997));
        // The largest order the limits allow, in a currency of three decimals.
        let most = line(minor(1_000_000_000_000), 10_000);
        let lines: Vec<OrderLine> = (0..100).map(|_| most.clone()).collect();
        assert_eq!(total(&lines, usd), Some(1_000_000_000_000_000_000));
        assert_eq!(total(&[line(minor(i64::MAX), 2)], usd), None);
    }

    #[test]
    fn a_float_price_from_before_money_was_exact_counts_rounded_half_to_even() {
        let legacy = StoredAmount::Legacy;
        let lines = [line(legacy(1.005), 1), line(legacy(2.675), 2)];
        assert_eq!(total(&lines, Currency::USD), Some(100 + 2 * 268));
        assert_eq!(total(&[line(legacy(f64::NAN), 1)], Currency::USD), None);
    }
}
