//! The orders API over real HTTP (the router served on 127.0.0.1:0), on
//! both stores. PostgreSQL tests use a fresh database on the server named
//! by `STUDIO_EDGE_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`) and fail when it is not
//! reachable.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::{Connection, Executor};
use studio_edge_cart::timestamp::Timestamp;

use crate::auth::{Operator, OperatorDirectory};
use crate::{Orders, OrdersConfig, Service};

/// Operator tokens of the tests: `op-all` covers every stream, `op-cam1`
/// only `cam1`.
struct TestOperators;

impl OperatorDirectory for TestOperators {
    fn find(&self, token: &str) -> Option<Operator> {
        let streams = match token {
            "op-all" => None,
            "op-cam1" => Some(vec!["cam1".to_owned()]),
            _ => return None,
        };
        Some(Operator {
            name: token.to_owned(),
            streams,
        })
    }
}

/// The token every test request carries unless it says otherwise.
const OPERATOR: &str = "op-all";

const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A database made for one test and removed after it.
enum TestDb {
    Sqlite(tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    fn sqlite() -> Self {
        Self::Sqlite(tempfile::tempdir().expect("temp dir"))
    }

    async fn postgres() -> Self {
        sqlx::any::install_default_drivers();
        let admin_url = std::env::var("STUDIO_EDGE_TEST_POSTGRES")
            .unwrap_or_else(|_| DEFAULT_POSTGRES.to_owned());
        let name = format!("orders_test_{}", uuid::Uuid::now_v7().simple());
        let mut admin = sqlx::AnyConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin_url} is required for this test: {e}"));
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create test database");
        Self::Postgres { admin_url, name }
    }

    fn url(&self) -> String {
        match self {
            Self::Sqlite(dir) => OrdersConfig::sqlite_in(dir.path()).database,
            Self::Postgres { admin_url, name } => {
                let base = admin_url
                    .rsplit_once('/')
                    .map_or(admin_url.as_str(), |(b, _)| b);
                format!("{base}/{name}")
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Self::Postgres { admin_url, name } = self {
            let (admin_url, database) = (admin_url.clone(), name.clone());
            // Drop runs outside async; a thread with its own runtime can wait.
            let dropped = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime")
                    .block_on(async move {
                        let mut admin = sqlx::AnyConnection::connect(&admin_url).await?;
                        admin
                            .execute(sqlx::AssertSqlSafe(format!(
                                "DROP DATABASE IF EXISTS {database} WITH (FORCE)"
                            )))
                            .await
                            .map(drop)
                    })
            })
            .join();
            if !matches!(dropped, Ok(Ok(()))) {
                eprintln!("could not drop test database {name}");
            }
        }
    }
}

/// The orders router served over HTTP for one test.
struct Server {
    base: String,
    client: reqwest::Client,
    service: Arc<Service>,
    orders: Orders,
    shutdown: tokio::sync::oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(db: &TestDb, ttl: Duration) -> Server {
        let config = OrdersConfig {
            reservation_ttl: ttl,
            ..OrdersConfig::new(db.url())
        };
        let orders = Orders::open(config).await.expect("open orders");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let router = orders.router(Arc::new(TestOperators));
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stop.await;
                })
                .await
        });
        Server {
            base: format!("http://{addr}"),
            client: reqwest::Client::builder()
                .no_proxy()
                .pool_max_idle_per_host(64)
                .build()
                .expect("client"),
            service: orders.service(),
            orders,
            shutdown,
            serving,
        }
    }

    /// Stops serving and closes the store.
    async fn stop(self) {
        let Server {
            client,
            service,
            orders,
            shutdown,
            serving,
            ..
        } = self;
        drop(client);
        let _ = shutdown.send(());
        serving.await.expect("server task").expect("server");
        drop((service, orders));
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<String>,
    ) -> Reply {
        self.send_as(Some(OPERATOR), method, path, key, body).await
    }

    async fn send_as(
        &self,
        token: Option<&str>,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<String>,
    ) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = key {
            request = request.header("idempotency-key", format!("\"{key}\""));
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.expect("HTTP request");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = response.bytes().await.expect("body").to_vec();
        Reply {
            status,
            content_type,
            body,
        }
    }

    async fn post(&self, path: &str, key: &str, body: &Value) -> Reply {
        self.send(
            reqwest::Method::POST,
            path,
            Some(key),
            Some(body.to_string()),
        )
        .await
    }

    async fn get(&self, path: &str) -> Reply {
        self.send(reqwest::Method::GET, path, None, None).await
    }

    async fn create_drop(&self, units: i64, extra: Value) -> String {
        let now = Timestamp::now();
        let mut body = json!({
            "sku": "TEE-1", "title": "Drop tee", "units": units,
            "unit_price": 2500, "currency": "EUR",
            "starts_at": now.plus_millis(-60_000), "ends_at": now.plus_millis(3_600_000),
        });
        for (k, v) in extra.as_object().expect("object") {
            body[k] = v.clone();
        }
        let reply = self
            .post("/orders/v1/drops", &uuid::Uuid::now_v7().to_string(), &body)
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text());
        reply.json()["id"].as_str().expect("drop id").to_owned()
    }

    async fn reserve(&self, drop_id: &str, buyer: &str, quantity: i64, key: &str) -> Reply {
        self.post(
            "/orders/v1/reservations",
            key,
            &reservation(drop_id, buyer, quantity),
        )
        .await
    }

    async fn confirm(&self, reservation_id: &str, key: &str) -> Reply {
        self.post(
            &format!("/orders/v1/reservations/{reservation_id}/confirm"),
            key,
            &json!({"payment_reference": format!("pay-{reservation_id}")}),
        )
        .await
    }

    async fn drop_state(&self, drop_id: &str) -> Value {
        let reply = self.get(&format!("/orders/v1/drops/{drop_id}")).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply.json()
    }

    /// Asserts the stock invariant from the tables themselves.
    async fn assert_consistent(&self, drop_id: &str) -> crate::StockAudit {
        let audit = self
            .service
            .audit(drop_id)
            .await
            .expect("audit")
            .expect("drop exists");
        assert!(audit.sold + audit.reserved <= audit.units, "{audit:?}");
        assert_eq!(audit.reserved, audit.held_quantity, "{audit:?}");
        assert_eq!(audit.sold, audit.ordered_quantity, "{audit:?}");
        audit
    }
}

fn reservation(drop_id: &str, buyer: &str, quantity: i64) -> Value {
    json!({
        "drop_id": drop_id, "quantity": quantity, "buyer_id": buyer,
        "consent": {"terms_version": "2026-11", "accepted_at": Timestamp::now()},
    })
}

#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    #[track_caller]
    fn assert_problem(&self, status: u16, slug: &str) {
        assert_eq!(self.status, status, "{}", self.text());
        assert_eq!(self.content_type, "application/problem+json");
        assert_eq!(
            self.json()["type"],
            format!("urn:studio-edge:problem:{slug}"),
            "{}",
            self.text()
        );
    }
}

async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---- the scenarios, each run on both stores -------------------------------

async fn a_thousand_buyers_get_exactly_the_hundred_units(db: TestDb) {
    let server = Server::start(&db, OrdersConfig::DEFAULT_RESERVATION_TTL).await;
    let drop_id = server.create_drop(100, json!({})).await;
    let server = Arc::new(server);
    let attempts = (0..1000).map(|i| {
        let server = Arc::clone(&server);
        let drop_id = drop_id.clone();
        tokio::spawn(async move {
            server
                .reserve(&drop_id, &format!("buyer-{i}"), 1, &format!("attempt-{i}"))
                .await
        })
    });
    let mut held = Vec::new();
    let mut sold_out = 0;
    for attempt in attempts.collect::<Vec<_>>() {
        let reply = attempt.await.expect("task");
        match reply.status {
            201 => held.push(reply.json()["id"].as_str().expect("id").to_owned()),
            _ => {
                reply.assert_problem(409, "sold-out");
                sold_out += 1;
            }
        }
    }
    assert_eq!((held.len(), sold_out), (100, 900));
    let state = server.drop_state(&drop_id).await;
    assert_eq!(
        (state["available"].as_i64(), state["reserved"].as_i64()),
        (Some(0), Some(100))
    );
    assert_eq!(state["status"], "sold-out");
    let audit = server.assert_consistent(&drop_id).await;
    assert_eq!((audit.reserved, audit.held_quantity), (100, 100));

    // Confirming every hold, concurrently, sells exactly the 100.
    let confirms = held.iter().map(|id| {
        let server = Arc::clone(&server);
        let id = id.clone();
        tokio::spawn(async move { server.confirm(&id, &format!("confirm-{id}")).await })
    });
    for confirm in confirms.collect::<Vec<_>>() {
        let reply = confirm.await.expect("task");
        assert_eq!(reply.status, 201, "{}", reply.text());
    }
    let audit = server.assert_consistent(&drop_id).await;
    assert_eq!(
        (audit.sold, audit.reserved, audit.ordered_quantity),
        (100, 0, 100)
    );
}

async fn retries_replay_and_reused_keys_are_refused(db: TestDb) {
    let server = Arc::new(Server::start(&db, OrdersConfig::DEFAULT_RESERVATION_TTL).await);
    let drop_id = server.create_drop(10, json!({})).await;
    let body = reservation(&drop_id, "buyer-1", 2);

    let first = server.post("/orders/v1/reservations", "key-a", &body).await;
    assert_eq!(first.status, 201, "{}", first.text());
    let retry = server.post("/orders/v1/reservations", "key-a", &body).await;
    assert_eq!(
        (retry.status, &retry.body),
        (201, &first.body),
        "a retry replays byte for byte"
    );

    // The same JSON written differently is the same request.
    let respelled = serde_json::to_string_pretty(&body).expect("JSON");
    let respelled = server
        .send(
            reqwest::Method::POST,
            "/orders/v1/reservations",
            Some("key-a"),
            Some(respelled),
        )
        .await;
    assert_eq!((respelled.status, &respelled.body), (201, &first.body));
    let mut changed = body.clone();
    changed["quantity"] = json!(3);
    server
        .post("/orders/v1/reservations", "key-a", &changed)
        .await
        .assert_problem(422, "idempotency-key-reused");
    server
        .send(
            reqwest::Method::POST,
            "/orders/v1/reservations",
            None,
            Some(body.to_string()),
        )
        .await
        .assert_problem(400, "idempotency-key-missing");
    assert_eq!(server.assert_consistent(&drop_id).await.reserved, 2);

    // Twenty identical calls at once: one does the work; the others get
    // 409 while it is in flight or its replay after.
    let same = reservation(&drop_id, "buyer-2", 1);
    let calls = (0..20).map(|_| {
        let server = Arc::clone(&server);
        let body = same.clone();
        tokio::spawn(async move { server.post("/orders/v1/reservations", "key-b", &body).await })
    });
    let mut bodies = Vec::new();
    for call in calls.collect::<Vec<_>>() {
        let reply = call.await.expect("task");
        match reply.status {
            201 => bodies.push(reply.body),
            _ => reply.assert_problem(409, "idempotency-key-in-use"),
        }
    }
    assert!(!bodies.is_empty());
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "every success is the same reply"
    );
    assert_eq!(server.assert_consistent(&drop_id).await.reserved, 3);

    // Problems are replayed too: a sold-out answer stays the answer for its key.
    let too_many = reservation(&drop_id, "buyer-3", 8);
    let refused = server
        .post("/orders/v1/reservations", "key-c", &too_many)
        .await;
    refused.assert_problem(409, "sold-out");
    let again = server
        .post("/orders/v1/reservations", "key-c", &too_many)
        .await;
    assert_eq!(again.body, refused.body);
}

async fn expired_holds_come_back_and_cannot_be_confirmed(db: TestDb) {
    let server = Server::start(&db, Duration::from_millis(400)).await;
    let drop_id = server.create_drop(5, json!({})).await;
    let held = server.reserve(&drop_id, "buyer-1", 3, "k1").await;
    assert_eq!(held.status, 201, "{}", held.text());
    let id = held.json()["id"].as_str().expect("id").to_owned();
    assert_eq!(server.drop_state(&drop_id).await["available"], 2);
    wait_for("the expired hold's units to return", || async {
        server.drop_state(&drop_id).await["available"] == 5
    })
    .await;
    server
        .confirm(&id, "k2")
        .await
        .assert_problem(410, "reservation-expired");
    let reservation = server.get(&format!("/orders/v1/reservations/{id}")).await;
    assert_eq!(reservation.json()["state"], "expired");
    let audit = server.assert_consistent(&drop_id).await;
    assert_eq!((audit.reserved, audit.sold), (0, 0));
}

async fn drop_rules_are_enforced(db: TestDb) {
    let server = Server::start(&db, OrdersConfig::DEFAULT_RESERVATION_TTL).await;
    let now = Timestamp::now();
    let limited = server
        .create_drop(
            10,
            json!({"per_buyer_limit": 2, "bundle": {"units": 2, "price": 4000}}),
        )
        .await;

    // Bundle pricing in the breakdown.
    let two = server.reserve(&limited, "alice", 2, "a1").await;
    assert_eq!(two.status, 201, "{}", two.text());
    let price = &two.json()["price"];
    assert_eq!(
        (
            price["subtotal"].as_i64(),
            price["discount"].as_i64(),
            price["total"].as_i64()
        ),
        (Some(5000), Some(1000), Some(4000))
    );
    assert_eq!(price["rule"]["type"], "bundle");
    server
        .reserve(&limited, "alice", 1, "a2")
        .await
        .assert_problem(409, "buyer-limit");
    server
        .reserve(&limited, "bob", 3, "b1")
        .await
        .assert_problem(409, "buyer-limit");

    // Releasing gives the units (and the buyer's allowance) back.
    let id = two.json()["id"].as_str().expect("id").to_owned();
    let released = server
        .send(
            reqwest::Method::DELETE,
            &format!("/orders/v1/reservations/{id}"),
            Some("r1"),
            None,
        )
        .await;
    assert_eq!(
        (released.status, released.json()["state"].clone()),
        (200, json!("released"))
    );
    assert_eq!(server.drop_state(&limited).await["available"], 10);
    server
        .confirm(&id, "c0")
        .await
        .assert_problem(410, "reservation-released");
    let again = server.reserve(&limited, "alice", 2, "a3").await;
    assert_eq!(again.status, 201, "{}", again.text());

    // Confirmed once; a second confirm under a new key says where the order is.
    let id = again.json()["id"].as_str().expect("id").to_owned();
    let order = server.confirm(&id, "c1").await;
    assert_eq!(order.status, 201, "{}", order.text());
    let order_id = order.json()["id"].as_str().expect("order id").to_owned();
    let twice = server.confirm(&id, "c2").await;
    twice.assert_problem(409, "already-confirmed");
    assert_eq!(twice.json()["order_id"], order_id.as_str());
    let stored = server.get(&format!("/orders/v1/orders/{order_id}")).await;
    assert_eq!(stored.json()["reservation_id"], id.as_str());

    // Not yet started, already ended, unknown.
    let later = server
        .create_drop(
            5,
            json!({"starts_at": now.plus_millis(3_600_000), "ends_at": now.plus_millis(7_200_000)}),
        )
        .await;
    server
        .reserve(&later, "alice", 1, "l1")
        .await
        .assert_problem(409, "drop-not-active");
    assert_eq!(server.drop_state(&later).await["status"], "scheduled");
    let ended = server
        .create_drop(
            5,
            json!({"starts_at": now.plus_millis(-7_200_000), "ends_at": now.plus_millis(-3_600_000)}),
        )
        .await;
    server
        .reserve(&ended, "alice", 1, "e1")
        .await
        .assert_problem(409, "drop-not-active");
    server
        .reserve("drp_nope", "alice", 1, "n1")
        .await
        .assert_problem(404, "not-found");
    server
        .confirm("res_nope", "n2")
        .await
        .assert_problem(404, "not-found");

    // No consent, no reservation; nothing is held.
    let mut no_consent = reservation(&limited, "carol", 1);
    no_consent
        .as_object_mut()
        .expect("object")
        .remove("consent");
    server
        .post("/orders/v1/reservations", "nc", &no_consent)
        .await
        .assert_problem(422, "consent-required");
    let audit = server.assert_consistent(&limited).await;
    assert_eq!((audit.reserved, audit.sold), (0, 2));
}

async fn operators_manage_the_drops_of_their_streams(db: TestDb) {
    use reqwest::Method;
    let server = Server::start(&db, OrdersConfig::DEFAULT_RESERVATION_TTL).await;
    let mut events = server.orders.drop_events();
    let now = Timestamp::now();
    let body = json!({
        "sku": "LIP-1", "title": "Lipstick", "units": 5, "unit_price": 1800, "currency": "EUR",
        "starts_at": now.plus_millis(-1000), "ends_at": now.plus_millis(3_600_000),
        "stream": "cam1", "hold_seconds": 30, "bundle": {"units": 2, "price": 3000},
        "shades": [{"name": "Rose", "lab": [55.0, 40.0, 12.0]}], "detail": "detail-lip",
    })
    .to_string();
    let create = |token: Option<&'static str>, key: &'static str| {
        server.send_as(
            token,
            Method::POST,
            "/orders/v1/drops",
            Some(key),
            Some(body.clone()),
        )
    };
    // No token, a forged one: 401; a token for another stream: 403. Nothing is created.
    create(None, "d1").await.assert_problem(401, "unauthorized");
    create(Some("op-forged"), "d2")
        .await
        .assert_problem(401, "unauthorized");
    let mut cam2 = serde_json::from_str::<Value>(&body).unwrap();
    cam2["stream"] = json!("cam2");
    server
        .send_as(
            Some("op-cam1"),
            Method::POST,
            "/orders/v1/drops",
            Some("d3"),
            Some(cam2.to_string()),
        )
        .await
        .assert_problem(403, "forbidden");
    let listed = server.get("/orders/v1/drops?stream=cam1").await.json();
    assert_eq!(listed["drops"].as_array().unwrap().len(), 0);

    let created = create(Some("op-cam1"), "d4").await;
    assert_eq!(created.status, 201, "{}", created.text());
    let drop = created.json();
    let id = drop["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (drop["stream"].as_str(), drop["pinned"].as_bool()),
        (Some("cam1"), Some(false))
    );
    assert_eq!(drop["hold_seconds"], 30);
    assert_eq!(drop["quote"]["total"], 1800);
    assert_eq!(drop["bundle_quote"]["total"], 3000);
    assert_eq!(drop["shades"][0]["name"], "Rose");
    assert_eq!(drop["detail"], "detail-lip");
    let event = events.recv().await.expect("a drop event");
    assert_eq!(
        (event.id.as_str(), event.stream.as_deref()),
        (id.as_str(), Some("cam1"))
    );

    // Listing is open to viewers; an unknown or missing stream is empty or 400.
    let listed = server
        .send_as(
            None,
            Method::GET,
            "/orders/v1/drops?stream=cam1",
            None,
            None,
        )
        .await;
    assert_eq!(listed.json()["drops"][0]["id"], id.as_str());
    server
        .send_as(None, Method::GET, "/orders/v1/drops", None, None)
        .await
        .assert_problem(400, "bad-request");

    // Pin: 401 without a token, 403 with another stream's; then pinned, announced.
    let pin = json!({"pinned": true}).to_string();
    let path = format!("/orders/v1/drops/{id}");
    server
        .send_as(None, Method::PATCH, &path, Some("p1"), Some(pin.clone()))
        .await
        .assert_problem(401, "unauthorized");
    let pinned = server
        .send_as(Some("op-cam1"), Method::PATCH, &path, Some("p2"), Some(pin))
        .await;
    assert_eq!(pinned.status, 200, "{}", pinned.text());
    assert_eq!(pinned.json()["pinned"], true);
    assert!(events.recv().await.expect("pin event").pinned);
    server
        .send_as(
            Some("op-all"),
            Method::PATCH,
            &path,
            Some("p3"),
            Some(r#"{"units":9}"#.into()),
        )
        .await
        .assert_problem(400, "bad-request");
    // The detail variant: a bad name is refused and changes nothing; null clears it.
    for (key, body, status) in [
        ("p4", r#"{"detail":"Detail Lip!"}"#, 400),
        ("p5", r#"{"detail":null}"#, 200),
    ] {
        let reply = server
            .send_as(
                Some("op-cam1"),
                Method::PATCH,
                &path,
                Some(key),
                Some(body.into()),
            )
            .await;
        assert_eq!(reply.status, status, "{body}: {}", reply.text());
    }
    let drop = server.get(&path).await.json();
    assert!(drop.get("detail").is_none(), "{drop}");
    assert_eq!(
        drop["shades"][0]["name"], "Rose",
        "the other fields are kept"
    );

    // A hold lasts the drop's own hold_seconds.
    let held = server.reserve(&id, "buyer", 1, "r1").await.json();
    let hold_ms = Timestamp::parse_rfc3339(held["expires_at"].as_str().unwrap())
        .unwrap()
        .unix_millis()
        - Timestamp::parse_rfc3339(held["created_at"].as_str().unwrap())
            .unwrap()
            .unix_millis();
    assert_eq!(hold_ms, 30_000);

    // The funnel counts the reservation; only operators read it, and orders.
    let funnel_path = format!("/orders/v1/drops/{id}/funnel");
    server
        .send_as(None, Method::GET, &funnel_path, None, None)
        .await
        .assert_problem(401, "unauthorized");
    let funnel = server.get(&funnel_path).await.json();
    assert_eq!(
        (funnel["reservations"].as_i64(), funnel["held"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(funnel["oversell_incidents"], 0);
    let order = server
        .confirm(held["id"].as_str().unwrap(), "c1")
        .await
        .json();
    let order_path = format!("/orders/v1/orders/{}", order["id"].as_str().unwrap());
    server
        .send_as(None, Method::GET, &order_path, None, None)
        .await
        .assert_problem(401, "unauthorized");
    assert_eq!(server.get(&order_path).await.status, 200);

    // Ending: the drop is over at once and nobody can reserve.
    let ended = server
        .send_as(
            Some("op-cam1"),
            Method::POST,
            &format!("/orders/v1/drops/{id}/end"),
            Some("e1"),
            None,
        )
        .await;
    assert_eq!(ended.status, 200, "{}", ended.text());
    assert_eq!(ended.json()["status"], "ended");
    server
        .reserve(&id, "other", 1, "r2")
        .await
        .assert_problem(409, "drop-not-active");
    server.stop().await;
}

async fn confirmed_orders_survive_a_reopen(db: TestDb) {
    let (drop_id, order_id) = {
        let server = Server::start(&db, OrdersConfig::DEFAULT_RESERVATION_TTL).await;
        let drop_id = server.create_drop(3, json!({})).await;
        let held = server.reserve(&drop_id, "buyer", 1, "k1").await;
        let id = held.json()["id"].as_str().expect("id").to_owned();
        let order = server.confirm(&id, "k2").await;
        server.stop().await;
        (drop_id, order.json()["id"].as_str().expect("id").to_owned())
    };
    // The first service is gone (its SQLite lock with it); open again.
    let server = Server::start(&db, OrdersConfig::DEFAULT_RESERVATION_TTL).await;
    assert_eq!(
        server
            .get(&format!("/orders/v1/orders/{order_id}"))
            .await
            .status,
        200
    );
    let audit = server.assert_consistent(&drop_id).await;
    assert_eq!(audit.sold, 1);
}

/// One writer batches concurrent commands into shared transactions, and a
/// refused command fails alone: out of 400 concurrent reservations of a
/// 50-unit drop with a limit of one per buyer (200 buyers, each trying
/// twice), exactly 50 hold, every other one is sold out or over the limit,
/// every hold is stored with its key, and a refused key replays its answer.
async fn a_batch_keeps_each_commands_outcome(db: TestDb) {
    let server = Arc::new(Server::start(&db, OrdersConfig::DEFAULT_RESERVATION_TTL).await);
    let drop_id = server.create_drop(50, json!({"per_buyer_limit": 1})).await;
    let (batches_before, commands_before) = server.service.metrics().batches();
    let attempts = (0..400).map(|i| {
        let (server, drop_id) = (Arc::clone(&server), drop_id.clone());
        tokio::spawn(async move {
            let (key, body) = (
                format!("try-{i}"),
                reservation(&drop_id, &format!("buyer-{}", i % 200), 1),
            );
            let reply = server.post("/orders/v1/reservations", &key, &body).await;
            (key, body, reply)
        })
    });
    let (mut held, mut refused) = (Vec::new(), Vec::new());
    for attempt in attempts.collect::<Vec<_>>() {
        let (key, body, reply) = attempt.await.expect("task");
        match reply.status {
            201 => held.push(reply.json()["id"].as_str().expect("id").to_owned()),
            409 => {
                let slug = reply.json()["type"].as_str().unwrap_or_default().to_owned();
                assert!(
                    slug.ends_with(":sold-out") || slug.ends_with(":buyer-limit"),
                    "{}",
                    reply.text()
                );
                refused.push((key, body, reply));
            }
            _ => panic!("unexpected {}: {}", reply.status, reply.text()),
        }
    }
    assert_eq!((held.len(), refused.len()), (50, 350));
    let (batches, commands) = server.service.metrics().batches();
    let (batches, commands) = (batches - batches_before, commands - commands_before);
    assert_eq!(commands, 400);
    assert!(
        batches < commands,
        "{commands} commands in {batches} transactions"
    );
    for id in &held {
        let reply = server.get(&format!("/orders/v1/reservations/{id}")).await;
        assert_eq!(reply.json()["state"], "held", "{}", reply.text());
    }
    let audit = server.assert_consistent(&drop_id).await;
    assert_eq!(audit.reserved, 50);
    for (key, body, first) in refused.iter().take(20) {
        let again = server.post("/orders/v1/reservations", key, body).await;
        assert_eq!((again.status, again.json()), (first.status, first.json()));
    }
}

macro_rules! on_both_stores {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::TestDb::sqlite()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::TestDb::postgres().await).await;
                }
            )*
        }
    };
}

on_both_stores!(
    a_batch_keeps_each_commands_outcome,
    a_thousand_buyers_get_exactly_the_hundred_units,
    retries_replay_and_reused_keys_are_refused,
    expired_holds_come_back_and_cannot_be_confirmed,
    drop_rules_are_enforced,
    operators_manage_the_drops_of_their_streams,
    confirmed_orders_survive_a_reopen,
);

#[tokio::test]
async fn a_sqlite_file_belongs_to_one_service() {
    let db = TestDb::sqlite();
    let _first = Orders::open(OrdersConfig::new(db.url()))
        .await
        .expect("first");
    let second = Orders::open(OrdersConfig::new(db.url())).await;
    assert!(matches!(second, Err(crate::OrdersError::InUse(_))));
}

/// The next drop event for `drop_id` that satisfies `wanted`.
async fn next_event(
    events: &mut tokio::sync::broadcast::Receiver<crate::DropEvent>,
    drop_id: &str,
    wanted: impl Fn(&crate::model::DropView) -> bool,
) -> crate::DropEvent {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = tokio::time::timeout(left, events.recv())
            .await
            .expect("timed out waiting for a drop event")
            .expect("event stream");
        if event.id == drop_id && wanted(&event) {
            return event;
        }
    }
}

/// Two hosts on one PostgreSQL database: a unit reserved, confirmed or
/// released on one reaches the other's viewers, and a host whose listening
/// connection is cut re-reads every open drop once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_changes_on_one_host_reach_the_viewers_of_another() {
    let db = TestDb::postgres().await;
    let a = Server::start(&db, OrdersConfig::DEFAULT_RESERVATION_TTL).await;
    let b = Server::start(&db, OrdersConfig::DEFAULT_RESERVATION_TTL).await;
    let mut on_b = b.orders.drop_events();
    let drop_id = a.create_drop(5, json!({"stream": "cam1"})).await;
    next_event(&mut on_b, &drop_id, |d| d.reserved == 0).await;

    let held = a.reserve(&drop_id, "buyer-1", 2, "reserve-on-a").await;
    assert_eq!(held.status, 201, "{}", held.text());
    next_event(&mut on_b, &drop_id, |d| d.reserved == 2 && d.available == 3).await;
    let id = held.json()["id"].as_str().expect("id").to_owned();
    assert_eq!(a.confirm(&id, "confirm-on-a").await.status, 201);
    next_event(&mut on_b, &drop_id, |d| d.sold == 2 && d.reserved == 0).await;

    // B's own change reaches A's viewers as well.
    let mut on_a = a.orders.drop_events();
    assert_eq!(
        b.reserve(&drop_id, "buyer-2", 1, "reserve-on-b")
            .await
            .status,
        201
    );
    next_event(&mut on_a, &drop_id, |d| d.reserved == 1).await;
    next_event(&mut on_b, &drop_id, |d| d.reserved == 1).await;

    // Nothing changes from here on. Cut every listening connection: each host reconnects and resyncs,
    // announcing the drop's state though nothing changed.
    let mut admin = sqlx::AnyConnection::connect(&db.url())
        .await
        .expect("admin");
    let cut = admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND query LIKE 'LISTEN%'",
        )
        .await
        .expect("terminate listeners");
    assert!(
        cut.rows_affected() >= 2,
        "{} listeners cut",
        cut.rows_affected()
    );
    next_event(&mut on_b, &drop_id, |d| d.sold == 2 && d.reserved == 1).await;
    a.stop().await;
    b.stop().await;
}

/// During a rush on one drop every batch notifies it again; the other host
/// still reads and announces it while the rush goes on (its gathering
/// window does not restart with each notification).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_drop_reaches_other_hosts_during_the_rush() {
    let db = TestDb::postgres().await;
    let a = Arc::new(Server::start(&db, OrdersConfig::DEFAULT_RESERVATION_TTL).await);
    let b = Server::start(&db, OrdersConfig::DEFAULT_RESERVATION_TTL).await;
    let mut on_b = b.orders.drop_events();
    let drop_id = a.create_drop(2000, json!({"stream": "cam1"})).await;
    next_event(&mut on_b, &drop_id, |d| d.reserved == 0).await;
    let seen = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Reservations back to back, each notifying the drop, until B has
    // announced some of them (or 1,500 reservations, far longer than a
    // gathering window).
    let rush = {
        let (a, drop_id, seen) = (Arc::clone(&a), drop_id.clone(), Arc::clone(&seen));
        tokio::spawn(async move {
            let mut made = 0;
            while !seen.load(std::sync::atomic::Ordering::SeqCst) && made < 1500 {
                let reply = a
                    .reserve(&drop_id, &format!("b-{made}"), 1, &format!("rush-{made}"))
                    .await;
                assert_eq!(reply.status, 201, "{}", reply.text());
                made += 1;
            }
            made
        })
    };
    let event = next_event(&mut on_b, &drop_id, |d| d.reserved >= 5).await;
    seen.store(true, std::sync::atomic::Ordering::SeqCst);
    let made = rush.await.expect("rush");
    assert!(
        made < 1500,
        "B announced nothing while A made {made} reservations"
    );
    assert!(
        event.reserved <= made,
        "{} reserved of {made}",
        event.reserved
    );
    b.stop().await;
}
