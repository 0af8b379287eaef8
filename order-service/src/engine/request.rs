//! What an order asks for: as given ([`NewOrder`]), and once validated ([`OrderRequest`]: whose
//! it is and one line per product).

use std::{collections::BTreeMap, fmt};

use mongodb::bson::oid::ObjectId;
use sha2::{Digest, Sha256};

use crate::models::MAX_QUANTITY;

/// One line to take: a product and how many units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line {
    /// The product.
    pub product_id: ObjectId,
    /// Units wanted.
    pub quantity: i64,
}

/// An order as asked for, before it is checked: whose it should be and its lines as given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOrder {
    /// Whose order it should be; the caller's when `None`.
    pub user_id: Option<ObjectId>,
    /// The lines, in the order given.
    pub lines: Vec<Line>,
    /// A checkout: the order waits for its payment, its stock held until a deadline.
    pub checkout: bool,
}

/// A validated order: whose it is, and one line per product in product-id order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderRequest {
    /// Whose order it will be.
    pub user_id: ObjectId,
    /// Lines, combined per product and sorted by product id.
    pub lines: Vec<Line>,
    /// A checkout, waiting for its payment ([`NewOrder::checkout`]).
    pub checkout: bool,
}

/// A product whose lines, combined, ask for a quantity outside 1 to [`MAX_QUANTITY`]; the
/// order is refused before anything is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuantityOutOfRange {
    /// The product.
    pub product_id: ObjectId,
    /// The position of the first line naming it, among the lines as given.
    pub first_line: usize,
    /// The combined quantity; `None` when it does not fit in an `i64`.
    pub quantity: Option<i64>,
}

impl fmt::Display for QuantityOutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let product = self.product_id;
        match self.quantity {
            Some(quantity) => write!(
                f,
                "The lines for product {product} add up to {quantity} units; \
                 a product may be ordered 1 to {MAX_QUANTITY} units at a time"
            ),
            None => write!(
                f,
                "The lines for product {product} add up to more units than can be counted; \
                 a product may be ordered 1 to {MAX_QUANTITY} units at a time"
            ),
        }
    }
}

impl std::error::Error for QuantityOutOfRange {}

impl OrderRequest {
    /// Combines lines naming the same product and sorts them by product id, so that concurrent
    /// orders take shared products in the same order.
    ///
    /// Each combined quantity must be from 1 to [`MAX_QUANTITY`], the limit of a single line:
    /// repeating a line must not get around it. Both ways of placing an order (a body and a
    /// reorder of stored lines) come through here, so neither can skip the check. The first
    /// offending product in the order given is reported.
    pub fn new(
        user_id: ObjectId,
        lines: impl IntoIterator<Item = Line>,
    ) -> Result<Self, QuantityOutOfRange> {
        // Per product: the first line naming it, and the units so far (`None` past `i64`).
        let mut combined: BTreeMap<ObjectId, (usize, Option<i64>)> = BTreeMap::new();
        for (index, line) in lines.into_iter().enumerate() {
            let (_, sum) = combined.entry(line.product_id).or_insert((index, Some(0)));
            *sum = sum.and_then(|sum| sum.checked_add(line.quantity));
        }
        let mut checked = Vec::with_capacity(combined.len());
        let mut refused: Option<QuantityOutOfRange> = None;
        for (product_id, (first_line, quantity)) in combined {
            match quantity.filter(|quantity| (1..=MAX_QUANTITY).contains(quantity)) {
                Some(quantity) => checked.push(Line {
                    product_id,
                    quantity,
                }),
                None if refused.is_none_or(|earlier| first_line < earlier.first_line) => {
                    refused = Some(QuantityOutOfRange {
                        product_id,
                        first_line,
                        quantity,
                    });
                }
                None => {}
            }
        }
        match refused {
            Some(refused) => Err(refused),
            None => Ok(Self {
                user_id,
                lines: checked,
                checkout: false,
            }),
        }
    }

    /// This request as a checkout, or not.
    #[must_use]
    pub fn with_checkout(self, checkout: bool) -> Self {
        Self { checkout, ..self }
    }

    /// A digest of what is ordered for whom, and how, to tell a repeated request from a
    /// different one (an order placed at once digests as it did before checkouts existed).
    pub fn fingerprint(&self) -> String {
        let mut digest = Sha256::new();
        digest.update(self.user_id.bytes());
        for line in &self.lines {
            digest.update(line.product_id.bytes());
            digest.update(line.quantity.to_be_bytes());
        }
        if self.checkout {
            digest.update(b"checkout");
        }
        digest
            .finalize()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
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

        let request = OrderRequest::new(user, [line(b, 1), line(a, 2), line(b, 3)]).unwrap();

        assert_eq!(request.lines, vec![line(a, 2), line(b, 4)]);
    }

    #[test]
    fn combined_lines_may_reach_the_cap_but_not_pass_it() {
        let (a, b) = (ObjectId::new(), ObjectId::new());
        let user = ObjectId::new();

        let at_cap = OrderRequest::new(user, [line(a, 6_000), line(b, 1), line(a, 4_000)]);
        let over = OrderRequest::new(user, [line(b, 1), line(a, 6_000), line(a, 4_001)]);

        assert_eq!(at_cap.unwrap().lines, vec![line(a, 10_000), line(b, 1)]);
        assert_eq!(
            over,
            Err(QuantityOutOfRange {
                product_id: a,
                first_line: 1,
                quantity: Some(10_001),
            })
        );
    }

    #[test]
    fn the_first_offending_product_in_the_order_given_is_reported() {
        let (a, b) = (ObjectId::new(), ObjectId::new());
        let user = ObjectId::new();

        // `a` sorts first by id, but `b`'s first line comes first in the order.
        let refused = OrderRequest::new(
            user,
            [line(b, 10_000), line(a, 10_000), line(b, 1), line(a, 1)],
        )
        .unwrap_err();

        assert_eq!((refused.product_id, refused.first_line), (b, 0));
    }

    #[test]
    fn a_sum_beyond_i64_is_refused_without_overflowing() {
        let a = ObjectId::new();
        let user = ObjectId::new();

        let refused = OrderRequest::new(user, [line(a, i64::MAX), line(a, i64::MAX), line(a, -5)]);

        assert_eq!(
            refused,
            Err(QuantityOutOfRange {
                product_id: a,
                first_line: 0,
                quantity: None,
            })
        );
    }

    #[test]
    fn a_combined_quantity_below_one_is_refused() {
        let a = ObjectId::new();
        let user = ObjectId::new();

        let refused = OrderRequest::new(user, [line(a, 0)]).unwrap_err();

        assert_eq!(refused.quantity, Some(0));
    }

    #[test]
    fn the_fingerprint_ignores_line_order_but_not_content() {
        let (a, b) = (ObjectId::new(), ObjectId::new());
        let user = ObjectId::new();
        let one = OrderRequest::new(user, [line(a, 1), line(b, 2)]).unwrap();
        let same = OrderRequest::new(user, [line(b, 2), line(a, 1)]).unwrap();
        let more = OrderRequest::new(user, [line(a, 2), line(b, 2)]).unwrap();
        let other_user = OrderRequest::new(ObjectId::new(), [line(a, 1), line(b, 2)]).unwrap();

        assert_eq!(one.fingerprint(), same.fingerprint());
        assert_ne!(one.fingerprint(), more.fingerprint());
        assert_ne!(one.fingerprint(), other_user.fingerprint());
    }
}
