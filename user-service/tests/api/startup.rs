//! The real binary: it refuses bad configuration by name (an `ADMIN_EMAIL` another account holds
//! included), takes `ADMIN_PASSWORD` exactly as given, serves, and stops cleanly on SIGTERM.
//!
//! Every wait on the child process has a deadline, so a service that hangs fails the test with a
//! message instead of hanging the suite; the child is killed however the test ends.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    process::{Child, Command, ExitStatus, Stdio},
    sync::mpsc::{self, Receiver, RecvTimeoutError},
    thread,
    time::{Duration, Instant},
};

use axum::http::{Method, StatusCode};
use common_testing::{ServiceProcess, TEST_JWT_SECRET, TestDb, http};
use mongodb::bson::doc;
use serde_json::json;

use crate::helpers::{PASSWORD, UserSteps, spawn_app};

/// How long the binary may take to start, to answer, or to stop before the test fails.
const DEADLINE: Duration = Duration::from_secs(30);

fn service() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_user-service"));
    // An empty working directory, so no .env is picked up, and only the variables given here.
    command
        .env_clear()
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// A child process that is killed when the value is dropped, so a failing test leaves no service
/// running behind it.
struct Running(Child);

impl Running {
    fn spawn(mut command: Command) -> Self {
        Self(command.spawn().expect("the process starts"))
    }

    /// Waits until the process exits; fails the test, naming `what` was awaited, if that takes
    /// longer than `within`.
    fn exit_status(&mut self, within: Duration, what: &str) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.0.try_wait().expect("the process can be polled") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: the process had not exited after {within:?}"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs the process to its end; returns its exit status and what it wrote to stderr.
    fn finish(mut self, what: &str) -> (ExitStatus, String) {
        let stdout = read_to_end(self.0.stdout.take().expect("stdout is piped"));
        let stderr = read_to_end(self.0.stderr.take().expect("stderr is piped"));
        let status = self.exit_status(DEADLINE, what);
        let _ = stdout.recv_timeout(DEADLINE);
        let stderr = stderr
            .recv_timeout(DEADLINE)
            .unwrap_or_else(|_| panic!("{what}: stderr was not closed within {DEADLINE:?}"));
        (status, stderr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads `pipe` to its end on a thread of its own, so the reader can wait with a deadline.
fn read_to_end(pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(pipe).read_to_string(&mut text);
        let _ = sender.send(text);
    });
    receiver
}

/// Sends each line of `pipe` as it arrives, from a thread of its own.
fn lines_of(pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// Reads the JSON log lines in `lines` until one carries the listening address.
fn logged_address(lines: &Receiver<String>, stderr: &Receiver<String>) -> String {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let line = match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                panic!("the service did not log its address within {DEADLINE:?}")
            }
            Err(RecvTimeoutError::Disconnected) => panic!(
                "the service closed its output without logging its address; stderr: {}",
                stderr
                    .recv_timeout(Duration::from_secs(1))
                    .unwrap_or_default()
            ),
        };
        let entry: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|err| panic!("a log line is not JSON ({err}): {line}"));
        if let Some(address) = entry["address"].as_str() {
            return address.to_owned();
        }
    }
}

#[test]
fn the_binary_refuses_to_start_without_a_long_enough_jwt_secret() {
    for secret in [None, Some("too-short")] {
        let mut command = service();
        if let Some(secret) = secret {
            command.env("JWT_SECRET", secret);
        }

        let (status, stderr) = Running::spawn(command).finish("refusing a bad secret");

        assert!(!status.success());
        assert!(stderr.contains("JWT_SECRET"), "{stderr}");
    }
}

#[test]
fn the_binary_names_a_bad_setting() {
    let mut command = service();
    command
        .env("JWT_SECRET", TEST_JWT_SECRET)
        .env("BCRYPT_COST", "99");

    let (status, stderr) = Running::spawn(command).finish("refusing a bad setting");

    assert!(!status.success());
    assert!(stderr.contains("BCRYPT_COST is invalid"), "{stderr}");
}

#[test]
fn the_binary_refuses_a_metrics_path_that_shadows_its_routes() {
    for (path, taken) in [("/users/metrics", "/users"), ("/docs", "/docs")] {
        let mut command = service();
        command
            .env("JWT_SECRET", TEST_JWT_SECRET)
            .env("METRICS_PATH", path);

        let (status, stderr) = Running::spawn(command).finish("refusing a shadowing path");

        assert!(!status.success());
        assert!(
            stderr.contains(&format!(
                "METRICS_PATH is invalid: {path} would shadow the service's own {taken} routes"
            )),
            "{stderr}"
        );
    }
}

#[test]
fn the_binary_describes_its_settings_and_document_without_a_database() {
    let describe = |flag: &str| {
        let mut command = service();
        command.arg(flag);
        let output = command.output().expect("the binary runs");
        assert!(output.status.success(), "{flag}: {output:?}");
        serde_json::from_slice::<serde_json::Value>(&output.stdout).expect("JSON")
    };

    let settings = describe("--settings");
    let openapi = describe("--openapi");

    assert_eq!(settings["service"], "user-service");
    let port = settings["settings"]
        .as_array()
        .and_then(|all| all.iter().find(|setting| setting["name"] == "PORT"))
        .expect("PORT is described");
    assert_eq!(port["default"], "8001");
    assert!(
        openapi["paths"]["/users/login"]["post"].is_object(),
        "{openapi}"
    );

    let mut command = service();
    command.arg("--bogus");
    let output = command.output().expect("the binary runs");
    assert_eq!(output.status.code(), Some(2));
}

#[tokio::test]
async fn the_binary_serves_and_stops_cleanly_on_sigterm() {
    let db = TestDb::new("user_service").await;
    let mut command = service();
    command
        .env("JWT_SECRET", TEST_JWT_SECRET)
        .env("MONGO_URI", db.config.mongo_uri.expose())
        .env("DB_NAME", &db.config.db_name)
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("LOG_FORMAT", "json")
        .env("BCRYPT_COST", "4");
    let mut running = Running::spawn(command);
    let lines = lines_of(running.0.stdout.take().expect("stdout is piped"));
    let stderr = read_to_end(running.0.stderr.take().expect("stderr is piped"));

    let address = logged_address(&lines, &stderr);
    let mut stream = TcpStream::connect(&address).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .unwrap_or_else(|err| panic!("no full answer to GET /health within {DEADLINE:?}: {err}"));
    let mut kill = Command::new("kill");
    kill.args(["-TERM", &running.0.id().to_string()]);
    let terminated = Running::spawn(kill).exit_status(DEADLINE, "sending SIGTERM");
    let status = running.exit_status(Duration::from_secs(10), "stopping on SIGTERM");

    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.ends_with(r#"{"status":"ok"}"#), "{response}");
    assert!(terminated.success());
    assert!(status.success(), "exit status {status}");
}

#[tokio::test]
async fn the_binary_refuses_to_start_when_another_account_holds_admin_email() {
    // Someone registered the admin's address before the first start, with a password of theirs.
    let app = spawn_app().await;
    app.register("admin@example.com", "buyer").await;
    let admin_password = "the operator's admin password";
    let mut command = service();
    command
        .env("JWT_SECRET", TEST_JWT_SECRET)
        .env("MONGO_URI", app.db.config.mongo_uri.expose())
        .env("DB_NAME", &app.db.config.db_name)
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("BCRYPT_COST", "4")
        .env("ADMIN_EMAIL", "admin@example.com")
        .env("ADMIN_PASSWORD", admin_password);

    let (status, stderr) = Running::spawn(command).finish("refusing a taken ADMIN_EMAIL");

    assert!(!status.success());
    assert!(
        stderr.contains(
            "ADMIN_EMAIL admin@example.com is registered to a non-admin account whose password is \
             not ADMIN_PASSWORD; promote or remove that account, or choose another ADMIN_EMAIL"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains(admin_password), "{stderr}");
    // The account stays as its owner made it, and nobody became admin.
    let owners_login = app.login("admin@example.com", PASSWORD).await;
    assert_eq!(
        owners_login.status,
        StatusCode::OK,
        "{}",
        owners_login.text()
    );
    assert_eq!(app.db.count("users", doc! { "role": "admin" }).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_password_with_surrounding_spaces_signs_in_exactly_as_given() {
    let db = TestDb::new("user_service").await;
    let padded = " pass word 1 ";
    let service = ServiceProcess::start(
        env!("CARGO_BIN_EXE_user-service"),
        &db.config,
        &[
            ("ADMIN_EMAIL", "admin@example.com"),
            ("ADMIN_PASSWORD", padded),
        ],
    )
    .await;
    let login = |password: &str| {
        let body = json!({"email": "admin@example.com", "password": password});
        async move {
            http(
                service.address,
                Method::POST,
                "/users/login",
                &[],
                Some(&body),
            )
            .await
            .expect("the service answers")
        }
    };

    let exact = login(padded).await;
    let trimmed = login("pass word 1").await;

    assert_eq!(exact.status, StatusCode::OK, "{}", exact.text());
    trimmed.assert_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
    let bearer = format!("Bearer {}", exact.json()["access_token"].as_str().unwrap());
    let users = http(
        service.address,
        Method::GET,
        "/users",
        &[("Authorization", bearer.as_str())],
        None,
    )
    .await
    .unwrap();
    assert_eq!(users.status, StatusCode::OK, "{}", users.text());
}
