//! The clock of a request's database work, which parts of the request that are not database work
//! stop.
//!
//! The platform's deadline layer (`common_platform::deadline`) starts a [`Budget`] for each
//! request and answers 503 when it runs out. Waits that are not database work (a body still being
//! uploaded, a slot for a bcrypt hash) run inside [`paused`], so a slow client gets its own answer
//! (408) and a busy hasher its own (503 `OVERLOADED`). Work moved to a task of its own reads what
//! is left with [`remaining`], under [`carried`]. Outside a request, all three just run the work.

use std::{future::Future, sync::Arc, time::Duration};

use tokio::{sync::watch, time::Instant};

tokio::task_local! {
    static CURRENT: Deadline;
}

/// The deadline of the request being served on this task.
#[derive(Clone, Debug)]
struct Deadline(Arc<watch::Sender<Clock>>);

#[derive(Clone, Copy, Debug)]
enum Clock {
    /// Expires at this instant.
    Running(Instant),
    /// Stopped with this much left.
    Paused(Duration),
}

impl Deadline {
    fn starting_now(budget: Duration) -> Self {
        Self(Arc::new(watch::Sender::new(Clock::Running(
            Instant::now() + budget,
        ))))
    }

    /// Stops the clock, unless it is stopped already; the guard starts it again when dropped.
    fn pause(&self) -> PauseGuard {
        let mut paused_here = false;
        self.0.send_if_modified(|clock| match *clock {
            Clock::Running(until) => {
                *clock = Clock::Paused(until.saturating_duration_since(Instant::now()));
                paused_here = true;
                true
            }
            Clock::Paused(_) => false,
        });
        PauseGuard(paused_here.then(|| self.clone()))
    }

    fn remaining(&self) -> Duration {
        match *self.0.borrow() {
            Clock::Running(until) => until.saturating_duration_since(Instant::now()),
            Clock::Paused(left) => left,
        }
    }
}

/// Starts the clock again when dropped, also when the paused work is dropped half-way.
struct PauseGuard(Option<Deadline>);

impl Drop for PauseGuard {
    fn drop(&mut self) {
        if let Some(deadline) = self.0.take() {
            deadline.0.send_modify(|clock| {
                if let Clock::Paused(left) = *clock {
                    *clock = Clock::Running(Instant::now() + left);
                }
            });
        }
    }
}

/// Runs `work` with the current request's deadline stopped: for waits that are not database
/// work. Outside a request (a background task, a test calling a function directly) it just runs
/// `work`.
pub async fn paused<F: Future>(work: F) -> F::Output {
    let _guard = CURRENT.try_with(Deadline::pause).ok();
    work.await
}

/// What is left of the current request's deadline, or `None` outside a request. Work moved to a
/// task of its own (which the deadline cannot drop) bounds itself with it.
pub fn remaining() -> Option<Duration> {
    CURRENT.try_with(Deadline::remaining).ok()
}

/// `work` under the current request's deadline, for a task of its own (which a task-local does
/// not follow): [`remaining`] inside it reads the request's clock.
pub fn carried<F: Future>(work: F) -> impl Future<Output = F::Output> {
    let current = CURRENT.try_with(Deadline::clone).ok();
    async move {
        match current {
            Some(deadline) => CURRENT.scope(deadline, work).await,
            None => work.await,
        }
    }
}

/// The database budget of one request, started by the deadline layer.
#[derive(Debug)]
pub struct Budget(Deadline);

impl Budget {
    /// A budget of `budget` from now, its clock running.
    pub fn start(budget: Duration) -> Self {
        Self(Deadline::starting_now(budget))
    }

    /// `work` with this budget as the current request's: [`paused`] and [`remaining`] inside it
    /// act on this clock.
    pub fn scope<F: Future>(&self, work: F) -> impl Future<Output = F::Output> {
        CURRENT.scope(self.0.clone(), work)
    }

    /// Resolves once the budget is spent: its clock has run out, not counting the time it was
    /// paused.
    pub async fn expired(&self) {
        let mut clock = (self.0).0.subscribe();
        loop {
            let expiry = match *clock.borrow_and_update() {
                Clock::Running(until) => Some(until),
                Clock::Paused(_) => None,
            };
            let run_out = async {
                match expiry {
                    Some(until) => tokio::time::sleep_until(until).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = run_out => return,
                changed = clock.changed() => {
                    // The sender lives in `self`, so this never fails; if it did, the clock could
                    // no longer change and would never run out.
                    if changed.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
            }
        }
    }
}
