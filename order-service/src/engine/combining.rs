//! Group commit: the takes of one product that arrive together go to MongoDB as one conditional
//! update, and the orders stored together as one `insert_many`.
//!
//! Writes to one document are serialized, so on a hot product every order waits for the takes
//! before it. Here a take joins its product's lane; if the lane is idle a task starts that
//! drains it: it takes everything waiting (up to [`MAX_TAKES`]) and, in one update, takes their
//! sum if the stock covers it (`{_id, stock >= sum}` → `stock -= sum`, one hold per order), so
//! all of them are served by one write. Takes that arrive while that write is in flight wait for
//! the next one: under no contention a take goes alone and at once (no timer, no added latency);
//! under contention the batches grow with it. When the sum does not fit, the stock is read and
//! the batch is split as taking the orders one by one in arrival order would split it: each order
//! that fits what is left is served, the others are refused; the served ones then go in one
//! conditional update of their sum. If the stock moved meanwhile (another replica), that is
//! tried again, and after [`SPLIT_TRIES`] the batch is taken one order at a time. So exactly the
//! orders that fit are served, first come first served, and the rest are refused as before, in a
//! few writes however large the batch. Inserts are combined the same way, across products.
//!
//! Nothing changes for correctness: a combined take leaves the same hold per order that a single
//! take does, so an order is still all or nothing (each of its lines is combined with other
//! orders' takes of that product, and a line that fails gives back the lines taken before), a
//! crash at any instant leaves holds the recovery pass settles as before, and idempotency keys
//! are claimed before and confirmed after, as before. A take or an insert whose requester is gone
//! by the time its batch is written (cut off by its deadline, and answered 503) is left out of
//! it, and a take whose requester went during its write is given back at once, so no order is
//! stored after its client was told it failed.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use mongodb::{
    bson::{DateTime, oid::ObjectId},
    error::Error,
};
use tokio::sync::oneshot;

use crate::store::{Inserted, Inventory, OrderDoc, OrderStore, Snapshot};

/// The most takes one combined update carries (one hold each on the product).
pub const MAX_TAKES: usize = 256;

/// How often a batch whose sum does not fit is split against a fresh read of the stock before it
/// is taken one order at a time.
const SPLIT_TRIES: usize = 3;

/// The most orders one `insert_many` carries.
pub const MAX_INSERTS: usize = 256;

type TakeResult = Result<Option<Snapshot>, Error>;

struct PendingTake {
    /// Its place in its lane's arrival order.
    arrival: u64,
    order: ObjectId,
    qty: i64,
    reply: oneshot::Sender<TakeResult>,
}

struct PendingInsert {
    order: OrderDoc,
    reply: oneshot::Sender<Result<Inserted, Error>>,
}

/// Combines takes per product and inserts across orders. Cheap to clone.
#[derive(Clone)]
pub struct Combiner {
    inner: Arc<Inner>,
}

struct Inner {
    inventory: Inventory,
    orders: OrderStore,
    /// Takes waiting, per product; a product is here while a task drains its lane.
    lanes: Mutex<HashMap<ObjectId, Vec<PendingTake>>>,
    /// Inserts waiting; `Some` while a task drains them.
    inserts: Mutex<Option<Vec<PendingInsert>>>,
    /// Numbers takes in the order they arrive.
    arrivals: std::sync::atomic::AtomicU64,
}

impl Combiner {
    /// A combiner over these stores.
    pub fn new(inventory: Inventory, orders: OrderStore) -> Self {
        Self {
            inner: Arc::new(Inner {
                inventory,
                orders,
                lanes: Mutex::default(),
                inserts: Mutex::default(),
                arrivals: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    /// Takes `qty` units of `product` for `order`, combined with the takes of that product
    /// waiting with it: as [`Inventory::take`].
    pub async fn take(&self, product: ObjectId, qty: i64, order: ObjectId) -> TakeResult {
        let (reply, answer) = oneshot::channel();
        let arrival = self
            .inner
            .arrivals
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let pending = PendingTake {
            arrival,
            order,
            qty,
            reply,
        };
        let start = {
            let mut lanes = lock(&self.inner.lanes);
            match lanes.get_mut(&product) {
                Some(lane) => {
                    lane.push(pending);
                    false
                }
                None => {
                    lanes.insert(product, vec![pending]);
                    true
                }
            }
        };
        if start {
            tokio::spawn(Arc::clone(&self.inner).drain_takes(product));
        }
        answer.await.unwrap_or_else(|_| Err(gone()))
    }

    /// Inserts `order` with its event, combined with the inserts waiting with it: as
    /// [`OrderStore::insert`].
    pub async fn insert(&self, order: OrderDoc) -> Result<Inserted, Error> {
        let (reply, answer) = oneshot::channel();
        let pending = PendingInsert { order, reply };
        let start = {
            let mut inserts = lock(&self.inner.inserts);
            match inserts.as_mut() {
                Some(waiting) => {
                    waiting.push(pending);
                    false
                }
                None => {
                    *inserts = Some(vec![pending]);
                    true
                }
            }
        };
        if start {
            tokio::spawn(Arc::clone(&self.inner).drain_inserts());
        }
        answer.await.unwrap_or_else(|_| Err(gone()))
    }
}

impl Inner {
    async fn drain_takes(self: Arc<Self>, product: ObjectId) {
        loop {
            let batch: Vec<PendingTake> = {
                let mut lanes = lock(&self.lanes);
                let Some(lane) = lanes.get_mut(&product) else {
                    return;
                };
                if lane.is_empty() {
                    lanes.remove(&product);
                    return;
                }
                let n = lane.len().min(MAX_TAKES);
                lane.drain(..n).collect()
            };
            // A requester cut off by its deadline meanwhile takes nothing.
            let batch: Vec<PendingTake> = batch
                .into_iter()
                .filter(|pending| !pending.reply.is_closed())
                .collect();
            if batch.is_empty() {
                continue;
            }
            self.take_batch(product, batch).await;
        }
    }

    async fn take_batch(&self, product: ObjectId, batch: Vec<PendingTake>) {
        let at = DateTime::now();
        let takes: Vec<(ObjectId, i64)> = batch.iter().map(|p| (p.order, p.qty)).collect();
        metrics::histogram!("order_take_batch_size").record(batch.len() as f64);
        match self.inventory.take_for_all(product, &takes, at).await {
            Ok(Some(snapshot)) => {
                for pending in batch {
                    self.answer_take(product, pending, Ok(Some(snapshot.clone())))
                        .await;
                }
            }
            Ok(None) if batch.len() > 1 => self.take_what_fits(product, batch, at).await,
            other => {
                for pending in batch {
                    let answer = match &other {
                        Ok(found) => Ok(found.clone()),
                        Err(err) => Err(err.clone()),
                    };
                    self.answer_take(product, pending, answer).await;
                }
            }
        }
    }

    /// Serves the orders of `batch` that fit the stock, in arrival order, and refuses the others
    /// (see the module's documentation).
    async fn take_what_fits(&self, product: ObjectId, mut batch: Vec<PendingTake>, at: DateTime) {
        for _ in 0..SPLIT_TRIES {
            let stock = match self.inventory.stock_of(product).await {
                Ok(Some(stock)) => stock,
                // The product is gone, or the read failed: every take answered alike.
                gone_or_failed => {
                    for pending in batch {
                        let answer = match &gone_or_failed {
                            Ok(_) => Ok(None),
                            Err(err) => Err(err.clone()),
                        };
                        self.answer_take(product, pending, answer).await;
                    }
                    return;
                }
            };
            let mut left = stock;
            let (fits, refused): (Vec<PendingTake>, Vec<PendingTake>) =
                batch.into_iter().partition(|pending| {
                    let fits = pending.qty <= left;
                    if fits {
                        left -= pending.qty;
                    }
                    fits
                });
            let takes: Vec<(ObjectId, i64)> = fits.iter().map(|p| (p.order, p.qty)).collect();
            let taken = if takes.is_empty() {
                Ok(None)
            } else {
                self.inventory.take_for_all(product, &takes, at).await
            };
            match taken {
                Ok(Some(snapshot)) => {
                    for pending in fits {
                        self.answer_take(product, pending, Ok(Some(snapshot.clone())))
                            .await;
                    }
                    for pending in refused {
                        self.answer_take(product, pending, Ok(None)).await;
                    }
                    return;
                }
                Ok(None) if takes.is_empty() => {
                    for pending in refused {
                        self.answer_take(product, pending, Ok(None)).await;
                    }
                    return;
                }
                // The stock moved since it was read: split again, in arrival order.
                Ok(None) => {
                    batch = fits.into_iter().chain(refused).collect();
                    batch.sort_by_key(|pending| pending.arrival);
                }
                Err(err) => {
                    for pending in fits.into_iter().chain(refused) {
                        self.answer_take(product, pending, Err(err.clone())).await;
                    }
                    return;
                }
            }
        }
        for pending in batch {
            let taken = self
                .inventory
                .take(product, pending.qty, pending.order, at)
                .await;
            self.answer_take(product, pending, taken).await;
        }
    }

    /// Answers a take; one whose requester is gone gives its units back at once.
    async fn answer_take(&self, product: ObjectId, pending: PendingTake, answer: TakeResult) {
        let taken = matches!(answer, Ok(Some(_)));
        if pending.reply.send(answer).is_err()
            && taken
            && let Err(err) = self
                .inventory
                .give_back(product, pending.order, pending.qty)
                .await
        {
            tracing::warn!(error = %err, order_id = %pending.order, "give-back of an abandoned take failed; left to the recovery pass");
        }
    }

    async fn drain_inserts(self: Arc<Self>) {
        loop {
            let batch: Vec<PendingInsert> = {
                let mut inserts = lock(&self.inserts);
                let Some(waiting) = inserts.as_mut() else {
                    return;
                };
                if waiting.is_empty() {
                    *inserts = None;
                    return;
                }
                let n = waiting.len().min(MAX_INSERTS);
                waiting.drain(..n).collect()
            };
            // An order whose request was cut off by its deadline (and answered 503) is not
            // stored: its takes are holds the recovery pass gives back.
            let batch: Vec<PendingInsert> = batch
                .into_iter()
                .filter(|pending| !pending.reply.is_closed())
                .collect();
            if batch.is_empty() {
                continue;
            }
            let (orders, replies): (Vec<OrderDoc>, Vec<_>) = batch
                .into_iter()
                .map(|pending| (pending.order, pending.reply))
                .unzip();
            metrics::histogram!("order_insert_batch_size").record(orders.len() as f64);
            match self.orders.insert_all(&orders).await {
                Ok(outcomes) => {
                    for (reply, outcome) in replies.into_iter().zip(outcomes) {
                        let _ = reply.send(Ok(outcome));
                    }
                }
                Err(err) => {
                    for reply in replies {
                        let _ = reply.send(Err(err.clone()));
                    }
                }
            }
        }
    }
}

/// The error of a request whose combined write was lost with its task (a panic).
fn gone() -> Error {
    Error::custom("the combined write's task stopped before answering")
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Each change under the lock is one push or drain: a panic cannot leave it half done.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
