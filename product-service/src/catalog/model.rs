//! The catalog as columns in memory, with the orders and groupings that answer a list without
//! looking at every product.
//!
//! Each product has a slot; slots are never reused, so the per-group slot lists stay sorted by
//! appending. Sorted permutations (one per [`Order`]) serve unfiltered pages in O(page) and
//! price ranges by binary search. Single changes keep them sorted in place; a bulk
//! change (a reload, a burst of change events) rebuilds them once at the end.

use std::{cmp::Ordering, collections::HashMap};

use mongodb::bson::oid::ObjectId;

use super::names::Names;

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
    /// The price.
    pub price: f64,
    /// Units in stock.
    pub stock: i64,
    /// When it was created, in milliseconds since the epoch.
    pub created_ms: i64,
}

/// One category key and the live products in it.
#[derive(Default)]
pub(super) struct Group {
    /// The key (lowercased category).
    pub(super) key: String,
    /// Live slots, increasing.
    pub(super) slots: Vec<u32>,
    /// The oldest product in it, whose spelling names the category.
    pub(super) first: Option<u32>,
}

/// Interns values into dense ids.
struct Interner<K> {
    ids: HashMap<K, u32>,
    values: Vec<K>,
}

impl<K: Clone + Eq + std::hash::Hash> Interner<K> {
    fn new() -> Self {
        Self {
            ids: HashMap::new(),
            values: Vec::new(),
        }
    }

    fn intern(&mut self, value: &K) -> u32 {
        if let Some(&id) = self.ids.get(value) {
            return id;
        }
        let id = u32::try_from(self.values.len()).unwrap_or(u32::MAX);
        self.values.push(value.clone());
        self.ids.insert(value.clone(), id);
        id
    }

    fn get(&self, value: &K) -> Option<u32> {
        self.ids.get(value).copied()
    }
}

/// The catalog in memory.
pub struct Model {
    slot_of: HashMap<ObjectId, u32>,
    pub(super) ids: Vec<ObjectId>,
    pub(super) created: Vec<i64>,
    pub(super) price: Vec<f64>,
    pub(super) stock: Vec<i64>,
    pub(super) category: Vec<u32>,
    spelling: Vec<u32>,
    pub(super) seller: Vec<u32>,
    pub(super) alive: Vec<bool>,
    pub(super) names: Names,
    /// Live slots in each [`Order`], indexed by it.
    pub(super) orders: [Vec<u32>; 3],
    pub(super) groups: Vec<Group>,
    group_ids: HashMap<String, u32>,
    spellings: Interner<String>,
    sellers: Interner<ObjectId>,
    pub(super) seller_slots: Vec<Vec<u32>>,
    pub(super) live: usize,
    pub(super) in_stock: usize,
    /// Bumped by every change but a stock change: lists and `/categories` may answer differently.
    pub(super) version: u64,
    /// Bumped whenever a product comes into or goes out of stock: `in_stock` lists may differ.
    pub(super) stock_version: u64,
    /// While set, the sorted permutations are left alone and rebuilt by [`Model::end_bulk`].
    bulk: bool,
}

impl Default for Model {
    fn default() -> Self {
        Self {
            slot_of: HashMap::new(),
            ids: Vec::new(),
            created: Vec::new(),
            price: Vec::new(),
            stock: Vec::new(),
            category: Vec::new(),
            spelling: Vec::new(),
            seller: Vec::new(),
            alive: Vec::new(),
            names: Names::default(),
            orders: Default::default(),
            groups: Vec::new(),
            group_ids: HashMap::new(),
            spellings: Interner::new(),
            sellers: Interner::new(),
            seller_slots: Vec::new(),
            live: 0,
            in_stock: 0,
            version: 0,
            stock_version: 0,
            bulk: false,
        }
    }
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

    /// Numbers this model's versions after every version `before` has had, so that nothing
    /// cached at one of `before`'s versions is taken for this model's (a reload numbers its slots
    /// afresh).
    pub(super) fn continue_versions_of(&mut self, before: &Model) {
        self.version = self.version.max(before.version) + 1;
        self.stock_version = self.stock_version.max(before.stock_version) + 1;
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

    /// How many products it holds.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether it holds no product.
    pub fn is_empty(&self) -> bool {
        self.live == 0
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

    /// The group id of a category key, if any product ever had it.
    pub(super) fn group_of(&self, key: &str) -> Option<u32> {
        self.group_ids.get(key).copied()
    }

    /// The seller id of `seller`, if any product ever had it.
    pub(super) fn seller_of(&self, seller: &ObjectId) -> Option<u32> {
        self.sellers.get(seller)
    }

    /// The spelling that names group `group` (its oldest product's).
    pub(super) fn group_name(&self, group: &Group) -> Option<&str> {
        let first = group.first? as usize;
        Some(&self.spellings.values[self.spelling[first] as usize])
    }

    /// Stops keeping the sorted permutations up to date, for a batch of many changes.
    pub fn begin_bulk(&mut self) {
        self.bulk = true;
    }

    /// Rebuilds what [`Model::begin_bulk`] left alone.
    pub fn end_bulk(&mut self) {
        self.bulk = false;
        let mut live: Vec<u32> = (0..self.ids.len())
            .filter(|&slot| self.alive[slot])
            .map(slot_u32)
            .collect();
        live.sort_unstable_by(|&a, &b| self.cmp_created(a, b));
        if self.names.wants_compaction() {
            self.names.compact(&live);
        }
        for order in [Order::Price, Order::Name] {
            let mut slots = live.clone();
            slots.sort_unstable_by(|&a, &b| order.cmp(self, a, b));
            self.orders[order as usize] = slots;
        }
        self.orders[Order::Created as usize] = live;
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
            self.names
                .compact(&self.orders[Order::Created as usize].clone());
        }
        true
    }

    fn insert(&mut self, row: Row) {
        let slot = slot_u32(self.ids.len());
        self.slot_of.insert(row.id, slot);
        self.ids.push(row.id);
        self.created.push(row.created_ms);
        self.price.push(row.price + 0.0);
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

    fn update(&mut self, slot: u32, row: Row) {
        let index = slot as usize;
        let group = self.group_id(&row.category_key);
        let spelling = self.spellings.intern(&row.category);
        let seller = self.sellers.intern(&row.seller);
        let price = row.price + 0.0;
        let changes_order = self.created[index] != row.created_ms
            || self.price[index].to_bits() != price.to_bits()
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

    /// Adds a live slot to its groups and, unless in bulk, to the sorted permutations.
    fn link(&mut self, slot: u32) {
        let index = slot as usize;
        let group = self.category[index] as usize;
        insert_sorted(&mut self.groups[group].slots, slot);
        let older = self.groups[group]
            .first
            .is_none_or(|first| self.cmp_created(slot, first) == Ordering::Less);
        if older {
            self.groups[group].first = Some(slot);
        }
        self.version += 1;
        let seller = self.seller[index] as usize;
        if self.seller_slots.len() <= seller {
            self.seller_slots.resize_with(seller + 1, Vec::new);
        }
        insert_sorted(&mut self.seller_slots[seller], slot);
        if !self.bulk {
            for order in Order::ALL {
                let mut slots = std::mem::take(&mut self.orders[order as usize]);
                let at = self.position(&slots, slot, order);
                slots.insert(at, slot);
                self.orders[order as usize] = slots;
            }
        }
    }

    /// Takes a live slot out of its groups and permutations, before its fields change.
    fn unlink(&mut self, slot: u32) {
        let index = slot as usize;
        let group = self.category[index] as usize;
        remove_sorted(&mut self.groups[group].slots, slot);
        if self.groups[group].first == Some(slot) {
            let first = self.groups[group]
                .slots
                .iter()
                .copied()
                .min_by(|&a, &b| self.cmp_created(a, b));
            self.groups[group].first = first;
        }
        self.version += 1;
        remove_sorted(&mut self.seller_slots[self.seller[index] as usize], slot);
        if !self.bulk {
            for order in Order::ALL {
                let mut slots = std::mem::take(&mut self.orders[order as usize]);
                let at = self.position(&slots, slot, order);
                if slots.get(at) == Some(&slot) {
                    slots.remove(at);
                }
                self.orders[order as usize] = slots;
            }
        }
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

    /// Where `slot` belongs in `slots`, which are sorted by `order`.
    fn position(&self, slots: &[u32], slot: u32, order: Order) -> usize {
        slots.partition_point(|&other| order.cmp(self, other, slot) == Ordering::Less)
    }

    /// Oldest first; ids break ties.
    pub(super) fn cmp_created(&self, a: u32, b: u32) -> Ordering {
        let (a, b) = (a as usize, b as usize);
        self.created[a]
            .cmp(&self.created[b])
            .then_with(|| self.ids[a].cmp(&self.ids[b]))
    }

    /// Cheapest first; ids break ties.
    pub(super) fn cmp_price(&self, a: u32, b: u32) -> Ordering {
        let (a, b) = (a as usize, b as usize);
        self.price[a]
            .total_cmp(&self.price[b])
            .then_with(|| self.ids[a].cmp(&self.ids[b]))
    }

    /// By lowercased name; ids break ties.
    pub(super) fn cmp_name(&self, a: u32, b: u32) -> Ordering {
        self.names
            .get(a)
            .cmp(self.names.get(b))
            .then_with(|| self.ids[a as usize].cmp(&self.ids[b as usize]))
    }

    /// A rough count of the bytes held, for logs.
    pub fn heap_bytes(&self) -> usize {
        let per_slot = 12 + 8 + 8 + 8 + 4 + 4 + 4 + 1;
        self.ids.capacity() * per_slot
            + self.slot_of.capacity() * 20
            + self.orders.iter().map(Vec::capacity).sum::<usize>() * 4
            + self.live * 8
            + self.names.heap_bytes()
    }
}

/// The orders the model keeps every live product in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Order {
    /// Oldest first.
    Created = 0,
    /// Cheapest first.
    Price = 1,
    /// By lowercased name.
    Name = 2,
}

impl Order {
    const ALL: [Order; 3] = [Order::Created, Order::Price, Order::Name];

    /// Compares two live slots in this order; ids break ties, so no two slots are equal.
    pub(super) fn cmp(self, model: &Model, a: u32, b: u32) -> Ordering {
        match self {
            Order::Created => model.cmp_created(a, b),
            Order::Price => model.cmp_price(a, b),
            Order::Name => model.cmp_name(a, b),
        }
    }
}

fn slot_u32(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX)
}

fn insert_sorted(slots: &mut Vec<u32>, slot: u32) {
    // New slots are the highest, so this is almost always a push.
    if slots.last().is_none_or(|&last| last < slot) {
        slots.push(slot);
    } else if let Err(at) = slots.binary_search(&slot) {
        slots.insert(at, slot);
    }
}

fn remove_sorted(slots: &mut Vec<u32>, slot: u32) {
    if let Ok(at) = slots.binary_search(&slot) {
        slots.remove(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn row(name: &str, category: &str, price: f64, stock: i64, created: i64) -> Row {
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
        let live: Vec<u32> = (0..model.ids.len() as u32)
            .filter(|&s| model.alive[s as usize])
            .collect();
        for order in Order::ALL {
            let mut expected = live.clone();
            expected.sort_by(|&a, &b| order.cmp(model, a, b));
            assert_eq!(model.orders[order as usize], expected, "{order:?}");
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
                    (i % 5) as f64,
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
        renamed.price = 99.0;
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
        let newer = row("b", "HOME", 1.0, 1, 20);
        let older = row("a", "Home", 1.0, 1, 10);
        model.upsert(newer.clone());
        model.upsert(older.clone());
        let group = &model.groups[model.group_of("home").unwrap() as usize];
        assert_eq!(model.group_name(group), Some("Home"));
        assert_eq!(group.slots.len(), 2);

        model.remove(older.id);
        let group = &model.groups[model.group_of("home").unwrap() as usize];
        assert_eq!(model.group_name(group), Some("HOME"));
        assert_eq!(group.slots.len(), 1);
    }

    #[test]
    fn stock_counts_follow_every_change() {
        let mut model = Model::default();
        let a = row("a", "", 1.0, 0, 1);
        model.upsert(a.clone());
        assert_eq!(model.in_stock, 0);
        model.set_stock(a.id, 5);
        assert_eq!(model.in_stock, 1);
        model.remove(a.id);
        assert_eq!((model.in_stock, model.live), (0, 0));
    }
}
