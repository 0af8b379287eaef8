//! Answering a list from the model: which products match, how many, and which ids make the page.
//!
//! A query starts from the smallest set that can hold its matches (a seller's products, a
//! category, a price range, the products whose name contains the text, or the whole catalog walked
//! in the requested order), checks the other filters on each candidate and sorts the matches,
//! which the catalog's result cache keeps for the next page or the next visitor. Its cost follows
//! the size of that set, not the size of the catalog. It reads the model only through its list
//! API ([`super::model`]'s `read`).

use memchr::memmem::Finder;
use mongodb::bson::oid::ObjectId;
use serde::Deserialize;
use utoipa::ToSchema;

use super::model::{CategoryId, Model, SellerId, Slot};

/// The orders of `GET /products`; `-` means descending.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, ToSchema)]
pub enum Sort {
    /// Oldest first.
    #[default]
    #[serde(rename = "created_at")]
    CreatedAt,
    /// Newest first.
    #[serde(rename = "-created_at")]
    CreatedAtDesc,
    /// Cheapest first.
    #[serde(rename = "price")]
    Price,
    /// Dearest first.
    #[serde(rename = "-price")]
    PriceDesc,
    /// By name, in any case.
    #[serde(rename = "name")]
    Name,
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
    /// The lowest price in minor units, inclusive.
    pub min_price: Option<i64>,
    /// The highest price in minor units, inclusive.
    pub max_price: Option<i64>,
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
    Sorted(Vec<Slot>),
}

/// The filters that a candidate must still pass.
struct Filter<'q> {
    text: Option<Finder<'q>>,
    category: Option<CategoryId>,
    seller: Option<SellerId>,
    prices: Option<(i64, i64)>,
    in_stock: bool,
}

impl Filter<'_> {
    fn accepts(&self, model: &Model, slot: Slot) -> bool {
        let product = model.fields(slot);
        self.category
            .is_none_or(|category| product.category == category)
            && self.seller.is_none_or(|seller| product.seller == seller)
            && self
                .prices
                .is_none_or(|(low, high)| (low..=high).contains(&product.price))
            && (!self.in_stock || product.stock > 0)
            && self
                .text
                .as_ref()
                .is_none_or(|text| text.find(product.name).is_some())
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
    pub(super) fn page(&self, sorted: &[Slot], query: &Query) -> Hits {
        let end = query.offset.saturating_add(query.limit).min(sorted.len());
        let start = query.offset.min(end);
        Hits {
            ids: sorted[start..end]
                .iter()
                .map(|&slot| self.id(slot))
                .collect(),
            total: sorted.len(),
        }
    }

    /// Answers `query`: a page where one of the model's orders gives it directly, otherwise every
    /// match, sorted.
    pub(super) fn answer(&self, query: &Query) -> Answer {
        let text = query.text.as_deref().filter(|text| !text.is_empty());
        let category = match query.category_key.as_deref() {
            Some(key) => match self.category(key) {
                Some(category) => Some(category),
                None => return Answer::Page(Hits::default()),
            },
            None => None,
        };
        let seller = match &query.seller {
            Some(seller) => match self.seller(seller) {
                Some(seller) => Some(seller),
                None => return Answer::Page(Hits::default()),
            },
            None => None,
        };
        let prices = (query.min_price.is_some() || query.max_price.is_some()).then(|| {
            (
                query.min_price.unwrap_or(i64::MIN),
                query.max_price.unwrap_or(i64::MAX),
            )
        });
        let mut filter = Filter {
            text: text.map(|text| Finder::new(text.as_bytes())),
            category,
            seller,
            prices,
            in_stock: query.in_stock,
        };
        let (in_order, reversed) = self.in_order(query.sort);

        if text.is_none() && category.is_none() && seller.is_none() && prices.is_none() {
            let total = if query.in_stock {
                self.in_stock_count()
            } else {
                self.len()
            };
            return Answer::Page(self.walk(in_order, reversed, &filter, query, total));
        }

        // The smallest set that holds every match.
        let priced = prices.map(|(low, high)| self.priced_between(low, high));
        let sets = [
            category.map(|category| self.in_category(category)),
            seller.map(|seller| self.of_seller(seller)),
            priced,
        ];
        let smallest = sets.into_iter().flatten().min_by_key(|slots| slots.len());

        if let Some(priced) = priced
            && matches!(query.sort, Sort::Price | Sort::PriceDesc)
            && smallest.is_some_and(|slots| slots.len() == priced.len())
        {
            // Already in price order: count and cut the page in one pass.
            filter.prices = None;
            let total = priced.iter().filter(|&&s| filter.accepts(self, s)).count();
            return Answer::Page(self.walk(priced, reversed, &filter, query, total));
        }

        let candidates = match (smallest, &filter.text) {
            (Some(slots), _) => slots
                .iter()
                .copied()
                .filter(|&slot| filter.accepts(self, slot))
                .collect(),
            (None, Some(text)) => {
                let found = self.named_containing(text);
                filter.text = None;
                found
                    .into_iter()
                    .filter(|&slot| filter.accepts(self, slot))
                    .collect()
            }
            (None, None) => Vec::new(),
        };
        self.sorted(candidates, query.sort)
    }

    /// The page of `slots` (sorted by the query's order, read backwards when `reversed`) that
    /// pass `filter`, of `total` matches.
    fn walk(
        &self,
        slots: &[Slot],
        reversed: bool,
        filter: &Filter<'_>,
        query: &Query,
        total: usize,
    ) -> Hits {
        let matching = |slot: &Slot| filter.accepts(self, *slot);
        let page = |iter: &mut dyn Iterator<Item = &Slot>| -> Vec<ObjectId> {
            iter.filter(|slot| matching(slot))
                .skip(query.offset)
                .take(query.limit)
                .map(|&slot| self.id(slot))
                .collect()
        };
        let ids = if reversed {
            page(&mut slots.iter().rev())
        } else {
            page(&mut slots.iter())
        };
        Hits { ids, total }
    }

    /// `slots` sorted by `sort`.
    fn sorted(&self, mut slots: Vec<Slot>, sort: Sort) -> Answer {
        // Candidates mostly arrive in creation order already, which the sort detects cheaply.
        slots.sort_unstable_by(|a, b| self.compare(sort, *a, *b));
        Answer::Sorted(slots)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::products::catalog::model::Row;

    fn catalog() -> (Model, Vec<Row>) {
        let sellers = [ObjectId::from_bytes([1; 12]), ObjectId::from_bytes([2; 12])];
        let rows: Vec<Row> = (0..40)
            .map(|i| Row {
                id: ObjectId::new(),
                name_lower: format!("{} lamp {}", ["desk", "floor", "wall"][i % 3], i % 7),
                category: ["Home", "home", "Garden"][i % 3].to_owned(),
                category_key: ["home", "home", "garden"][i % 3].to_owned(),
                seller: sellers[i % 2],
                price: (i % 9) as i64 * 100,
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
            Sort::Price => a.price.cmp(&b.price).then(a.id.cmp(&b.id)),
            Sort::PriceDesc => b.price.cmp(&a.price).then(b.id.cmp(&a.id)),
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
                        for prices in [(None, None), (Some(200), Some(500)), (None, Some(100))] {
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
