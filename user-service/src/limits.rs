//! Per-client rate limits on the routes an attacker can make expensive: login and registration
//! (a bcrypt hash each) and refresh (database writes).
//!
//! A client is an IP address: the peer address of the connection, or, when `TRUSTED_PROXY_HEADER`
//! names a header that the proxies in front of the service append to, the entry
//! `TRUSTED_PROXY_HOPS` (default 1) from the right of that header's list, all its lines joined in
//! order. Each trusted proxy appends the address it received the request from, so the rightmost
//! `hops - 1` entries are the inner proxies' view of the outer ones (a CDN edge, say) and the
//! `hops`-th is what the outermost trusted proxy saw: the client. Entries further left are
//! whatever the client sent, and never count. A list shorter than `hops` means the request came
//! in past some of those proxies, and its leftmost entry is the address the first proxy saw.
//! IPv6 clients are keyed by their /64, which one host can change at will. In-process tests have
//! no peer address and share one key.
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
    extract::{ConnectInfo, Request},
    http::{HeaderMap, HeaderName},
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};

use crate::settings::UserSettings;

/// Forget idle clients every this many checks, so the table does not grow without bound.
const PRUNE_EVERY: u64 = 4096;

/// A client that has spent its limit, and how long until its next request is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimited {
    /// Whole seconds, at least one.
    pub retry_after_secs: u64,
}

/// The per-client limits of the rate-limited routes. Cheap to clone.
#[derive(Clone)]
pub struct ClientLimits {
    limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    trusted_header: Option<HeaderName>,
    trusted_hops: usize,
    checks: Arc<AtomicU64>,
}

impl ClientLimits {
    /// Limits from `RATE_LIMIT_PER_MINUTE`, `RATE_LIMIT_BURST`, `TRUSTED_PROXY_HEADER` and
    /// `TRUSTED_PROXY_HOPS`.
    pub fn new(settings: &UserSettings) -> Self {
        // The settings refuse zero for both; the fallback only keeps this free of a panic path.
        let per_minute = NonZeroU32::new(settings.rate_limit_per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(settings.rate_limit_burst).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: Arc::new(RateLimiter::keyed(
                Quota::per_minute(per_minute).allow_burst(burst),
            )),
            trusted_header: settings.trusted_proxy_header.clone(),
            trusted_hops: settings.trusted_proxy_hops,
            checks: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The client a request comes from.
    pub fn client_of(&self, request: &Request) -> IpAddr {
        let forwarded = self
            .trusted_header
            .as_ref()
            .and_then(|name| forwarded_client(request.headers(), name, self.trusted_hops));
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
    pub fn check(&self, client: IpAddr) -> Result<(), RateLimited> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(&client).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.limiter.clock().now());
            RateLimited {
                retry_after_secs: whole_seconds_up(wait),
            }
        })
    }
}

/// The address `hops` entries from the right of the comma-separated list in the `name` headers
/// (every line, in order), or the leftmost one when the list is shorter; with or without a port.
fn forwarded_client(headers: &HeaderMap, name: &HeaderName, hops: usize) -> Option<IpAddr> {
    // Split as bytes: what a client put to the left may be anything, and must not keep the
    // proxies' entries to the right from being read.
    let entries: Vec<&[u8]> = headers
        .get_all(name)
        .iter()
        .flat_map(|line| line.as_bytes().split(|byte| *byte == b','))
        .collect();
    let entry = entries.get(entries.len().saturating_sub(hops))?;
    let entry = std::str::from_utf8(entry).ok()?.trim();
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

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    const XFF: HeaderName = HeaderName::from_static("x-forwarded-for");

    fn ip(address: &str) -> Option<IpAddr> {
        Some(address.parse().unwrap())
    }

    #[test]
    fn with_one_hop_the_client_is_the_rightmost_forwarded_address() {
        let spoofed = headers(&["6.6.6.6", "1.1.1.1, 203.0.113.7"]);

        assert_eq!(forwarded_client(&spoofed, &XFF, 1), ip("203.0.113.7"));
        assert_eq!(
            forwarded_client(&headers(&["[2001:db8::1]:443"]), &XFF, 1),
            ip("2001:db8::1")
        );
        assert_eq!(
            forwarded_client(&headers(&["192.0.2.1:8080"]), &XFF, 1),
            ip("192.0.2.1")
        );
        assert_eq!(forwarded_client(&headers(&["unknown"]), &XFF, 1), None);
        assert_eq!(forwarded_client(&HeaderMap::new(), &XFF, 1), None);
    }

    #[test]
    fn with_two_hops_the_client_is_left_of_the_cdn_across_header_lines() {
        let cdn = "198.51.100.250";
        let one_line = headers(&[&format!("6.6.6.6, 203.0.113.7, {cdn}")]);
        // The CDN's address on a line of its own, as a proxy that adds a header line would send.
        let two_lines = headers(&["6.6.6.6, 203.0.113.7", cdn]);

        assert_eq!(forwarded_client(&one_line, &XFF, 2), ip("203.0.113.7"));
        assert_eq!(forwarded_client(&two_lines, &XFF, 2), ip("203.0.113.7"));
    }

    #[test]
    fn with_more_hops_than_entries_the_client_is_the_leftmost_entry() {
        let short = headers(&["203.0.113.7, 198.51.100.250"]);

        assert_eq!(forwarded_client(&short, &XFF, 3), ip("203.0.113.7"));
        assert_eq!(forwarded_client(&short, &XFF, 10), ip("203.0.113.7"));
        assert_eq!(
            forwarded_client(&headers(&["203.0.113.7"]), &XFF, 2),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn what_a_client_sends_left_of_the_proxies_entries_does_not_hide_them() {
        let mut garbled = HeaderMap::new();
        garbled.append(XFF, HeaderValue::from_bytes(b"\xff\xfe, x").unwrap());
        garbled.append(XFF, HeaderValue::from_static("203.0.113.7, 198.51.100.250"));

        assert_eq!(forwarded_client(&garbled, &XFF, 2), ip("203.0.113.7"));
        // The entry the hops point at must be an address, or the peer address is used instead.
        assert_eq!(forwarded_client(&garbled, &XFF, 3), None);
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
