//! The sorted matches of recent filtered lists, kept until the model changes in a way that could
//! change them: the next page of a search, or the next visitor's same search, then costs only its
//! page. Entries hold slot numbers, so each is valid only at the model versions it was made at.

use std::{collections::HashMap, sync::Arc};

use mongodb::bson::oid::ObjectId;

use super::{Model, Query, Sort, model::Slot};

/// The most filtered lists kept, and the most matches they may hold together (4 bytes each).
const CACHED_RESULTS: usize = 256;
const CACHED_MATCHES: usize = 4_000_000;

/// A query's filters and order, without its page: what its sorted matches are kept under.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct ResultKey {
    text: Option<String>,
    category_key: Option<String>,
    seller: Option<ObjectId>,
    min_price: Option<i64>,
    max_price: Option<i64>,
    in_stock: bool,
    sort: Sort,
}

impl ResultKey {
    pub(super) fn of(query: &Query) -> Self {
        Self {
            text: query.text.clone().filter(|text| !text.is_empty()),
            category_key: query.category_key.clone(),
            seller: query.seller,
            min_price: query.min_price,
            max_price: query.max_price,
            in_stock: query.in_stock,
            sort: query.sort,
        }
    }
}

/// Sorted matches of one filtered list, valid while the model is at the versions it was
/// computed at (the stock version matters only to `in_stock` lists).
struct CachedResult {
    version: u64,
    stock_version: u64,
    sorted: Arc<Vec<Slot>>,
    used: u64,
}

/// Recent filtered lists' sorted matches, least recently used out first.
#[derive(Default)]
pub(super) struct ResultCache {
    entries: HashMap<ResultKey, CachedResult>,
    matches: usize,
    clock: u64,
}

impl ResultCache {
    pub(super) fn get(&mut self, key: &ResultKey, model: &Model) -> Option<Arc<Vec<Slot>>> {
        self.clock += 1;
        let entry = self.entries.get_mut(key)?;
        let current = entry.version == model.version()
            && (!key.in_stock || entry.stock_version == model.stock_version());
        if !current {
            return None;
        }
        entry.used = self.clock;
        Some(Arc::clone(&entry.sorted))
    }

    pub(super) fn clear(&mut self) {
        self.entries.clear();
        self.matches = 0;
    }

    pub(super) fn put(&mut self, key: ResultKey, model: &Model, sorted: Vec<Slot>) {
        if sorted.len() > CACHED_MATCHES / 4 {
            return;
        }
        self.entries.retain(|key, entry| {
            entry.version == model.version()
                && (!key.in_stock || entry.stock_version == model.stock_version())
        });
        self.matches = self.entries.values().map(|e| e.sorted.len()).sum();
        while self.entries.len() >= CACHED_RESULTS || self.matches + sorted.len() > CACHED_MATCHES {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, entry)| entry.used)
                .map(|(key, _)| key.clone())
            else {
                break;
            };
            if let Some(entry) = self.entries.remove(&oldest) {
                self.matches -= entry.sorted.len();
            }
        }
        self.matches += sorted.len();
        self.entries.insert(
            key,
            CachedResult {
                version: model.version(),
                stock_version: model.stock_version(),
                sorted: Arc::new(sorted),
                used: self.clock,
            },
        );
    }
}
