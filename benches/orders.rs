//! Reservation throughput and latency of the orders service over HTTP.
//!
//! A load generator rather than a criterion loop: what matters is how the
//! service behaves with many buyers at once. For each store (SQLite in a
//! temp directory; PostgreSQL in a fresh database on
//! `STUDIO_EDGE_TEST_POSTGRES`, default
//! `postgres://postgres@127.0.0.1:5432/test`), each load and each number of
//! concurrent clients (1, 64, 512), it serves the orders router on
//! 127.0.0.1, lets the clients reserve one unit each, back to back, each
//! under its own `Idempotency-Key`, for a fixed time, and prints
//! reservations per second and the p50/p99 latency of a reservation.
//!
//! Loads (`ORDERS_BENCH_LOAD`, default both): `inprocess`, reqwest clients
//! in this process (sharing its two cores with the server), and `wrk`, the
//! `wrk` load generator in a separate process with
//! `benches/orders-reserve.lua` (its latency percentiles are wrk's).
//!
//! ```text
//! cargo bench -p studio-edge-orders --bench orders
//! ORDERS_BENCH_SECONDS=10 ORDERS_BENCH_STORES=sqlite ORDERS_BENCH_LOAD=wrk \
//!     cargo bench -p studio-edge-orders --bench orders
//! ```

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use studio_edge_orders::auth::{Operator, OperatorDirectory};
use studio_edge_orders::{Orders, OrdersConfig, Service, Timestamp};

/// The benchmark's one operator token, covering every stream.
const OPERATOR_TOKEN: &str = "bench-operator";

struct BenchOperator;

impl OperatorDirectory for BenchOperator {
    fn find(&self, token: &str) -> Option<Operator> {
        (token == OPERATOR_TOKEN).then(|| Operator {
            name: "bench".to_owned(),
            streams: None,
        })
    }
}

const CONCURRENCY: [usize; 3] = [1, 64, 512];
const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

fn psql(admin_url: &str, sql: &str) {
    let output = Command::new("psql")
        .arg(admin_url)
        .args(["-v", "ON_ERROR_STOP=1", "-qAtc", sql])
        .output()
        .expect("run psql");
    assert!(
        output.status.success(),
        "`{sql}` on {admin_url}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Where one run keeps its data; removed when dropped.
enum Store {
    Sqlite(tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl Store {
    fn new(kind: &str) -> Store {
        match kind {
            "sqlite" => Store::Sqlite(tempfile::tempdir().expect("temp dir")),
            "postgres" => {
                let admin_url = std::env::var("STUDIO_EDGE_TEST_POSTGRES")
                    .unwrap_or_else(|_| DEFAULT_POSTGRES.to_owned());
                let nanos = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .expect("clock")
                    .as_nanos();
                let name = format!("orders_bench_{}_{nanos}", std::process::id());
                psql(&admin_url, &format!("CREATE DATABASE {name}"));
                Store::Postgres { admin_url, name }
            }
            other => panic!("unknown store {other:?}: use sqlite or postgres"),
        }
    }

    fn database(&self) -> String {
        match self {
            Store::Sqlite(dir) => OrdersConfig::sqlite_in(dir.path()).database,
            Store::Postgres { admin_url, name } => {
                let base = admin_url
                    .rsplit_once('/')
                    .map_or(admin_url.as_str(), |(b, _)| b);
                format!("{base}/{name}")
            }
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Store::Postgres { admin_url, name } = self {
            psql(
                admin_url,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            );
        }
    }
}

struct Figures {
    reservations: usize,
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The orders router on 127.0.0.1 with one large open drop: the base URL,
/// the drop's id, the service (for its counters) and the server task
/// (aborting it closes the service).
async fn serve(store: &Store) -> (String, String, Arc<Service>, tokio::task::JoinHandle<()>) {
    let orders = Orders::open(OrdersConfig::new(store.database()))
        .await
        .expect("open orders");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let router = orders.router(Arc::new(BenchOperator));
    let service = orders.service();
    let server = tokio::spawn(async move {
        let _orders = orders;
        axum::serve(listener, router).await.expect("serve");
    });
    let now = Timestamp::now();
    let drop = serde_json::json!({
        "sku": "BENCH", "title": "Benchmark drop", "units": 1_000_000,
        "unit_price": 1000, "currency": "EUR",
        "starts_at": now.plus_millis(-60_000), "ends_at": now.plus_millis(3_600_000),
    });
    let created: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/orders/v1/drops"))
        .bearer_auth(OPERATOR_TOKEN)
        .header("idempotency-key", "bench-drop")
        .header("content-type", "application/json")
        .body(drop.to_string())
        .send()
        .await
        .expect("create drop")
        .json()
        .await
        .expect("drop JSON");
    let drop_id = created["id"]
        .as_str()
        .unwrap_or_else(|| panic!("creating the drop: {created}"))
        .to_owned();
    (base, drop_id, service, server)
}

/// `clients` reqwest clients in this process, back to back.
async fn in_process(base: &str, drop_id: &str, clients: usize, duration: Duration) -> Figures {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(clients)
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client");
    let drop_id = Arc::new(drop_id.to_owned());
    let started = Instant::now();
    let deadline = started + duration;
    let workers = (0..clients).map(|c| {
        let (client, base, drop_id) = (client.clone(), base.to_owned(), Arc::clone(&drop_id));
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = 0;
            while Instant::now() < deadline {
                let body = serde_json::json!({
                    "drop_id": *drop_id, "quantity": 1, "buyer_id": format!("b-{c}-{n}"),
                    "consent": {"terms_version": "v1", "accepted_at": Timestamp::now()},
                });
                let sent = Instant::now();
                let response = client
                    .post(format!("{base}/orders/v1/reservations"))
                    .header("idempotency-key", format!("k-{c}-{n}"))
                    .header("content-type", "application/json")
                    .body(body.to_string())
                    .send()
                    .await
                    .expect("reserve");
                let status = response.status();
                response.bytes().await.expect("body");
                assert_eq!(status, 201, "every reservation succeeds");
                latencies.push(sent.elapsed());
                n += 1;
            }
            latencies
        })
    });
    let mut latencies = Vec::new();
    for worker in workers.collect::<Vec<_>>() {
        latencies.extend(worker.await.expect("worker"));
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Figures {
        reservations: latencies.len(),
        per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
    }
}

/// `wrk` in its own process, `clients` connections on two threads.
async fn with_wrk(base: &str, drop_id: &str, clients: usize, duration: Duration) -> Figures {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../benches/orders-reserve.lua"
    );
    let accepted_at = Timestamp::now().plus_millis(-1000).to_rfc3339();
    let output = tokio::process::Command::new("wrk")
        .arg(format!("-t{}", clients.min(2)))
        .arg(format!("-c{clients}"))
        .arg(format!("-d{}s", duration.as_secs().max(1)))
        .args([
            "--timeout",
            "120s",
            "--latency",
            "-s",
            script,
            base,
            "--",
            drop_id,
        ])
        .arg(accepted_at)
        .output()
        .await
        .expect("run wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "wrk: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !text.contains("Non-2xx"),
        "every reservation succeeds: {text}"
    );
    let field = |prefix: &str| -> &str {
        text.lines()
            .find_map(|line| line.trim().strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in wrk's output: {text}"))
            .trim()
    };
    let per_second: f64 = field("Requests/sec:").parse().expect("a rate");
    let reservations = text
        .lines()
        .find_map(|line| line.trim().split_once(" requests in"))
        .and_then(|(count, _)| count.parse().ok())
        .expect("wrk's request count");
    Figures {
        reservations,
        per_second,
        p50: wrk_duration(field("50%")),
        p99: wrk_duration(field("99%")),
    }
}

/// wrk's `1.23ms`, `456.00us`, `1.20s`.
fn wrk_duration(text: &str) -> Duration {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .expect("a unit");
    let value: f64 = text[..split].parse().expect("a number");
    let seconds = match &text[split..] {
        "us" => value / 1e6,
        "ms" => value / 1e3,
        "s" => value,
        "m" => value * 60.0,
        unit => panic!("unknown wrk unit {unit:?}"),
    };
    Duration::from_secs_f64(seconds)
}

fn main() {
    let seconds: u64 = std::env::var("ORDERS_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let list = |name: &str, default: &str| -> Vec<String> {
        std::env::var(name)
            .unwrap_or_else(|_| default.to_owned())
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let duration = Duration::from_secs(seconds);
    println!(
        "| store | load | clients | reservations | reservations/s | p50 | p99 | commands per commit |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for kind in list("ORDERS_BENCH_STORES", "sqlite,postgres") {
        for load in list("ORDERS_BENCH_LOAD", "inprocess,wrk") {
            for clients in CONCURRENCY {
                let store = Store::new(&kind);
                let (figures, per_commit) = runtime.block_on(async {
                    let (base, drop_id, service, server) = serve(&store).await;
                    let (batches_before, commands_before) = service.metrics().batches();
                    let figures = match load.as_str() {
                        "inprocess" => in_process(&base, &drop_id, clients, duration).await,
                        "wrk" => with_wrk(&base, &drop_id, clients, duration).await,
                        other => panic!("unknown load {other:?}: use inprocess or wrk"),
                    };
                    let (batches, commands) = service.metrics().batches();
                    let per_commit = (commands - commands_before) as f64
                        / (batches - batches_before).max(1) as f64;
                    drop(service);
                    server.abort();
                    let _ = server.await;
                    (figures, per_commit)
                });
                println!(
                    "| {kind} | {load} | {clients} | {} | {:.0} | {:.2} ms | {:.2} ms | {per_commit:.1} |",
                    figures.reservations,
                    figures.per_second,
                    figures.p50.as_secs_f64() * 1e3,
                    figures.p99.as_secs_f64() * 1e3,
                );
            }
        }
    }
}
