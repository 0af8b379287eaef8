//! The order engine: the one type that places, cancels and recovers orders, and reads them and
//! moves them along for the routes.
//!
//! [`OrderEngine`] owns exactly what those flows need: the orders, the stock side of orders on
//! products, idempotency claims, the background hold releaser and the timing settings, whose
//! invariants its constructor checks ([`OrderSettings::check`]). Handlers call its methods and
//! turn its typed outcomes ([`errors`]) into answers; nothing else in this service takes or gives
//! back stock.
//!
//! Every step is one atomic write to one document, and the documents carry markers of the work
//! in flight, so whatever a crash or a database error interrupts is finished or undone later,
//! exactly once. Each protocol is drawn and explained in its own module:
//!
//! - [`placing`]: an order takes every line's stock or none, and never oversells;
//! - [`cancelling`]: a cancelled order's lines go back to stock exactly once;
//! - [`checkout`]: a pending order holds its stock until it is paid, its payment fails or its
//!   deadline passes; a payment after expiry takes the stock again or leaves a refund due;
//! - [`recovery`]: after the grace period, what stopped requests left is settled.
//!
//! Reading orders ([`reading`]) and moving them along `PLACED → SHIPPED → DELIVERED`
//! ([`shipping`]) are single reads and single conditional updates, with no protocol of their own.
//!
//! A request's work runs on a task of its own, cut off after the step timeout
//! ([`Interrupted`]), which is what lets the recovery pass take anything older than the grace
//! period as abandoned.

pub mod cancelling;
pub mod checkout;
pub mod combining;
pub mod errors;
pub mod placing;
pub mod reading;
pub mod recovery;
mod releaser;
pub mod request;
pub mod shipping;

use std::{future::Future, sync::Arc, time::Duration};

use common_api::{budget, money::Currency};
use common_platform::server::Shutdown;

pub use checkout::PaymentOutcome;
pub use errors::{CancelError, Interrupted, ListError, PaymentError, PlaceError, TransitionError};

use crate::{
    settings::{InvalidSettings, OrderSettings},
    store::{Claims, Inventory, OrderStore},
};
use releaser::HoldReleaser;

/// How much earlier than the request's database deadline detached work is cut off, so that its
/// own outcome (done, or [`Interrupted::TimedOut`]) reaches the handler before the deadline
/// answers for it.
const DEADLINE_MARGIN: Duration = Duration::from_millis(50);

/// Places, cancels, recovers, reads and moves along orders. Cheap to clone.
#[derive(Clone)]
pub struct OrderEngine {
    currency: Currency,
    orders: OrderStore,
    inventory: Inventory,
    claims: Claims,
    releaser: HoldReleaser,
    combiner: combining::Combiner,
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
        currency: Currency,
        settings: OrderSettings,
        shutdown: Shutdown,
    ) -> Result<Self, InvalidSettings> {
        settings.check()?;
        Ok(Self {
            currency,
            releaser: HoldReleaser::spawn(inventory.clone(), shutdown),
            combiner: combining::Combiner::new(inventory.clone(), orders.clone()),
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
    async fn run_detached<T, E, F, Fut>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(Self) -> Fut,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: From<Interrupted> + Send + 'static,
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
            Ok(Err(_)) => Err(Interrupted::TimedOut(limit).into()),
            Err(failed) => Err(Interrupted::Failed(failed).into()),
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
                Currency::USD,
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
