//! The catalog as columns in memory, with the orders and groupings that answer a list without
//! looking at every product.
//!
//! Each product has a slot; slots are never reused, so the per-group slot lists stay sorted by
//! appending. One sorted permutation per ascending [`Sort`] (a descending one walks it backwards)
//! serves unfiltered pages in O(page) and price ranges by binary search. Single changes keep them
//! sorted in place; a bulk change (a reload, a burst of change events) rebuilds them once at the
//! end.
//!
//! The columns are private to this module: [`order`] keeps every live slot in its groups and
//! permutations, and lists read the model only through the narrow API in [`read`] (the sets a
//! list can start from, and the fields a filter checks), so the layout can change without
//! touching how lists are answered.

mod order;
mod read;

use std::collections::HashMap;

use mongodb::bson::oid::ObjectId;

use self::order::KEPT;
pub(in crate::products::catalog) use self::read::{CategoryId, SellerId, Slot};
use super::{Sort, names::Names};

/// What the model keeps of one product.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The product id.
    pub id: ObjectId,
    /// The name, lowercased.
    pub name_lower: String,
    /// The category as spelled.
    pub category: String,
    /// The category's key (lowercased).
    pub category_key: String,
    /// The owning seller.
    pub seller: ObjectId,
    /// The price, in minor units.
    pub price: i64,
    /// Units in stock.
    pub stock: i64,
    /// When it was created, in milliseconds since the epoch.
    pub created_ms: i64,
}

/// One category key and the live products in it.
#[derive(Default)]
struct Group {
    /// The key (lowercased category).
    key: String,
    /// Live slots, increasing.
    slots: Vec<Slot>,
    /// The oldest product in it, whose spelling names the category.
    first: Option<Slot>,
}

/// Interns values into dense ids.
struct Interner<K> {
    ids: HashMap<K, u32>,
    values: Vec<K>,
}

impl<K> Default for Interner<K> {
    fn default() -> Self {
        Self {
            ids: HashMap::new(),
            values: Vec::new(),
        }
    }
}

impl<K: Clone + Eq + std::hash::Hash> Interner<K> {
    fn intern(&mut self, value: &K) -> u32 {
        if let Some(&id) = self.ids.get(value) {
            return id;
        }
        let id = slot_u32(self.values.len());
        self.values.push(value.clone());
        self.ids.insert(value.clone(), id);
        id
    }

    fn get(&self, value: &K) -> Option<u32> {
        self.ids.get(value).copied()
    }
}

/// The catalog in memory.
#[derive(Default)]
pub struct Model {
    slot_of: HashMap<ObjectId, Slot>,
    ids: Vec<ObjectId>,
    created: Vec<i64>,
    price: Vec<i64>,
    stock: Vec<i64>,
    category: Vec<u32>,
    spelling: Vec<u32>,
    seller: Vec<u32>,
    alive: Vec<bool>,
    names: Names,
    /// Live slots in each [`KEPT`] sort, indexed as it is.
    sorted: [Vec<Slot>; 3],
    groups: Vec<Group>,
    group_ids: HashMap<String, u32>,
    spellings: Interner<String>,
    sellers: Interner<ObjectId>,
    seller_slots: Vec<Vec<Slot>>,
    live: usize,
    in_stock: usize,
    /// Bumped by every change but a stock change: lists and `/categories` may answer differently.
    version: u64,
    /// Bumped whenever a product comes into or goes out of stock: `in_stock` lists may differ.
    stock_version: u64,
    /// While set, the sorted permutations are left alone and rebuilt by [`Model::end_bulk`].
    bulk: bool,
}

impl Model {
    /// An empty model with room for `products` without reallocating.
    pub fn with_capacity(products: usize) -> Self {
        let mut model = Self::default();
        model.slot_of.reserve(products);
        model.ids.reserve(products);
        model.created.reserve(products);
        model.price.reserve(products);
        model.stock.reserve(products);
        model.category.reserve(products);
        model.spelling.reserve(products);
        model.seller.reserve(products);
        model.alive.reserve(products);
        model
    }

    /// A model of `rows`, built in bulk.
    pub fn from_rows(rows: impl IntoIterator<Item = Row>) -> Self {
        let mut model = Self::default();
        model.begin_bulk();
        for row in rows {
            model.upsert(row);
        }
        model.end_bulk();
        model
    }

    /// Numbers this model's versions after every version `before` has had, so that nothing
    /// cached at one of `before`'s versions is taken for this model's (a reload numbers its slots
    /// afresh).
    pub(super) fn continue_versions_of(&mut self, before: &Model) {
        self.version = self.version.max(before.version) + 1;
        self.stock_version = self.stock_version.max(before.stock_version) + 1;
    }

    /// Stops keeping the sorted permutations up to date, for a batch of many changes.
    pub fn begin_bulk(&mut self) {
        self.bulk = true;
    }

    /// Rebuilds what [`Model::begin_bulk`] left alone.
    pub fn end_bulk(&mut self) {
        self.bulk = false;
        let mut live: Vec<Slot> = (0..self.ids.len())
            .filter(|&slot| self.alive[slot])
            .map(slot_u32)
            .collect();
        live.sort_unstable_by(|&a, &b| self.cmp_created(a, b));
        if self.names.wants_compaction() {
            self.names.compact(&live);
        }
        for (index, sort) in KEPT.into_iter().enumerate().skip(1) {
            let mut slots = live.clone();
            slots.sort_unstable_by(|&a, &b| self.cmp_ascending(sort, a, b));
            self.sorted[index] = slots;
        }
        self.sorted[0] = live;
    }

    /// Adds the product or brings it up to date.
    pub fn upsert(&mut self, row: Row) {
        match self.slot_of.get(&row.id) {
            Some(&slot) => self.update(slot, row),
            None => self.insert(row),
        }
    }

    /// Sets the stock of product `id`; `false` if it is unknown.
    pub fn set_stock(&mut self, id: ObjectId, stock: i64) -> bool {
        let Some(&slot) = self.slot_of.get(&id) else {
            return false;
        };
        let slot = slot as usize;
        if (stock > 0) != (self.stock[slot] > 0) {
            self.stock_version += 1;
        }
        self.in_stock = self.in_stock + usize::from(stock > 0) - usize::from(self.stock[slot] > 0);
        self.stock[slot] = stock;
        true
    }

    /// Forgets product `id`; `false` if it was unknown.
    pub fn remove(&mut self, id: ObjectId) -> bool {
        let Some(slot) = self.slot_of.remove(&id) else {
            return false;
        };
        self.unlink(slot);
        let index = slot as usize;
        self.alive[index] = false;
        self.names.retire(slot);
        self.live -= 1;
        self.in_stock -= usize::from(self.stock[index] > 0);
        self.stock_version += 1;
        if !self.bulk && self.names.wants_compaction() {
            self.names.compact(&self.sorted[0].clone());
        }
        true
    }

    fn insert(&mut self, row: Row) {
        let slot = slot_u32(self.ids.len());
        self.slot_of.insert(row.id, slot);
        self.ids.push(row.id);
        self.created.push(row.created_ms);
        self.price.push(row.price);
        self.stock.push(row.stock);
        let group = self.group_id(&row.category_key);
        self.category.push(group);
        let spelling = self.spellings.intern(&row.category);
        self.spelling.push(spelling);
        let seller = self.sellers.intern(&row.seller);
        self.seller.push(seller);
        self.alive.push(true);
        self.names.set(slot, &row.name_lower);
        self.live += 1;
        self.in_stock += usize::from(row.stock > 0);
        self.stock_version += 1;
        self.link(slot);
    }

    fn update(&mut self, slot: Slot, row: Row) {
        let index = slot as usize;
        let group = self.group_id(&row.category_key);
        let spelling = self.spellings.intern(&row.category);
        let seller = self.sellers.intern(&row.seller);
        let price = row.price;
        let changes_order = self.created[index] != row.created_ms
            || self.price[index] != price
            || self.names.get(slot) != row.name_lower.as_bytes()
            || self.category[index] != group
            || self.spelling[index] != spelling
            || self.seller[index] != seller;
        if changes_order {
            self.unlink(slot);
            self.created[index] = row.created_ms;
            self.price[index] = price;
            self.category[index] = group;
            self.spelling[index] = spelling;
            self.seller[index] = seller;
            if self.names.get(slot) != row.name_lower.as_bytes() {
                self.names.set(slot, &row.name_lower);
            }
            self.link(slot);
        }
        self.set_stock(row.id, row.stock);
    }

    fn group_id(&mut self, key: &str) -> u32 {
        if let Some(&id) = self.group_ids.get(key) {
            return id;
        }
        let id = slot_u32(self.groups.len());
        self.groups.push(Group {
            key: key.to_owned(),
            ..Group::default()
        });
        self.group_ids.insert(key.to_owned(), id);
        id
    }

    /// A rough count of the bytes held, for logs.
    pub fn heap_bytes(&self) -> usize {
        let per_slot = 12 + 8 + 8 + 8 + 4 + 4 + 4 + 1;
        self.ids.capacity() * per_slot
            + self.slot_of.capacity() * 20
            + self.sorted.iter().map(Vec::capacity).sum::<usize>() * 4
            + self.live * 8
            + self.names.heap_bytes()
    }
}

fn slot_u32(index: usize) -> Slot {
    u32::try_from(index).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn row(name: &str, category: &str, price: i64, stock: i64, created: i64) -> Row {
        Row {
            id: ObjectId::new(),
            name_lower: name.to_lowercase(),
            category: category.to_owned(),
            category_key: category.to_lowercase(),
            seller: ObjectId::from_bytes([7; 12]),
            price,
            stock,
            created_ms: created,
        }
    }

    fn check_permutations(model: &Model) {
        let live: Vec<Slot> = (0..model.ids.len() as u32)
            .filter(|&s| model.alive[s as usize])
            .collect();
        for (index, sort) in KEPT.into_iter().enumerate() {
            let mut expected = live.clone();
            expected.sort_by(|&a, &b| model.cmp_ascending(sort, a, b));
            assert_eq!(model.sorted[index], expected, "{sort:?}");
        }
        assert_eq!(model.live, live.len());
    }

    #[test]
    fn single_changes_keep_every_order_as_a_rebuild_would() {
        let mut model = Model::default();
        let rows: Vec<Row> = (0..50)
            .map(|i| {
                row(
                    &format!("Item {}", (i * 7) % 13),
                    "Home",
                    (i % 5) * 100,
                    i % 3,
                    i,
                )
            })
            .collect();
        for r in rows.clone() {
            model.upsert(r);
        }
        check_permutations(&model);

        let mut renamed = rows[10].clone();
        renamed.name_lower = "aaa".into();
        renamed.price = 9_900;
        renamed.category_key = "garden".into();
        model.upsert(renamed.clone());
        model.remove(rows[3].id);
        model.remove(rows[0].id);
        check_permutations(&model);
        assert_eq!(model.row(renamed.id), Some(renamed));
        assert_eq!(model.row(rows[3].id), None);

        let rebuilt = Model::from_rows((0..50).filter_map(|i| model.row(rows[i].id)));
        check_permutations(&rebuilt);
        assert_eq!(rebuilt.len(), model.len());
    }

    #[test]
    fn a_category_is_named_by_its_oldest_product_and_counts_live_ones() {
        let mut model = Model::default();
        let newer = row("b", "HOME", 100, 1, 20);
        let older = row("a", "Home", 100, 1, 10);
        model.upsert(newer.clone());
        model.upsert(older.clone());
        let group = &model.groups[model.group_ids["home"] as usize];
        assert_eq!(model.group_name(group), Some("Home"));
        assert_eq!(group.slots.len(), 2);

        model.remove(older.id);
        let group = &model.groups[model.group_ids["home"] as usize];
        assert_eq!(model.group_name(group), Some("HOME"));
        assert_eq!(group.slots.len(), 1);
    }

    #[test]
    fn stock_counts_follow_every_change() {
        let mut model = Model::default();
        let a = row("a", "", 100, 0, 1);
        model.upsert(a.clone());
        assert_eq!(model.in_stock, 0);
        model.set_stock(a.id, 5);
        assert_eq!(model.in_stock, 1);
        model.remove(a.id);
        assert_eq!((model.in_stock, model.live), (0, 0));
    }
}
