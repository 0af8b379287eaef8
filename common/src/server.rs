//! The life of a service process: load `.env`, read the configuration, start logging, reach the
//! database, let the service build its router, serve until SIGINT or SIGTERM, then drain.
//!
//! Each service's `main` is one call to [`run`], so the three binaries start and stop alike.

use std::{future::Future, net::SocketAddr, process::ExitCode, time::Duration};

use anyhow::Context;
use axum::Router;
use mongodb::Database;
use tokio::{net::TcpListener, sync::watch};

use crate::{config::Config, db, telemetry};

/// How many times startup pings the database before giving up.
const STARTUP_PING_ATTEMPTS: u32 = 5;
/// How long background tasks get to finish after the server has stopped.
const BACKGROUND_DRAIN: Duration = Duration::from_secs(10);

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

/// Runs the service `name` on `default_port` (overridden by `PORT`), with the router `build`
/// returns, until a shutdown signal. Failures before serving are printed and end the process with
/// a non-zero status.
pub async fn run<F, Fut>(name: &'static str, default_port: u16, build: F) -> ExitCode
where
    F: FnOnce(ServiceContext) -> Fut,
    Fut: Future<Output = anyhow::Result<Router>>,
{
    match serve(name, default_port, build).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %format!("{err:#}"), "{name} stopped");
            eprintln!("{name}: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve<F, Fut>(name: &'static str, default_port: u16, build: F) -> anyhow::Result<()>
where
    F: FnOnce(ServiceContext) -> Fut,
    Fut: Future<Output = anyhow::Result<Router>>,
{
    load_dotenv()?;
    let config = Config::from_env(default_port)?;
    telemetry::init(config.log_format);

    let db = db::connect(&config, name)
        .await
        .context("MONGO_URI could not be used")?;
    db::wait_until_reachable(&db, STARTUP_PING_ATTEMPTS)
        .await
        .context("MongoDB could not be reached at MONGO_URI")?;

    let address = (config.host, config.port);
    let (stop, stopping) = watch::channel(false);
    let app = build(ServiceContext {
        config,
        db,
        shutdown: Shutdown(stopping),
    })
    .await?;
    let listener = TcpListener::bind(address).await.with_context(|| {
        format!(
            "could not listen on {}:{} (HOST, PORT)",
            address.0, address.1
        )
    })?;
    tracing::info!(address = %listener.local_addr()?, "{name} listening; Swagger UI at /docs");

    // The peer address is what the user service's per-client rate limits key on.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("server error")?;
    let _ = stop.send(true);
    if tokio::time::timeout(BACKGROUND_DRAIN, stop.closed())
        .await
        .is_err()
    {
        tracing::warn!("background tasks did not finish within {BACKGROUND_DRAIN:?}");
    }
    tracing::info!("{name} stopped");
    Ok(())
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
