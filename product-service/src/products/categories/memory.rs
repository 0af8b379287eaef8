//! The category documents kept in memory, and `GET /categories` made from them and the catalog's
//! counts, once per version of either (see the module above for where they come from and how
//! stale they may be).

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, PoisonError, RwLock},
};

use mongodb::bson::oid::ObjectId;

use super::slug::slug_of;
use crate::{
    models::CategoryView,
    products::catalog::{CategoryCount, CategoryCounts},
    store::CategoryDoc,
};

/// The category documents, and the list made from them.
#[derive(Default)]
pub(super) struct Memory {
    /// Every category, by id, and a version bumped by every change.
    docs: RwLock<(u64, HashMap<ObjectId, CategoryDoc>)>,
    /// The list, and the versions it was made at.
    listed: Mutex<Option<Listed>>,
}

/// `GET /categories` as made at the catalog's and the categories' versions `at`.
struct Listed {
    at: (u64, u64),
    list: Arc<Vec<CategoryView>>,
}

impl Memory {
    /// Every category, sorted by key (the name trimmed and lowercased, compared by code point),
    /// with its product count from `counts`. A key products use that no category answers to
    /// (created through another instance a moment ago, or written straight into MongoDB) is
    /// listed too, named by its oldest product, until the upkeep gives it a document.
    pub(super) fn list(&self, counts: &CategoryCounts) -> Arc<Vec<CategoryView>> {
        let docs = read(&self.docs);
        let versions = (counts.version, docs.0);
        let mut listed = lock(&self.listed);
        if let Some(cached) = listed.as_ref()
            && cached.at == versions
        {
            return Arc::clone(&cached.list);
        }
        let by_key: HashMap<&str, &CategoryCount> =
            counts.counts.iter().map(|c| (c.key.as_str(), c)).collect();
        let mut entries: Vec<(&str, CategoryView)> = Vec::with_capacity(docs.1.len());
        let mut managed: HashSet<&str> = HashSet::new();
        for doc in docs.1.values() {
            managed.extend(doc.keys.iter().map(String::as_str));
            // During a rename, products not yet moved still count for the category.
            let product_count = doc
                .keys
                .iter()
                .map(|key| by_key.get(key.as_str()).map_or(0, |c| c.product_count))
                .sum();
            entries.push((doc.key.as_str(), view(doc, product_count)));
        }
        for count in counts.counts.iter() {
            if !managed.contains(count.key.as_str()) {
                entries.push((
                    count.key.as_str(),
                    CategoryView {
                        slug: slug_of(&count.name),
                        name: count.name.clone(),
                        description: String::new(),
                        product_count: count.product_count,
                    },
                ));
            }
        }
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let list = Arc::new(entries.into_iter().map(|(_, view)| view).collect());
        *listed = Some(Listed {
            at: versions,
            list: Arc::clone(&list),
        });
        list
    }

    /// Every key some category answers to.
    pub(super) fn managed_keys(&self) -> HashSet<String> {
        read(&self.docs)
            .1
            .values()
            .flat_map(|doc| doc.keys.iter().cloned())
            .collect()
    }

    /// The categories a product created, with no rename in progress, whose key is not in
    /// `used`: candidates for removal, to be checked in MongoDB.
    pub(super) fn implicit_outside(&self, used: &HashSet<&str>) -> Vec<CategoryDoc> {
        read(&self.docs)
            .1
            .values()
            .filter(|doc| doc.implicit && doc.rename.is_none() && !used.contains(doc.key.as_str()))
            .cloned()
            .collect()
    }

    /// Replaces the documents with those `loaded` from the collection.
    pub(super) fn replace(&self, loaded: HashMap<ObjectId, CategoryDoc>) {
        let mut docs = write(&self.docs);
        if docs.1 != loaded {
            docs.0 += 1;
            docs.1 = loaded;
        }
    }

    /// Applies a category this instance just wrote.
    pub(super) fn remember(&self, category: CategoryDoc) {
        let mut docs = write(&self.docs);
        docs.0 += 1;
        docs.1.insert(category.id, category);
    }

    /// Applies a delete this instance just made.
    pub(super) fn forget(&self, id: ObjectId) {
        let mut docs = write(&self.docs);
        docs.0 += 1;
        docs.1.remove(&id);
    }
}

/// `category` as the API shows it, with `product_count`.
pub(super) fn view(category: &CategoryDoc, product_count: u64) -> CategoryView {
    CategoryView {
        name: category.name.clone(),
        slug: category.slug.clone(),
        description: category.description.clone(),
        product_count,
    }
}

// Memory is only changed by code that cannot leave it half-done short of a bug; serving on is
// better than failing every list.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
