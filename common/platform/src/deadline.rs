//! How a request behaves when the database is slow or gone: a deadline for its database work,
//! and a gate that answers at once while the database is known to be unreachable.
//!
//! The contract promises 503 `DB_UNAVAILABLE` within 2 s of a request's arrival during an outage,
//! however many requests are in flight. The driver's timeouts bound one operation each (server
//! selection gives up after 1 s), so a request of several steps could wait that long per step.
//! [`guard`] bounds the whole request instead:
//!
//! - **A deadline per request** ([`DB_BUDGET`] from when its handler starts): past it the
//!   request is answered 503 and its work dropped. Waits that are not database work (a body still
//!   being uploaded, a slot for a bcrypt hash) stop the clock (the [`Budget`] of
//!   `common_api::budget`), so a slow client gets its own answer (408) and a busy hasher its own
//!   (503 `OVERLOADED`). Work that runs on a task of its own reads what is left and ends itself
//!   in time.
//! - **A gate**: the first request that fails because the driver cannot reach the database
//!   closes it; until a `ping` succeeds again (tried every [`PROBE_INTERVAL`]), requests are
//!   answered 503 at once, without waiting for server selection. A deadline that merely expires
//!   does not close it: a slow database is not an unreachable one.
//!
//! Nothing is half-written by a request cut off: every multi-step write in the services is
//! resumable by design (the order service's recovery pass settles abandoned orders and cancels).

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use common_api::{
    budget::Budget,
    error::{ApiError, Unreachable},
};
use mongodb::Database;

use crate::db;

/// How long a request's database work may take before it is answered 503: well under the
/// contract's 2 s, leaving room for accepting the connection, reading the headers and writing the
/// answer on a busy machine.
pub const DB_BUDGET: Duration = Duration::from_millis(1500);

/// How often a closed gate pings the database.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(250);

/// Open while the database is reachable as far as the service knows. Cheap to clone.
#[derive(Clone, Debug)]
pub struct DbGate {
    db: Database,
    closed: Arc<AtomicBool>,
}

impl DbGate {
    /// An open gate for `db`.
    pub fn new(db: Database) -> Self {
        Self {
            db,
            closed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether requests are being refused at once.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Pings the database (as `/health/db` does) and sets the gate by the answer: open on a
    /// reply, closed on a failure.
    pub async fn check(&self) -> Result<Duration, mongodb::error::Error> {
        let pinged = db::ping(&self.db).await;
        match &pinged {
            Ok(_) => self.open(),
            Err(_) => self.close(),
        }
        pinged
    }

    /// The database name.
    pub fn db_name(&self) -> &str {
        self.db.name()
    }

    fn open(&self) {
        if self.closed.swap(false, Ordering::AcqRel) {
            tracing::info!("database reachable again");
        }
    }

    /// Refuses requests until a ping succeeds. Only the call that closes the gate starts the
    /// prober, so there is one per outage.
    fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::warn!("database unreachable; answering 503 until a ping succeeds");
        let gate = self.clone();
        tokio::spawn(async move {
            // Ends once the gate is open, whether this ping or another check opened it.
            while gate.is_closed() {
                tokio::time::sleep(PROBE_INTERVAL).await;
                if db::ping(&gate.db).await.is_ok() {
                    gate.open();
                }
            }
        });
    }
}

/// The middleware: refuses at once while `gate` is closed, runs the request under its deadline,
/// and closes the gate when a response says the database could not be reached.
pub async fn guard(State(gate): State<DbGate>, request: Request, next: Next) -> Response {
    if gate.is_closed() {
        return unavailable("the database is known to be unreachable");
    }
    let budget = Budget::start(DB_BUDGET);
    tokio::select! {
        response = budget.scope(next.run(request)) => {
            if response.extensions().get::<Unreachable>().is_some() {
                gate.close();
            }
            response
        }
        () = budget.expired() => unavailable("the request's database work exceeded its deadline"),
    }
}

fn unavailable(cause: &'static str) -> Response {
    ApiError::DbUnavailable(anyhow::anyhow!(cause)).into_response()
}

#[cfg(test)]
mod tests {
    use axum::{
        Router,
        body::Body,
        http::StatusCode,
        middleware,
        routing::{get, post},
    };
    use common_api::budget::{paused, remaining};
    use tokio::time::Instant;
    use tower::ServiceExt;

    use super::*;

    /// A gate over a database nobody listens on; it stays open unless a response closes it.
    async fn gate() -> DbGate {
        let uri = "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=100&connectTimeoutMS=100";
        let options = mongodb::options::ClientOptions::parse(uri).await.unwrap();
        DbGate::new(
            mongodb::Client::with_options(options)
                .unwrap()
                .database("none"),
        )
    }

    fn app(gate: DbGate) -> Router {
        Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(DB_BUDGET * 2).await;
                    "done"
                }),
            )
            .route(
                "/paused",
                get(|| async {
                    paused(tokio::time::sleep(DB_BUDGET * 2)).await;
                    tokio::time::sleep(DB_BUDGET / 2).await;
                    "done"
                }),
            )
            .route(
                "/paused-too-late",
                get(|| async {
                    tokio::time::sleep(DB_BUDGET / 2).await;
                    paused(tokio::time::sleep(DB_BUDGET * 2)).await;
                    tokio::time::sleep(DB_BUDGET / 2 + Duration::from_millis(100)).await;
                    "done"
                }),
            )
            .route(
                "/remaining",
                get(|| async { format!("{:?}", remaining().map(|left| left <= DB_BUDGET)) }),
            )
            .route(
                "/unreachable",
                post(|| async {
                    let mut response =
                        ApiError::DbUnavailable(anyhow::anyhow!("test")).into_response();
                    response.extensions_mut().insert(Unreachable);
                    response
                }),
            )
            .layer(middleware::from_fn_with_state(gate, guard))
    }

    async fn call(app: &Router, method: &str, uri: &str) -> (StatusCode, String) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn work_past_the_deadline_is_answered_503_at_the_deadline() {
        let app = app(gate().await);
        let started = Instant::now();

        let (status, body) = call(&app, "GET", "/slow").await;

        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("DB_UNAVAILABLE"), "{body}");
        assert_eq!(started.elapsed(), DB_BUDGET);
    }

    #[tokio::test(start_paused = true)]
    async fn paused_waits_do_not_count_against_the_deadline() {
        let app = app(gate().await);

        assert_eq!(call(&app, "GET", "/paused").await.0, StatusCode::OK);
    }

    #[tokio::test(start_paused = true)]
    async fn the_time_before_and_after_a_pause_adds_up() {
        let app = app(gate().await);
        let started = Instant::now();

        let (status, _) = call(&app, "GET", "/paused-too-late").await;

        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(started.elapsed(), DB_BUDGET * 3);
    }

    #[tokio::test]
    async fn remaining_is_known_inside_a_request_only() {
        let app = app(gate().await);

        assert_eq!(call(&app, "GET", "/remaining").await.1, "Some(true)");
        assert_eq!(remaining(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_that_expires_leaves_the_gate_open() {
        let gate = gate().await;
        let app = app(gate.clone());

        call(&app, "GET", "/slow").await;

        assert!(!gate.is_closed());
    }

    #[tokio::test]
    async fn an_unreachable_database_closes_the_gate_and_later_requests_are_refused_at_once() {
        let gate = gate().await;
        let app = app(gate.clone());

        let (status, _) = call(&app, "POST", "/unreachable").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(gate.is_closed());

        let started = std::time::Instant::now();
        let (status, body) = call(&app, "GET", "/remaining").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("DB_UNAVAILABLE"), "{body}");
        assert!(started.elapsed() < Duration::from_millis(50));
        // Nobody listens on the database's port: the prober keeps it closed.
        tokio::time::sleep(PROBE_INTERVAL * 3).await;
        assert!(gate.is_closed());
    }
}
