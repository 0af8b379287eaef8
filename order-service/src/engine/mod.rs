//! The order engine: the one type that places, cancels and recovers orders.
//!
//! [`OrderEngine`] owns exactly what those flows need: the orders, the stock side of orders on
//! products, idempotency claims, the background hold releaser and the timing settings, whose
//! invariants its constructor checks ([`OrderSettings::check`]). Handlers call its methods; nothing
//! else in this service takes or gives back stock. Every step is one atomic write to one document,
//! and the documents carry markers of the work in flight, so whatever a crash or a database error
//! interrupts is finished or undone later, exactly once:
//!
//! - [`placing`]: take each line with a hold (`stock -= q`, push `{order, qty, at}`) → insert the
//!   order → release the holds in the background; a refused order gives back what it took;
//! - [`cancelling`]: `PLACED → CANCELLING`, return each line once under a return marker
//!   (`stock += q`, push `{order, at}`), `→ CANCELLED`;
//! - [`recovery`]: after the grace period, settle what stopped requests left (holds, cancels,
//!   idempotency keys) through the order id's uniqueness (`FAILED` tombstones), and clear old
//!   return markers.
//!
//! A request's work runs on a task of its own, cut off after the step timeout, which is what lets
//! the recovery pass take anything older than the grace period as abandoned. Each step's module
//! draws its part of the protocol.

pub mod cancelling;
pub mod placing;
pub mod recovery;
mod releaser;
pub mod request;
mod settings;

use std::{future::Future, sync::Arc, time::Duration};

use common_api::budget;
use common_api::{ApiError, ApiResult};
use common_platform::server::Shutdown;

pub use settings::{InvalidSettings, MIN_GRACE_IN_STEPS, OrderSettings};

use crate::store::{Claims, Inventory, OrderStore};
use releaser::HoldReleaser;

/// How much earlier than the request's database deadline detached work is cut off, so that its
/// own outcome (done, or 503) reaches the handler before the deadline answers for it.
const DEADLINE_MARGIN: Duration = Duration::from_millis(50);

/// Places, cancels and recovers orders. Cheap to clone.
#[derive(Clone)]
pub struct OrderEngine {
    orders: OrderStore,
    inventory: Inventory,
    claims: Claims,
    releaser: HoldReleaser,
    settings: Arc<OrderSettings>,
}

impl OrderEngine {
    /// The engine over these stores, with its hold releaser started (`shutdown` lets it finish
    /// its last batch). Refuses settings that break the timing invariants, before starting
    /// anything.
    pub fn new(
        orders: OrderStore,
        inventory: Inventory,
        claims: Claims,
        settings: OrderSettings,
        shutdown: Shutdown,
    ) -> Result<Self, InvalidSettings> {
        settings.check()?;
        Ok(Self {
            releaser: HoldReleaser::spawn(inventory.clone(), shutdown),
            orders,
            inventory,
            claims,
            settings: Arc::new(settings),
        })
    }

    /// The timings, as checked by [`OrderEngine::new`].
    pub fn settings(&self) -> &OrderSettings {
        &self.settings
    }

    /// Waits until the holds of every order stored so far have been released (or their release
    /// failed and was left to the recovery pass).
    pub async fn flush_releases(&self) {
        self.releaser.flush().await;
    }

    /// Runs `work` on a task of its own, so that it finishes even if the client goes away: a
    /// dropped request would otherwise leave stock held, or a cancel half done, until the recovery
    /// pass. Cut off after the step timeout, which the recovery pass's grace period relies on, or
    /// just before the request's database deadline if that comes first: the work then ends
    /// before the request is answered 503, and an order is never placed after its client was
    /// told it failed (what the cut leaves, the recovery pass settles).
    async fn run_detached<T, F, Fut>(&self, work: F) -> ApiResult<T>
    where
        F: FnOnce(Self) -> Fut,
        Fut: Future<Output = ApiResult<T>> + Send + 'static,
        T: Send + 'static,
    {
        let limit = match budget::remaining() {
            Some(left) => self
                .settings
                .step_timeout
                .min(left.saturating_sub(DEADLINE_MARGIN)),
            None => self.settings.step_timeout,
        };
        let work = budget::carried(tokio::time::timeout(limit, work(self.clone())));
        match tokio::spawn(work).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ApiError::DbUnavailable(anyhow::anyhow!(
                "order work exceeded {limit:?}"
            ))),
            Err(failed) => Err(ApiError::internal(failed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mongodb::Client;

    use super::*;

    #[tokio::test]
    async fn the_engine_refuses_settings_that_break_its_invariants() {
        // The driver connects lazily: nothing here reaches a server.
        let client = Client::with_uri_str("mongodb://127.0.0.1:1").await.unwrap();
        let db = client.database("order_engine_unit");
        let build = |settings| {
            OrderEngine::new(
                OrderStore::new(&db),
                Inventory::new(&db),
                Claims::new(&db),
                settings,
                Shutdown::never(),
            )
        };
        let defaults = OrderSettings::new(Duration::from_secs(10));
        let grace_of_one_step = OrderSettings {
            grace: defaults.step_timeout,
            ..defaults.clone()
        };

        let valid = build(defaults);
        let invalid = build(grace_of_one_step);

        assert!(valid.is_ok());
        assert!(matches!(
            invalid,
            Err(InvalidSettings::GraceTooShort { .. })
        ));
    }
}
