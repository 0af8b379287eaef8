//! How lists read the model: the sets a list can start from (every product in one sort's order,
//! a price range, a category, a seller, the names containing a text), the fields a filter checks
//! on each candidate, and the counts `/categories` shows. Nothing here exposes a column.

use std::cmp::Ordering;

use memchr::memmem::Finder;
use mongodb::bson::oid::ObjectId;

use super::{Group, Model, Row, Sort, order::permutation};

/// A product's place in the model; the sets below are lists of slots.
pub(in crate::products::catalog) type Slot = u32;

/// A category as one model numbers it: comparable only with others of the same model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::products::catalog) struct CategoryId(u32);

/// A seller as one model numbers it: comparable only with others of the same model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::products::catalog) struct SellerId(u32);

/// The fields of one live product that a filter checks.
pub(in crate::products::catalog) struct Fields<'a> {
    pub category: CategoryId,
    pub seller: SellerId,
    pub price: i64,
    pub stock: i64,
    /// The lowercased name.
    pub name: &'a [u8],
}

impl Model {
    /// How many products it holds.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether it holds no product.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// How many of its products are in stock.
    pub(in crate::products::catalog) fn in_stock_count(&self) -> usize {
        self.in_stock
    }

    /// Whether product `id` is known.
    pub fn contains(&self, id: ObjectId) -> bool {
        self.slot_of.contains_key(&id)
    }

    /// The row of product `id`, if it is known.
    pub fn row(&self, id: ObjectId) -> Option<Row> {
        let slot = *self.slot_of.get(&id)? as usize;
        Some(Row {
            id,
            name_lower: String::from_utf8_lossy(self.names.get(slot as u32)).into_owned(),
            category: self.spellings.values[self.spelling[slot] as usize].clone(),
            category_key: self.groups[self.category[slot] as usize].key.clone(),
            seller: self.sellers.values[self.seller[slot] as usize],
            price: self.price[slot],
            stock: self.stock[slot],
            created_ms: self.created[slot],
        })
    }

    /// Changes with every change but a stock change: equal versions, equal lists and counts.
    pub(in crate::products::catalog) fn version(&self) -> u64 {
        self.version
    }

    /// Changes whenever a product comes into or goes out of stock.
    pub(in crate::products::catalog) fn stock_version(&self) -> u64 {
        self.stock_version
    }

    /// Every live product in the order of `sort`'s permutation, and whether `sort` reads it
    /// backwards.
    pub(in crate::products::catalog) fn in_order(&self, sort: Sort) -> (&[Slot], bool) {
        let (index, reversed) = permutation(sort);
        (&self.sorted[index], reversed)
    }

    /// The live products priced from `low` to `high`, inclusive, cheapest first.
    pub(in crate::products::catalog) fn priced_between(&self, low: i64, high: i64) -> &[Slot] {
        let (by_price, _) = self.in_order(Sort::Price);
        let start = by_price.partition_point(|&slot| self.price[slot as usize] < low);
        let end = by_price.partition_point(|&slot| self.price[slot as usize] <= high);
        &by_price[start..end.max(start)]
    }

    /// The category with key `key`, if any product ever had it.
    pub(in crate::products::catalog) fn category(&self, key: &str) -> Option<CategoryId> {
        self.group_ids.get(key).copied().map(CategoryId)
    }

    /// The live products in `category`, in slot order.
    pub(in crate::products::catalog) fn in_category(&self, category: CategoryId) -> &[Slot] {
        &self.groups[category.0 as usize].slots
    }

    /// The seller `seller`, if any product ever had it.
    pub(in crate::products::catalog) fn seller(&self, seller: &ObjectId) -> Option<SellerId> {
        self.sellers.get(seller).map(SellerId)
    }

    /// The live products of `seller`, in slot order.
    pub(in crate::products::catalog) fn of_seller(&self, seller: SellerId) -> &[Slot] {
        self.seller_slots
            .get(seller.0 as usize)
            .map_or(&[], Vec::as_slice)
    }

    /// The live products whose lowercased name contains `text`.
    pub(in crate::products::catalog) fn named_containing(&self, text: &Finder<'_>) -> Vec<Slot> {
        self.names.containing(text)
    }

    /// The id of the product in `slot`.
    pub(in crate::products::catalog) fn id(&self, slot: Slot) -> ObjectId {
        self.ids[slot as usize]
    }

    /// What a filter checks of the product in `slot`.
    pub(in crate::products::catalog) fn fields(&self, slot: Slot) -> Fields<'_> {
        let index = slot as usize;
        Fields {
            category: CategoryId(self.category[index]),
            seller: SellerId(self.seller[index]),
            price: self.price[index],
            stock: self.stock[index],
            name: self.names.get(slot),
        }
    }

    /// Compares two live products in the order of `sort`, descending ones included.
    pub(in crate::products::catalog) fn compare(&self, sort: Sort, a: Slot, b: Slot) -> Ordering {
        let ordering = self.cmp_ascending(sort, a, b);
        if permutation(sort).1 {
            ordering.reverse()
        } else {
            ordering
        }
    }

    /// Every category key with live products (`""`, no category, left out): the key, its name as
    /// its oldest product spells it, and how many products are in it.
    pub(in crate::products::catalog) fn category_counts(
        &self,
    ) -> impl Iterator<Item = (&str, &str, usize)> {
        self.groups
            .iter()
            .filter(|group| !group.key.is_empty() && !group.slots.is_empty())
            .filter_map(|group| {
                Some((
                    group.key.as_str(),
                    self.group_name(group)?,
                    group.slots.len(),
                ))
            })
    }

    /// The spelling that names `group` (its oldest product's).
    pub(super) fn group_name(&self, group: &Group) -> Option<&str> {
        let first = group.first? as usize;
        Some(&self.spellings.values[self.spelling[first] as usize])
    }
}
