//! Where each live product stands: in its category's and its seller's slot lists (kept in slot
//! order), and in one sorted permutation per [`KEPT`] sort. [`Model::link`] and
//! [`Model::unlink`] are the only code that adds a slot to them or takes it out, so the three
//! always agree with the columns.

use std::cmp::Ordering;

use super::{Model, Slot, Sort};

/// The ascending sorts the model keeps a permutation for, in the order of [`Model::sorted`].
pub(super) const KEPT: [Sort; 3] = [Sort::CreatedAt, Sort::Price, Sort::Name];

/// Which kept permutation answers `sort`, and whether it is walked backwards. Every order ends
/// with the id, so a descending sort is exactly the ascending one reversed.
pub(super) fn permutation(sort: Sort) -> (usize, bool) {
    match sort {
        Sort::CreatedAt => (0, false),
        Sort::CreatedAtDesc => (0, true),
        Sort::Price => (1, false),
        Sort::PriceDesc => (1, true),
        Sort::Name => (2, false),
    }
}

impl Model {
    /// Adds a live slot to its groups and, unless in bulk, to the sorted permutations.
    pub(super) fn link(&mut self, slot: Slot) {
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
            for (index, sort) in KEPT.into_iter().enumerate() {
                let mut slots = std::mem::take(&mut self.sorted[index]);
                let at = self.position(&slots, slot, sort);
                slots.insert(at, slot);
                self.sorted[index] = slots;
            }
        }
    }

    /// Takes a live slot out of its groups and permutations, before its fields change.
    pub(super) fn unlink(&mut self, slot: Slot) {
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
            for (index, sort) in KEPT.into_iter().enumerate() {
                let mut slots = std::mem::take(&mut self.sorted[index]);
                let at = self.position(&slots, slot, sort);
                if slots.get(at) == Some(&slot) {
                    slots.remove(at);
                }
                self.sorted[index] = slots;
            }
        }
    }

    /// Where `slot` belongs in `slots`, which are sorted by the ascending `sort`.
    fn position(&self, slots: &[Slot], slot: Slot, sort: Sort) -> usize {
        slots.partition_point(|&other| self.cmp_ascending(sort, other, slot) == Ordering::Less)
    }

    /// Compares two live slots by the key of `sort`'s permutation, ascending; ids break ties, so
    /// no two slots are equal.
    pub(super) fn cmp_ascending(&self, sort: Sort, a: Slot, b: Slot) -> Ordering {
        let (ia, ib) = (a as usize, b as usize);
        let by_key = match sort {
            Sort::CreatedAt | Sort::CreatedAtDesc => self.created[ia].cmp(&self.created[ib]),
            Sort::Price | Sort::PriceDesc => self.price[ia].cmp(&self.price[ib]),
            Sort::Name => self.names.get(a).cmp(self.names.get(b)),
        };
        by_key.then_with(|| self.ids[ia].cmp(&self.ids[ib]))
    }

    /// Oldest first; ids break ties.
    pub(super) fn cmp_created(&self, a: Slot, b: Slot) -> Ordering {
        self.cmp_ascending(Sort::CreatedAt, a, b)
    }
}

fn insert_sorted(slots: &mut Vec<Slot>, slot: Slot) {
    // New slots are the highest, so this is almost always a push.
    if slots.last().is_none_or(|&last| last < slot) {
        slots.push(slot);
    } else if let Err(at) = slots.binary_search(&slot) {
        slots.insert(at, slot);
    }
}

fn remove_sorted(slots: &mut Vec<Slot>, slot: Slot) {
    if let Ok(at) = slots.binary_search(&slot) {
        slots.remove(at);
    }
}
