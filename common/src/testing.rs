//! Integration-test support (feature `testing`).
//!
//! - [`TestDb`]: a fresh, uniquely named database on the test MongoDB (`MONGO_URI`, which
//!   `scripts/test.sh` points at a throwaway server), dropped when the test ends, so tests run in
//!   parallel without seeing each other's data.
//! - [`TestClient`]: drives a service's `app()` in process with `tower::ServiceExt::oneshot`.
//! - [`TestApp`]: a service under test, its state if the tests need one, and its [`TestDb`].
//! - [`Caller`]: a user id and an access token for it, from [`TestDb::caller`].
//! - [`Mongod`]: a private `mongod` (binary from `MONGOD_BIN`), standalone or a single-node replica
//!   set, that a test may stop and restart.
//! - [`ServiceProcess`]: a service's own binary on a free port, which a test may kill with SIGKILL
//!   and start again, and [`http`], one request to it over a real connection.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    net::TcpListener as StdListener,
    ops::Deref,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::{Body, Bytes},
    http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header},
};
use mongodb::{Database, bson::oid::ObjectId};
use serde::Serialize;
use serde_json::Value;
use tower::ServiceExt;

use crate::{
    auth::{Role, TokenKeys},
    config::Config,
    db,
};

/// The `JWT_SECRET` of every test configuration.
pub const TEST_JWT_SECRET: &str = "test-only-secret-0123456789abcdef0123456789";

/// The MongoDB the tests use: `MONGO_URI`, or a local default.
pub fn test_mongo_uri() -> String {
    std::env::var("MONGO_URI").unwrap_or_else(|_| "mongodb://127.0.0.1:27017".into())
}

/// A configuration for tests: the given database, the test secret, the cheapest bcrypt cost, and
/// any `overrides` (pairs of variable name and value).
pub fn test_config(mongo_uri: &str, db_name: &str, overrides: &[(&str, &str)]) -> Config {
    Config::from_lookup(0, |name| {
        if let Some((_, value)) = overrides.iter().find(|(key, _)| *key == name) {
            return Some((*value).to_owned());
        }
        match name {
            "MONGO_URI" => Some(mongo_uri.to_owned()),
            "DB_NAME" => Some(db_name.to_owned()),
            "JWT_SECRET" => Some(TEST_JWT_SECRET.to_owned()),
            "BCRYPT_COST" => Some("4".to_owned()),
            _ => None,
        }
    })
    .expect("the test configuration is valid")
}

/// A database of its own for one test, dropped when the value is dropped.
pub struct TestDb {
    /// The configuration pointing at this database.
    pub config: Config,
    /// The database handle.
    pub db: Database,
}

impl TestDb {
    /// Creates `{service}_test_{ObjectId}` on the test MongoDB.
    pub async fn new(service: &str) -> Self {
        Self::with_overrides(service, &[]).await
    }

    /// Like [`TestDb::new`], with extra configuration variables.
    pub async fn with_overrides(service: &str, overrides: &[(&str, &str)]) -> Self {
        Self::on_server(&test_mongo_uri(), service, overrides).await
    }

    /// Like [`TestDb::with_overrides`], on the server at `uri` (such as a [`Mongod`]).
    pub async fn on_server(uri: &str, service: &str, overrides: &[(&str, &str)]) -> Self {
        let name = format!("{}_test_{}", service.replace('-', "_"), ObjectId::new());
        let config = test_config(uri, &name, overrides);
        let db = db::connect(&config, "tests")
            .await
            .expect("MONGO_URI parses");
        // A few tries: on a loaded machine the first connection can outlast one server selection.
        if let Err(err) = db::wait_until_reachable(&db, 4).await {
            panic!(
                "MongoDB is not reachable at MONGO_URI={uri}: {err}. \
                 Run the tests with scripts/test.sh, which starts one."
            );
        }
        Self { config, db }
    }

    /// How many documents of `collection` match `filter`.
    pub async fn count(&self, collection: &str, filter: mongodb::bson::Document) -> u64 {
        self.db
            .collection::<mongodb::bson::Document>(collection)
            .count_documents(filter)
            .await
            .expect("documents can be counted")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // The driver's client belongs to the test's runtime, which may already be shutting
        // down; a short-lived runtime of our own drops the database reliably.
        let uri = self.config.mongo_uri.expose().to_owned();
        let name = self.db.name().to_owned();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let client = mongodb::Client::with_uri_str(&uri).await.ok()?;
                client.database(&name).drop().await.ok()
            })
        })
        .join();
    }
}

impl TestDb {
    /// A new user with `role`, signed with the shared secret as the user service would; no
    /// account is stored, since the other services only read the token.
    pub fn caller(&self, role: Role) -> Caller {
        let id = ObjectId::new();
        Caller {
            id,
            token: access_token(&self.config, id, role),
        }
    }
}

/// A caller: a user id and an access token for it.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The user's id (the token's `sub`).
    pub id: ObjectId,
    /// The access token, for [`TestRequest::bearer`].
    pub token: String,
}

/// A service under test: the client that drives it, whatever state the tests look at (a service's
/// `AppState`, or `()`), and its database. Requests go straight to the client through `Deref`.
///
/// A service's tests add their own steps (register, create a product, …) with a trait
/// implemented for their `TestApp<…>`.
pub struct TestApp<S = ()> {
    /// Sends requests to the service.
    pub client: TestClient,
    /// The service's state, for tests that look behind the API.
    pub state: S,
    /// The database; declared last, so it is dropped after the service that uses it.
    pub db: TestDb,
}

impl TestApp {
    /// A service under test whose state the tests do not need.
    pub fn new(client: TestClient, db: TestDb) -> Self {
        Self::with_state(client, (), db)
    }
}

impl<S> TestApp<S> {
    /// A service under test with the state the tests look at.
    pub fn with_state(client: TestClient, state: S, db: TestDb) -> Self {
        Self { client, state, db }
    }

    /// A new user with `role` on this service's configuration; see [`TestDb::caller`].
    pub fn caller(&self, role: Role) -> Caller {
        self.db.caller(role)
    }
}

impl<S> Deref for TestApp<S> {
    type Target = TestClient;

    fn deref(&self) -> &TestClient {
        &self.client
    }
}

/// Issues an access token signed with the test secret.
pub fn access_token(config: &Config, user_id: ObjectId, role: Role) -> String {
    TokenKeys::new(&config.jwt_secret, config.access_token_ttl)
        .issue_access(user_id, role)
        .expect("a token can be issued")
        .token
}

/// Sends requests to a router in process.
#[derive(Clone)]
pub struct TestClient {
    router: Router,
}

impl TestClient {
    /// A client for `router`.
    pub fn new(router: Router) -> Self {
        Self { router }
    }

    /// Starts a request with any method.
    pub fn request(&self, method: Method, uri: &str) -> TestRequest {
        TestRequest {
            router: self.router.clone(),
            builder: Request::builder().method(method).uri(uri),
            body: Body::empty(),
        }
    }

    /// Starts a GET request.
    pub fn get(&self, uri: &str) -> TestRequest {
        self.request(Method::GET, uri)
    }

    /// Starts a POST request.
    pub fn post(&self, uri: &str) -> TestRequest {
        self.request(Method::POST, uri)
    }

    /// Starts a PATCH request.
    pub fn patch(&self, uri: &str) -> TestRequest {
        self.request(Method::PATCH, uri)
    }

    /// Starts a DELETE request.
    pub fn delete(&self, uri: &str) -> TestRequest {
        self.request(Method::DELETE, uri)
    }
}

/// A request being built; finish with [`TestRequest::send`].
pub struct TestRequest {
    router: Router,
    builder: axum::http::request::Builder,
    body: Body,
}

impl TestRequest {
    /// Adds a header.
    pub fn header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.builder = self.builder.header(name.as_ref(), value.as_ref());
        self
    }

    /// Adds `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", format!("Bearer {token}"))
    }

    /// Sends `value` as a JSON body.
    pub fn json(mut self, value: &impl Serialize) -> Self {
        self.builder = self
            .builder
            .header(header::CONTENT_TYPE, "application/json");
        self.body = Body::from(serde_json::to_vec(value).expect("serializable"));
        self
    }

    /// Sends raw bytes as the body, with whatever headers were set.
    pub fn body(mut self, body: impl Into<Body>) -> Self {
        self.body = body.into();
        self
    }

    /// Sends the request and reads the whole response.
    pub async fn send(self) -> TestResponse {
        let request = self.builder.body(self.body).expect("a valid request");
        let response = self.router.oneshot(request).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("the body can be read");
        TestResponse {
            status,
            headers,
            body,
        }
    }
}

/// A response read to the end.
#[derive(Debug)]
pub struct TestResponse {
    /// The status code.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body bytes.
    pub body: Bytes,
}

impl TestResponse {
    /// The body parsed as JSON; panics with the body text when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!(
                "body is not JSON ({err}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(HeaderName::from_bytes(name.as_bytes()).ok()?)
            .and_then(|value: &HeaderValue| value.to_str().ok())
    }

    /// Asserts the status and the contract's error body, and returns the body.
    #[track_caller]
    pub fn assert_error(&self, status: StatusCode, error_code: &str) -> Value {
        assert_eq!(self.status, status, "body: {}", self.text());
        let body = self.json();
        assert_eq!(body["error_code"], error_code, "body: {body}");
        assert!(
            body["detail"].is_string() || body["detail"].is_array(),
            "detail missing: {body}"
        );
        body
    }

    /// Asserts a 422 and returns the `loc` of every field error, e.g. `["body", "email"]`.
    #[track_caller]
    pub fn assert_validation_error(&self) -> Vec<Value> {
        let body = self.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR");
        let detail = body["detail"].as_array().expect("detail is a list").clone();
        assert!(!detail.is_empty(), "no field errors: {body}");
        detail
            .into_iter()
            .map(|error| error["loc"].clone())
            .collect()
    }
}

/// A private `mongod` on a free port with its own data directory, which a test can stop and
/// restart to watch a service lose and regain its database.
pub struct Mongod {
    binary: PathBuf,
    port: u16,
    data: tempfile::TempDir,
    child: Option<Child>,
    replica_set: bool,
}

impl Mongod {
    /// Starts a standalone server (no replica set, so no change streams) and waits until it
    /// accepts connections.
    pub async fn start_standalone() -> Self {
        Self::start(false).await
    }

    /// Starts a single-node replica set with test commands enabled (fail points), and waits until
    /// it is a writable primary.
    pub async fn start_replica_set() -> Self {
        let mongod = Self::start(true).await;
        let client = mongodb::Client::with_uri_str(mongod.uri()).await.unwrap();
        let admin = client.database("admin");
        let config = mongodb::bson::doc! {
            "_id": "rs0",
            "members": [{ "_id": 0, "host": format!("127.0.0.1:{}", mongod.port) }],
        };
        admin
            .run_command(mongodb::bson::doc! { "replSetInitiate": config })
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let hello = admin
                .run_command(mongodb::bson::doc! { "hello": 1 })
                .await
                .unwrap();
            if hello.get_bool("isWritablePrimary").unwrap_or(false) {
                break;
            }
            assert!(Instant::now() < deadline, "no primary within 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        mongod
    }

    async fn start(replica_set: bool) -> Self {
        let binary = std::env::var_os("MONGOD_BIN").map(PathBuf::from).expect(
            "MONGOD_BIN must name a mongod binary; scripts/test.sh sets it \
             (scripts/mongodb.sh install prints the path)",
        );
        let port = free_port();
        let data = tempfile::tempdir().expect("a temporary directory");
        let mut mongod = Self {
            binary,
            port,
            data,
            child: None,
            replica_set,
        };
        mongod.restart().await;
        mongod
    }

    /// The connection string of this server.
    pub fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}/?directConnection=true", self.port)
    }

    /// Kills the server, as a crash or an outage would.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and data, and waits until it accepts connections.
    pub async fn restart(&mut self) {
        self.stop();
        let mut command = Command::new(&self.binary);
        if self.replica_set {
            command.args(["--replSet", "rs0", "--setParameter", "enableTestCommands=1"]);
        }
        let child = command
            .args(["--port", &self.port.to_string(), "--bind_ip", "127.0.0.1"])
            .arg("--dbpath")
            .arg(self.data.path())
            .args([
                "--wiredTigerCacheSizeGB",
                "0.25",
                "--wiredTigerEngineConfigString",
                "log=(prealloc=false,file_max=10MB)",
                "--setParameter",
                "diagnosticDataCollectionEnabled=false",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("could not start {}: {err}", self.binary.display()));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "mongod did not start within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Mongod {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// A service's binary running as a process of its own on a free loopback port, against the
/// database of `config` and with the test secret, so that a test can kill it (SIGKILL, as a
/// crash would) and start it again.
pub struct ServiceProcess {
    binary: PathBuf,
    env: Vec<(String, String)>,
    /// Where it listens.
    pub address: std::net::SocketAddr,
    child: Option<Child>,
}

impl ServiceProcess {
    /// Starts `binary` (a test's `env!("CARGO_BIN_EXE_…")`) with the database of `config` and the
    /// variables `env`, and waits until `/health` answers.
    pub async fn start(binary: &str, config: &Config, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let mut variables: Vec<(String, String)> = [
            ("MONGO_URI", config.mongo_uri.expose()),
            ("DB_NAME", config.db_name.as_str()),
            ("JWT_SECRET", TEST_JWT_SECRET),
            ("BCRYPT_COST", "4"),
            ("HOST", "127.0.0.1"),
            ("RUST_LOG", "warn"),
        ]
        .into_iter()
        .chain(env.iter().copied())
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
        variables.push(("PORT".to_owned(), port.to_string()));
        let mut process = Self {
            binary: PathBuf::from(binary),
            env: variables,
            address: ([127, 0, 0, 1], port).into(),
            child: None,
        };
        process.restart().await;
        process
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the process with SIGKILL: no shutdown, no drain, work in flight cut wherever it was.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the process again (killing it first if it runs) and waits until `/health` answers.
    pub async fn restart(&mut self) {
        self.kill();
        let child = Command::new(&self.binary)
            .env_clear()
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|err| panic!("could not start {}: {err}", self.binary.display()));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(answer) = http(self.address, Method::GET, "/health", &[], None).await
                && answer.status == StatusCode::OK
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not answer /health within 30 s",
                self.binary.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One request over a connection of its own (`Connection: close`), with a JSON `body` if given:
/// what a real client sees, socket errors included. The body of the answer is read in full.
pub async fn http(
    address: std::net::SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> std::io::Result<TestResponse> {
    http_from([127, 0, 0, 1].into(), address, method, path, headers, body).await
}

/// [`http`] from the loopback address `from` (any of 127.0.0.0/8), so that a service keying on
/// the peer address sees different clients.
pub async fn http_from(
    from: std::net::IpAddr,
    address: std::net::SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> std::io::Result<TestResponse> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let body = body.map(Value::to_string).unwrap_or_default();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        request.push_str("Content-Type: application/json\r\n");
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body);

    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind((from, 0).into())?;
    let mut stream = socket.connect(address).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut received = Vec::new();
    stream.read_to_end(&mut received).await?;
    parse_answer(&received).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not an HTTP answer: {}", String::from_utf8_lossy(&received)),
        )
    })
}

/// Splits a whole `Connection: close` answer with a `Content-Length` body into a [`TestResponse`].
fn parse_answer(received: &[u8]) -> Option<TestResponse> {
    let split = received
        .windows(4)
        .position(|window| window == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&received[..split]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse::<u16>().ok()?;
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        headers.append(
            HeaderName::from_bytes(name.trim().as_bytes()).ok()?,
            HeaderValue::from_str(value.trim()).ok()?,
        );
    }
    Some(TestResponse {
        status: StatusCode::from_u16(status).ok()?,
        headers,
        body: Bytes::copy_from_slice(&received[split + 4..]),
    })
}

/// The sum of the samples of metric `name` whose labels include every pair in `labels`, in a
/// Prometheus text exposition (`GET /metrics`); 0 when there is none.
pub fn metric(exposition: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (series_name, series_labels) = match series.split_once('{') {
                Some((series_name, rest)) => (series_name, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            let matches = series_name == name
                && labels.iter().all(|(key, wanted)| {
                    series_labels
                        .split(',')
                        .any(|pair| pair == format!("{key}=\"{wanted}\""))
                });
            matches.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}
