//! How `GET /orders` is read: which index serves each filter, and how its total is counted
//! without scanning the collection.
//!
//! Two indexes serve every list, newest first (`_id: -1`), with the status in the key so that
//! hidden orders are left out by the index bounds and no document is fetched only to be dropped:
//!
//! - [`STATUS_NEWEST_FIRST`] `{status: 1, _id: -1}`: an admin's list of everyone's orders, with
//!   or without `?status=`. Listing every visible status is one index scan per status, merged in
//!   `_id` order (`SORT_MERGE`); `FAILED` tombstones are simply not among the scanned statuses.
//! - [`USER_STATUS_NEWEST_FIRST`] `{user_id: 1, status: 1, _id: -1}`: one user's orders (their
//!   own, or an admin's `?user_id=`), with or without `?status=`, the same way.
//!
//! Every order insert writes one entry into each (and one into `_id`); the other indexes of the
//! collection are partial and stay empty on that path. A single index cannot serve both: with
//! the user first, an admin's list would sort in memory; with the status first, a user's would.
//!
//! Totals never count the whole collection:
//!
//! - everyone's orders: the collection's estimated count (its metadata, no scan) minus the
//!   tombstones, counted over the `FAILED` range of [`STATUS_NEWEST_FIRST`] (a `COUNT_SCAN` over
//!   a few keys; the partial TTL index would need a `FETCH` for the same count). The estimate is
//!   the storage engine's record count, kept exact as documents are inserted and deleted, so
//!   the total is exact in normal operation. After an unclean shutdown (a crash, a kill -9) it
//!   can drift by the writes since the last checkpoint (about a minute of them) until
//!   `validate` is run on the collection; in a sharded cluster it would also count orphaned
//!   documents. A list total is a paging hint, so that is accepted; the pages themselves never
//!   depend on it. The two reads are not one snapshot: a tombstone written or expiring between
//!   them can move the total by one for that request.
//! - a filtered list: one count per stored status, each an equality prefix of an index, so a
//!   `COUNT_SCAN` over index keys only. A `$in` over two statuses would be a slower `IXSCAN`.
//! - one user's orders: their `user_id` keys, one `COUNT_SCAN`. Tombstones carry no `user_id`
//!   (see [`super::OrderStore::insert_tombstone`]), so none is among them.
//!
//! - a count of [`LARGE_COUNT`] orders or more may be reused for [`LARGE_COUNT_TTL`] (see
//!   [`CountCache`]); smaller counts are always exact.
//!
//! Every query names its index (`hint`): the plan is chosen here, not by a trial run that a
//! skewed collection could tip towards scanning `_id` and filtering fetched documents. A missing
//! index then fails loudly instead of slowly; [`super::OrderStore::ensure_indexes`] creates them
//! at startup.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use common_api::pagination::Page;
use futures_util::{TryStreamExt, future::try_join_all};
use mongodb::{
    Collection, IndexModel,
    bson::{Bson, Document, doc, oid::ObjectId},
    error::Error,
    options::{Hint, IndexOptions},
};

use super::{OrderDoc, StoredStatus};

/// Index `{status: 1, _id: -1}`: everyone's orders, by status, newest first.
pub const STATUS_NEWEST_FIRST: &str = "status_newest_first";
/// Index `{user_id: 1, status: 1, _id: -1}`: one user's orders, by status, newest first.
pub const USER_STATUS_NEWEST_FIRST: &str = "user_status_newest_first";
/// The index these two replace (`{user_id: 1, _id: -1}`), dropped at startup where it exists.
pub const RETIRED_BY_USER: &str = "user_id_1__id_-1";

/// The order every list is in: newest first.
pub fn newest_first() -> Document {
    doc! { "_id": -1 }
}

/// The indexes the lists read.
pub(super) fn indexes() -> [IndexModel; 2] {
    let named = |keys: Document, name: &str| {
        IndexModel::builder()
            .keys(keys)
            .options(IndexOptions::builder().name(name.to_owned()).build())
            .build()
    };
    [
        named(doc! { "status": 1, "_id": -1 }, STATUS_NEWEST_FIRST),
        named(
            doc! { "user_id": 1, "status": 1, "_id": -1 },
            USER_STATUS_NEWEST_FIRST,
        ),
    ]
}

/// A filter and the index that serves it.
#[derive(Clone, Debug, PartialEq)]
pub struct Indexed {
    /// The filter.
    pub filter: Document,
    /// The name of the index it is read through.
    pub index: &'static str,
}

/// How a list's total is counted.
#[derive(Clone, Debug, PartialEq)]
pub enum Total {
    /// Every order but hidden ones: the estimated size of the collection minus these counts.
    AllBut(Vec<Indexed>),
    /// The sum of these counts.
    Sum(Vec<Indexed>),
}

/// The reads behind one list: its page (sorted by [`newest_first`]) and its total.
#[derive(Clone, Debug, PartialEq)]
pub struct ListQuery {
    /// The orders of the page.
    pub page: Indexed,
    /// How many orders the list has.
    pub total: Total,
}

impl ListQuery {
    /// The list of `user`'s orders (everyone's with `None`) with one of `statuses` (any visible
    /// one with `None`). Hidden statuses are never listed, even if asked for.
    pub fn new(user: Option<ObjectId>, statuses: Option<&[StoredStatus]>) -> Self {
        let filtered = statuses.is_some();
        let statuses: Vec<StoredStatus> = statuses
            .unwrap_or(&StoredStatus::VISIBLE)
            .iter()
            .copied()
            .filter(|status| StoredStatus::VISIBLE.contains(status))
            .collect();
        let index = match user {
            Some(_) => USER_STATUS_NEWEST_FIRST,
            None => STATUS_NEWEST_FIRST,
        };
        let scoped = |status: Bson| {
            let mut filter = Document::new();
            if let Some(user) = user {
                filter.insert("user_id", user);
            }
            filter.insert("status", status);
            Indexed { filter, index }
        };
        let names: Vec<&str> = statuses.iter().map(|status| status.as_str()).collect();
        let page = scoped(doc! { "$in": names }.into());
        let per_status = || {
            statuses
                .iter()
                .map(|status| scoped(status.as_str().into()))
                .collect()
        };
        let total = match (user, filtered) {
            (_, true) => Total::Sum(per_status()),
            // Tombstones have no user_id: the user's keys are exactly their visible orders.
            (Some(user), false) => Total::Sum(vec![Indexed {
                filter: doc! { "user_id": user },
                index,
            }]),
            (None, false) => Total::AllBut(vec![scoped(StoredStatus::Failed.as_str().into())]),
        };
        Self { page, total }
    }

    /// Reads the page and the total concurrently.
    pub(super) async fn run(
        &self,
        orders: &Collection<OrderDoc>,
        cache: &CountCache,
        page: Page,
    ) -> Result<(Vec<OrderDoc>, u64), Error> {
        let items = async {
            orders
                .find(self.page.filter.clone())
                .sort(newest_first())
                .hint(hint(self.page.index))
                .skip(page.skip())
                .limit(page.limit())
                .await?
                .try_collect()
                .await
        };
        tokio::try_join!(items, self.count(orders, cache))
    }

    async fn count(&self, orders: &Collection<OrderDoc>, cache: &CountCache) -> Result<u64, Error> {
        match &self.total {
            Total::Sum(queries) => sum(orders, cache, queries).await,
            Total::AllBut(hidden) => {
                let (all, hidden) = tokio::try_join!(
                    orders.estimated_document_count().into_future(),
                    sum(orders, cache, hidden)
                )?;
                Ok(all.saturating_sub(hidden))
            }
        }
    }
}

/// The sum of the counts of `queries`, run concurrently.
async fn sum(
    orders: &Collection<OrderDoc>,
    cache: &CountCache,
    queries: &[Indexed],
) -> Result<u64, Error> {
    let counts = try_join_all(queries.iter().map(|query| count_one(orders, cache, query))).await?;
    Ok(counts.into_iter().sum())
}

/// The orders matching `query`, or a recent count of them when that is large.
async fn count_one(
    orders: &Collection<OrderDoc>,
    cache: &CountCache,
    query: &Indexed,
) -> Result<u64, Error> {
    let key = query.filter.to_string();
    if let Some(count) = cache.get(&key) {
        return Ok(count);
    }
    let count = orders
        .count_documents(query.filter.clone())
        .hint(hint(query.index))
        .await?;
    cache.put(key, count);
    Ok(count)
}

/// Counts at or above this many orders may be answered from [`CountCache`].
pub const LARGE_COUNT: u64 = 1_000;
/// How long a large count is reused.
pub const LARGE_COUNT_TTL: Duration = Duration::from_secs(2);
/// The most counts kept; past it, expired ones are dropped, then the whole cache if need be.
const CACHED_COUNTS: usize = 1024;

/// Large counts, reused for [`LARGE_COUNT_TTL`].
///
/// An exact count walks every matching index key: about 40 ms for 180 000 orders of one status,
/// and a millisecond for a buyer with 10 000 orders, on every request. A count under
/// [`LARGE_COUNT`] is always exact (most users' own lists, a test, a small shop); one above it may
/// be up to [`LARGE_COUNT_TTL`] old, which nobody paging through a thousand orders can tell. So a list's cost stops growing with
/// the number of orders it counts, at one count per filter every two seconds.
#[derive(Clone, Debug, Default)]
pub struct CountCache {
    counts: Arc<Mutex<HashMap<String, (Instant, u64)>>>,
}

impl CountCache {
    fn get(&self, key: &str) -> Option<u64> {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let &(at, count) = counts.get(key)?;
        (at.elapsed() < LARGE_COUNT_TTL).then_some(count)
    }

    fn put(&self, key: String, count: u64) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if count < LARGE_COUNT {
            counts.remove(&key);
            return;
        }
        if counts.len() >= CACHED_COUNTS {
            counts.retain(|_, (at, _)| at.elapsed() < LARGE_COUNT_TTL);
            if counts.len() >= CACHED_COUNTS {
                counts.clear();
            }
        }
        counts.insert(key, (Instant::now(), count));
    }
}

fn hint(index: &str) -> Hint {
    Hint::Name(index.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everyones_list_counts_the_collection_but_its_tombstones() {
        let query = ListQuery::new(None, None);

        assert_eq!(query.page.index, STATUS_NEWEST_FIRST);
        assert_eq!(
            query.page.filter,
            doc! { "status": { "$in": [
                "PENDING_PAYMENT", "PLACED", "SHIPPED", "DELIVERED", "CANCELLING", "CANCELLED",
                "EXPIRING", "EXPIRED", "REVIVING", "REFUND_DUE",
            ] } }
        );
        assert_eq!(
            query.total,
            Total::AllBut(vec![Indexed {
                filter: doc! { "status": "FAILED" },
                index: STATUS_NEWEST_FIRST
            }])
        );
    }

    #[test]
    fn a_users_list_by_status_counts_each_stored_status() {
        let user = ObjectId::new();
        let statuses = [StoredStatus::Cancelled, StoredStatus::Cancelling];

        let query = ListQuery::new(Some(user), Some(&statuses));

        let count = |status: &str| Indexed {
            filter: doc! { "user_id": user, "status": status },
            index: USER_STATUS_NEWEST_FIRST,
        };
        assert_eq!(
            query.total,
            Total::Sum(vec![count("CANCELLED"), count("CANCELLING")])
        );
    }

    #[test]
    fn the_listed_statuses_are_those_clients_can_ask_for() {
        use crate::models::OrderStatus;
        let names = |statuses: &mut dyn Iterator<Item = StoredStatus>| {
            let mut names: Vec<&str> = statuses.map(StoredStatus::as_str).collect();
            names.sort_unstable();
            names
        };
        let shown = [
            OrderStatus::PendingPayment,
            OrderStatus::Placed,
            OrderStatus::Shipped,
            OrderStatus::Delivered,
            OrderStatus::Cancelled,
            OrderStatus::Expired,
            OrderStatus::RefundDue,
        ];

        let asked_for = names(&mut shown.iter().flat_map(|s| s.stored().iter().copied()));

        assert_eq!(asked_for, names(&mut StoredStatus::VISIBLE.into_iter()));
    }

    #[test]
    fn only_large_counts_are_reused_and_only_briefly() {
        let cache = CountCache::default();
        cache.put("small".into(), LARGE_COUNT - 1);
        cache.put("large".into(), LARGE_COUNT);
        assert_eq!(cache.get("small"), None);
        assert_eq!(cache.get("large"), Some(LARGE_COUNT));

        // A count that shrank below the threshold is exact again at once.
        cache.put("large".into(), 3);
        assert_eq!(cache.get("large"), None);

        let expired = Instant::now().checked_sub(LARGE_COUNT_TTL).unwrap();
        cache
            .counts
            .lock()
            .unwrap()
            .insert("old".into(), (expired, 50_000));
        assert_eq!(cache.get("old"), None);
    }

    #[test]
    fn hidden_statuses_are_never_listed_even_when_asked_for() {
        let query = ListQuery::new(None, Some(&[StoredStatus::Failed]));

        assert_eq!(query.page.filter, doc! { "status": { "$in": [] } });
        assert_eq!(query.total, Total::Sum(Vec::new()));
    }
}
