//! Per-client rate limits on the routes an attacker can make expensive: login and registration
//! (a bcrypt hash each) and refresh (database writes).
//!
//! A client is an IP address: the peer address of the connection, or, when `TRUSTED_PROXY_HEADER`
//! names a header set by a proxy in front of the service, the rightmost address of that header
//! (the one the trusted proxy added; entries to its left are whatever the client sent). IPv6
//! clients are keyed by their /64, which one host can change at will. In-process tests have no
//! peer address and share one key.
//!
//! The limit is a GCRA bucket per client (`governor`), held in memory: each instance of the
//! service counts on its own, and a restart forgets the counts, which is acceptable for a limit
//! meant to keep one client from starving the others.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    num::NonZeroU32,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, HeaderName},
    middleware::Next,
    response::Response,
};
use common::{ApiError, config::Config, error::ErrorBody};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};
use utoipa::IntoResponses;

/// Forget idle clients every this many checks, so the table does not grow without bound.
const PRUNE_EVERY: u64 = 4096;

/// The per-client limits of the rate-limited routes. Cheap to clone.
#[derive(Clone)]
pub struct ClientLimits {
    limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    trusted_header: Option<HeaderName>,
    checks: Arc<AtomicU64>,
}

impl ClientLimits {
    /// Limits from `RATE_LIMIT_PER_MINUTE`, `RATE_LIMIT_BURST` and `TRUSTED_PROXY_HEADER`.
    pub fn new(config: &Config) -> Self {
        // Config refuses zero for both; the fallback only keeps this free of a panic path.
        let per_minute = NonZeroU32::new(config.rate_limit_per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(config.rate_limit_burst).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: Arc::new(RateLimiter::keyed(
                Quota::per_minute(per_minute).allow_burst(burst),
            )),
            trusted_header: config.trusted_proxy_header.clone(),
            checks: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The client a request comes from.
    pub fn client_of(&self, request: &Request) -> IpAddr {
        let forwarded = self
            .trusted_header
            .as_ref()
            .and_then(|name| forwarded_client(request.headers(), name));
        let peer = || {
            request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(address)| address.ip())
        };
        let ip = forwarded
            .or_else(peer)
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        client_key(ip)
    }

    /// Counts one request of `client`: `Err(RateLimited)` once its limit is spent.
    pub fn check(&self, client: IpAddr) -> Result<(), ApiError> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(&client).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.limiter.clock().now());
            ApiError::RateLimited {
                retry_after_secs: whole_seconds_up(wait),
            }
        })
    }
}

/// Middleware for the rate-limited routes: answers 429 `RATE_LIMITED` past a client's limit.
pub async fn limit_per_client(
    State(limits): State<ClientLimits>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let client = limits.client_of(&request);
    if let Err(err) = limits.check(client) {
        tracing::warn!(%client, path = request.uri().path(), "client rate limited");
        return Err(err);
    }
    Ok(next.run(request).await)
}

/// The rightmost address of the last `name` header, with or without a port.
fn forwarded_client(headers: &HeaderMap, name: &HeaderName) -> Option<IpAddr> {
    let last = headers.get_all(name).iter().next_back()?;
    let entry = last.to_str().ok()?.rsplit(',').next()?.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|address| address.ip()))
}

/// IPv4 addresses as they are; IPv6 by their /64 (IPv4-mapped ones as IPv4).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                IpAddr::V6(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
            }
        },
    }
}

/// `Retry-After` is whole seconds: round up, and never 0 (which would invite an instant retry).
fn whole_seconds_up(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

/// 429 `RATE_LIMITED` of the rate-limited routes (login lists its own 429, which has two causes).
#[derive(IntoResponses)]
pub enum RateLimitedError {
    /// The client sent too many requests.
    #[response(
        status = 429,
        description = "Too many requests from this client (IP address): `RATE_LIMITED`, see `RATE_LIMIT_PER_MINUTE` and `RATE_LIMIT_BURST`",
        headers(("Retry-After" = u64, description = "Seconds until the client may try again"))
    )]
    RateLimited(ErrorBody),
}

/// The 503 of the routes that hash a password; it replaces the shared `DbUnavailable` set there,
/// since an operation lists each status once.
#[derive(IntoResponses)]
pub enum BusyOrDbUnavailable {
    /// The database or the password hasher cannot serve the request now.
    #[response(
        status = 503,
        description = "Database unavailable (`DB_UNAVAILABLE`), or too many password checks queued (`OVERLOADED`, with `Retry-After: 1`)",
        headers(("Retry-After" = u64, description = "With `OVERLOADED`: seconds until the client may try again"))
    )]
    Unavailable(ErrorBody),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn the_client_is_the_rightmost_forwarded_address() {
        let name = HeaderName::from_static("x-forwarded-for");
        let spoofed = headers(&["6.6.6.6", "1.1.1.1, 203.0.113.7"]);
        assert_eq!(
            forwarded_client(&spoofed, &name),
            Some(IpAddr::from([203, 0, 113, 7]))
        );
        assert_eq!(
            forwarded_client(&headers(&["[2001:db8::1]:443"]), &name),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(forwarded_client(&headers(&["unknown"]), &name), None);
        assert_eq!(forwarded_client(&HeaderMap::new(), &name), None);
    }

    #[test]
    fn ipv6_clients_share_a_key_per_64() {
        let a = client_key("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = client_key("2001:db8:1:2:bbbb::2".parse().unwrap());
        assert_eq!(a, b);
        assert_eq!(
            client_key("::ffff:10.0.0.1".parse().unwrap()),
            IpAddr::from([10, 0, 0, 1])
        );
    }

    #[test]
    fn retry_after_rounds_up_to_at_least_a_second() {
        assert_eq!(whole_seconds_up(Duration::ZERO), 1);
        assert_eq!(whole_seconds_up(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds_up(Duration::from_millis(2001)), 3);
    }
}
