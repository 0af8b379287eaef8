//! The catalog read model: what lists, searches, their counts and `/categories`' product counts
//! are answered from (the categories themselves are in [`super::categories`]).
//!
//! **Where its truth comes from.** MongoDB's `products` collection is the only state. The model
//! holds, per product, the fields that filters and sorts read (id, lowercased name, category,
//! seller, price, stock, creation time) and nothing else; a page's documents are always read from
//! MongoDB by id. It is loaded in full at startup, before the service listens, and then kept
//! current by [`feed`]:
//! - on a replica set (production, Atlas): a change stream on `products`, opened before the load so
//!   no change between the two is missed; after an invalidate or an error the stream is reopened
//!   and the model reloaded;
//! - on a standalone server (no change streams): a full reload every `CATALOG_POLL_SECS`.
//!
//! The service's own writes are applied at once, so a writer reads their own write: every write
//! goes through [`super::Products`] (or the categories it owns), which applies it here.
//!
//! **How stale it may be.** Another replica's writes, the order service's stock changes and
//! direct database edits arrive within the change stream's delay (milliseconds; about a second
//! under load) or, on a standalone server, within one poll interval. A filter can therefore
//! briefly judge a product by a value that has just changed; the documents returned are always
//! read fresh.

mod cache;
mod counts;
pub mod feed;
mod inventory;
mod model;
mod names;
mod query;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError, RwLock},
    time::{Duration, Instant},
};

use common_api::money::Currency;
use common_catalog::ProductDoc;
use mongodb::bson::oid::ObjectId;

use self::{
    cache::{ResultCache, ResultKey},
    query::Answer,
};
pub use self::{
    counts::{CategoryCount, CategoryCounts},
    model::{Model, Row},
    query::{Hits, Query, Sort},
};

/// How long a product deleted here is kept from coming back through a late change event.
const DELETED_MEMORY: Duration = Duration::from_secs(120);

/// The shared read model. Cheap to clone.
#[derive(Clone, Default)]
pub struct Catalog {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    /// The currency prices are kept in, as minor units: a float from before money was exact is
    /// converted in it.
    currency: Currency,
    model: RwLock<Model>,
    /// Products this instance deleted, until their delete event arrives: an insert or update event
    /// that was already on its way must not bring them back.
    deleted: Mutex<HashMap<ObjectId, Instant>>,
    /// `/categories`, and the model version it was computed at.
    categories: Mutex<Option<(u64, Arc<Vec<CategoryCount>>)>>,
    /// Sorted matches of recent filtered lists.
    results: Mutex<ResultCache>,
}

impl Catalog {
    /// An empty catalog whose prices are in `currency`.
    pub fn new(currency: Currency) -> Self {
        Self {
            shared: Arc::new(Shared {
                currency,
                ..Shared::default()
            }),
        }
    }

    /// The currency of its prices.
    pub fn currency(&self) -> Currency {
        self.shared.currency
    }

    /// The page of products matching `query`, and how many match.
    ///
    /// A filtered list's sorted matches are kept until the model changes in a way that could
    /// change them, so the next page, or the next visitor's same search, costs only its page.
    pub fn search(&self, query: &Query) -> Hits {
        let model = self.read();
        let key = ResultKey::of(query);
        if let Some(sorted) = lock(&self.shared.results).get(&key, &model) {
            return model.page(&sorted, query);
        }
        match model.answer(query) {
            Answer::Page(hits) => hits,
            Answer::Sorted(sorted) => {
                let hits = model.page(&sorted, query);
                lock(&self.shared.results).put(key, &model, sorted);
                hits
            }
        }
    }

    /// How many products the model holds.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether the model holds no product.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// Applies a product this instance just wrote.
    pub fn wrote(&self, product: &ProductDoc) {
        self.write().upsert(Row::of(product, self.currency()));
    }

    /// Applies a delete this instance just made.
    pub fn deleted(&self, id: ObjectId) {
        lock(&self.shared.deleted).insert(id, Instant::now());
        self.write().remove(id);
    }

    /// Replaces the whole model with `model` (a reload), keeping out what was deleted here.
    ///
    /// The caches hold slot numbers of the model they were made from, and a reloaded model
    /// numbers its slots afresh: its versions continue past the old model's, so that no cached
    /// entry can match it, and the caches are emptied as well, so that none outlives its model.
    fn replace(&self, mut model: Model) {
        let deleted = self.recently_deleted();
        for id in deleted {
            model.remove(id);
        }
        let mut current = self.write();
        model.continue_versions_of(&current);
        *current = model;
        lock(&self.shared.results).clear();
        *lock(&self.shared.categories) = None;
    }

    /// Applies a batch of changes read from the database.
    fn apply(&self, changes: Vec<Change>) {
        let deleted = self.recently_deleted();
        let mut model = self.write();
        let bulk = changes.len() > BULK_THRESHOLD;
        if bulk {
            model.begin_bulk();
        }
        for change in changes {
            match change {
                Change::Upsert(row) if !deleted.contains(&row.id) => model.upsert(row),
                Change::Upsert(_) => {}
                Change::Stock(id, stock) => {
                    model.set_stock(id, stock);
                }
                Change::Remove(id) => {
                    lock(&self.shared.deleted).remove(&id);
                    model.remove(id);
                }
            }
        }
        if bulk {
            model.end_bulk();
        }
    }

    /// What `read` makes of the model as it now is (under the read lock: keep it short).
    fn with_model<T>(&self, read: impl FnOnce(&Model) -> T) -> T {
        read(&self.read())
    }

    fn recently_deleted(&self) -> Vec<ObjectId> {
        let mut deleted = lock(&self.shared.deleted);
        deleted.retain(|_, at| at.elapsed() < DELETED_MEMORY);
        deleted.keys().copied().collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Model> {
        // The model is only changed by code that cannot leave it half-done on a panic short of a
        // bug; serving on is better than failing every list.
        self.shared
            .model
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Model> {
        self.shared
            .model
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Past this many changes in one batch, the model's orders are rebuilt once instead of kept
/// sorted change by change.
const BULK_THRESHOLD: usize = 256;

/// One change read from the database.
#[derive(Debug, PartialEq)]
enum Change {
    /// The product as it now is.
    Upsert(Row),
    /// Only its stock changed.
    Stock(ObjectId, i64),
    /// It was deleted.
    Remove(ObjectId),
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Row {
    /// The row of `product`, its price in minor units of `currency` (0 for a stored float that no
    /// amount can be, which only a hand-written document has).
    pub fn of(product: &ProductDoc, currency: Currency) -> Self {
        Row {
            id: product.id,
            name_lower: product.name.to_lowercase(),
            category: product.category.clone(),
            category_key: product.category_key.clone(),
            seller: product.seller_id,
            price: product.price.minor(currency).unwrap_or_default(),
            stock: product.stock,
            created_ms: product.created_at.timestamp_millis(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lamp(name: &str, stock: i64) -> Row {
        Row {
            id: ObjectId::new(),
            name_lower: name.to_lowercase(),
            category: "Home".into(),
            category_key: "home".into(),
            seller: ObjectId::from_bytes([1; 12]),
            price: 1_000,
            stock,
            created_ms: 1,
        }
    }

    fn query(text: &str, in_stock: bool) -> Query {
        Query {
            text: Some(text.into()),
            in_stock,
            limit: 10,
            ..Query::default()
        }
    }

    fn in_category(name: &str, category: &str) -> Row {
        Row {
            category: category.into(),
            category_key: category.to_lowercase(),
            ..lamp(name, 1)
        }
    }

    fn ids_in(catalog: &Catalog, category: &str) -> Vec<ObjectId> {
        catalog
            .search(&Query {
                category_key: Some(category.to_lowercase()),
                limit: 10,
                ..Query::default()
            })
            .ids
    }

    #[test]
    fn a_reload_never_answers_from_lists_cached_before_it() {
        let catalog = Catalog::default();
        let (home_1, garden_1, home_2) = (
            in_category("a", "Home"),
            in_category("b", "Garden"),
            in_category("c", "Home"),
        );
        catalog.replace(Model::from_rows([
            home_1.clone(),
            garden_1.clone(),
            home_2.clone(),
        ]));
        assert_eq!(ids_in(&catalog, "home"), [home_1.id, home_2.id]);
        assert_eq!(catalog.categories().counts.len(), 2);

        // Another writer deleted one product and added another: the same count, every later
        // product in another slot.
        let garden_2 = in_category("d", "Garden");
        catalog.replace(Model::from_rows([
            garden_1.clone(),
            home_2.clone(),
            garden_2.clone(),
        ]));

        assert_eq!(ids_in(&catalog, "home"), [home_2.id]);
        assert_eq!(ids_in(&catalog, "garden"), [garden_1.id, garden_2.id]);
        let counts = catalog.categories();
        let count_of = |key: &str| {
            counts
                .counts
                .iter()
                .find(|count| count.key == key)
                .map(|count| count.product_count)
        };
        assert_eq!((count_of("home"), count_of("garden")), (Some(1), Some(2)));

        // A smaller reload: no cached slot may point past its end.
        catalog.replace(Model::from_rows([garden_2.clone()]));
        assert_eq!(ids_in(&catalog, "home"), Vec::<ObjectId>::new());
        assert_eq!(ids_in(&catalog, "garden"), [garden_2.id]);
    }

    #[test]
    fn cached_results_never_outlive_a_change_that_affects_them() {
        let catalog = Catalog::default();
        let (a, b) = (lamp("desk lamp", 1), lamp("floor lamp", 0));
        catalog.apply(vec![Change::Upsert(a.clone()), Change::Upsert(b.clone())]);
        assert_eq!(catalog.search(&query("lamp", false)).total, 2);
        assert_eq!(catalog.search(&query("lamp", true)).total, 1);

        // Coming into stock changes in-stock lists at once.
        catalog.apply(vec![Change::Stock(b.id, 3)]);
        assert_eq!(catalog.search(&query("lamp", true)).total, 2);
        // A stock change that keeps both in stock changes nothing, and is still seen.
        catalog.apply(vec![Change::Stock(b.id, 2)]);
        assert_eq!(catalog.search(&query("lamp", true)).total, 2);

        // A rename, an insert and a delete change every list.
        catalog.apply(vec![Change::Upsert(Row {
            name_lower: "desk light".into(),
            ..a.clone()
        })]);
        assert_eq!(catalog.search(&query("lamp", false)).total, 1);
        catalog.apply(vec![Change::Upsert(lamp("wall lamp", 0))]);
        assert_eq!(catalog.search(&query("lamp", false)).total, 2);
        catalog.deleted(b.id);
        assert_eq!(catalog.search(&query("lamp", false)).total, 1);
        assert_eq!(catalog.search(&query("lamp", true)).total, 0);

        // Pages of one search come from the same sorted matches.
        let page = |offset| Query {
            offset,
            limit: 1,
            ..query("l", false)
        };
        let first = catalog.search(&page(0));
        let second = catalog.search(&page(1));
        assert_eq!((first.total, second.total), (2, 2));
        assert_ne!(first.ids, second.ids);
    }
}
