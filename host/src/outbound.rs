//! `allowed_outbound_hosts`: which destinations a component may send HTTP
//! requests to, in Spin's syntax `scheme://host[:port]`.
//!
//! - scheme: `http`, `https` or `*`;
//! - host: a name or IP address (`[...]` for IPv6), `*` for any host, or
//!   `*.example.com` for any subdomain of `example.com` (not the domain
//!   itself);
//! - port: a number, `*` for any, or a range `8000..8100` (end exclusive);
//!   left out, it is the scheme's default port (80 for http, 443 for https;
//!   with scheme `*`, the default port of whichever scheme is used).
//!
//! An empty list allows nothing, as in Spin.
//!
//! ```
//! use studio_edge::outbound::AllowedHosts;
//!
//! let allowed = AllowedHosts::parse(&["https://*.example.com", "http://127.0.0.1:*"])?;
//! assert!(allowed.allows("https", "img.example.com", 443));
//! assert!(!allowed.allows("https", "example.com", 443));
//! assert!(allowed.allows("http", "127.0.0.1", 8080));
//! assert!(!allowed.allows("http", "localhost", 8080));
//! # Ok::<(), studio_edge::outbound::OutboundPatternError>(())
//! ```

use std::fmt;

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

/// The port a request goes to when its URL names none.
pub fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
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
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "*" => SchemePattern::Any,
            s @ ("http" | "https") => SchemePattern::Exact(s.to_owned()),
            _ => return Err(error("the scheme must be http, https or *")),
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#', '@']) {
            return Err(error(
                "only scheme, host and port are allowed (no path, query or user)",
            ));
        }
        let (host, port) = split_host_port(authority).ok_or_else(|| error("malformed host"))?;
        let host = host.to_ascii_lowercase();
        let host = if host == "*" {
            HostPattern::Any
        } else if let Some(domain) = host.strip_prefix("*.") {
            if domain.is_empty() || domain.contains('*') {
                return Err(error("a host wildcard is '*' or '*.domain'"));
            }
            HostPattern::SubdomainOf(format!(".{domain}"))
        } else if host.is_empty() || host.contains('*') {
            return Err(error("a host wildcard is '*' or '*.domain'"));
        } else if host == "self" || host.ends_with(".spin.internal") {
            return Err(error("Spin service chaining is not supported"));
        } else {
            HostPattern::Exact(host)
        };
        let port = match port {
            None => PortPattern::SchemeDefault,
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

    /// Whether a request to `scheme://host:port` fits this pattern. `host`
    /// is a name or an IP address (IPv6 with or without brackets).
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let scheme = scheme.to_ascii_lowercase();
        let host = host.to_ascii_lowercase();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let scheme_ok = match &self.scheme {
            SchemePattern::Any => true,
            SchemePattern::Exact(exact) => *exact == scheme,
        };
        let host_ok = match &self.host {
            HostPattern::Any => true,
            HostPattern::SubdomainOf(suffix) => {
                host.ends_with(suffix.as_str()) && host.len() > suffix.len()
            }
            HostPattern::Exact(exact) => {
                exact.trim_start_matches('[').trim_end_matches(']') == host
            }
        };
        let port_ok = match self.port {
            PortPattern::Any => true,
            PortPattern::SchemeDefault => default_port(&scheme) == Some(port),
            PortPattern::Exact(exact) => exact == port,
            PortPattern::Range(start, end) => (start..end).contains(&port),
        };
        scheme_ok && host_ok && port_ok
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
        let host = &authority[..=end];
        return match &authority[end + 1..] {
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
    fn malformed_patterns_are_refused() {
        for bad in [
            "example.com",
            "ftp://example.com",
            "https://example.com/path",
            "https://ex*ample.com",
            "https://*.",
            "https://example.com:port",
            "https://example.com:9..9",
            "http://self",
            "https://user@example.com",
        ] {
            assert!(OutboundPattern::parse(bad).is_err(), "{bad}");
        }
    }
}
