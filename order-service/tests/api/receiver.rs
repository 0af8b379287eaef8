//! Real HTTP receivers of webhooks on loopback, which record what arrives and answer as a test
//! tells them: with a status, failing the first attempts, hanging, redirecting, with a huge body,
//! holding the answer until released, or closing the connection without one. Signatures are
//! checked with the `standardwebhooks` crate, not by the code under test.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, header::LOCATION},
    response::{IntoResponse, Response},
};
use serde_json::Value;
use tokio::sync::Notify;

/// How a receiver answers.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// With this status.
    Answer(u16),
    /// 500 to the first `n` requests, then 200.
    FailFirst(usize),
    /// Never (the request hangs).
    Hang,
    /// 302 to `Location`.
    Redirect(String),
    /// 200 with a 10 MB body.
    Huge,
    /// 200, once [`Receiver::release`] is called.
    Hold,
}

/// One request that arrived.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

impl Received {
    /// The `webhook-id` header.
    pub fn id(&self) -> String {
        self.headers["webhook-id"].to_str().unwrap().to_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// Whether the `standardwebhooks` crate accepts its signature with `secret`.
    pub fn verifies_with(&self, secret: &str) -> bool {
        standardwebhooks::Webhook::new(secret)
            .unwrap()
            .verify(&self.body, &self.headers)
            .is_ok()
    }
}

struct Shared {
    behaviour: Mutex<Behaviour>,
    received: Mutex<Vec<Received>>,
    arrived: Notify,
    released: Notify,
}

/// A receiver listening on a loopback port.
pub struct Receiver {
    pub url: String,
    shared: Arc<Shared>,
}

impl Receiver {
    /// Starts a receiver that answers as `behaviour` says.
    pub async fn start(behaviour: Behaviour) -> Self {
        let shared = Arc::new(Shared {
            behaviour: Mutex::new(behaviour),
            received: Mutex::default(),
            arrived: Notify::new(),
            released: Notify::new(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let app = Router::new()
            .fallback(receive)
            .with_state(Arc::clone(&shared));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url: format!("http://{address}/hook"),
            shared,
        }
    }

    /// Starts a listener that accepts each connection, reads a little and closes it without
    /// answering; returns its URL and how many connections it took.
    pub async fn closing() -> (String, Arc<Mutex<usize>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address: SocketAddr = listener.local_addr().unwrap();
        let count = Arc::new(Mutex::new(0));
        let counted = Arc::clone(&count);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                *counted.lock().unwrap() += 1;
                let mut buffer = [0u8; 1024];
                let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut buffer).await;
                drop(socket);
            }
        });
        (format!("http://{address}/hook"), count)
    }

    /// Answers from now on as `behaviour` says.
    pub fn set(&self, behaviour: Behaviour) {
        *self.shared.behaviour.lock().unwrap() = behaviour;
    }

    /// Lets held requests answer.
    pub fn release(&self) {
        self.shared.released.notify_waiters();
    }

    /// Everything that arrived so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Waits up to `limit` until `count` requests arrived; returns them all.
    pub async fn wait_for(&self, count: usize, limit: Duration) -> Vec<Received> {
        let deadline = Instant::now() + limit;
        loop {
            let arrived = self.shared.arrived.notified();
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{count} requests expected within {limit:?}, {} arrived",
                received.len()
            );
            let _ = tokio::time::timeout(left, arrived).await;
        }
    }
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let behaviour = shared.behaviour.lock().unwrap().clone();
    let released = shared.released.notified();
    let seen = {
        let mut received = shared.received.lock().unwrap();
        received.push(Received {
            headers,
            body,
            at: Instant::now(),
        });
        received.len()
    };
    shared.arrived.notify_waiters();
    match behaviour {
        Behaviour::Answer(status) => StatusCode::from_u16(status).unwrap().into_response(),
        Behaviour::FailFirst(n) if seen <= n => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Behaviour::FailFirst(_) => StatusCode::OK.into_response(),
        Behaviour::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::OK.into_response()
        }
        Behaviour::Redirect(to) => (StatusCode::FOUND, [(LOCATION, to)]).into_response(),
        Behaviour::Huge => (StatusCode::OK, vec![b'x'; 10 * 1024 * 1024]).into_response(),
        Behaviour::Hold => {
            released.await;
            StatusCode::OK.into_response()
        }
    }
}
