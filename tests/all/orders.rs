//! The orders service as users run it: `studio-edge orders` processes
//! sharing one PostgreSQL, `kill -9` under load on both stores, and the
//! reserve/confirm flow through the cart worker under `studio-edge up` and
//! `wasmtime serve`.
//!
//! PostgreSQL is the server named by `STUDIO_EDGE_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`); each test creates its own
//! database with `psql` and drops it after. An unreachable server fails the
//! test.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};
use studio_edge_orders::Timestamp;

use crate::support::{
    Host, OPERATOR_TOKEN, Reply, WasmtimeServe, client, component, get, wasmtime_component,
};

const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

fn admin_url() -> String {
    std::env::var("STUDIO_EDGE_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_POSTGRES.to_owned())
}

fn psql(sql: &str) {
    let url = admin_url();
    let output = Command::new("psql")
        .arg(&url)
        .args(["-v", "ON_ERROR_STOP=1", "-qAtc", sql])
        .output()
        .unwrap_or_else(|e| panic!("running psql (PostgreSQL client) failed: {e}"));
    assert!(
        output.status.success(),
        "PostgreSQL at {url} is required for this test; `{sql}` failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A database of its own on the test server, dropped at the end.
struct PgDatabase {
    name: String,
}

impl PgDatabase {
    fn create() -> Self {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("clock")
            .as_nanos();
        let name = format!("orders_e2e_{}_{nanos}", std::process::id());
        psql(&format!("CREATE DATABASE {name}"));
        Self { name }
    }

    fn url(&self) -> String {
        let admin = admin_url();
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        format!("{base}/{}", self.name)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        psql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

/// `studio-edge orders` on a free port with `data_dir` and, if given,
/// `--db <database>`.
fn start_orders(data_dir: &Path, database: Option<&str>) -> Host {
    let mut args = vec!["orders", "--listen", "127.0.0.1:0"];
    let data = data_dir.to_str().expect("UTF-8 temp path");
    args.extend(["--data-dir", data]);
    if let Some(database) = database {
        args.extend(["--db", database]);
    }
    Host::start_command(&args, data_dir, &[])
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn async_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("HTTP client")
}

fn rfc3339(offset_secs: i64) -> String {
    Timestamp::now()
        .plus_millis(offset_secs * 1000)
        .to_rfc3339()
}

fn post_json(url: &str, key: Option<&str>, body: &Value) -> Reply {
    let mut request = client()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    Reply::send(request)
}

fn create_drop(base: &str, units: i64, extra: Value) -> String {
    let mut body = json!({
        "sku": "HOODIE-7", "title": "Studio hoodie", "units": units,
        "unit_price": 5900, "currency": "EUR",
        "starts_at": rfc3339(-60), "ends_at": rfc3339(3600),
    });
    for (k, v) in extra.as_object().expect("object") {
        body[k] = v.clone();
    }
    let key = format!(
        "drop-{}",
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("clock")
            .as_nanos()
    );
    let request = client()
        .post(format!("{base}/orders/v1/drops"))
        .bearer_auth(OPERATOR_TOKEN)
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(body.to_string());
    let reply = Reply::send(request);
    assert_eq!(reply.status, 201, "{}", reply.text());
    reply.json()["id"].as_str().expect("drop id").to_owned()
}

fn reservation_body(drop_id: &str, buyer: &str, quantity: i64) -> Value {
    // One consent time per test run: a retry must send the very same body,
    // or the origin rightly answers 422 for a reused Idempotency-Key.
    static ACCEPTED_AT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let accepted_at = ACCEPTED_AT.get_or_init(|| rfc3339(-1));
    json!({
        "drop_id": drop_id, "quantity": quantity, "buyer_id": buyer,
        "consent": {"terms_version": "2026-11", "accepted_at": accepted_at},
    })
}

/// What one async call returned: status and body, or a transport error.
type Outcome = Result<(u16, Vec<u8>), String>;

async fn post_async(client: reqwest::Client, url: String, key: String, body: String) -> Outcome {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    Ok((status, body.to_vec()))
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}

fn drop_state(base: &str, drop_id: &str) -> Value {
    let reply = get(&format!("{base}/orders/v1/drops/{drop_id}"));
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

fn audit(database: &str, drop_id: &str) -> studio_edge_orders::StockAudit {
    let audit = runtime()
        .block_on(studio_edge_orders::audit_drop(database, drop_id))
        .expect("audit the database")
        .expect("the drop is in the database");
    assert!(audit.sold + audit.reserved <= audit.units, "{audit:?}");
    assert_eq!(audit.reserved, audit.held_quantity, "{audit:?}");
    assert_eq!(audit.sold, audit.ordered_quantity, "{audit:?}");
    audit
}

#[test]
fn two_hosts_sharing_postgresql_sell_exactly_the_units() {
    let db = PgDatabase::create();
    let dir = tempfile::tempdir().expect("temp dir");
    let hosts = [
        start_orders(&dir.path().join("a"), Some(&db.url())),
        start_orders(&dir.path().join("b"), Some(&db.url())),
    ];
    let bases: Vec<String> = hosts.iter().map(|h| h.url("")).collect();
    let drop_id = create_drop(&bases[0], 100, json!({}));

    let outcomes = runtime().block_on(async {
        let client = async_client();
        let calls = (0..1000).map(|i| {
            let url = format!("{}/orders/v1/reservations", bases[i % 2]);
            let body = reservation_body(&drop_id, &format!("buyer-{i}"), 1).to_string();
            tokio::spawn(post_async(
                client.clone(),
                url,
                format!("attempt-{i}"),
                body,
            ))
        });
        let mut outcomes = Vec::new();
        for call in calls.collect::<Vec<_>>() {
            outcomes.push(call.await.expect("task"));
        }
        outcomes
    });
    let mut succeeded = 0;
    for outcome in outcomes {
        let (status, body) = outcome.expect("every call is answered");
        match status {
            201 => succeeded += 1,
            409 => assert_eq!(json_of(&body)["type"], "urn:studio-edge:problem:sold-out"),
            other => panic!("unexpected {other}: {}", String::from_utf8_lossy(&body)),
        }
    }
    assert_eq!(succeeded, 100);
    for base in &bases {
        let state = drop_state(base, &drop_id);
        assert_eq!(
            (state["available"].as_i64(), state["reserved"].as_i64()),
            (Some(0), Some(100))
        );
    }
    let audit = audit(&db.url(), &drop_id);
    assert_eq!(
        (audit.reserved, audit.held_quantity, audit.sold),
        (100, 100, 0)
    );
}

/// One buyer's purchase: its keys, and how far the answers got.
#[derive(Debug, Clone)]
struct Purchase {
    buyer: String,
    reserve_key: String,
    confirm_key: String,
    reservation_id: Option<String>,
    order_id: Option<String>,
}

/// Reserves then confirms, stopping at the first call without an answer.
async fn buy(client: &reqwest::Client, base: &str, drop_id: &str, purchase: &mut Purchase) -> bool {
    if purchase.reservation_id.is_none() {
        let body = reservation_body(drop_id, &purchase.buyer, 1).to_string();
        let url = format!("{base}/orders/v1/reservations");
        match post_async(client.clone(), url, purchase.reserve_key.clone(), body).await {
            Ok((201, body)) => {
                purchase.reservation_id = json_of(&body)["id"].as_str().map(str::to_owned);
            }
            Ok((status, body)) => panic!("reserve: {status} {}", String::from_utf8_lossy(&body)),
            Err(_) => return false,
        }
    }
    let id = purchase.reservation_id.clone().expect("reserved");
    let url = format!("{base}/orders/v1/reservations/{id}/confirm");
    let body = json!({"payment_reference": format!("pay-{}", purchase.buyer)}).to_string();
    match post_async(client.clone(), url, purchase.confirm_key.clone(), body).await {
        Ok((201, body)) => {
            let order_id = json_of(&body)["id"].as_str().map(str::to_owned);
            if let Some(known) = &purchase.order_id {
                assert_eq!(
                    Some(known),
                    order_id.as_ref(),
                    "a replayed confirmation names the same order"
                );
            }
            purchase.order_id = order_id;
            true
        }
        Ok((status, body)) => panic!("confirm: {status} {}", String::from_utf8_lossy(&body)),
        Err(_) => false,
    }
}

/// A rush of buyers, each reserving then confirming one unit at a time,
/// until the host they use is killed with SIGKILL. With PostgreSQL a second
/// host shares the database and its buyers keep buying through the crash;
/// the dead host's purchases are then retried on the survivor (their keys,
/// in flight at the crash, must complete there at once), and the dead host
/// is restarted. No acknowledged confirmation may be lost, no unit oversold,
/// no hold left dangling, and every key completes exactly once.
fn kill_9_under_load_loses_no_confirmation(database: Option<String>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let survivor_dir = tempfile::tempdir().expect("temp dir");
    let host = start_orders(dir.path(), database.as_deref());
    let base = host.url("");
    let survivor = database
        .as_deref()
        .map(|db| start_orders(survivor_dir.path(), Some(db)));
    let survivor_base = survivor.as_ref().map(|s| s.url(""));
    let drop_id = create_drop(&base, 600, json!({}));
    let database =
        database.unwrap_or_else(|| format!("sqlite:{}", dir.path().join("orders.db").display()));

    let runtime = runtime();
    // (index of the host used: 0 the one killed, 1 the survivor, purchase)
    let purchases: Arc<Mutex<Vec<(usize, Purchase)>>> = Arc::default();
    let confirmed = Arc::new(AtomicUsize::new(0));
    let client = async_client();
    // 32 buyers, each buying one unit at a time until its host dies; with a
    // survivor, every other buyer uses it.
    let buyers: Vec<_> = (0..32)
        .map(|b| {
            let on = usize::from(survivor_base.is_some() && b % 2 == 1);
            let base = if on == 1 {
                survivor_base.clone()
            } else {
                Some(base.clone())
            };
            let (client, base, drop_id) = (client.clone(), base.expect("base"), drop_id.clone());
            let (purchases, confirmed) = (Arc::clone(&purchases), Arc::clone(&confirmed));
            runtime.spawn(async move {
                for n in 0..12 {
                    let mut purchase = Purchase {
                        buyer: format!("buyer-{b}-{n}"),
                        reserve_key: format!("reserve-{b}-{n}"),
                        confirm_key: format!("confirm-{b}-{n}"),
                        reservation_id: None,
                        order_id: None,
                    };
                    let finished = buy(&client, &base, &drop_id, &mut purchase).await;
                    purchases.lock().expect("lock").push((on, purchase));
                    if !finished {
                        return;
                    }
                    confirmed.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while confirmed.load(Ordering::SeqCst) < 60 {
        assert!(Instant::now() < deadline, "the load never got going");
        std::thread::sleep(Duration::from_millis(5));
    }
    // Dropping the host sends SIGKILL mid-load.
    drop(host);
    for buyer in buyers {
        runtime.block_on(buyer).expect("buyer task");
    }
    let mut purchases = purchases.lock().expect("lock").clone();
    let answered_before = purchases
        .iter()
        .filter(|(_, p)| p.order_id.is_some())
        .count();
    assert!(answered_before >= 60);
    if let Some(survivor_base) = &survivor_base {
        // The survivor's buyers never noticed the crash...
        for (on, purchase) in &purchases {
            if *on == 1 {
                assert!(
                    purchase.order_id.is_some(),
                    "{} failed on the survivor",
                    purchase.buyer
                );
            }
        }
        // ...and it completes the dead host's keys, in flight or not, now.
        runtime.block_on(async {
            for (on, purchase) in purchases.iter_mut().filter(|(on, _)| *on == 0) {
                assert!(
                    buy(&client, survivor_base, &drop_id, purchase).await,
                    "{}'s retry on the surviving host",
                    purchase.buyer
                );
                *on = 1;
            }
        });
    }

    let host = start_orders(dir.path(), Some(&database));
    let base = host.url("");
    runtime.block_on(async {
        for (_, purchase) in &mut purchases {
            // Every confirmation a client received is in the database...
            if let Some(order_id) = &purchase.order_id {
                let url = format!("{base}/orders/v1/orders/{order_id}");
                let response = client
                    .get(url)
                    .bearer_auth(OPERATOR_TOKEN)
                    .send()
                    .await
                    .expect("GET order");
                assert_eq!(
                    response.status(),
                    200,
                    "order {order_id} was acknowledged and lost"
                );
            }
            // ...and every retry with the same keys completes exactly once.
            assert!(
                buy(&client, &base, &drop_id, purchase).await,
                "retry after restart"
            );
        }
    });
    let orders: std::collections::HashSet<_> = purchases
        .iter()
        .map(|(_, p)| p.order_id.clone().expect("confirmed"))
        .collect();
    assert_eq!(orders.len(), purchases.len(), "one order per purchase");
    let state = drop_state(&base, &drop_id);
    assert_eq!(state["sold"].as_i64(), Some(orders.len() as i64));
    assert_eq!(
        state["reserved"].as_i64(),
        Some(0),
        "no hold is left dangling"
    );
    let audit = audit(&database, &drop_id);
    assert_eq!(audit.sold, orders.len() as i64);
    drop(survivor);
}

#[test]
fn kill_9_under_load_loses_no_confirmation_on_sqlite() {
    kill_9_under_load_loses_no_confirmation(None);
}

/// Two hosts share the database; one is killed.
#[test]
fn kill_9_of_one_of_two_hosts_loses_no_confirmation_on_postgresql() {
    let db = PgDatabase::create();
    kill_9_under_load_loses_no_confirmation(Some(db.url()));
}

/// A manifest serving only the cart worker, its origin taken from
/// `SPIN_VARIABLE_CART_ORIGIN_URL`.
fn write_cart_manifest(dir: &Path) -> PathBuf {
    let manifest = format!(
        r#"spin_manifest_version = 2

[application]
name = "cart-test"

[variables]
cart_origin_url = {{ required = true }}

[[trigger.http]]
route = "/v1/cart/..."
component = "cart"

[component.cart]
source = "{}"
allowed_outbound_hosts = ["http://127.0.0.1:*"]

[component.cart.variables]
origin_url = "{{{{ cart_origin_url }}}}"
"#,
        component("studio-edge-cart").display()
    );
    let path = dir.join("spin.toml");
    std::fs::write(&path, manifest).expect("write manifest");
    path
}

/// Reserve, retry, confirm, sell out and release through a cart at `cart`
/// whose origin is `origin`.
fn cart_flow(cart: &str, origin: &str) {
    let drop_id = create_drop(
        origin,
        3,
        json!({"bundle": {"units": 2, "price": 10000}, "per_buyer_limit": 3}),
    );
    let state = get(&format!("{cart}/v1/cart/drops/{drop_id}?quantity=2"));
    assert_eq!(state.status, 200, "{}", state.text());
    assert_eq!(state.header("cache-control"), Some("public, max-age=1"));
    let state = state.json();
    assert_eq!(
        (
            state["available"].as_i64(),
            state["quote"]["total"].as_i64()
        ),
        (Some(3), Some(10000))
    );

    let reserve = format!("{cart}/v1/cart/reserve");
    let body = reservation_body(&drop_id, "viewer-1", 2);
    post_json(&reserve, None, &body).assert_problem(400, "idempotency-key-missing");
    let mut no_consent = body.clone();
    no_consent
        .as_object_mut()
        .expect("object")
        .remove("consent");
    post_json(&reserve, Some("tap-1"), &no_consent).assert_problem(422, "consent-required");

    let held = post_json(&reserve, Some("tap-1"), &body);
    assert_eq!(held.status, 201, "{}", held.text());
    let retry = post_json(&reserve, Some("tap-1"), &body);
    assert_eq!(
        (retry.status, &retry.body),
        (201, &held.body),
        "a retried tap replays"
    );
    let mut changed = body.clone();
    changed["quantity"] = json!(1);
    post_json(&reserve, Some("tap-1"), &changed).assert_problem(422, "idempotency-key-reused");
    let held = held.json();
    assert_eq!(held["price"]["total"], 10000);

    // One unit left: two more is sold out, with the origin's problem type.
    post_json(
        &reserve,
        Some("tap-2"),
        &reservation_body(&drop_id, "viewer-2", 2),
    )
    .assert_problem(409, "sold-out");

    let reservation_id = held["id"].as_str().expect("id");
    let confirm = format!("{cart}/v1/cart/confirm");
    let payment = json!({"reservation_id": reservation_id, "payment_reference": "psp-42"});
    let order = post_json(&confirm, Some("pay-1"), &payment);
    assert_eq!(order.status, 201, "{}", order.text());
    let order_id = order.json()["id"].as_str().expect("order id").to_owned();
    let stored = Reply::send(
        client()
            .get(format!("{origin}/orders/v1/orders/{order_id}"))
            .bearer_auth(OPERATOR_TOKEN),
    );
    assert_eq!(
        (stored.status, stored.json()["quantity"].as_i64()),
        (200, Some(2))
    );

    let last = post_json(
        &reserve,
        Some("tap-3"),
        &reservation_body(&drop_id, "viewer-3", 1),
    );
    assert_eq!(last.status, 201, "{}", last.text());
    let release = format!("{cart}/v1/cart/release");
    let released = post_json(
        &release,
        Some("undo-3"),
        &json!({"reservation_id": last.json()["id"]}),
    );
    assert_eq!(
        (released.status, released.json()["state"].clone()),
        (200, json!("released"))
    );
    let state = drop_state(origin, &drop_id);
    assert_eq!(
        (state["sold"].as_i64(), state["available"].as_i64()),
        (Some(2), Some(1))
    );

    // The origin counted what ran (replays and refused keys not counted).
    let metrics = get(&format!("{origin}/metrics")).text();
    let counter = |series: &str| {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse::<i64>().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
    };
    let commands = |command: &str, outcome: &str| {
        counter(&format!(
            "studio_edge_orders_commands_total{{command=\"{command}\",outcome=\"{outcome}\"}}"
        ))
    };
    assert_eq!(commands("reserve", "ok"), 2);
    assert_eq!(commands("reserve", "sold-out"), 1);
    assert_eq!(commands("confirm", "ok"), 1);
    assert_eq!(commands("release", "ok"), 1);
    assert_eq!(counter("studio_edge_orders_oversell_incidents"), 0);
}

#[test]
fn cart_worker_under_the_host_reserves_and_confirms_through_the_origin() {
    let dir = tempfile::tempdir().expect("temp dir");
    let origin = start_orders(&dir.path().join("origin"), None);
    let manifest = write_cart_manifest(dir.path());
    let origin_url = origin.url("");
    let edge = Host::start(
        &manifest,
        &[],
        &[("SPIN_VARIABLE_CART_ORIGIN_URL", origin_url.as_str())],
    );
    cart_flow(&edge.url(""), &origin_url);
}

/// The origin's count of reservations it answered sold out.
fn sold_out_at_origin(base: &str) -> u64 {
    let metrics = get(&format!("{base}/metrics")).text();
    metrics
        .lines()
        .find_map(|line| {
            line.strip_prefix(
                "studio_edge_orders_commands_total{command=\"reserve\",outcome=\"sold-out\"} ",
            )
        })
        .map_or(0, |n| n.parse().expect("a counter"))
}

#[test]
fn cart_reaches_its_own_host_through_self_and_shields_sold_out_drops() {
    // The repository's arrangement: the cart's origin is `http://self`,
    // the orders service of the host that runs it, whatever its port.
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = std::fs::read_to_string(write_cart_manifest(dir.path()))
        .expect("manifest")
        .replace(
            "cart_origin_url = { required = true }",
            "cart_origin_url = { default = \"http://self\" }",
        )
        .replace(
            "allowed_outbound_hosts = [\"http://127.0.0.1:*\"]",
            "allowed_outbound_hosts = [\"http://self\"]\nkey_value_stores = [\"default\"]",
        );
    let path = dir.path().join("spin.toml");
    std::fs::write(&path, manifest).expect("write manifest");
    let host = Host::start(&path, &[], &[]);
    let base = host.url("");
    let drop_id = create_drop(&base, 1, json!({}));
    let reserve = format!("{base}/v1/cart/reserve");
    let held = post_json(
        &reserve,
        Some("s-1"),
        &reservation_body(&drop_id, "viewer-1", 1),
    );
    assert_eq!(held.status, 201, "{}", held.text());
    post_json(
        &reserve,
        Some("s-2"),
        &reservation_body(&drop_id, "viewer-2", 1),
    )
    .assert_problem(409, "sold-out");
    assert_eq!(sold_out_at_origin(&base), 1);

    // Within the next second the edge answers from its key-value store.
    let shielded_at = Instant::now();
    post_json(
        &reserve,
        Some("s-3"),
        &reservation_body(&drop_id, "viewer-3", 1),
    )
    .assert_problem(409, "sold-out");
    if shielded_at.elapsed() < Duration::from_millis(900) {
        assert_eq!(
            sold_out_at_origin(&base),
            1,
            "the edge asked the origin again"
        );
    }
    // Past it, the origin is asked again (never a success from the cache).
    std::thread::sleep(Duration::from_millis(1100));
    post_json(
        &reserve,
        Some("s-4"),
        &reservation_body(&drop_id, "viewer-4", 1),
    )
    .assert_problem(409, "sold-out");
    let asked = sold_out_at_origin(&base);
    assert!((2..=3).contains(&asked), "origin sold-out count {asked}");
}

#[test]
fn cart_worker_under_wasmtime_serve_reserves_and_confirms_through_the_origin() {
    let dir = tempfile::tempdir().expect("temp dir");
    let origin = start_orders(dir.path(), None);
    let origin_url = origin.url("");
    let edge = WasmtimeServe::start(
        &wasmtime_component("studio-edge-cart"),
        &[("ORIGIN_URL", origin_url.as_str())],
    );
    cart_flow(&edge.url(""), &origin_url);
}
