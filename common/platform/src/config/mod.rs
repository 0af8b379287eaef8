//! Service configuration, read once at startup from the environment.
//!
//! [`Config`] holds the settings every service reads; a setting only one service reads belongs to
//! that service, which reads it with [`Env`] through the same lookup (the process environment, or
//! a test's own map). Every setting is checked as it is read, so a bad value stops the service
//! with a message that names the variable instead of surfacing later as a confusing runtime
//! error. `.env` is loaded by the binary (see [`crate::server`]), never by library code, so tests
//! build a [`Config`] from a plain map.

use std::{net::IpAddr, str::FromStr, time::Duration};

use axum::http::{HeaderValue, Uri};
pub use common_api::{money::Currency, secret::Secret};

/// The shortest `JWT_SECRET` accepted: HS256 keys shorter than the hash output weaken the MAC.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

mod env;
#[cfg(test)]
mod tests;

pub use self::env::{ConfigError, Env, SettingInfo};

/// A service's own settings, beyond [`Config`]: read right after it, through the same [`Env`], so
/// that a bad value stops the service naming its variable before the database is reached, and so
/// that `--settings` lists them with the shared ones.
pub trait ServiceSettings: Sized {
    /// Reads the settings; `config` is there for settings derived from a shared one.
    fn read(
        config: &Config,
        env: &Env<impl Fn(&str) -> Option<String>>,
    ) -> Result<Self, ConfigError>;
}

/// A service with no settings of its own.
impl ServiceSettings for () {
    fn read(_: &Config, _: &Env<impl Fn(&str) -> Option<String>>) -> Result<Self, ConfigError> {
        Ok(())
    }
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, for log collectors.
    Json,
    /// Human-readable lines, for a terminal.
    Pretty,
}

impl std::fmt::Display for LogFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Json => "json",
            Self::Pretty => "pretty",
        })
    }
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.to_ascii_lowercase().as_str() {
            "json" => Ok(Self::Json),
            "pretty" => Ok(Self::Pretty),
            _ => Err(format!("expected `json` or `pretty`, got `{value}`")),
        }
    }
}

/// Which browser origins may call the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CorsOrigins {
    /// Any origin (no credentials are involved: tokens travel in the `Authorization` header).
    Any,
    /// Exactly these origins, such as `https://shop.example.com`.
    List(Vec<HeaderValue>),
}

/// Settings shared by every service.
#[derive(Clone, Debug)]
pub struct Config {
    /// `MONGO_URI`; may hold credentials, hence secret.
    pub mongo_uri: Secret,
    /// `DB_NAME`, default `ecommerce`.
    pub db_name: String,
    /// `JWT_SECRET`, required, at least [`MIN_JWT_SECRET_BYTES`] bytes.
    pub jwt_secret: Secret,
    /// `HOST`, default `0.0.0.0`.
    pub host: IpAddr,
    /// `PORT`, each service has its own default.
    pub port: u16,
    /// `CORS_ORIGINS`, a comma-separated list; empty or `*` means any origin.
    pub cors_origins: CorsOrigins,
    /// `LOG_FORMAT`: `json` or `pretty` (default).
    pub log_format: LogFormat,
    /// `RUST_LOG`, default `info`: which log lines are written (a filter that does not parse
    /// falls back to `info`).
    pub log_filter: String,
    /// Whether spans are exported over OTLP: `OTEL_EXPORTER_OTLP_ENDPOINT` or
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set (the exporter reads both, and its other
    /// standard `OTEL_*` variables, itself).
    pub export_traces: bool,
    /// `OTEL_SERVICE_NAME`: the exported spans' `service.name`, the service's own name when unset.
    pub otel_service_name: Option<String>,
    /// `ACCESS_TOKEN_EXPIRE_MINUTES`, default 30.
    pub access_token_ttl: Duration,
    /// `REQUEST_TIMEOUT_SECS`, default 10: the longest a request may take before it is answered 503.
    pub request_timeout: Duration,
    /// `HEADER_READ_TIMEOUT_SECS`, default 10: how long a connection may take to send a request's
    /// headers, and how long a kept-alive connection may stay idle, before it is closed.
    pub header_read_timeout: Duration,
    /// `MAX_CONNECTIONS`, default 10 000: how many connections are served at once; past that, new
    /// connections wait in the listen backlog until one closes.
    pub max_connections: usize,
    /// `METRICS_PATH`, default `/metrics`: where the Prometheus metrics are served; `off` serves
    /// none.
    pub metrics_path: Option<String>,
    /// `MONGODB_COMMAND_METRICS`, default `false`: time every MongoDB command for
    /// `mongodb_command_duration_seconds`. It costs throughput (the driver then copies every
    /// command and reply into an event), so it is for diagnosing, not for always.
    pub mongodb_command_metrics: bool,
    /// `CURRENCY`, default `USD`: the one currency of the deployment's prices and totals (an ISO
    /// 4217 code with a minor unit).
    pub currency: Currency,
    /// `OAUTH2_TOKEN_URL`, default `http://localhost:8001/users/token`: the user service's token
    /// route as a browser reaches it, which every service's OpenAPI document names as its OAuth2
    /// password flow's `tokenUrl`, so Swagger UI's "Authorize" signs in with email and password.
    pub oauth2_token_url: String,
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env(default_port: u16) -> Result<Self, ConfigError> {
        Self::from_lookup(default_port, |name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, so tests can supply their own values.
    pub fn from_lookup(
        default_port: u16,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        Self::read(default_port, &Env::new(lookup))
    }

    /// Reads the configuration through `env`, which a service's own settings are read through
    /// next.
    pub fn read(
        default_port: u16,
        env: &Env<impl Fn(&str) -> Option<String>>,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            mongo_uri: Secret::new(env.string_or("MONGO_URI", "mongodb://127.0.0.1:27017")),
            db_name: db_name(env)?,
            jwt_secret: jwt_secret(env)?,
            host: env.parse("HOST", IpAddr::from([0, 0, 0, 0]))?,
            port: env.parse("PORT", default_port)?,
            cors_origins: cors_origins(env)?,
            log_format: env.parse("LOG_FORMAT", LogFormat::Pretty)?,
            log_filter: env.string_or("RUST_LOG", "info"),
            // `|`, not `||`: both are read, so that both are described.
            export_traces: env.string("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
                | env.string("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some(),
            otel_service_name: env.string("OTEL_SERVICE_NAME"),
            access_token_ttl: Duration::from_secs(
                60 * env.parse_in_range("ACCESS_TOKEN_EXPIRE_MINUTES", 30, 1..=24 * 60)?,
            ),
            request_timeout: Duration::from_secs(env.parse_in_range(
                "REQUEST_TIMEOUT_SECS",
                10,
                1..=300,
            )?),
            header_read_timeout: Duration::from_secs(env.parse_in_range(
                "HEADER_READ_TIMEOUT_SECS",
                10,
                1..=300,
            )?),
            max_connections: env.parse_in_range("MAX_CONNECTIONS", 10_000, 1..=1_000_000)?,
            metrics_path: metrics_path(env)?,
            mongodb_command_metrics: env.parse("MONGODB_COMMAND_METRICS", false)?,
            oauth2_token_url: oauth2_token_url(env)?,
            currency: env.parse("CURRENCY", Currency::USD)?,
        })
    }
}

fn db_name(env: &Env<impl Fn(&str) -> Option<String>>) -> Result<String, ConfigError> {
    let name = env.string_or("DB_NAME", "ecommerce");
    // MongoDB's own rules for database names on every platform.
    if name.len() > 63
        || name.contains(['/', '\\', '.', ' ', '"', '$', '*', '<', '>', ':', '|', '?'])
    {
        return Err(ConfigError::invalid(
            "DB_NAME",
            "use at most 63 letters, digits, `-` or `_`",
        ));
    }
    Ok(name)
}

fn oauth2_token_url(env: &Env<impl Fn(&str) -> Option<String>>) -> Result<String, ConfigError> {
    let url = env.string_or("OAUTH2_TOKEN_URL", "http://localhost:8001/users/token");
    let absolute = url.starts_with("http://") || url.starts_with("https://");
    if !(absolute || url.starts_with('/')) || url.chars().any(char::is_whitespace) {
        return Err(ConfigError::invalid(
            "OAUTH2_TOKEN_URL",
            "must be an http(s) URL or a path such as /api/users/token",
        ));
    }
    Ok(url)
}

fn metrics_path(env: &Env<impl Fn(&str) -> Option<String>>) -> Result<Option<String>, ConfigError> {
    let path = env.string_or("METRICS_PATH", "/metrics");
    if path == "off" {
        return Ok(None);
    }
    let well_formed = path.len() > 1
        && path.starts_with('/')
        && !path.ends_with('/')
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b));
    if !well_formed {
        return Err(ConfigError::invalid(
            "METRICS_PATH",
            "must be a path such as /metrics (letters, digits, / - _ .), or off",
        ));
    }
    Ok(Some(path))
}

fn jwt_secret(env: &Env<impl Fn(&str) -> Option<String>>) -> Result<Secret, ConfigError> {
    let secret = env.required(
        "JWT_SECRET",
        "set it to a random string of at least 32 bytes, e.g. `openssl rand -hex 32`",
    )?;
    if secret.len() < MIN_JWT_SECRET_BYTES {
        return Err(ConfigError::invalid(
            "JWT_SECRET",
            format!(
                "it is {} bytes long; use at least {MIN_JWT_SECRET_BYTES}, e.g. `openssl rand -hex 32`",
                secret.len()
            ),
        ));
    }
    Ok(Secret::new(secret))
}

fn cors_origins(env: &Env<impl Fn(&str) -> Option<String>>) -> Result<CorsOrigins, ConfigError> {
    let Some(list) = env.string("CORS_ORIGINS") else {
        return Ok(CorsOrigins::Any);
    };
    if list == "*" {
        return Ok(CorsOrigins::Any);
    }
    let origins = list
        .split(',')
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .map(|origin| {
            let uri: Uri = origin.parse().map_err(|_| {
                ConfigError::invalid("CORS_ORIGINS", format!("`{origin}` is not a URL"))
            })?;
            let is_origin = uri.scheme().is_some()
                && uri.authority().is_some()
                && matches!(uri.path(), "" | "/")
                && !origin.ends_with('/');
            if !is_origin {
                return Err(ConfigError::invalid(
                    "CORS_ORIGINS",
                    format!("`{origin}` is not an origin such as https://shop.example.com"),
                ));
            }
            HeaderValue::from_str(origin).map_err(|_| {
                ConfigError::invalid("CORS_ORIGINS", format!("`{origin}` is not valid"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CorsOrigins::List(origins))
}
