use std::time::Instant;

use axum::routing::get;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::oneshot,
    task::JoinHandle,
};

use super::*;

const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(1);

/// A server on a free port whose only route answers with the peer address it was given.
async fn server(max_connections: usize) -> (SocketAddr, oneshot::Sender<()>, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = Router::new().route(
        "/peer",
        get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
    );
    let settings = ConnectionSettings {
        header_read_timeout: HEADER_READ_TIMEOUT,
        max_connections,
        drain_timeout: Duration::from_secs(5),
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve_connections(listener, router, settings, async move {
        let _ = stopped.await;
    }));
    (address, stop, task)
}

/// Reads until the server closes the connection, or fails after `limit`.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> String {
    let mut received = Vec::new();
    match tokio::time::timeout(limit, stream.read_to_end(&mut received)).await {
        Ok(_) => String::from_utf8_lossy(&received).into_owned(),
        Err(_) => panic!("the connection was still open after {limit:?}"),
    }
}

async fn get_peer(address: SocketAddr) -> (String, SocketAddr) {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let local = stream.local_addr().unwrap();
    stream
        .write_all(b"GET /peer HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    (
        read_until_closed(&mut stream, Duration::from_secs(5)).await,
        local,
    )
}

#[tokio::test]
async fn a_connection_that_never_finishes_its_headers_is_closed() {
    let (address, _stop, _task) = server(10).await;
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(b"GET /pe").await.unwrap();
    let started = Instant::now();

    read_until_closed(&mut stream, HEADER_READ_TIMEOUT * 3).await;

    assert!(
        started.elapsed() >= HEADER_READ_TIMEOUT / 2,
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed() {
    let (address, _stop, _task) = server(10).await;
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"GET /peer HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();

    let started = Instant::now();

    let answer = read_until_closed(&mut stream, HEADER_READ_TIMEOUT * 3).await;

    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(
        started.elapsed() >= HEADER_READ_TIMEOUT / 2,
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_request_is_answered_with_the_peer_address_available() {
    let (address, _stop, _task) = server(10).await;

    let (answer, local) = get_peer(address).await;

    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(answer.ends_with(&local.to_string()), "{answer}");
}

#[tokio::test]
async fn past_the_connection_cap_a_connection_waits_for_a_free_slot() {
    let (address, _stop, _task) = server(1).await;
    // Takes the only slot, and sends nothing, until the header-read timeout closes it.
    let mut idle = TcpStream::connect(address).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();

    let (answer, _) = get_peer(address).await;

    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(
        started.elapsed() >= HEADER_READ_TIMEOUT / 2,
        "{:?}",
        started.elapsed()
    );
    read_until_closed(&mut idle, Duration::from_secs(1)).await;
}

/// Sends `request` on a new connection and reads the answer until the server closes it.
async fn exchange(address: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(request).await.unwrap();
    read_until_closed(&mut stream, Duration::from_secs(5)).await
}

/// hyper's own refusal of a head it cannot parse: the status, an empty body, and the
/// connection closed (the answer is read to its end).
fn assert_refused_by_the_parser(answer: &str, status: &str) {
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with(&format!("HTTP/1.1 {status}")), "{answer}");
    assert!(head.contains("content-length: 0"), "{answer}");
    assert_eq!(body, "", "{answer}");
}

#[tokio::test]
async fn a_bare_carriage_return_in_a_header_is_refused_with_400() {
    let (address, _stop, _task) = server(10).await;

    let answer = exchange(
        address,
        b"GET /peer HTTP/1.1\r\nHost: test\r\nX-A: a\rb\r\n\r\n",
    )
    .await;

    assert_refused_by_the_parser(&answer, "400");
}

#[tokio::test]
async fn too_many_headers_are_refused_with_431() {
    let (address, _stop, _task) = server(10).await;
    let mut request = b"GET /peer HTTP/1.1\r\nHost: test\r\n".to_vec();
    for i in 0..150 {
        request.extend_from_slice(format!("X-Header-{i}: {i}\r\n").as_bytes());
    }
    request.extend_from_slice(b"\r\n");

    let answer = exchange(address, &request).await;

    assert_refused_by_the_parser(&answer, "431");
}

#[tokio::test]
async fn a_header_too_large_for_the_buffer_is_refused_with_431() {
    let (address, _stop, _task) = server(10).await;
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"GET /peer HTTP/1.1\r\nHost: test\r\nX-Big: ")
        .await
        .unwrap();
    // 500 KB, more than hyper buffers for a head. The server answers once its buffer is
    // full, so the rest may never be read: send it without waiting for it to go.
    let big = vec![b'a'; 500 * 1024];
    let (mut reader, mut writer) = stream.into_split();
    let sending = tokio::spawn(async move {
        let _ = writer.write_all(&big).await;
        let _ = writer.write_all(b"\r\n\r\n").await;
        writer
    });
    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), reader.read_to_end(&mut received))
        .await
        .expect("no answer")
        .ok();
    sending.abort();

    assert_refused_by_the_parser(&String::from_utf8_lossy(&received), "431");
}

#[tokio::test]
async fn shutdown_stops_accepting_and_returns() {
    let (address, stop, task) = server(10).await;
    let (answer, _) = get_peer(address).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");

    stop.send(()).unwrap();

    tokio::time::timeout(Duration::from_secs(3), task)
        .await
        .expect("the server did not stop")
        .unwrap();
    assert!(TcpStream::connect(address).await.is_err());
}
