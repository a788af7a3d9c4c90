//! The orders service: limited drops sold reserve-first, with idempotent
//! state changes and a stock invariant the database enforces.
//!
//! `studio-edge up` mounts [`Orders::router`] under `/orders/v1`;
//! `studio-edge orders` runs it alone. The edge cart worker
//! (`workers/cart`) fronts it.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use studio_edge_orders::auth::{Operator, OperatorDirectory};
//! use studio_edge_orders::{Orders, OrdersConfig};
//!
//! /// No operators: every operator route answers 401.
//! struct Nobody;
//! impl OperatorDirectory for Nobody {
//!     fn find(&self, _token: &str) -> Option<Operator> { None }
//! }
//!
//! let orders = Orders::open(OrdersConfig::sqlite_in("data".as_ref())).await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, orders.router(Arc::new(Nobody))).await?;
//! # Ok(()) }
//! ```
//!
//! Routes (every state-changing one needs an `Idempotency-Key` header;
//! "operator" ones an operator token, see [`auth`]):
//!
//! | route | does |
//! |---|---|
//! | `POST /orders/v1/drops` | operator: creates a drop (201), optionally on a `stream`, `pinned`, with `hold_seconds`, `shades` and `detail` (the stream's variant that shows it up close) |
//! | `GET /orders/v1/drops?stream=NAME[&limit=N]` | a stream's drops, newest first (default 50, at most 200) |
//! | `GET /orders/v1/drops/{id}` | available, reserved, sold, status, quotes, server time |
//! | `PATCH /orders/v1/drops/{id}` | operator: changes `title`, `pinned`, `ends_at`, `discounts`, `shades`, `detail` (`null` clears it) |
//! | `POST /orders/v1/drops/{id}/end` | operator: ends the sale now |
//! | `GET /orders/v1/drops/{id}/funnel` | operator: reservations by state, orders, oversell incidents |
//! | `POST /orders/v1/reservations` | holds units for the TTL (201 with price breakdown) |
//! | `GET /orders/v1/reservations/{id}` | a reservation and its state |
//! | `POST /orders/v1/reservations/{id}/confirm` | turns a hold into an order (201) |
//! | `DELETE /orders/v1/reservations/{id}` | releases a hold (200) |
//! | `GET /orders/v1/orders/{id}` | operator: a confirmed order |
//!
//! Storage is SQLite (`sqlite:<path>`, WAL, `synchronous=FULL`, one process
//! per file) or PostgreSQL (`postgres://...`, any number of processes);
//! see [`store`] for how the invariant `sold + reserved <= units` is kept.
//! State changes go through one writer per store that group-commits every
//! command waiting for it (at most [`service::MAX_BATCH`] per transaction,
//! each in its own savepoint, answered after the commit is durable; see
//! [`service`]). With PostgreSQL, hosts of one deployment hear each other's
//! drop changes through `LISTEN`/`NOTIFY` ([`notify`]).

pub mod auth;
mod http;
pub mod idempotency;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod problem;
pub mod service;
pub mod store;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::broadcast;

pub use service::Service;
pub use store::StockAudit;
pub use studio_edge_cart::pricing;
pub use studio_edge_cart::timestamp::Timestamp;

/// Where and how the orders service stores its state.
#[derive(Debug, Clone)]
pub struct OrdersConfig {
    /// `sqlite:<path>` (default, a file in the data directory) or `postgres://...`.
    pub database: String,
    /// How long a reservation holds its units before they return to the drop.
    pub reservation_ttl: Duration,
    /// The deployment's name: hosts sharing one PostgreSQL database with the
    /// same name hear each other's drop changes (see [`notify`]).
    pub deployment: String,
}

impl OrdersConfig {
    /// How long a hold lasts unless configured otherwise.
    pub const DEFAULT_RESERVATION_TTL: Duration = Duration::from_secs(5 * 60);
    /// The SQLite file name inside a data directory.
    pub const SQLITE_FILE: &str = "orders.sqlite";
    /// The deployment name unless configured otherwise.
    pub const DEFAULT_DEPLOYMENT: &str = "default";

    /// `database` with the default TTL and deployment.
    pub fn new(database: impl Into<String>) -> Self {
        Self {
            database: database.into(),
            reservation_ttl: Self::DEFAULT_RESERVATION_TTL,
            deployment: Self::DEFAULT_DEPLOYMENT.to_owned(),
        }
    }

    /// The default store: `<data_dir>/orders.sqlite`.
    pub fn sqlite_in(data_dir: &Path) -> Self {
        let path: PathBuf = data_dir.join(Self::SQLITE_FILE);
        Self::new(format!("sqlite:{}", path.display()))
    }
}

/// A drop's state after a change (stock, window, pin, title, price), for
/// viewers' event streams.
pub type DropEvent = Arc<model::DropView>;

#[derive(Debug, thiserror::Error)]
pub enum OrdersError {
    #[error("storage: {0}")]
    Storage(#[from] sqlx::Error),
    #[error("migrating the orders schema: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("orders configuration: {0}")]
    Config(String),
    #[error(
        "{0} is in use by another process (SQLite stores belong to one process; use PostgreSQL to share)"
    )]
    InUse(PathBuf),
}

/// Reads a drop's stock totals straight from the tables of `database`
/// (same syntax as [`OrdersConfig::database`]), read-only and without
/// migrating, so it works while a service has the database open: for
/// operators and tests checking that the database agrees with the API.
pub async fn audit_drop(database: &str, drop_id: &str) -> Result<Option<StockAudit>, OrdersError> {
    let mut conn = store::connect_read_only(database).await?;
    Ok(store::audit_drop(&mut conn, drop_id).await?)
}

/// How often expired holds are swept: often enough that units come back
/// within a quarter of a second of expiry (drops may hold for as little as
/// a second), and more often for very short TTLs.
fn sweep_interval(ttl: Duration) -> Duration {
    (ttl / 4).clamp(Duration::from_millis(50), Duration::from_millis(250))
}

/// Stored idempotent replies are pruned this often.
const KEY_PRUNE_INTERVAL: Duration = Duration::from_secs(10 * 60);
/// The stock invariant is audited for `/metrics` this often.
const AUDIT_INTERVAL: Duration = Duration::from_secs(5);

/// The running orders service. The expiry sweeper runs while this or any
/// router made from it is alive.
pub struct Orders {
    service: Arc<Service>,
    events: broadcast::Sender<DropEvent>,
}

impl Orders {
    /// Opens (and migrates) the store and starts the expiry sweeper. Must be
    /// called inside a Tokio runtime.
    pub async fn open(config: OrdersConfig) -> Result<Self, OrdersError> {
        if config.reservation_ttl.is_zero() {
            return Err(OrdersError::Config(
                "reservation TTL must be positive".to_owned(),
            ));
        }
        notify::check_deployment(&config.deployment).map_err(OrdersError::Config)?;
        let store = store::Store::open(&config.database).await?;
        let (events, _) = broadcast::channel(1024);
        let listen = store
            .postgres_url()
            .map(|url| (url.to_owned(), notify::channel(&config.deployment)));
        let channel = listen.as_ref().map(|(_, channel)| channel.clone());
        let service = Arc::new(Service::new(
            store,
            config.reservation_ttl,
            events.clone(),
            channel,
        ));
        if let Some((url, channel)) = listen {
            tokio::spawn(notify::listen(Arc::downgrade(&service), url, channel));
        }
        tokio::spawn(sweep_while_alive(
            Arc::downgrade(&service),
            sweep_interval(config.reservation_ttl),
        ));
        Ok(Self { service, events })
    }

    /// Routes under `/orders/v1`, ready to merge into the host's router;
    /// operator routes take their bearer tokens from `operators`.
    pub fn router(&self, operators: Arc<dyn auth::OperatorDirectory>) -> axum::Router {
        http::router(Arc::clone(&self.service), operators)
    }

    /// Drop-state changes as they happen: on SQLite those this process
    /// made, on PostgreSQL those of every host of the deployment.
    pub fn drop_events(&self) -> broadcast::Receiver<DropEvent> {
        self.events.subscribe()
    }

    /// Prometheus text of the service's counters (see [`metrics`]).
    pub fn metrics_text(&self) -> String {
        self.service.metrics().text()
    }

    /// The service itself, for callers that skip HTTP (benchmarks, tests).
    pub fn service(&self) -> Arc<Service> {
        Arc::clone(&self.service)
    }
}

async fn sweep_while_alive(service: Weak<Service>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ticks_per = |every: Duration| (every.as_millis() / interval.as_millis().max(1)).max(1);
    let (prune_every, audit_every) = (ticks_per(KEY_PRUNE_INTERVAL), ticks_per(AUDIT_INTERVAL));
    let mut tick: u128 = 0;
    loop {
        ticks.tick().await;
        let Some(service) = service.upgrade() else {
            return;
        };
        if let Err(e) = service.sweep().await {
            tracing::warn!(error = %e, "sweeping expired reservations failed; will retry");
        }
        // The first tick audits at once, so /metrics has a count early.
        if tick.is_multiple_of(audit_every)
            && let Err(e) = service.audit_stock().await
        {
            tracing::warn!(error = %e, "auditing stock failed; will retry");
        }
        tick += 1;
        if tick.is_multiple_of(prune_every)
            && let Err(e) = service.forget_old_keys().await
        {
            tracing::warn!(error = %e, "pruning old idempotency keys failed; will retry");
        }
    }
}
