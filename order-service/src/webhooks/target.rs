//! Where a webhook may be sent: the URL policy and the address a delivery connects to.
//!
//! A URL must be `https://` (or `http://` with `WEBHOOK_ALLOW_HTTP`), and every address its host
//! resolves to must be public: loopback, private, shared, link-local (cloud metadata among them),
//! multicast and reserved addresses are refused unless `WEBHOOK_ALLOW_PRIVATE`. The check runs
//! when a subscription is written and again for every delivery, after resolution, and the
//! delivery connects to exactly the address that passed it, so a name that later resolves
//! elsewhere (DNS rebinding) cannot lead a delivery into the internal network.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
};

use futures_util::future::BoxFuture;
use url::{Host, Url};

/// Why a URL is not a place webhooks may go.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Not an absolute `http(s)` URL with a host.
    #[error("must be an absolute https:// URL")]
    NotHttpUrl,
    /// `http://` without `WEBHOOK_ALLOW_HTTP`.
    #[error("must use https:// (plain http:// is allowed only with WEBHOOK_ALLOW_HTTP=true)")]
    PlainHttp,
    /// User name or password in the URL.
    #[error("must not carry a user name or password")]
    Credentials,
    /// The host resolves to an address that is not public.
    #[error(
        "its host resolves to {0}, which is not a public address (allowed only with WEBHOOK_ALLOW_PRIVATE=true)"
    )]
    NotPublic(IpAddr),
    /// The host does not resolve.
    #[error("its host does not resolve")]
    Unresolvable,
}

/// Resolves a host name to its addresses: the system's resolver, or a test's.
pub type Resolve = Arc<dyn Fn(String, u16) -> BoxFuture<'static, Vec<SocketAddr>> + Send + Sync>;

/// How long a name may take to resolve before it counts as unresolvable.
const RESOLVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The system resolver, giving up after [`RESOLVE_TIMEOUT`].
pub fn system_resolver() -> Resolve {
    Arc::new(|host, port| {
        Box::pin(async move {
            let lookup = tokio::net::lookup_host((host.as_str(), port));
            match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
                Ok(Ok(addrs)) => addrs.collect(),
                _ => Vec::new(),
            }
        })
    })
}

/// The URL policy.
#[derive(Clone)]
pub struct Policy {
    allow_http: bool,
    allow_private: bool,
    resolve: Resolve,
}

/// A URL that passed the policy, with the address a delivery connects to.
#[derive(Clone, Debug)]
pub struct Target {
    /// The URL (its host names the TLS server and the `Host` header).
    pub url: Url,
    /// The checked address.
    pub addr: SocketAddr,
}

impl Policy {
    /// The policy of the settings, resolving with `resolve`.
    pub fn new(allow_http: bool, allow_private: bool, resolve: Resolve) -> Self {
        Self {
            allow_http,
            allow_private,
            resolve,
        }
    }

    /// `raw` parsed and checked for its form only (scheme, host, no credentials).
    pub fn parse(&self, raw: &str) -> Result<Url, Refused> {
        let url = Url::parse(raw.trim()).map_err(|_| Refused::NotHttpUrl)?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => return Err(Refused::PlainHttp),
            _ => return Err(Refused::NotHttpUrl),
        }
        if url.host().is_none() {
            return Err(Refused::NotHttpUrl);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refused::Credentials);
        }
        Ok(url)
    }

    /// Resolves `url`'s host and checks every address; the first one is where to connect.
    pub async fn resolve(&self, url: &Url) -> Result<Target, Refused> {
        let port = url.port_or_known_default().ok_or(Refused::NotHttpUrl)?;
        let addrs = match url.host() {
            Some(Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
            Some(Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
            Some(Host::Domain(name)) => (self.resolve)(name.to_owned(), port).await,
            None => return Err(Refused::NotHttpUrl),
        };
        if !self.allow_private
            && let Some(bad) = addrs.iter().find(|addr| !is_public(addr.ip()))
        {
            return Err(Refused::NotPublic(bad.ip()));
        }
        let addr = *addrs.first().ok_or(Refused::Unresolvable)?;
        Ok(Target {
            url: url.clone(),
            addr,
        })
    }

    /// `raw` parsed and, unless any address is allowed, resolved and checked: what a
    /// subscription may be written with. (Where any address is allowed, a name that does not
    /// resolve yet is accepted: its deliveries fail and are retried until it does.)
    pub async fn check(&self, raw: &str) -> Result<Url, Refused> {
        let url = self.parse(raw)?;
        if !self.allow_private {
            self.resolve(&url).await?;
        }
        Ok(url)
    }
}

/// Whether `ip` is a public unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let first = v6.segments()[0];
            let nat64 = v6.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
            if nat64 {
                let [.., a, b] = v6.segments();
                let embedded = Ipv4Addr::from((u32::from(a) << 16) | u32::from(b));
                return is_public_v4(embedded);
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local, fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local, fe80::/10
                || (first & 0xffc0) == 0xfec0 // site-local (deprecated), fec0::/10
                || v6.segments()[..2] == [0x2001, 0xdb8]) // documentation
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16, the cloud metadata address among them
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space, 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking, 198.18/15
        || a >= 240) // reserved
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allow_http: bool, allow_private: bool) -> Policy {
        let resolve: Resolve = Arc::new(|host, port| {
            Box::pin(async move {
                match host.as_str() {
                    "internal.example" => vec![SocketAddr::from(([10, 0, 0, 1], port))],
                    "public.example" => vec![SocketAddr::from(([93, 184, 215, 14], port))],
                    _ => Vec::new(),
                }
            })
        });
        Policy::new(allow_http, allow_private, resolve)
    }

    #[tokio::test]
    async fn only_https_urls_with_a_host_and_no_credentials_pass() {
        let strict = policy(false, false);
        assert_eq!(
            strict.check("ftp://public.example/").await,
            Err(Refused::NotHttpUrl)
        );
        assert_eq!(strict.check("not a url").await, Err(Refused::NotHttpUrl));
        assert_eq!(
            strict.check("http://public.example/").await,
            Err(Refused::PlainHttp)
        );
        assert_eq!(
            strict.check("https://u:p@public.example/").await,
            Err(Refused::Credentials)
        );
        assert!(strict.check("https://public.example/hook").await.is_ok());
        assert!(
            policy(true, false)
                .check("http://public.example/")
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn internal_addresses_are_refused_literal_or_resolved_unless_allowed() {
        let strict = policy(false, false);
        for (url, ip) in [
            ("https://127.0.0.1/", "127.0.0.1"),
            ("https://[::1]/", "::1"),
            (
                "https://169.254.169.254/latest/meta-data",
                "169.254.169.254",
            ),
            ("https://internal.example/", "10.0.0.1"),
            ("https://[::ffff:192.168.1.1]/", "::ffff:192.168.1.1"),
            ("https://100.100.100.200/", "100.100.100.200"),
            ("https://0.0.0.0/", "0.0.0.0"),
            ("https://[fd00:ec2::254]/", "fd00:ec2::254"),
        ] {
            let refused = strict.check(url).await;
            assert_eq!(
                refused,
                Err(Refused::NotPublic(ip.parse().unwrap())),
                "{url}"
            );
        }
        assert_eq!(
            strict.check("https://nowhere.example/").await,
            Err(Refused::Unresolvable)
        );
        assert!(
            policy(false, true)
                .check("https://internal.example/")
                .await
                .is_ok()
        );
        assert!(
            policy(false, true)
                .check("https://127.0.0.1:9/")
                .await
                .is_ok()
        );
    }
}
