//! Answering a list from the model: which products match, how many, and which ids make the page.
//!
//! A query starts from the smallest set that can hold its matches (a seller's products, a
//! category, a price range, the products whose name contains the text, or the whole catalog walked
//! in the requested order), checks the other filters on each candidate and sorts the matches,
//! which the catalog's result cache keeps for the next page or the next visitor. Its cost follows
//! the size of that set, not the size of the catalog.

use memchr::memmem::Finder;
use mongodb::bson::oid::ObjectId;

use super::model::{Model, Order};

/// The orders a list can be sorted in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Sort {
    /// Oldest first (the default).
    #[default]
    CreatedAt,
    /// Newest first.
    CreatedAtDesc,
    /// Cheapest first.
    Price,
    /// Dearest first.
    PriceDesc,
    /// By name, in any case.
    Name,
}

impl Sort {
    /// The model's order and whether it is walked backwards. Every order ends with the id, so a
    /// descending sort is exactly the ascending one reversed.
    fn order(self) -> (Order, bool) {
        match self {
            Sort::CreatedAt => (Order::Created, false),
            Sort::CreatedAtDesc => (Order::Created, true),
            Sort::Price => (Order::Price, false),
            Sort::PriceDesc => (Order::Price, true),
            Sort::Name => (Order::Name, false),
        }
    }
}

/// What to list.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Query {
    /// Text the name contains, lowercased; `None` or empty for any name.
    pub text: Option<String>,
    /// The category key.
    pub category_key: Option<String>,
    /// The seller.
    pub seller: Option<ObjectId>,
    /// The lowest price, inclusive.
    pub min_price: Option<f64>,
    /// The highest price, inclusive.
    pub max_price: Option<f64>,
    /// Only products with stock.
    pub in_stock: bool,
    /// The order.
    pub sort: Sort,
    /// How many matches to skip.
    pub offset: usize,
    /// How many to return at most.
    pub limit: usize,
}

/// One page of matching product ids, in order, and how many match in all.
#[derive(Debug, Default, PartialEq)]
pub struct Hits {
    /// The page.
    pub ids: Vec<ObjectId>,
    /// Every match.
    pub total: usize,
}

/// How a query was answered.
pub(super) enum Answer {
    /// Straight from one of the model's orders: already the page.
    Page(Hits),
    /// Every match, sorted: the page is a slice of it, and so is every other page of the same
    /// filters while the model does not change (see [`super::Catalog`]'s result cache).
    Sorted(Vec<u32>),
}

/// The filters that a candidate must still pass.
struct Filter<'q> {
    text: Option<Finder<'q>>,
    group: Option<u32>,
    seller: Option<u32>,
    prices: Option<(f64, f64)>,
    in_stock: bool,
}

impl Filter<'_> {
    fn accepts(&self, model: &Model, slot: u32) -> bool {
        let index = slot as usize;
        self.group
            .is_none_or(|group| model.category[index] == group)
            && self
                .seller
                .is_none_or(|seller| model.seller[index] == seller)
            && self
                .prices
                .is_none_or(|(low, high)| (low..=high).contains(&model.price[index]))
            && (!self.in_stock || model.stock[index] > 0)
            && self
                .text
                .as_ref()
                .is_none_or(|text| text.find(model.names.get(slot)).is_some())
    }
}

impl Model {
    /// The page of products matching `query`, and how many match.
    pub fn search(&self, query: &Query) -> Hits {
        match self.answer(query) {
            Answer::Page(hits) => hits,
            Answer::Sorted(slots) => self.page(&slots, query),
        }
    }

    /// The page `query` asks for out of `sorted`, every match in order.
    pub(super) fn page(&self, sorted: &[u32], query: &Query) -> Hits {
        let end = query.offset.saturating_add(query.limit).min(sorted.len());
        let start = query.offset.min(end);
        Hits {
            ids: sorted[start..end]
                .iter()
                .map(|&slot| self.ids[slot as usize])
                .collect(),
            total: sorted.len(),
        }
    }

    /// Answers `query`: a page where one of the model's orders gives it directly, otherwise every
    /// match, sorted.
    pub(super) fn answer(&self, query: &Query) -> Answer {
        let text = query.text.as_deref().filter(|text| !text.is_empty());
        let group = match query.category_key.as_deref() {
            Some(key) => match self.group_of(key) {
                Some(group) => Some(group),
                None => return Answer::Page(Hits::default()),
            },
            None => None,
        };
        let seller = match &query.seller {
            Some(seller) => match self.seller_of(seller) {
                Some(seller) => Some(seller),
                None => return Answer::Page(Hits::default()),
            },
            None => None,
        };
        let prices = (query.min_price.is_some() || query.max_price.is_some()).then(|| {
            (
                query.min_price.unwrap_or(f64::NEG_INFINITY),
                query.max_price.unwrap_or(f64::INFINITY),
            )
        });
        let mut filter = Filter {
            text: text.map(|text| Finder::new(text.as_bytes())),
            group,
            seller,
            prices,
            in_stock: query.in_stock,
        };
        let (order, reversed) = query.sort.order();

        if text.is_none() && group.is_none() && seller.is_none() && prices.is_none() {
            let total = if query.in_stock {
                self.in_stock
            } else {
                self.live
            };
            return Answer::Page(self.walk(
                &self.orders[order as usize],
                reversed,
                &filter,
                query,
                total,
            ));
        }

        // The smallest set that holds every match.
        let by_price = &self.orders[Order::Price as usize];
        let price_range = prices.map(|(low, high)| {
            let start = by_price.partition_point(|&slot| self.price[slot as usize] < low);
            let end = by_price.partition_point(|&slot| self.price[slot as usize] <= high);
            start..end.max(start)
        });
        let lists = [
            group.map(|group| self.groups[group as usize].slots.as_slice()),
            seller.map(|seller| self.seller_slots[seller as usize].as_slice()),
            price_range.clone().map(|range| &by_price[range]),
        ];
        let smallest = lists.into_iter().flatten().min_by_key(|slots| slots.len());

        if let (Some(range), Order::Price) = (&price_range, order)
            && smallest.is_some_and(|slots| slots.len() == range.len())
        {
            // Already in price order: count and cut the page in one pass.
            filter.prices = None;
            let slots = &by_price[range.clone()];
            let total = slots.iter().filter(|&&s| filter.accepts(self, s)).count();
            return Answer::Page(self.walk(slots, reversed, &filter, query, total));
        }

        let candidates = match (smallest, &filter.text) {
            (Some(slots), _) => slots
                .iter()
                .copied()
                .filter(|&slot| filter.accepts(self, slot))
                .collect(),
            (None, Some(text)) => {
                let found = self.names.containing(text);
                filter.text = None;
                found
                    .into_iter()
                    .filter(|&slot| filter.accepts(self, slot))
                    .collect()
            }
            (None, None) => Vec::new(),
        };
        self.sorted(candidates, order, reversed)
    }

    /// The page of `slots` (sorted by the query's order, read backwards when `reversed`) that
    /// pass `filter`, of `total` matches.
    fn walk(
        &self,
        slots: &[u32],
        reversed: bool,
        filter: &Filter<'_>,
        query: &Query,
        total: usize,
    ) -> Hits {
        let matching = |slot: &u32| filter.accepts(self, *slot);
        let page = |iter: &mut dyn Iterator<Item = &u32>| -> Vec<ObjectId> {
            iter.filter(|slot| matching(slot))
                .skip(query.offset)
                .take(query.limit)
                .map(|&slot| self.ids[slot as usize])
                .collect()
        };
        let ids = if reversed {
            page(&mut slots.iter().rev())
        } else {
            page(&mut slots.iter())
        };
        Hits { ids, total }
    }

    /// `slots` sorted by `order`, backwards when `reversed`.
    fn sorted(&self, mut slots: Vec<u32>, order: Order, reversed: bool) -> Answer {
        // Candidates mostly arrive in creation order already, which the sort detects cheaply.
        slots.sort_unstable_by(|a, b| {
            let ordering = order.cmp(self, *a, *b);
            if reversed {
                ordering.reverse()
            } else {
                ordering
            }
        });
        Answer::Sorted(slots)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::model::Row;

    fn catalog() -> (Model, Vec<Row>) {
        let sellers = [ObjectId::from_bytes([1; 12]), ObjectId::from_bytes([2; 12])];
        let rows: Vec<Row> = (0..40)
            .map(|i| Row {
                id: ObjectId::new(),
                name_lower: format!("{} lamp {}", ["desk", "floor", "wall"][i % 3], i % 7),
                category: ["Home", "home", "Garden"][i % 3].to_owned(),
                category_key: ["home", "home", "garden"][i % 3].to_owned(),
                seller: sellers[i % 2],
                price: (i % 9) as f64,
                stock: (i % 4) as i64,
                created_ms: 1000 + i as i64,
            })
            .collect();
        (Model::from_rows(rows.clone()), rows)
    }

    /// What a plain scan of every row would answer.
    fn scan(rows: &[Row], query: &Query) -> Hits {
        let mut matching: Vec<&Row> = rows
            .iter()
            .filter(|r| {
                query
                    .text
                    .as_ref()
                    .is_none_or(|t| r.name_lower.contains(t.as_str()))
            })
            .filter(|r| {
                query
                    .category_key
                    .as_ref()
                    .is_none_or(|k| &r.category_key == k)
            })
            .filter(|r| query.seller.is_none_or(|s| r.seller == s))
            .filter(|r| query.min_price.is_none_or(|p| r.price >= p))
            .filter(|r| query.max_price.is_none_or(|p| r.price <= p))
            .filter(|r| !query.in_stock || r.stock > 0)
            .collect();
        matching.sort_by(|a, b| match query.sort {
            Sort::CreatedAt => (a.created_ms, a.id).cmp(&(b.created_ms, b.id)),
            Sort::CreatedAtDesc => (b.created_ms, b.id).cmp(&(a.created_ms, a.id)),
            Sort::Price => a.price.total_cmp(&b.price).then(a.id.cmp(&b.id)),
            Sort::PriceDesc => b.price.total_cmp(&a.price).then(b.id.cmp(&a.id)),
            Sort::Name => a.name_lower.cmp(&b.name_lower).then(a.id.cmp(&b.id)),
        });
        Hits {
            total: matching.len(),
            ids: matching
                .iter()
                .skip(query.offset)
                .take(query.limit)
                .map(|r| r.id)
                .collect(),
        }
    }

    #[test]
    fn every_plan_answers_what_a_scan_answers() {
        let (model, rows) = catalog();
        let sorts = [
            Sort::CreatedAt,
            Sort::CreatedAtDesc,
            Sort::Price,
            Sort::PriceDesc,
            Sort::Name,
        ];
        for sort in sorts {
            for text in [None, Some("lamp 3"), Some("desk"), Some("nothing")] {
                for category in [None, Some("home"), Some("garden"), Some("none")] {
                    for seller in [None, Some(rows[1].seller)] {
                        for prices in [(None, None), (Some(2.0), Some(5.0)), (None, Some(1.0))] {
                            for in_stock in [false, true] {
                                for (offset, limit) in [(0, 5), (3, 4), (0, 100), (30, 10)] {
                                    let query = Query {
                                        text: text.map(str::to_owned),
                                        category_key: category.map(str::to_owned),
                                        seller,
                                        min_price: prices.0,
                                        max_price: prices.1,
                                        in_stock,
                                        sort,
                                        offset,
                                        limit,
                                    };
                                    assert_eq!(
                                        model.search(&query),
                                        scan(&rows, &query),
                                        "{query:?}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
