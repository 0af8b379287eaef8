//! Placing an order: all or nothing, never overselling, and nothing lost on a crash.
//!
//! ```text
//!  choose order id ──► [claim Idempotency-Key] ──► for each line, in product-id order:
//!                                                    take: {_id, stock >= q} → stock -= q, push hold
//!                                                          │ a line fails
//!                                  every line taken ◄──────┴──────────► give back the lines taken
//!                                         │                             (only while their hold is
//!                                         ▼                              there), answer 400/409
//!                              insert the order (PLACED)
//!                                         │ ok                  │ duplicate id: the recovery
//!                                         ▼                     ▼ pass gave up on it → 503
//!                    queue its holds for release (batched)
//! ```
//!
//! Only single-document atomic operations are used, so this works the same on a standalone
//! server, a replica set and Atlas. A crash at any point leaves holds behind; the recovery pass
//! resolves them through the order id's uniqueness (see [`crate::recovery`]).

use std::{collections::BTreeMap, time::Instant};

use common::{ApiError, ApiResult, db::is_duplicate_key};
use mongodb::bson::{DateTime, oid::ObjectId};
use sha2::{Digest, Sha256};

use crate::{
    AppState,
    models::key_reused,
    store::{Claim, ClaimId, OrderDoc, OrderLine, StoredStatus},
};

/// One line to take: a product and how many units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line {
    /// The product.
    pub product_id: ObjectId,
    /// Units wanted.
    pub quantity: i64,
}

/// A validated order: whose it is, and one line per product in product-id order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderRequest {
    /// Whose order it will be.
    pub user_id: ObjectId,
    /// Lines, combined per product and sorted by product id.
    pub lines: Vec<Line>,
}

impl OrderRequest {
    /// Combines lines naming the same product and sorts them by product id, so that concurrent
    /// orders take shared products in the same order.
    pub fn new(user_id: ObjectId, lines: impl IntoIterator<Item = Line>) -> Self {
        let mut combined: BTreeMap<ObjectId, i64> = BTreeMap::new();
        for line in lines {
            *combined.entry(line.product_id).or_default() += line.quantity;
        }
        Self {
            user_id,
            lines: combined
                .into_iter()
                .map(|(product_id, quantity)| Line {
                    product_id,
                    quantity,
                })
                .collect(),
        }
    }

    /// A digest of what is ordered for whom, to tell a repeated request from a different one.
    pub fn fingerprint(&self) -> String {
        let mut digest = Sha256::new();
        digest.update(self.user_id.bytes());
        for line in &self.lines {
            digest.update(line.product_id.bytes());
            digest.update(line.quantity.to_be_bytes());
        }
        digest
            .finalize()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
}

/// A placed order, and whether it was placed by an earlier request with the same key.
#[derive(Debug)]
pub struct Placed {
    /// The order.
    pub order: OrderDoc,
    /// `true` when an `Idempotency-Key` repeat returned an existing order.
    pub replayed: bool,
}

/// Why an order was not placed.
#[derive(Debug)]
enum Failure {
    /// It does not exist and never will.
    Refused(ApiError),
    /// Its insert failed in a way that leaves its existence unknown; the recovery pass decides.
    Unknown(ApiError),
}

/// Places `request` for `caller`, once per `Idempotency-Key` when one is given.
pub async fn place_order(
    state: &AppState,
    caller: ObjectId,
    request: &OrderRequest,
    key: Option<&str>,
) -> ApiResult<Placed> {
    match key {
        None => match place(state, ObjectId::new(), request).await {
            Ok(order) => Ok(Placed {
                order,
                replayed: false,
            }),
            Err(Failure::Refused(err) | Failure::Unknown(err)) => Err(err),
        },
        Some(key) => {
            let id = ClaimId {
                user_id: caller,
                key: key.to_owned(),
            };
            place_once(state, &id, request).await
        }
    }
}

/// Places the order for the claim `id`, or returns the order an earlier request placed with it.
async fn place_once(state: &AppState, id: &ClaimId, request: &OrderRequest) -> ApiResult<Placed> {
    let fingerprint = request.fingerprint();
    let deadline = Instant::now() + state.settings.claim_wait;
    loop {
        let order_id = ObjectId::new();
        match state.claims.claim(id, &fingerprint, order_id).await? {
            Claim::Won => {
                return match place(state, order_id, request).await {
                    Ok(order) => {
                        if let Err(err) = state.claims.confirm(id, order_id).await {
                            // The recovery pass confirms it later.
                            tracing::warn!(error = %err, %order_id, "could not confirm an idempotency key");
                        }
                        Ok(Placed {
                            order,
                            replayed: false,
                        })
                    }
                    Err(Failure::Refused(err)) => {
                        if let Err(release) = state.claims.release(id, order_id).await {
                            tracing::warn!(error = %release, %order_id, "could not release an idempotency key");
                        }
                        Err(err)
                    }
                    Err(Failure::Unknown(err)) => Err(err),
                };
            }
            Claim::Held(claim) => {
                if state.orders.status_of(claim.order_id).await? == Some(StoredStatus::Failed) {
                    // Its order was abandoned: the key is free again, for any body.
                    state.claims.release(id, claim.order_id).await?;
                    continue;
                }
                if claim.fingerprint != fingerprint {
                    return Err(key_reused());
                }
                if let Some(order) = state.orders.find(claim.order_id, None).await? {
                    return Ok(Placed {
                        order,
                        replayed: true,
                    });
                }
                // The first request is still placing it: wait for it, briefly.
                if Instant::now() >= deadline {
                    return Err(ApiError::conflict(
                        "IDEMPOTENCY_KEY_IN_USE",
                        "A request with this Idempotency-Key is still being processed; retry shortly",
                    ));
                }
                tokio::time::sleep(state.settings.claim_poll).await;
            }
            Claim::Released => {}
        }
    }
}

/// Takes every line's stock for `order_id` and stores the order, or takes nothing at all.
async fn place(
    state: &AppState,
    order_id: ObjectId,
    request: &OrderRequest,
) -> Result<OrderDoc, Failure> {
    let at = DateTime::now();
    let mut taken: Vec<OrderLine> = Vec::with_capacity(request.lines.len());
    for line in &request.lines {
        match state
            .inventory
            .take(line.product_id, line.quantity, order_id, at)
            .await
        {
            Ok(Some(snapshot)) => taken.push(OrderLine {
                product_id: line.product_id,
                quantity: line.quantity,
                name: snapshot.name,
                unit_price: snapshot.price,
            }),
            Ok(None) => {
                let reason = why_not_taken(state, line.product_id).await;
                give_back(
                    state,
                    order_id,
                    taken.iter().map(|l| (l.product_id, l.quantity)),
                )
                .await;
                return Err(Failure::Refused(reason));
            }
            Err(err) => {
                // The take may have been applied before the error: give it back as well (it only
                // happens if its hold is there).
                let lines = taken.iter().map(|l| (l.product_id, l.quantity));
                give_back(
                    state,
                    order_id,
                    lines.chain([(line.product_id, line.quantity)]),
                )
                .await;
                return Err(Failure::Refused(err.into()));
            }
        }
    }

    let order = OrderDoc {
        id: order_id,
        user_id: request.user_id,
        total: total(&taken),
        items: taken,
        status: StoredStatus::Placed,
        created_at: at,
        updated_at: at,
    };
    match state.orders.insert(&order).await {
        Ok(()) => {
            let products = order.items.iter().map(|line| line.product_id).collect();
            state.releaser.release(order_id, products).await;
            Ok(order)
        }
        Err(err) if is_duplicate_key(&err) => {
            tracing::error!(%order_id, "the recovery pass gave up on this order before it was stored");
            Err(Failure::Refused(ApiError::DbUnavailable(anyhow::anyhow!(
                "order {order_id} was abandoned before it could be stored"
            ))))
        }
        Err(err) => Err(Failure::Unknown(err.into())),
    }
}

/// 400 `PRODUCT_NOT_FOUND` or 409 `INSUFFICIENT_STOCK` for a line whose take matched nothing.
async fn why_not_taken(state: &AppState, product: ObjectId) -> ApiError {
    match state.inventory.exists(product).await {
        Ok(true) => ApiError::conflict(
            "INSUFFICIENT_STOCK",
            format!("Insufficient stock for product {product}"),
        ),
        Ok(false) => {
            ApiError::bad_request("PRODUCT_NOT_FOUND", format!("Product {product} not found"))
        }
        Err(err) => err.into(),
    }
}

/// Gives back the lines `order_id` took. A give-back that fails leaves its hold, which the
/// recovery pass resolves.
async fn give_back(
    state: &AppState,
    order_id: ObjectId,
    lines: impl Iterator<Item = (ObjectId, i64)>,
) {
    for (product, quantity) in lines {
        if let Err(err) = state.inventory.give_back(product, order_id, quantity).await {
            tracing::warn!(error = %err, %order_id, %product, "give-back failed; left to the recovery pass");
        }
    }
}

/// Sum of `unit_price × quantity`, rounded to cents.
pub fn total(lines: &[OrderLine]) -> f64 {
    let sum: f64 = lines
        .iter()
        .map(|line| line.unit_price * line.quantity as f64)
        .sum();
    (sum * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(product_id: ObjectId, quantity: i64) -> Line {
        Line {
            product_id,
            quantity,
        }
    }

    #[test]
    fn lines_for_the_same_product_are_combined_and_sorted() {
        let (a, b) = (ObjectId::new(), ObjectId::new());
        let user = ObjectId::new();

        let request = OrderRequest::new(user, [line(b, 1), line(a, 2), line(b, 3)]);

        assert_eq!(request.lines, vec![line(a, 2), line(b, 4)]);
    }

    #[test]
    fn the_fingerprint_ignores_line_order_but_not_content() {
        let (a, b) = (ObjectId::new(), ObjectId::new());
        let user = ObjectId::new();
        let one = OrderRequest::new(user, [line(a, 1), line(b, 2)]);
        let same = OrderRequest::new(user, [line(b, 2), line(a, 1)]);
        let more = OrderRequest::new(user, [line(a, 2), line(b, 2)]);
        let other_user = OrderRequest::new(ObjectId::new(), [line(a, 1), line(b, 2)]);

        assert_eq!(one.fingerprint(), same.fingerprint());
        assert_ne!(one.fingerprint(), more.fingerprint());
        assert_ne!(one.fingerprint(), other_user.fingerprint());
    }

    #[test]
    fn totals_are_rounded_to_cents() {
        let line = |unit_price: f64, quantity: i64| OrderLine {
            product_id: ObjectId::new(),
            quantity,
            name: String::new(),
            unit_price,
        };

        assert_eq!(total(&[line(0.1, 3), line(0.2, 1)]), 0.5);
        assert_eq!(total(&[line(19.999, 1)]), 20.0);
        assert_eq!(total(&[line(39.9, 2)]), 79.8);
    }
}
