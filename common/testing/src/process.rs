//! A service's own binary as a process on a free port, and requests to it over real sockets.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use axum::{
    body::Bytes,
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode},
};
use serde_json::Value;

use common_platform::config::Config;

use crate::{client::TestResponse, db::TEST_JWT_SECRET, mongod::free_port};

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
