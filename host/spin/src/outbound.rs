//! `allowed_outbound_hosts`: where a component may connect, in Spin's
//! syntax `scheme://host[:port]`, for HTTP, raw TCP (`wasi:sockets`),
//! Redis, PostgreSQL and MQTT alike.
//!
//! - scheme: `http`, `https`, `redis`, `mqtt`, `postgres`, ... or `*`;
//! - host: a name or IP address (`[...]` for IPv6), `*` for any host,
//!   `*.example.com` for any subdomain of `example.com` (not the domain
//!   itself), an IP range in CIDR form (`10.0.0.0/8`), or `self` (the
//!   app's own routes, HTTP only: Spin's service chaining);
//! - port: a number, `*` for any, or a range `8000..8100` (end exclusive);
//!   left out, it is the scheme's default port ([`default_port`]); with
//!   scheme `*`, the default port of whichever scheme is used.
//!
//! `{{ variable }}` templates are rendered by the manifest before parsing.
//! An empty list allows nothing, as in Spin.
//!
//! ```
//! use studio_edge_spin::outbound::AllowedHosts;
//!
//! let allowed = AllowedHosts::parse(&[
//!     "https://*.example.com",
//!     "http://127.0.0.1:*",
//!     "*://10.1.0.0/16:6379",
//! ])?;
//! assert!(allowed.allows("https", "img.example.com", 443));
//! assert!(!allowed.allows("https", "example.com", 443));
//! assert!(allowed.allows("http", "127.0.0.1", 8080));
//! assert!(!allowed.allows("http", "localhost", 8080));
//! assert!(allowed.allows_socket("10.1.2.3:6379".parse().unwrap()));
//! assert!(!allowed.allows_socket("10.2.0.1:6379".parse().unwrap()));
//! # Ok::<(), studio_edge_spin::outbound::OutboundPatternError>(())
//! ```

use std::fmt;
use std::net::{IpAddr, SocketAddr};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{pattern:?}: {reason}")]
pub struct OutboundPatternError {
    pub pattern: String,
    pub reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum SchemePattern {
    Any,
    Exact(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    /// `*.example.com`: stored as `.example.com`.
    SubdomainOf(String),
    Exact(String),
    /// An IP address range.
    Range(IpRange),
    /// `self`: the app's own routes.
    App,
}

/// `address/prefix-length`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IpRange {
    network: IpAddr,
    prefix: u8,
}

impl IpRange {
    fn parse(text: &str) -> Option<Self> {
        let (address, prefix) = text.split_once('/')?;
        let network: IpAddr = address
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        (prefix <= bits).then_some(Self { network, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let (network, ip, bits) = match (self.network, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                (u128::from(n.to_bits()), u128::from(a.to_bits()), 32)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => (n.to_bits(), a.to_bits(), 128),
            _ => return false,
        };
        let shift = bits - u32::from(self.prefix);
        shift >= bits || (network >> shift) == (ip >> shift)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    SchemeDefault,
    Exact(u16),
    /// Start inclusive, end exclusive.
    Range(u16, u16),
}

/// One allowed destination pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundPattern {
    scheme: SchemePattern,
    host: HostPattern,
    port: PortPattern,
    source: String,
}

/// The port a connection goes to when its address names none.
pub fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        "redis" | "rediss" => Some(6379),
        "mqtt" => Some(1883),
        "mqtts" => Some(8883),
        "postgres" | "postgresql" => Some(5432),
        "mysql" => Some(3306),
        _ => None,
    }
}

/// The host names that mean the app itself (Spin's `self` and `self.alt`).
pub fn is_self_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("self") || host.eq_ignore_ascii_case("self.alt")
}

impl OutboundPattern {
    pub fn parse(pattern: &str) -> Result<Self, OutboundPatternError> {
        let error = |reason| OutboundPatternError {
            pattern: pattern.to_owned(),
            reason,
        };
        let (scheme, rest) = pattern
            .split_once("://")
            .ok_or_else(|| error("expected scheme://host[:port]"))?;
        let scheme = scheme.to_ascii_lowercase();
        let scheme = match scheme.as_str() {
            "*" => SchemePattern::Any,
            s if s.starts_with(|c: char| c.is_ascii_alphabetic())
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
            {
                SchemePattern::Exact(scheme.clone())
            }
            _ => return Err(error("malformed scheme")),
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['?', '#', '@']) {
            return Err(error(
                "only scheme, host and port are allowed (no path, query or user)",
            ));
        }
        let (host, port) = split_host_port(authority).ok_or_else(|| error("malformed host"))?;
        let host = host.to_ascii_lowercase();
        let host = if host == "*" {
            HostPattern::Any
        } else if host.contains('/') {
            HostPattern::Range(
                IpRange::parse(&host)
                    .ok_or_else(|| error("malformed IP range (address/length)"))?,
            )
        } else if let Some(domain) = host.strip_prefix("*.") {
            if domain.is_empty() || domain.contains('*') {
                return Err(error("a host wildcard is '*' or '*.domain'"));
            }
            HostPattern::SubdomainOf(format!(".{domain}"))
        } else if host.is_empty() || host.contains('*') {
            return Err(error("a host wildcard is '*' or '*.domain'"));
        } else if is_self_host(&host) {
            if !matches!(&scheme, SchemePattern::Exact(s) if s == "http") {
                return Err(error("'self' is reached over http only"));
            }
            HostPattern::App
        } else if host.ends_with(".spin.internal") {
            return Err(error(
                "Spin's per-component service chaining (*.spin.internal) is not provided; use http://self",
            ));
        } else {
            HostPattern::Exact(host)
        };
        let port = match port {
            None => {
                if let SchemePattern::Exact(s) = &scheme
                    && default_port(s).is_none()
                {
                    return Err(error("this scheme has no default port: give one"));
                }
                PortPattern::SchemeDefault
            }
            Some("*") => PortPattern::Any,
            Some(port) => match port.split_once("..") {
                Some((start, end)) => {
                    let start = start.parse().map_err(|_| error("malformed port range"))?;
                    let end = end.parse().map_err(|_| error("malformed port range"))?;
                    if start >= end {
                        return Err(error("an empty port range"));
                    }
                    PortPattern::Range(start, end)
                }
                None => PortPattern::Exact(port.parse().map_err(|_| error("malformed port"))?),
            },
        };
        Ok(Self {
            scheme,
            host,
            port,
            source: pattern.to_owned(),
        })
    }

    /// Whether a connection to `scheme://host:port` fits this pattern.
    /// `host` is a name or an IP address (IPv6 with or without brackets).
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let scheme = scheme.to_ascii_lowercase();
        let scheme_ok = match &self.scheme {
            SchemePattern::Any => true,
            SchemePattern::Exact(exact) => *exact == scheme,
        };
        scheme_ok && self.host_allows(host) && self.port_allows(Some(&scheme), port)
    }

    fn host_allows(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        match &self.host {
            HostPattern::Any => !is_self_host(host),
            HostPattern::SubdomainOf(suffix) => {
                host.ends_with(suffix.as_str()) && host.len() > suffix.len()
            }
            HostPattern::Exact(exact) => {
                exact.trim_start_matches('[').trim_end_matches(']') == host
                    || match (
                        exact
                            .trim_start_matches('[')
                            .trim_end_matches(']')
                            .parse::<IpAddr>(),
                        host.parse::<IpAddr>(),
                    ) {
                        (Ok(a), Ok(b)) => a.to_canonical() == b.to_canonical(),
                        _ => false,
                    }
            }
            HostPattern::Range(range) => host.parse::<IpAddr>().is_ok_and(|ip| range.contains(ip)),
            HostPattern::App => is_self_host(host),
        }
    }

    /// `scheme` is `None` for a raw socket, which only an explicit port,
    /// range or `*` admits.
    fn port_allows(&self, scheme: Option<&str>, port: u16) -> bool {
        match self.port {
            PortPattern::Any => true,
            PortPattern::SchemeDefault => {
                let scheme = match (&self.scheme, scheme) {
                    (SchemePattern::Exact(s), _) => Some(s.as_str()),
                    (SchemePattern::Any, scheme) => scheme,
                };
                scheme.and_then(default_port) == Some(port)
            }
            PortPattern::Exact(exact) => exact == port,
            PortPattern::Range(start, end) => (start..end).contains(&port),
        }
    }
}

impl fmt::Display for OutboundPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Splits `host[:port]`, with IPv6 hosts in brackets.
fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if authority.starts_with('[') {
        let end = authority.find(']')?;
        // `[v6]/len` ranges keep their length with the host.
        let host_end = match authority[end + 1..].strip_prefix('/') {
            Some(rest) => end + 2 + rest.find(':').unwrap_or(rest.len()),
            None => end + 1,
        };
        let host = &authority[..host_end];
        return match &authority[host_end..] {
            "" => Some((host, None)),
            rest => Some((host, Some(rest.strip_prefix(':')?))),
        };
    }
    match authority.split_once(':') {
        Some((_, port)) if port.contains(':') => None,
        Some((host, port)) => Some((host, Some(port))),
        None => Some((authority, None)),
    }
}

/// A component's allow list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    patterns: Vec<OutboundPattern>,
}

impl AllowedHosts {
    pub fn parse<S: AsRef<str>>(patterns: &[S]) -> Result<Self, OutboundPatternError> {
        let patterns = patterns
            .iter()
            .map(|p| OutboundPattern::parse(p.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(Self { patterns })
    }

    /// Nothing is allowed.
    pub fn none() -> Self {
        Self::default()
    }

    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.patterns.iter().any(|p| p.allows(scheme, host, port))
    }

    /// Whether an absolute request URI is allowed (its port defaults from
    /// its scheme).
    pub fn allows_uri(&self, uri: &http::Uri) -> bool {
        let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else {
            return false;
        };
        let Some(port) = uri.port_u16().or_else(|| default_port(scheme)) else {
            return false;
        };
        self.allows(scheme, host, port)
    }

    /// Whether a raw TCP or UDP connection to `addr` is allowed: some
    /// pattern, of any scheme, names its address (exactly, by range or
    /// `*`) and its port (a scheme's default port counts only for that
    /// scheme's patterns).
    pub fn allows_socket(&self, addr: SocketAddr) -> bool {
        let host = addr.ip().to_canonical().to_string();
        self.patterns.iter().any(|p| {
            !matches!(p.host, HostPattern::App)
                && p.host_allows(&host)
                && p.port_allows(None, addr.port())
        })
    }

    /// Whether `http://self` (the app's own routes) is allowed.
    pub fn allows_self(&self) -> bool {
        self.patterns
            .iter()
            .any(|p| matches!(p.host, HostPattern::App))
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(patterns: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(patterns).unwrap()
    }

    #[test]
    fn exact_host_with_default_port() {
        let a = allowed(&["https://example.com"]);
        assert!(a.allows("https", "example.com", 443));
        assert!(a.allows("HTTPS", "Example.COM", 443));
        assert!(!a.allows("https", "example.com", 8443));
        assert!(!a.allows("http", "example.com", 80));
        assert!(!a.allows("https", "www.example.com", 443));
    }

    #[test]
    fn subdomain_wildcard_excludes_the_domain_itself() {
        let a = allowed(&["https://*.example.com:443"]);
        assert!(a.allows("https", "a.example.com", 443));
        assert!(a.allows("https", "a.b.example.com", 443));
        assert!(!a.allows("https", "example.com", 443));
        assert!(!a.allows("https", "badexample.com", 443));
    }

    #[test]
    fn any_port_and_ranges() {
        let a = allowed(&["http://127.0.0.1:*", "http://localhost:8000..8002"]);
        assert!(a.allows("http", "127.0.0.1", 1));
        assert!(a.allows("http", "localhost", 8001));
        assert!(!a.allows("http", "localhost", 8002));
        assert!(!a.allows("https", "127.0.0.1", 443));
    }

    #[test]
    fn everything_and_nothing() {
        let all = allowed(&["*://*:*"]);
        assert!(all.allows("http", "anything", 1));
        assert!(all.allows("https", "x.y", 65535));
        assert!(!AllowedHosts::none().allows("http", "127.0.0.1", 80));
        let any_scheme = allowed(&["*://example.com"]);
        assert!(any_scheme.allows("http", "example.com", 80));
        assert!(any_scheme.allows("https", "example.com", 443));
        assert!(!any_scheme.allows("http", "example.com", 443));
    }

    #[test]
    fn ipv6_and_uris() {
        let a = allowed(&["http://[::1]:*", "https://example.com/"]);
        assert!(a.allows("http", "[::1]", 3000));
        assert!(a.allows_uri(&"http://[::1]:3000/x".parse().unwrap()));
        assert!(a.allows_uri(&"https://example.com/path?q".parse().unwrap()));
        assert!(!a.allows_uri(&"https://example.com:444/".parse().unwrap()));
        assert!(!a.allows_uri(&"/relative".parse().unwrap()));
    }

    #[test]
    fn other_schemes_ranges_and_self() {
        let a = allowed(&[
            "redis://localhost:6379",
            "mqtt://broker",
            "*://127.0.0.0/24:7",
            "*://[::1]/128:9000..9002",
            "http://self",
        ]);
        assert!(a.allows("redis", "localhost", 6379));
        assert!(!a.allows("redis", "localhost", 6380));
        assert!(a.allows("mqtt", "broker", 1883));
        assert!(a.allows("tcp", "127.0.0.200", 7));
        assert!(!a.allows("tcp", "127.0.1.1", 7));
        assert!(a.allows_socket("127.0.0.1:7".parse().unwrap()));
        assert!(!a.allows_socket("127.0.0.1:6001".parse().unwrap()));
        assert!(a.allows_socket("[::1]:9001".parse().unwrap()));
        assert!(!a.allows_socket("[::1]:9002".parse().unwrap()));
        // A default port admits only connections of that scheme.
        assert!(!a.allows_socket("127.0.0.1:1883".parse().unwrap()));
        assert!(a.allows_self());
        assert!(a.allows_uri(&"http://self/orders/v1/drops".parse().unwrap()));
        assert!(!allowed(&["*://*:*"]).allows_uri(&"http://self/x".parse().unwrap()));
        assert!(allowed(&["*://0.0.0.0/0:*"]).allows_socket("192.0.2.1:1".parse().unwrap()));
    }

    #[test]
    fn malformed_patterns_are_refused() {
        for bad in [
            "example.com",
            "ftp://example.com",
            "1http://example.com",
            "https://example.com/path",
            "https://ex*ample.com",
            "https://*.",
            "https://example.com:port",
            "https://example.com:9..9",
            "https://self",
            "https://svc.spin.internal",
            "*://10.0.0.0/33:80",
            "https://user@example.com",
        ] {
            assert!(OutboundPattern::parse(bad).is_err(), "{bad}");
        }
    }
}
