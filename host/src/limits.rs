//! Limits per client and per connection, applied by [`crate::server::serve`]
//! before a request reaches a route: request rate and open connections per
//! client, the time to send request headers, and the pace of a request body.
//!
//! A client is an IPv4 address or an IPv6 /64 (one subscriber's usual
//! allocation; an IPv4-mapped IPv6 address counts as its IPv4 address).
//! Loopback clients are exempt from the rate and connection caps unless
//! `--limit-loopback` is given: a reverse proxy or a load test on the same
//! machine connects from loopback for everyone. The header timeout, the body
//! pace and the total connection cap apply to every client.
//!
//! | limit | default | past it |
//! |---|---|---|
//! | `--rate-limit` / `--rate-burst` | 50 requests/s, bursts of 200 | 429 `rate-limited`, `Retry-After` |
//! | `--max-connections-per-client` | 64 | 503 `connection-limit`, connection closed |
//! | `--max-connections` | 4096 | 503 `connection-limit`, connection closed |
//! | `--header-timeout-ms` | 10 000 | connection closed (no response: the request never arrived) |
//! | `--body-min-rate` / `--body-grace-ms` | 1024 bytes/s after 5 s | 408 `body-timeout`, connection closed |
//!
//! Setting a number to 0 turns that limit off. Refusals are counted in
//! `studio_edge_http_refused_total{reason}` on `/metrics`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::body::Body;
use bytes::Bytes;
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota};
use http::{HeaderValue, Request, Response, header};
use hyper::body::{Body as HttpBody, Frame, SizeHint};

use crate::problem::{self, Problem};

/// The command-line flags, shared by `up` and `orders`.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientLimitArgs {
    /// Requests per second one client may make on average; 429 past it
    /// (0: no limit).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub rate_limit: u32,
    /// Requests one client may make at once above its rate.
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub rate_burst: u32,
    /// Open connections one client may hold; past it a new one gets 503
    /// and is closed (0: no limit).
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_connections_per_client: usize,
    /// Open connections in all (0: no limit).
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub max_connections: usize,
    /// Time a client has to send a request's headers, in milliseconds;
    /// the connection is closed past it (0: no limit).
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub header_timeout_ms: u64,
    /// Slowest request body accepted, in bytes per second after the grace
    /// period; 408 past it (0: no limit).
    #[arg(long, value_name = "BYTES", default_value_t = 1024)]
    pub body_min_rate: u64,
    /// Time a request body may take before `--body-min-rate` applies.
    #[arg(long, value_name = "MS", default_value_t = 5_000)]
    pub body_grace_ms: u64,
    /// Applies the rate and per-client connection limits to loopback
    /// clients too.
    #[arg(long)]
    pub limit_loopback: bool,
}

impl Default for ClientLimitArgs {
    fn default() -> Self {
        use clap::Parser;
        #[derive(Parser)]
        struct Defaults {
            #[command(flatten)]
            limits: ClientLimitArgs,
        }
        Defaults::parse_from(["defaults"]).limits
    }
}

/// Why a request or connection was refused, as a label of
/// `studio_edge_http_refused_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    RateLimited,
    ClientConnections,
    Connections,
    HeaderTimeout,
    BodyTimeout,
}

impl Refusal {
    const ALL: [Self; 5] = [
        Self::RateLimited,
        Self::ClientConnections,
        Self::Connections,
        Self::HeaderTimeout,
        Self::BodyTimeout,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::RateLimited => "rate-limited",
            Self::ClientConnections => "client-connections",
            Self::Connections => "connections",
            Self::HeaderTimeout => "header-timeout",
            Self::BodyTimeout => "body-timeout",
        }
    }
}

/// The limits in force, with the state they keep per client.
pub struct ClientLimits {
    args: ClientLimitArgs,
    rate: Option<DefaultKeyedRateLimiter<IpAddr>>,
    connections: Mutex<Connections>,
    refused: [AtomicU64; Refusal::ALL.len()],
}

#[derive(Default)]
struct Connections {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
}

/// One open connection, counted until dropped.
pub struct ConnectionSlot {
    limits: Arc<ClientLimits>,
    client: IpAddr,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut connections = self.limits.connections.lock().expect("connections lock");
        connections.total -= 1;
        if let Some(count) = connections.per_client.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                connections.per_client.remove(&self.client);
            }
        }
    }
}

/// The client an address belongs to: the IPv4 address, or the IPv6 /64.
pub fn client_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

impl ClientLimits {
    pub fn new(args: ClientLimitArgs) -> Arc<Self> {
        let rate = NonZeroU32::new(args.rate_limit).map(|rate| {
            let burst = NonZeroU32::new(args.rate_burst.max(args.rate_limit)).unwrap_or(rate);
            DefaultKeyedRateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        Arc::new(Self {
            args,
            rate,
            connections: Mutex::new(Connections::default()),
            refused: Default::default(),
        })
    }

    /// No limits at all (tools and benchmarks that drive the host).
    pub fn unlimited() -> Arc<Self> {
        Self::new(ClientLimitArgs {
            rate_limit: 0,
            rate_burst: 0,
            max_connections_per_client: 0,
            max_connections: 0,
            header_timeout_ms: 0,
            body_min_rate: 0,
            body_grace_ms: 0,
            limit_loopback: false,
        })
    }

    pub fn header_timeout(&self) -> Option<Duration> {
        (self.args.header_timeout_ms > 0)
            .then(|| Duration::from_millis(self.args.header_timeout_ms))
    }

    fn exempt(&self, client: IpAddr) -> bool {
        client.is_loopback() && !self.args.limit_loopback
    }

    pub fn count(&self, refusal: Refusal) {
        self.refused[refusal as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a new connection from `peer`, or says which cap it is past.
    pub fn open_connection(self: &Arc<Self>, peer: IpAddr) -> Result<ConnectionSlot, Refusal> {
        let client = client_of(peer);
        let mut connections = self.connections.lock().expect("connections lock");
        let refusal =
            if self.args.max_connections > 0 && connections.total >= self.args.max_connections {
                Some(Refusal::Connections)
            } else if self.args.max_connections_per_client > 0
                && !self.exempt(client)
                && connections.per_client.get(&client).copied().unwrap_or(0)
                    >= self.args.max_connections_per_client
            {
                Some(Refusal::ClientConnections)
            } else {
                None
            };
        if let Some(refusal) = refusal {
            drop(connections);
            self.count(refusal);
            return Err(refusal);
        }
        connections.total += 1;
        *connections.per_client.entry(client).or_insert(0) += 1;
        Ok(ConnectionSlot {
            limits: self.clone(),
            client,
        })
    }

    /// Spends one request of `peer`'s rate, or tells how long until the
    /// next one is allowed.
    fn spend(&self, peer: IpAddr) -> Result<(), Duration> {
        let client = client_of(peer);
        let Some(rate) = &self.rate else {
            return Ok(());
        };
        if self.exempt(client) {
            return Ok(());
        }
        rate.check_key(&client)
            .map_err(|not_until| not_until.wait_time_from(rate.clock().now()))
    }

    /// Forgets clients whose rate state is back to full (run now and then so
    /// that memory follows the clients of the last seconds, not all time).
    pub fn forget_idle(&self) {
        if let Some(rate) = &self.rate {
            rate.retain_recent();
            rate.shrink_to_fit();
        }
    }

    /// Runs `route` for `request` from `peer` within the limits: refused
    /// past the client's rate, and answered 408 if its body arrives slower
    /// than the minimum pace.
    pub async fn handle<F, Fut>(
        &self,
        peer: IpAddr,
        request: Request<Body>,
        route: F,
    ) -> Response<Body>
    where
        F: FnOnce(Request<Body>) -> Fut,
        Fut: Future<Output = Response<Body>>,
    {
        if let Err(wait) = self.spend(peer) {
            self.count(Refusal::RateLimited);
            let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
            let mut response = problem::response(&Problem::new(
                429,
                "rate-limited",
                "Too many requests",
                format!(
                    "this client is past {} requests per second; retry in {seconds} s",
                    self.args.rate_limit
                ),
            ));
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            return response;
        }
        if self.args.body_min_rate == 0 {
            return route(request).await;
        }
        let timed_out = Arc::new(AtomicBool::new(false));
        let request = request.map(|body| {
            Body::new(PacedBody::new(
                body,
                Duration::from_millis(self.args.body_grace_ms),
                self.args.body_min_rate,
                timed_out.clone(),
            ))
        });
        let response = route(request).await;
        if !timed_out.load(Ordering::Acquire) {
            return response;
        }
        self.count(Refusal::BodyTimeout);
        let mut response = problem::response(&Problem::new(
            408,
            "body-timeout",
            "Request body too slow",
            format!(
                "the request body arrived slower than {} bytes per second after {} ms",
                self.args.body_min_rate, self.args.body_grace_ms
            ),
        ));
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        response
    }

    /// `studio_edge_http_refused_total` in Prometheus text.
    pub fn metrics_text(&self) -> String {
        let mut out = String::from(
            "# HELP studio_edge_http_refused_total Requests and connections refused by the client limits, by reason.\n\
             # TYPE studio_edge_http_refused_total counter\n",
        );
        for refusal in Refusal::ALL {
            let _ = writeln!(
                out,
                "studio_edge_http_refused_total{{reason=\"{}\"}} {}",
                refusal.label(),
                self.refused[refusal as usize].load(Ordering::Relaxed)
            );
        }
        out
    }

    /// The raw answer to a connection refused before any request was read.
    pub fn refusal_bytes(refusal: Refusal) -> Vec<u8> {
        let problem = Problem::new(
            503,
            "connection-limit",
            "Too many connections",
            match refusal {
                Refusal::ClientConnections => "this client has too many open connections",
                _ => "the server has too many open connections",
            },
        );
        let body = serde_json::to_vec(&problem).expect("plain data serialises");
        let mut bytes = format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\n\
             retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(&body);
        bytes
    }
}

/// A request body that fails once it falls behind `grace + received /
/// min_rate` since the request began, and says so through `timed_out`.
struct PacedBody {
    inner: Body,
    started: Instant,
    grace: Duration,
    min_rate: u64,
    received: u64,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timed_out: Arc<AtomicBool>,
}

impl PacedBody {
    fn new(inner: Body, grace: Duration, min_rate: u64, timed_out: Arc<AtomicBool>) -> Self {
        let started = Instant::now();
        Self {
            inner,
            started,
            grace,
            min_rate,
            received: 0,
            deadline: Box::pin(tokio::time::sleep_until((started + grace).into())),
            timed_out,
        }
    }
}

impl HttpBody for PacedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                    let allowed =
                        Duration::from_secs_f64(this.received as f64 / this.min_rate as f64);
                    let deadline = this.started + this.grace + allowed;
                    this.deadline.as_mut().reset(deadline.into());
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                ready!(this.deadline.as_mut().poll(cx));
                this.timed_out.store(true, Ordering::Release);
                Poll::Ready(Some(Err(axum::Error::new(
                    "the request body arrived too slowly",
                ))))
            }
            done => done,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[test]
    fn clients_are_ipv4_addresses_and_ipv6_prefixes() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(client_of(ip("203.0.113.7")), ip("203.0.113.7"));
        assert_eq!(client_of(ip("::ffff:203.0.113.7")), ip("203.0.113.7"));
        assert_eq!(client_of(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(
            client_of(ip("2001:db8:1:2:ffff::9")),
            client_of(ip("2001:db8:1:2::1"))
        );
        assert_ne!(
            client_of(ip("2001:db8:1:3::1")),
            client_of(ip("2001:db8:1:2::1"))
        );
    }

    #[test]
    fn connection_caps_count_per_client_and_free_on_drop() {
        let limits = ClientLimits::new(ClientLimitArgs {
            max_connections_per_client: 2,
            max_connections: 3,
            ..ClientLimitArgs::default()
        });
        let a: IpAddr = "198.51.100.1".parse().unwrap();
        let b: IpAddr = "198.51.100.2".parse().unwrap();
        let first = limits.open_connection(a).unwrap();
        let _second = limits.open_connection(a).unwrap();
        assert_eq!(
            limits.open_connection(a).err(),
            Some(Refusal::ClientConnections)
        );
        let _third = limits.open_connection(b).unwrap();
        assert_eq!(limits.open_connection(b).err(), Some(Refusal::Connections));
        drop(first);
        let _again = limits.open_connection(a).unwrap();
        // Loopback is exempt from the per-client cap, not from the total.
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        drop(_third);
        let _l1 = limits.open_connection(lo).unwrap();
        assert_eq!(limits.open_connection(lo).err(), Some(Refusal::Connections));
        assert!(
            limits
                .metrics_text()
                .contains("reason=\"client-connections\"} 1\n")
        );
    }

    #[test]
    fn the_rate_refuses_past_the_burst_and_spares_loopback() {
        let limits = ClientLimits::new(ClientLimitArgs {
            rate_limit: 1,
            rate_burst: 3,
            ..ClientLimitArgs::default()
        });
        let a: IpAddr = "198.51.100.1".parse().unwrap();
        for _ in 0..3 {
            assert!(limits.spend(a).is_ok());
        }
        let wait = limits.spend(a).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1));
        // Another client has its own budget; loopback has none to spend.
        assert!(limits.spend("198.51.100.2".parse().unwrap()).is_ok());
        for _ in 0..10 {
            assert!(limits.spend("127.0.0.1".parse().unwrap()).is_ok());
        }
    }

    /// A body that sends `first` and then nothing, ever.
    struct Stalls(Option<Bytes>);

    impl HttpBody for Stalls {
        type Data = Bytes;
        type Error = axum::Error;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
            match self.0.take() {
                Some(data) => Poll::Ready(Some(Ok(Frame::data(data)))),
                None => Poll::Pending,
            }
        }
    }

    #[tokio::test]
    async fn a_body_slower_than_the_pace_fails_and_says_so() {
        let body = Body::new(Stalls(Some(Bytes::from_static(&[0; 100]))));
        let flag = Arc::new(AtomicBool::new(false));
        let mut paced = PacedBody::new(body, Duration::from_millis(100), 1000, flag.clone());
        let first = paced.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap().len(), 100);
        assert!(!flag.load(Ordering::Acquire));
        // 100 bytes buy 0.1 s past the grace; nothing more arrives.
        assert!(paced.frame().await.unwrap().is_err());
        assert!(flag.load(Ordering::Acquire));
    }
}
