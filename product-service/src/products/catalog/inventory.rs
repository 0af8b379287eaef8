//! Low-stock lists (`GET /inventory`) from the model's stock: no sorted order is kept for them,
//! since stock changes with every order; a list scans a seller's products (or every product, for
//! an admin) and orders only the page's `offset + limit`.

use mongodb::bson::oid::ObjectId;

use super::{Catalog, Hits, Sort};

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
        let model = self.read();
        let candidates = match seller {
            Some(seller) => match model.seller(&seller) {
                Some(seller) => model.of_seller(seller),
                None => &[],
            },
            None => model.in_order(Sort::CreatedAt).0,
        };
        let mut matches: Vec<(i64, ObjectId)> = candidates
            .iter()
            .map(|&slot| (model.fields(slot).stock, model.id(slot)))
            .filter(|&(stock, _)| stock <= below)
            .collect();
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
    use super::super::{Model, Row};
    use super::*;

    fn catalog_of(model: Model) -> Catalog {
        let catalog = Catalog::default();
        catalog.replace(model);
        catalog
    }

    fn row(seller: u8, stock: i64) -> Row {
        Row {
            id: ObjectId::new(),
            name_lower: "mug".into(),
            category: String::new(),
            category_key: String::new(),
            seller: ObjectId::from_bytes([seller; 12]),
            price: 100,
            stock,
            created_ms: 1,
        }
    }

    #[test]
    fn low_stock_is_ordered_by_stock_then_id_and_paged() {
        let rows: Vec<Row> = [5, 0, 3, 0, 9, 2, 3].map(|stock| row(1, stock)).into();
        let mut model = Model::from_rows(rows.clone());
        model.remove(rows[5].id);
        let catalog = catalog_of(model);
        let mut expected: Vec<(i64, ObjectId)> = rows
            .iter()
            .filter(|row| row.stock <= 5 && row.id != rows[5].id)
            .map(|row| (row.stock, row.id))
            .collect();
        expected.sort();
        let expected: Vec<ObjectId> = expected.into_iter().map(|(_, id)| id).collect();

        for (offset, limit) in [(0, 100), (0, 2), (1, 2), (3, 10), (5, 1), (9, 3)] {
            let hits = catalog.low_stock(None, 5, offset, limit);
            assert_eq!(hits.total, 5);
            let end = (offset + limit).min(5);
            assert_eq!(hits.ids, expected[offset.min(end)..end], "{offset} {limit}");
        }
    }

    #[test]
    fn a_seller_sees_only_their_own() {
        let mine = row(1, 0);
        let catalog = catalog_of(Model::from_rows([mine.clone(), row(2, 0)]));

        let hits = catalog.low_stock(Some(mine.seller), 0, 0, 10);

        assert_eq!(hits.ids, [mine.id]);
        assert_eq!(catalog.low_stock(Some(ObjectId::new()), 0, 0, 10).total, 0);
    }
}
