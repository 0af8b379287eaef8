//! Faults with the service running as a process of its own, under load: the database stopped and
//! started again, and a replica killed with SIGKILL mid-order. Afterwards the recovery passes of
//! the running replicas (with a short grace period) must leave the stock invariant whole.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use axum::http::{Method, StatusCode};
use common_testing::{Mongod, ServiceProcess, TestDb, http};
use mongodb::bson::oid::ObjectId;
use serde_json::json;

use crate::helpers::{Caller, TestApp, spawn_app_on};

const BINARY: &str = env!("CARGO_BIN_EXE_order-service");

/// A request timeout of 2 s and a grace period of 6 s (three of them, the least the engine
/// accepts), so the recovery passes settle what a fault left within seconds.
const QUICK_RECOVERY: &[(&str, &str)] = &[
    ("REQUEST_TIMEOUT_SECS", "2"),
    ("ORDER_RECOVERY_GRACE_SECS", "6"),
];

/// What a client saw of one request.
#[derive(Debug)]
struct Seen {
    /// The replica it went to.
    replica: usize,
    /// `order` or `cancel`.
    kind: &'static str,
    started: Instant,
    took: Duration,
    /// The status and `error_code`, or the socket error.
    outcome: Result<(StatusCode, String), String>,
}

/// A small deterministic generator, so each client's choices differ but every run repeats them.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// One client until `stop`: two-line orders of random products, each sent to the next replica in
/// turn, and a cancel of every third order placed, sent to another replica.
async fn client(
    seed: u64,
    replicas: Vec<SocketAddr>,
    caller: Caller,
    products: Vec<ObjectId>,
    stop: Arc<AtomicBool>,
) -> Vec<Seen> {
    let mut dice = Dice(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let bearer = format!("Bearer {}", caller.token);
    let headers = [("Authorization", bearer.as_str())];
    let mut seen = Vec::new();
    let mut turn = seed as usize;
    while !stop.load(Ordering::Relaxed) {
        turn += 1;
        let first = dice.below(products.len());
        let second = (first + 1 + dice.below(products.len() - 1)) % products.len();
        let body = json!({"items": [
            {"product_id": products[first].to_hex(), "quantity": 1 + dice.below(3)},
            {"product_id": products[second].to_hex(), "quantity": 1 + dice.below(3)},
        ]});
        let replica = turn % replicas.len();
        let started = Instant::now();
        let answer = http(
            replicas[replica],
            Method::POST,
            "/orders",
            &headers,
            Some(&body),
        )
        .await;
        let placed = answer
            .as_ref()
            .ok()
            .filter(|answer| answer.status == StatusCode::CREATED)
            .map(|answer| answer.json()["id"].as_str().unwrap().to_owned());
        seen.push(Seen {
            replica,
            kind: "order",
            started,
            took: started.elapsed(),
            outcome: outcome(answer),
        });
        if let Some(id) = placed.filter(|_| dice.below(3) == 0) {
            let replica = (turn + 1) % replicas.len();
            let started = Instant::now();
            let answer = http(
                replicas[replica],
                Method::POST,
                &format!("/orders/{id}/cancel"),
                &headers,
                None,
            )
            .await;
            seen.push(Seen {
                replica,
                kind: "cancel",
                started,
                took: started.elapsed(),
                outcome: outcome(answer),
            });
        }
    }
    seen
}

fn outcome(
    answer: std::io::Result<common_testing::TestResponse>,
) -> Result<(StatusCode, String), String> {
    match answer {
        Ok(answer) => {
            let code = if answer.status.is_success() {
                String::new()
            } else {
                answer.json()["error_code"]
                    .as_str()
                    .unwrap_or("<no error body>")
                    .to_owned()
            };
            Ok((answer.status, code))
        }
        Err(err) => Err(err.to_string()),
    }
}

/// `clients` clients of `replicas` until `stop`; the products each line picks from.
fn start_clients(
    app: &TestApp,
    clients: u64,
    replicas: &[SocketAddr],
    products: &[ObjectId],
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Vec<Seen>>> {
    (0..clients)
        .map(|seed| {
            tokio::spawn(client(
                seed,
                replicas.to_vec(),
                app.caller(common_api::auth::Role::Buyer),
                products.to_vec(),
                Arc::clone(stop),
            ))
        })
        .collect()
}

async fn gather(clients: Vec<tokio::task::JoinHandle<Vec<Seen>>>) -> Vec<Seen> {
    let mut all = Vec::new();
    for client in clients {
        all.extend(client.await.unwrap());
    }
    all
}

/// Prints what the clients saw, for the test log: counts by outcome and latency percentiles.
fn report(name: &str, seen: &[Seen]) {
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for s in seen {
        let key = match &s.outcome {
            Ok((status, code)) => format!("{} {} {code}", s.kind, status.as_u16()),
            Err(_) => format!("{} socket error (replica {})", s.kind, s.replica),
        };
        *outcomes.entry(key).or_default() += 1;
    }
    let mut took: Vec<Duration> = seen.iter().map(|s| s.took).collect();
    took.sort();
    let at = |q: f64| took[((took.len() - 1) as f64 * q) as usize];
    println!(
        "{name}: {} requests; p50 {:?}, p99 {:?}, max {:?}; {outcomes:?}",
        seen.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordering_through_a_database_outage_answers_within_2_s_and_loses_no_stock() {
    let mut mongod = Mongod::start_replica_set().await;
    let app = spawn_app_on(TestDb::on_server(&mongod.uri(), "order_service", &[]).await).await;
    let mut products = Vec::new();
    for i in 0..4 {
        products.push(app.product(&format!("plenty {i}"), "2.5", 1_000_000).await);
    }
    products.push(app.product("scarce", "9.0", 30).await);
    let service = ServiceProcess::start(BINARY, &app.db.config, QUICK_RECOVERY).await;
    let stop = Arc::new(AtomicBool::new(false));
    let clients = start_clients(&app, 24, &[service.address], &products, &stop);

    tokio::time::sleep(Duration::from_secs(2)).await;
    mongod.stop();
    let down = Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    mongod.restart().await;
    let restarted = Instant::now();
    // Until the service has placed orders again for a while, or gives up after 30 s.
    let back = loop {
        let answer = http(service.address, Method::GET, "/health/db", &[], None).await;
        if answer.is_ok_and(|answer| answer.status == StatusCode::OK) {
            break Instant::now();
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(30),
            "the database did not come back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let seen = gather(clients).await;
    report("outage", &seen);

    let socket_errors: Vec<&Seen> = seen.iter().filter(|s| s.outcome.is_err()).collect();
    assert!(socket_errors.is_empty(), "{socket_errors:?}");
    let slow: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.took >= Duration::from_secs(2))
        .collect();
    assert!(slow.is_empty(), "answered after 2 s or more: {slow:?}");
    let unexpected: Vec<&Seen> = seen
        .iter()
        .filter(|s| {
            !matches!(
                s.outcome
                    .as_ref()
                    .map(|(status, code)| (status.as_u16(), code.as_str())),
                Ok((201 | 200, "") | (409, "INSUFFICIENT_STOCK") | (503, "DB_UNAVAILABLE"))
            )
        })
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:?}");
    let is = |s: &Seen, status: u16| {
        s.outcome
            .as_ref()
            .is_ok_and(|(st, _)| st.as_u16() == status)
    };
    assert!(
        seen.iter()
            .any(|s| s.started > down && s.started < restarted && is(s, 503)),
        "no request saw the outage"
    );
    assert!(
        seen.iter().any(|s| s.started > back && is(s, 201)),
        "the service did not place orders again by itself"
    );
    app.assert_stock_invariant_within(Duration::from_secs(40))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_order_again_and_again_loses_no_stock() {
    let app = spawn_app_on(TestDb::new("order_service").await).await;
    let mut products = Vec::new();
    for i in 0..6 {
        products.push(app.product(&format!("contended {i}"), "4.0", 300).await);
    }
    let mut killed = ServiceProcess::start(BINARY, &app.db.config, QUICK_RECOVERY).await;
    let survivor = ServiceProcess::start(BINARY, &app.db.config, QUICK_RECOVERY).await;
    let stop = Arc::new(AtomicBool::new(false));
    let clients = start_clients(
        &app,
        16,
        &[killed.address, survivor.address],
        &products,
        &stop,
    );

    let mut dice = Dice(0x5EED);
    let mut kills = 0;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(150 + 50 * dice.below(12) as u64)).await;
        killed.kill();
        kills += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
        killed.restart().await;
    }
    stop.store(true, Ordering::Relaxed);
    let seen = gather(clients).await;
    report(&format!("crash ({kills} kills)"), &seen);

    assert!(kills >= 5, "{kills} kills");
    let placed = seen
        .iter()
        .filter(|s| {
            s.kind == "order"
                && s.outcome
                    .as_ref()
                    .is_ok_and(|(st, _)| *st == StatusCode::CREATED)
        })
        .count();
    assert!(placed >= 50, "only {placed} orders placed");
    let cut = seen
        .iter()
        .filter(|s| s.replica == 0 && s.outcome.is_err())
        .count();
    assert!(cut > 0, "no request was cut by a kill");
    // The replica that was never killed answered every request within the contract.
    let survivor_unexpected: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.replica == 1)
        .filter(|s| {
            !matches!(
                s.outcome
                    .as_ref()
                    .map(|(status, code)| (status.as_u16(), code.as_str())),
                Ok((201 | 200, "") | (409, "INSUFFICIENT_STOCK"))
            )
        })
        .collect();
    assert!(survivor_unexpected.is_empty(), "{survivor_unexpected:?}");
    app.assert_stock_invariant_within(Duration::from_secs(40))
        .await;
}
