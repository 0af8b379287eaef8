//! Low-stock lists (`GET /inventory`) from the model's stock column: no sorted order is kept for
//! them, since stock changes with every order; a list scans a seller's products (or every
//! product, for an admin) and orders only the page's `offset + limit`.

use mongodb::bson::oid::ObjectId;

use super::{Catalog, Hits, Model};

impl Catalog {
    /// Products with stock at most `below` (only `seller`'s when given), lowest stock first and
    /// then by id; the page from `offset`, at most `limit`, and how many match.
    pub fn low_stock(
        &self,
        seller: Option<ObjectId>,
        below: i64,
        offset: usize,
        limit: usize,
    ) -> Hits {
        self.read().low_stock(seller, below, offset, limit)
    }
}

impl Model {
    /// See [`Catalog::low_stock`].
    pub fn low_stock(
        &self,
        seller: Option<ObjectId>,
        below: i64,
        offset: usize,
        limit: usize,
    ) -> Hits {
        let low = |slot: usize| self.alive[slot] && self.stock[slot] <= below;
        let entry = |slot: usize| (self.stock[slot], self.ids[slot]);
        let mut matches: Vec<(i64, ObjectId)> = match seller {
            Some(seller) => match self.seller_of(&seller) {
                Some(seller) => self.seller_slots[seller as usize]
                    .iter()
                    .map(|&slot| slot as usize)
                    .filter(|&slot| low(slot))
                    .map(entry)
                    .collect(),
                None => Vec::new(),
            },
            None => (0..self.ids.len())
                .filter(|&slot| low(slot))
                .map(entry)
                .collect(),
        };
        let total = matches.len();
        let end = offset.saturating_add(limit).min(total);
        if end < total {
            // Only the first `end` need ordering.
            matches.select_nth_unstable(end);
            matches.truncate(end);
        }
        matches.sort_unstable();
        Hits {
            ids: matches[offset.min(end)..end]
                .iter()
                .map(|&(_, id)| id)
                .collect(),
            total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Row;
    use super::*;

    fn row(seller: u8, stock: i64) -> Row {
        Row {
            id: ObjectId::new(),
            name_lower: "mug".into(),
            category: String::new(),
            category_key: String::new(),
            seller: ObjectId::from_bytes([seller; 12]),
            price: 1.0,
            stock,
            created_ms: 1,
        }
    }

    #[test]
    fn low_stock_is_ordered_by_stock_then_id_and_paged() {
        let rows: Vec<Row> = [5, 0, 3, 0, 9, 2, 3].map(|stock| row(1, stock)).into();
        let mut model = Model::from_rows(rows.clone());
        model.remove(rows[5].id);
        let mut expected: Vec<(i64, ObjectId)> = rows
            .iter()
            .filter(|row| row.stock <= 5 && row.id != rows[5].id)
            .map(|row| (row.stock, row.id))
            .collect();
        expected.sort();
        let expected: Vec<ObjectId> = expected.into_iter().map(|(_, id)| id).collect();

        for (offset, limit) in [(0, 100), (0, 2), (1, 2), (3, 10), (5, 1), (9, 3)] {
            let hits = model.low_stock(None, 5, offset, limit);
            assert_eq!(hits.total, 5);
            let end = (offset + limit).min(5);
            assert_eq!(hits.ids, expected[offset.min(end)..end], "{offset} {limit}");
        }
    }

    #[test]
    fn a_seller_sees_only_their_own() {
        let mine = row(1, 0);
        let model = Model::from_rows([mine.clone(), row(2, 0)]);

        let hits = model.low_stock(Some(mine.seller), 0, 0, 10);

        assert_eq!(hits.ids, [mine.id]);
        assert_eq!(model.low_stock(Some(ObjectId::new()), 0, 0, 10).total, 0);
    }
}
