//! Abusive clients against a real host over loopback: a flood, a hoard of
//! connections, headers a byte at a time and a body that stalls. The limits
//! spare loopback by default, so these hosts run with `--limit-loopback`;
//! every loop is bounded.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::support::{Host, Reply, get};

/// `studio-edge orders` on a fresh data directory with `flags`.
fn orders_host(flags: &[&str]) -> (Host, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().to_str().expect("utf-8 path").to_owned();
    let mut args = vec!["orders", "--listen", "127.0.0.1:0", "--data-dir", &data_dir];
    args.extend_from_slice(flags);
    (Host::start_command(&args, dir.path(), &[]), dir)
}

/// A client whose connections come from `source` (any 127/8 address).
fn client_from(source: &str) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .local_address(source.parse::<IpAddr>().expect("address"))
        .timeout(Duration::from_secs(30))
        .no_proxy()
        .build()
        .expect("HTTP client")
}

fn refused_count(host: &Host, reason: &str) -> u64 {
    let metrics = get(&host.url("/metrics")).text();
    let series = format!("studio_edge_http_refused_total{{reason=\"{reason}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&series)?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
}

/// Reads until the peer closes (or resets) the connection, for at most
/// `limit`; returns what arrived, or `None` if it was still open.
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .expect("read timeout");
        match stream.read(&mut buffer) {
            Ok(0) => return Some(seen),
            Ok(n) => seen.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Some(seen),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None;
            }
            Err(e) => panic!("reading: {e}"),
        }
    }
    None
}

#[test]
fn a_flooding_client_gets_429_and_others_are_served() {
    let (host, _dir) = orders_host(&[
        "--rate-limit",
        "5",
        "--rate-burst",
        "10",
        "--limit-loopback",
    ]);
    let flood = client_from("127.0.0.2");
    let url = host.url("/orders/v1/drops/none");
    let mut refused = None;
    for sent in 1..=40 {
        let reply = Reply::send(flood.get(&url));
        if reply.status == 429 {
            refused = Some((sent, reply));
            break;
        }
        assert_eq!(reply.status, 404, "{}", reply.text());
    }
    let (sent, reply) = refused.expect("the flood was never refused");
    assert!(sent > 10, "refused after {sent} requests, inside the burst");
    reply.assert_problem(429, "rate-limited");
    let retry: u64 = reply
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    // Another client has its own budget.
    let other = Reply::send(client_from("127.0.0.3").get(&url));
    assert_eq!(other.status, 404);
    assert!(refused_count(&host, "rate-limited") >= 1);
}

#[test]
fn connections_past_the_per_client_cap_get_503_until_one_closes() {
    let (host, _dir) = orders_host(&["--max-connections-per-client", "2", "--limit-loopback"]);
    let held: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(host.addr()).expect("connect"))
        .collect();
    // Accepted in order: the third is past the cap.
    let mut third = TcpStream::connect(host.addr()).expect("connect");
    let answer = read_until_closed(&mut third, Duration::from_secs(10))
        .expect("the refused connection was closed");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 503 "), "{text}");
    assert!(
        text.contains("urn:studio-edge:problem:connection-limit"),
        "{text}"
    );
    drop(held);
    // Once one closes, a new connection is served (the host notices the
    // close on its next read: give it a moment, boundedly).
    let mut served = false;
    for _ in 0..50 {
        let reply = Reply::send(client_from("127.0.0.1").get(host.url("/orders/v1/drops/none")));
        if reply.status == 404 {
            served = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(served, "no connection was served after the others closed");
    assert!(refused_count(&host, "client-connections") >= 1);
}

#[test]
fn headers_sent_a_byte_at_a_time_are_dropped() {
    let (host, _dir) = orders_host(&["--header-timeout-ms", "1000"]);
    let mut slow = TcpStream::connect(host.addr()).expect("connect");
    let mut writer = slow.try_clone().expect("clone");
    let drip = std::thread::spawn(move || {
        let header = b"GET /orders/v1/drops/none HTTP/1.1\r\nHost: x\r\nX-Slow: ";
        for byte in header.iter().chain(std::iter::repeat(&b'a').take(100)) {
            if writer.write_all(&[*byte]).is_err() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    });
    let answer = read_until_closed(&mut slow, Duration::from_secs(15))
        .expect("the slow client was still connected after 15 s");
    let text = String::from_utf8_lossy(&answer);
    assert!(!text.contains(" 404 "), "a request was served: {text}");
    drop(slow);
    drip.join().expect("drip thread");
    assert!(refused_count(&host, "header-timeout") >= 1);
    // A normal client is still served.
    assert_eq!(get(&host.url("/orders/v1/drops/none")).status, 404);
}

#[test]
fn a_stalled_body_gets_408() {
    let (host, _dir) = orders_host(&["--body-min-rate", "100", "--body-grace-ms", "500"]);
    let mut stalled = TcpStream::connect(host.addr()).expect("connect");
    stalled
        .write_all(
            b"POST /orders/v1/reservations HTTP/1.1\r\nHost: x\r\n\
              Content-Type: application/json\r\nIdempotency-Key: stalled-1\r\n\
              Content-Length: 1000\r\n\r\n{\"drop_id\"",
        )
        .expect("write");
    let answer = read_until_closed(&mut stalled, Duration::from_secs(15))
        .expect("the stalled request was still open after 15 s");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
    assert!(
        text.contains("urn:studio-edge:problem:body-timeout"),
        "{text}"
    );
    assert!(refused_count(&host, "body-timeout") >= 1);
}
