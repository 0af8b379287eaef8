//! The real binary: it refuses bad configuration by name, serves, and stops cleanly on SIGTERM.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::testing::{TEST_JWT_SECRET, TestDb};

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

#[test]
fn the_binary_refuses_to_start_without_a_long_enough_jwt_secret() {
    for secret in [None, Some("too-short")] {
        let mut command = service();
        if let Some(secret) = secret {
            command.env("JWT_SECRET", secret);
        }

        let output = command.output().unwrap();

        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("JWT_SECRET"), "{stderr}");
    }
}

#[test]
fn the_binary_names_a_bad_setting() {
    let output = service()
        .env("JWT_SECRET", TEST_JWT_SECRET)
        .env("BCRYPT_COST", "99")
        .output()
        .unwrap();

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("BCRYPT_COST is invalid"), "{stderr}");
}

#[tokio::test]
async fn the_binary_serves_and_stops_cleanly_on_sigterm() {
    let db = TestDb::new("user_service").await;
    let mut child = service()
        .env("JWT_SECRET", TEST_JWT_SECRET)
        .env("MONGO_URI", db.config.mongo_uri.expose())
        .env("DB_NAME", &db.config.db_name)
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("LOG_FORMAT", "json")
        .env("BCRYPT_COST", "4")
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());

    let mut address = None;
    for line in stdout.lines() {
        let line = line.unwrap();
        let entry: serde_json::Value = serde_json::from_str(&line).unwrap();
        if let Some(found) = entry["address"].as_str() {
            address = Some(found.to_owned());
            break;
        }
    }
    let address = address.expect("the service logs its address");
    let mut stream = TcpStream::connect(&address).unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let terminated = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the service did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };

    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.ends_with(r#"{"status":"ok"}"#), "{response}");
    assert!(terminated.success());
    assert!(status.success(), "exit status {status}");
}
