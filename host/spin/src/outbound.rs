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
//! Beyond Spin, a destination is checked again once its name is resolved:
//! an address that is not globally reachable ([`is_global`]: loopback,
//! private, link-local, CGNAT, multicast, documentation, ...) is reached
//! only through a pattern that names its host exactly (`127.0.0.1`,
//! `[::1]`, `localhost`, a CIDR range that contains it), never through a
//! wildcard (`*`, `*.example.com`), so that `https://*:*` cannot be turned
//! against the machine or its network ([`AllowedHosts::resolve`]).
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
//!
//! // A wildcard admits names, not the loopback address they resolve to.
//! let loopback = "127.0.0.1".parse().unwrap();
//! assert!(!allowed.allows_address("https", "localhost", 443, loopback));
//! assert!(allowed.allows_address("http", "127.0.0.1", 8080, loopback));
//! # Ok::<(), studio_edge_spin::outbound::OutboundPatternError>(())
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

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

    /// Whether this pattern, having admitted a host, also admits an
    /// address of it that is not globally reachable: only when it names
    /// the host exactly or the address by range, never through a wildcard.
    fn names_exactly(&self, ip: IpAddr) -> bool {
        match &self.host {
            HostPattern::Exact(_) => true,
            HostPattern::Range(range) => range.contains(ip),
            HostPattern::Any | HostPattern::SubdomainOf(_) | HostPattern::App => false,
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

/// Why [`AllowedHosts::resolve`] gave no address to connect to.
#[derive(Debug, thiserror::Error)]
pub enum DestinationError {
    /// No pattern admits the scheme, host and port.
    #[error("{0} is not in allowed_outbound_hosts")]
    NotAllowed(String),
    /// The name could not be resolved.
    #[error("resolving {host}: {source}")]
    Dns {
        host: String,
        source: std::io::Error,
    },
    /// The name resolved to no address.
    #[error("{0} has no address")]
    NoAddress(String),
    /// Every address of the host is one that is not globally reachable and
    /// that no pattern names.
    #[error(
        "{host} resolves to {} (not a public address), which allowed_outbound_hosts does not name",
        list(.addresses)
    )]
    Prohibited {
        host: String,
        addresses: Vec<IpAddr>,
    },
}

fn list(addresses: &[IpAddr]) -> String {
    let text: Vec<String> = addresses.iter().map(IpAddr::to_string).collect();
    text.join(", ")
}

/// Whether `ip` is reachable on the public internet: not loopback,
/// unspecified, private (RFC 1918, RFC 4193 `fc00::/7`), link-local
/// (`169.254.0.0/16`, `fe80::/10`), shared address space (CGNAT
/// `100.64.0.0/10`), multicast, broadcast, reserved, documentation or
/// benchmarking space, nor any other special-purpose block of the IANA
/// registries (RFC 6890) that is not globally reachable. An IPv6 address
/// that carries an IPv4 one (mapped `::ffff:a.b.c.d`, compatible
/// `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) is judged by the
/// IPv4 address it carries.
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => is_global_v6(v6),
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0                                   // "this network", unspecified
        || a == 10                              // private
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || a == 127                             // loopback
        || (a == 169 && b == 254)               // link-local
        || (a == 172 && (16..32).contains(&b))  // private
        || (a == 192 && b == 0 && c == 0)       // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)       // documentation (TEST-NET-1)
        || (a == 192 && b == 88 && c == 99)     // 6to4 relay anycast (deprecated)
        || (a == 192 && b == 168)               // private
        || (a == 198 && (b == 18 || b == 19))   // benchmarking
        || (a == 198 && b == 51 && c == 100)    // documentation (TEST-NET-2)
        || (a == 203 && b == 0 && c == 113)     // documentation (TEST-NET-3)
        || a >= 224) // multicast, reserved, broadcast
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    let bits = ip.to_bits();
    let segments = ip.segments();
    let embedded_v4 = || Ipv4Addr::from_bits(bits as u32);
    let within = |prefix: u128, length: u32| (bits ^ prefix) >> (128 - length) == 0;
    if within(0, 96) {
        // `::`, `::1` and the deprecated IPv4-compatible `::a.b.c.d`, which
        // some stacks still route to the IPv4 address.
        return bits > 1 && is_global_v4(embedded_v4());
    }
    if within(0xffff << 32, 96) || within(0x64_ff9b << 96, 96) {
        // IPv4-mapped, and the well-known NAT64 prefix (RFC 6052).
        return is_global_v4(embedded_v4());
    }
    if segments[0] == 0x2002 {
        // 6to4 (RFC 3056): the IPv4 address is in bits 16..48.
        return is_global_v4(Ipv4Addr::from_bits((bits >> 80) as u32));
    }
    // Global unicast is 2000::/3; the rest (link-local, unique local,
    // multicast, discard-only, local-use NAT64, ...) is not global, and
    // inside it these blocks are not either.
    within(0x2000 << 112, 3)
        && !within(0x2001 << 112, 23) // IETF protocol assignments (Teredo, benchmarking, ORCHID)
        && !within(0x2001_0db8 << 96, 32) // documentation
        && !within(0x3fff << 112, 20) // documentation (RFC 9637)
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
    /// A non-global address needs a pattern that names it (not `*`).
    pub fn allows_socket(&self, addr: SocketAddr) -> bool {
        let ip = addr.ip().to_canonical();
        let host = ip.to_string();
        self.patterns.iter().any(|p| {
            !matches!(p.host, HostPattern::App)
                && p.host_allows(&host)
                && p.port_allows(None, addr.port())
                && (is_global(ip) || p.names_exactly(ip))
        })
    }

    /// Whether a connection to `scheme://host:port`, whose name resolved to
    /// `ip`, may go to that address: some pattern admits the host and, when
    /// `ip` is not globally reachable, names the host exactly or `ip` by
    /// range.
    pub fn allows_address(&self, scheme: &str, host: &str, port: u16, ip: IpAddr) -> bool {
        let global = is_global(ip);
        self.patterns
            .iter()
            .any(|p| p.allows(scheme, host, port) && (global || p.names_exactly(ip)))
    }

    /// Resolves `host` (a name, or an IP address with or without brackets)
    /// once and returns the addresses a connection to `scheme://host:port`
    /// may use, in the resolver's order: connect to these, never to the
    /// name again, so that the address checked is the address reached.
    pub async fn resolve(
        &self,
        scheme: &str,
        host: &str,
        port: u16,
    ) -> Result<Vec<SocketAddr>, DestinationError> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if !self.allows(scheme, bare, port) {
            return Err(DestinationError::NotAllowed(format!(
                "{scheme}://{host}:{port}"
            )));
        }
        let resolved: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((bare, port))
                .await
                .map_err(|source| DestinationError::Dns {
                    host: bare.to_owned(),
                    source,
                })?
                .collect(),
        };
        if resolved.is_empty() {
            return Err(DestinationError::NoAddress(bare.to_owned()));
        }
        let (allowed, refused): (Vec<SocketAddr>, Vec<SocketAddr>) = resolved
            .into_iter()
            .partition(|addr| self.allows_address(scheme, bare, port, addr.ip()));
        if allowed.is_empty() {
            return Err(DestinationError::Prohibited {
                host: bare.to_owned(),
                addresses: refused.iter().map(SocketAddr::ip).collect(),
            });
        }
        Ok(allowed)
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

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn non_global_addresses() {
        for address in [
            "0.0.0.0",
            "0.1.2.3",
            "10.1.2.3",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.255.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "::192.168.0.1",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a00:1",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2002:c0a8:101::",
            "100::1",
            "2001::1",
            "2001:2::1",
            "2001:db8::1",
            "3fff::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "ff0e::1",
            "5f00::1",
        ] {
            assert!(!is_global(ip(address)), "{address} is not global");
        }
        for address in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.1",
            "192.169.0.1",
            "198.20.0.1",
            "223.255.255.255",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
        ] {
            assert!(is_global(ip(address)), "{address} is global");
        }
    }

    #[test]
    fn a_wildcard_reaches_only_global_addresses() {
        let a = allowed(&["https://*:*", "http://*.example.com"]);
        assert!(a.allows_address("https", "cdn.example.net", 443, ip("93.184.215.14")));
        assert!(!a.allows_address("https", "localhost", 3500, ip("127.0.0.1")));
        assert!(!a.allows_address("https", "localhost", 3500, ip("::1")));
        assert!(!a.allows_address("https", "127.0.0.1", 3500, ip("127.0.0.1")));
        assert!(!a.allows_address("https", "[::ffff:127.0.0.1]", 443, ip("::ffff:127.0.0.1")));
        assert!(!a.allows_address("https", "metadata", 443, ip("169.254.169.254")));
        assert!(!a.allows_address("http", "img.example.com", 80, ip("10.0.0.5")));
        assert!(a.allows_address("http", "img.example.com", 80, ip("1.2.3.4")));
    }

    #[test]
    fn an_exact_host_or_range_reaches_its_non_global_addresses() {
        let a = allowed(&[
            "http://127.0.0.1:*",
            "http://[::1]:3000",
            "redis://localhost:6379",
            "*://10.0.0.0/8:5432",
        ]);
        assert!(a.allows_address("http", "127.0.0.1", 3000, ip("127.0.0.1")));
        assert!(a.allows_address("http", "[::1]", 3000, ip("::1")));
        assert!(!a.allows_address("http", "[::1]", 3001, ip("::1")));
        assert!(a.allows_address("redis", "localhost", 6379, ip("127.0.0.1")));
        assert!(a.allows_address("postgres", "10.2.3.4", 5432, ip("10.2.3.4")));
        // A name is admitted by name, not by the address it resolves to.
        assert!(!a.allows_address("http", "localhost", 3000, ip("127.0.0.1")));
        assert!(!a.allows_address("http", "internal", 5432, ip("10.2.3.4")));
    }

    #[test]
    fn sockets_to_non_global_addresses_need_a_named_address() {
        let any = allowed(&["*://*:*"]);
        assert!(any.allows_socket("1.1.1.1:443".parse().unwrap()));
        assert!(!any.allows_socket("127.0.0.1:6379".parse().unwrap()));
        assert!(!any.allows_socket("[::ffff:127.0.0.1]:6379".parse().unwrap()));
        let named = allowed(&["*://127.0.0.1:6379", "*://192.168.0.0/16:*"]);
        assert!(named.allows_socket("127.0.0.1:6379".parse().unwrap()));
        assert!(named.allows_socket("[::ffff:127.0.0.1]:6379".parse().unwrap()));
        assert!(named.allows_socket("192.168.7.7:80".parse().unwrap()));
    }

    #[tokio::test]
    async fn resolving_keeps_the_allowed_addresses_only() {
        let wildcard = allowed(&["http://*:*"]);
        assert!(matches!(
            wildcard.resolve("http", "localhost", 3000).await,
            Err(DestinationError::Prohibited { .. })
        ));
        assert!(matches!(
            wildcard.resolve("http", "[::1]", 3000).await,
            Err(DestinationError::Prohibited { .. })
        ));
        assert!(matches!(
            wildcard.resolve("https", "localhost", 3000).await,
            Err(DestinationError::NotAllowed(_))
        ));
        let explicit = allowed(&["http://127.0.0.1:*"]);
        assert_eq!(
            explicit.resolve("http", "127.0.0.1", 3000).await.unwrap(),
            vec!["127.0.0.1:3000".parse().unwrap()]
        );
        let by_name = allowed(&["http://localhost:3000"]);
        let addresses = by_name.resolve("http", "localhost", 3000).await.unwrap();
        assert!(
            addresses.iter().all(|a| a.ip().is_loopback()),
            "{addresses:?}"
        );
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
