//! The life of a service process: load `.env`, read the configuration, start logging, reach the
//! database, let the service build its router, serve until SIGINT or SIGTERM, then drain.
//!
//! Each service's `main` is one call to [`run`], so the three binaries start and stop alike.
//! Connections are served by [`serve_connections`], which bounds how long a client may take to
//! send its headers (or stay idle between requests) and how many connections are open at once.

use std::{future::Future, net::SocketAddr, process::ExitCode, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{Router, extract::ConnectInfo, http::Request};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
};
use mongodb::Database;
use tokio::{
    net::TcpListener,
    sync::{Semaphore, watch},
};

use crate::{
    config::{Config, ConfigError, Env, ServiceSettings, SettingInfo},
    db,
    http::service_openapi,
    service::Service,
    telemetry,
};

/// How many times startup pings the database before giving up.
const STARTUP_PING_ATTEMPTS: u32 = 5;
/// How long background tasks get to finish after the server has stopped.
const BACKGROUND_DRAIN: Duration = Duration::from_secs(10);
/// How long requests in flight get to finish after a shutdown signal.
const CONNECTION_DRAIN: Duration = Duration::from_secs(30);
/// How long accepting pauses after a failed `accept` (such as running out of file descriptors).
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// How [`serve_connections`] treats connections.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionSettings {
    /// A connection that has not sent a request's complete headers this long after it opened, or
    /// after its previous response, is closed. It also bounds idle keep-alive connections: hyper
    /// starts this timer as soon as it waits for the next request's headers.
    pub header_read_timeout: Duration,
    /// How many connections are served at once; when all are taken, accepting pauses until one
    /// closes, and new connections wait in the listen backlog.
    pub max_connections: usize,
    /// After shutdown, how long connections get to finish their requests before they are dropped.
    pub drain_timeout: Duration,
}

impl ConnectionSettings {
    /// The settings from the configuration (`HEADER_READ_TIMEOUT_SECS`, `MAX_CONNECTIONS`).
    pub fn from_config(config: &Config) -> Self {
        Self {
            header_read_timeout: config.header_read_timeout,
            max_connections: config.max_connections,
            drain_timeout: CONNECTION_DRAIN,
        }
    }
}

/// What a service needs to build its router.
pub struct ServiceContext {
    /// The validated configuration.
    pub config: Config,
    /// The database, already reachable.
    pub db: Database,
    /// Given to background tasks: tells them to stop, and lets [`run`] wait for them.
    pub shutdown: Shutdown,
}

/// Tells background tasks that the service is stopping.
///
/// A task keeps a clone for as long as it runs. Once the server has drained its requests, [`run`]
/// signals shutdown and waits (up to 10 s) until every clone has been dropped, so work such as a
/// pending batch of writes is finished instead of cut off.
#[derive(Clone, Debug)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// A handle whose shutdown never comes: for tests and tools that run no server.
    pub fn never() -> Self {
        let (sender, receiver) = watch::channel(false);
        // Kept alive for the life of the process, so the signal never fires.
        std::mem::forget(sender);
        Self(receiver)
    }

    /// Resolves once shutdown has been signalled.
    pub async fn signalled(&mut self) {
        // An error means the sender is gone, which also means the service is stopping.
        let _ = self.0.wait_for(|stopping| *stopping).await;
    }
}

/// Runs `service` until a shutdown signal, with the router `build` returns from the context and
/// the service's own settings `S`. Failures before serving are printed and end the process with a
/// non-zero status.
///
/// Two arguments make the binary describe itself instead, reading no environment and reaching no
/// database: `--settings` prints every setting it reads (name, default, range, whether required)
/// as JSON, and `--openapi` prints the OpenAPI document it serves. The configuration reference
/// and the deploy files are checked against these.
pub async fn run<S, F, Fut>(service: &'static Service, build: F) -> ExitCode
where
    S: ServiceSettings,
    F: FnOnce(ServiceContext, S) -> Fut,
    Fut: Future<Output = anyhow::Result<Router>>,
{
    let args: Vec<String> = std::env::args().skip(1).collect();
    let described =
        match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            [] => None,
            ["--settings"] => Some(describe_settings::<S>(service).map(
                |settings| serde_json::json!({ "service": service.name, "settings": settings }),
            )),
            ["--openapi"] => Some(describe_openapi(service)),
            _ => {
                eprintln!("usage: {} [--settings | --openapi]", service.name);
                return ExitCode::from(2);
            }
        };
    if let Some(described) = described {
        let text = described.and_then(|value| Ok(serde_json::to_string_pretty(&value)?));
        return match text {
            Ok(text) => {
                println!("{text}");
                ExitCode::SUCCESS
            }
            Err(err) => fail(service.name, err),
        };
    }
    match start::<S, F, Fut>(service, build).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(service.name, err),
    }
}

fn fail(name: &str, err: anyhow::Error) -> ExitCode {
    tracing::error!(error = %format!("{err:#}"), "{name} stopped");
    eprintln!("{name}: {err:#}");
    ExitCode::FAILURE
}

/// Every setting `service` reads, shared and its own (`S`), as the code states them: read
/// through an empty environment, so the defaults are the code's own.
pub fn describe_settings<S: ServiceSettings>(
    service: &Service,
) -> anyhow::Result<Vec<SettingInfo>> {
    let env = Env::describing(|_: &str| None);
    let config = Config::read(service.default_port, &env)?;
    S::read(&config, &env)?;
    Ok(env.described())
}

/// The OpenAPI document `service` serves with the default settings.
fn describe_openapi(service: &Service) -> anyhow::Result<serde_json::Value> {
    let config = Config::read(service.default_port, &Env::describing(|_: &str| None))?;
    Ok(serde_json::to_value(service_openapi(
        service,
        &config.oauth2_token_url,
    ))?)
}

async fn start<S, F, Fut>(service: &'static Service, build: F) -> anyhow::Result<()>
where
    S: ServiceSettings,
    F: FnOnce(ServiceContext, S) -> Fut,
    Fut: Future<Output = anyhow::Result<Router>>,
{
    let name = service.name;
    load_dotenv()?;
    let env = Env::new(|name: &str| std::env::var(name).ok());
    let config = Config::read(service.default_port, &env)?;
    let settings = S::read(&config, &env)?;
    if let Some(path) = &config.metrics_path
        && let Some(taken) = service.shadowed_prefix(path)
    {
        return Err(ConfigError::invalid(
            "METRICS_PATH",
            format!("{path} would shadow the service's own {taken} routes"),
        )
        .into());
    }
    telemetry::init(&config, name).context("could not set up trace export")?;
    if config.metrics_path.is_some() {
        crate::metrics::install(name);
    }

    let db = db::connect(&config, name)
        .await
        .context("MONGO_URI could not be used")?;
    db::wait_until_reachable(&db, STARTUP_PING_ATTEMPTS)
        .await
        .context("MongoDB could not be reached at MONGO_URI")?;

    let address = (config.host, config.port);
    let connections = ConnectionSettings::from_config(&config);
    let (stop, stopping) = watch::channel(false);
    let app = build(
        ServiceContext {
            config,
            db,
            shutdown: Shutdown(stopping),
        },
        settings,
    )
    .await?;
    let listener = TcpListener::bind(address).await.with_context(|| {
        format!(
            "could not listen on {}:{} (HOST, PORT)",
            address.0, address.1
        )
    })?;
    tracing::info!(address = %listener.local_addr()?, "{name} listening; Swagger UI at /docs");

    serve_connections(listener, app, connections, shutdown_signal()).await;
    let _ = stop.send(true);
    if tokio::time::timeout(BACKGROUND_DRAIN, stop.closed())
        .await
        .is_err()
    {
        tracing::warn!("background tasks did not finish within {BACKGROUND_DRAIN:?}");
    }
    telemetry::shutdown();
    tracing::info!("{name} stopped");
    Ok(())
}

/// Serves `router` on the connections `listener` accepts (HTTP/1.1) until `shutdown` resolves,
/// then stops accepting and lets open connections finish their requests for up to
/// [`ConnectionSettings::drain_timeout`].
///
/// Each request carries the peer's [`ConnectInfo<SocketAddr>`] as an extension, as with axum's
/// `into_make_service_with_connect_info`: the user service's per-client rate limits key on it.
pub async fn serve_connections(
    listener: TcpListener,
    router: Router,
    settings: ConnectionSettings,
    shutdown: impl Future<Output = ()>,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .keep_alive(true);
    let slots = Arc::new(Semaphore::new(settings.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);

    loop {
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                // The semaphore is never closed.
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(error = %err, "could not accept a connection");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        let router = router.clone();
        let service = service_fn(move |mut request: Request<Incoming>| {
            request
                .extensions_mut()
                .insert(ConnectInfo::<SocketAddr>(peer));
            tower::ServiceExt::oneshot(router.clone(), request)
        });
        // The stream is handed to hyper as it is: nothing rewrites the bytes of a response. A
        // request whose head hyper itself refuses (malformed, too many or too large headers) gets
        // hyper's own answer, 400 or 431 with an empty body, and the connection is closed.
        let stream = TokioIo::new(stream);
        let connection = graceful.watch(http.serve_connection(stream, service));
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                // Timeouts and clients that go away; nothing the service can act on.
                tracing::debug!(error = %err, %peer, "connection closed with an error");
            }
            drop(slot);
        });
    }

    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(settings.drain_timeout) => {
            tracing::warn!(
                "connections still open after {:?}; closing them",
                settings.drain_timeout
            );
        }
    }
}

/// Loads `.env` from the working directory when there is one; a malformed file is an error.
fn load_dotenv() -> anyhow::Result<()> {
    match dotenvy::dotenv() {
        Ok(_) => Ok(()),
        Err(err) if err.not_found() => Ok(()),
        Err(err) => Err(err).context(".env could not be read"),
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM, whichever comes first.
pub async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing requests in flight");
}

#[cfg(test)]
mod tests;
