//! One delivery attempt: a JSON POST to the address the URL policy checked, over TLS for
//! `https://`, within the timeout; redirects are answers like any other (not followed), and the
//! response body is read up to 64 KiB and dropped.
//!
//! It is a connection of its own per attempt, made to the checked address (see [`super::target`]),
//! so no pool can carry a request to an address that was not checked for it.

use std::{sync::Arc, time::Duration};

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{
    Request,
    header::{CONTENT_TYPE, HOST, HeaderName, HeaderValue, USER_AGENT},
};
use hyper_util::rt::TokioIo;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
};
use tokio_rustls::{
    TlsConnector,
    rustls::{ClientConfig, RootCertStore, crypto::ring, pki_types::ServerName},
};

use super::target::Target;

/// How much of a response body is read (and then dropped).
const BODY_READ_LIMIT: usize = 64 * 1024;

/// What an attempt came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver answered with this status.
    Answered(u16),
    /// No answer: why, in a few words (never the receiver's own text).
    Failed(&'static str),
}

impl Outcome {
    /// Whether the event counts as delivered (a 2xx).
    pub fn delivered(&self) -> bool {
        matches!(self, Self::Answered(status) if (200..300).contains(status))
    }
}

/// Sends webhook requests.
#[derive(Clone)]
pub struct Sender {
    tls: TlsConnector,
    timeout: Duration,
}

impl Sender {
    /// A sender that gives up on an attempt after `timeout`, trusting the Mozilla root store.
    pub fn new(timeout: Duration) -> Result<Self, tokio_rustls::rustls::Error> {
        let roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            tls: TlsConnector::from(Arc::new(config)),
            timeout,
        })
    }

    /// POSTs `body` with `headers` to `target`.
    pub async fn send(
        &self,
        target: &Target,
        headers: Vec<(HeaderName, HeaderValue)>,
        body: Bytes,
    ) -> Outcome {
        match tokio::time::timeout(self.timeout, self.exchange(target, headers, body)).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::Failed("timed out"),
        }
    }

    async fn exchange(
        &self,
        target: &Target,
        headers: Vec<(HeaderName, HeaderValue)>,
        body: Bytes,
    ) -> Outcome {
        let tcp = match TcpStream::connect(target.addr).await {
            Ok(tcp) => tcp,
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionRefused => {
                return Outcome::Failed("connection refused");
            }
            Err(_) => return Outcome::Failed("could not connect"),
        };
        if target.url.scheme() != "https" {
            return post(tcp, target, headers, body).await;
        }
        let host = target.url.host_str().unwrap_or_default();
        let name = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let Ok(name) = ServerName::try_from(name) else {
            return Outcome::Failed("the host is no TLS server name");
        };
        match self.tls.connect(name, tcp).await {
            Ok(tls) => post(tls, target, headers, body).await,
            Err(_) => Outcome::Failed("TLS handshake failed"),
        }
    }
}

async fn post<IO>(
    io: IO,
    target: &Target,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
) -> Outcome
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Ok((mut sender, connection)) =
        hyper::client::conn::http1::handshake(TokioIo::new(io)).await
    else {
        return Outcome::Failed("connection closed without an answer");
    };
    // The connection lives as long as this attempt; dropping the task's handle does not stop it,
    // so it is aborted when the attempt ends.
    let connection = tokio::spawn(connection);
    let _stop = AbortOnDrop(connection);
    let url = &target.url;
    let path = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    let mut request = Request::post(path)
        .header(HOST, host)
        .header(CONTENT_TYPE, "application/json")
        .header(
            USER_AGENT,
            concat!("ecommerce-webhooks/", env!("CARGO_PKG_VERSION")),
        );
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let Ok(request) = request.body(Full::new(body)) else {
        return Outcome::Failed("the request could not be formed");
    };
    let Ok(response) = sender.send_request(request).await else {
        return Outcome::Failed("connection closed without an answer");
    };
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut read = 0;
    while read < BODY_READ_LIMIT {
        match body.frame().await {
            Some(Ok(frame)) => read += frame.data_ref().map_or(0, Bytes::len),
            // A body cut short still came with a status: the answer stands.
            Some(Err(_)) | None => break,
        }
    }
    Outcome::Answered(status)
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<Result<(), hyper::Error>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
