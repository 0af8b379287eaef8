//! Pulls the holds of stored orders off their products, in batches and off the request path.
//!
//! Once an order is stored its holds are only bookkeeping, so a request does not wait for them
//! to go. A background task gathers releases for a few milliseconds and pulls them with one
//! `update_many` (`$pull` with `$in`): a hot product sees one extra write per batch instead of one
//! per order, which matters because writes to one document are serialized. A batch lost in a
//! crash is left to the recovery pass. The engine starts it and holds its only handles.

use std::{collections::BTreeSet, time::Duration};

use common_platform::server::Shutdown;
use mongodb::bson::oid::ObjectId;
use tokio::sync::{mpsc, oneshot};

use crate::store::Inventory;

/// The most releases one batch takes.
const MAX_BATCH: usize = 1024;
/// How long a batch gathers after its first release.
const BATCH_WINDOW: Duration = Duration::from_millis(10);
/// Releases queued beyond this make requests wait for room (back-pressure), rather than grow
/// the queue or add writes to a hot product.
const QUEUE_CAPACITY: usize = 16 * 1024;

enum Message {
    Release {
        order: ObjectId,
        products: Vec<ObjectId>,
    },
    Flush(oneshot::Sender<()>),
}

/// Queues hold releases for the background task. Cheap to clone.
#[derive(Clone)]
pub struct HoldReleaser {
    queue: mpsc::Sender<Message>,
}

impl HoldReleaser {
    /// Starts the background task; it ends when every handle is dropped, after writing what was
    /// queued. `guard` is kept until then so the process waits for it at shutdown.
    pub fn spawn(inventory: Inventory, guard: Shutdown) -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(run(receiver, inventory, guard));
        Self { queue }
    }

    /// Queues the release of `order`'s holds on `products`, waiting if the queue is full.
    pub async fn release(&self, order: ObjectId, products: Vec<ObjectId>) {
        if self
            .queue
            .send(Message::Release { order, products })
            .await
            .is_err()
        {
            // The task has stopped (shutting down): the recovery pass pulls these holds.
            tracing::warn!(%order, "hold release not queued; left to the recovery pass");
        }
    }

    /// Waits until every release queued before this call has been written.
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.queue.send(Message::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }
}

async fn run(mut receiver: mpsc::Receiver<Message>, inventory: Inventory, _guard: Shutdown) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        gather(&mut receiver, &mut batch).await;
        let mut orders = Vec::new();
        let mut products = BTreeSet::new();
        let mut flushes = Vec::new();
        for message in batch.drain(..) {
            match message {
                Message::Release {
                    order,
                    products: touched,
                } => {
                    orders.push(order);
                    products.extend(touched);
                }
                Message::Flush(done) => flushes.push(done),
            }
        }
        if !orders.is_empty() {
            let products: Vec<ObjectId> = products.into_iter().collect();
            if let Err(err) = inventory.release_holds(&products, &orders).await {
                tracing::warn!(error = %err, orders = orders.len(), "hold release failed; left to the recovery pass");
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// Adds releases arriving within [`BATCH_WINDOW`] to `batch`, unless a flush is waiting.
async fn gather(receiver: &mut mpsc::Receiver<Message>, batch: &mut Vec<Message>) {
    let deadline = tokio::time::Instant::now() + BATCH_WINDOW;
    let mut seen = 0;
    while batch.len() < MAX_BATCH {
        if batch[seen..].iter().any(|m| matches!(m, Message::Flush(_))) {
            return;
        }
        seen = batch.len();
        let room = MAX_BATCH - batch.len();
        match tokio::time::timeout_at(deadline, receiver.recv_many(batch, room)).await {
            Ok(received) if received > 0 => {}
            _ => return,
        }
    }
}
