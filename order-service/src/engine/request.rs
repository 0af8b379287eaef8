//! What an order asks for, once validated: whose it is and one line per product.

use std::collections::BTreeMap;

use mongodb::bson::oid::ObjectId;
use sha2::{Digest, Sha256};

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
}
