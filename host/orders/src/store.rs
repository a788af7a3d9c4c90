//! The database: connecting to SQLite or PostgreSQL, versioned migrations,
//! and every statement the service runs.
//!
//! Both backends run the same SQL through sqlx's `Any` driver (numbered
//! `$n` parameters work on both). The stock invariant lives in the schema
//! (`CHECK (sold + reserved <= units ...)`) and every change of stock is a
//! conditional `UPDATE` of the drop row, so correctness never depends on
//! what one process holds in memory and any number of processes may share
//! one PostgreSQL database.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::AnyConnection;
use sqlx::AssertSqlSafe;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor, Row};
use studio_edge_cart::pricing::{PriceBreakdown, PriceList};
use studio_edge_cart::timestamp::Timestamp;

use crate::idempotency::{IdempotencyKey, advisory_lock_id};
use crate::model::{
    Consent, DropFunnel, DropStatus, DropView, NewDrop, NewReservation, OrderView,
    ReservationState, ReservationView, Shade,
};
use crate::{DropEvent, OrdersError};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// PostgreSQL connections per process. Reservations of one drop serialise
/// on its row lock anyway; more connections only add contention.
const POSTGRES_CONNECTIONS: u32 = 16;
/// How long a request may wait for a connection before it gets 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(60);
/// Expired reservations swept per statement.
const SWEEP_BATCH: i64 = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// An open database.
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// PostgreSQL: where to connect for `LISTEN`.
    url: Option<String>,
    /// Held for the life of the store: one process owns a SQLite file.
    _sqlite_lock: Option<File>,
}

/// A database failure: not the client's fault, never stored as a response.
pub type StoreError = sqlx::Error;

fn sqlite_path(database: &str) -> Option<&str> {
    database
        .strip_prefix("sqlite://")
        .or_else(|| database.strip_prefix("sqlite:"))
}

fn sqlite_url(path: &Path, mode: &str) -> String {
    // Only the characters that end a URL path need escaping.
    let text = path.to_string_lossy();
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => escaped.push_str("%25"),
            '?' => escaped.push_str("%3F"),
            '#' => escaped.push_str("%23"),
            c => escaped.push(c),
        }
    }
    format!("sqlite://{escaped}?mode={mode}")
}

/// Takes an exclusive lock beside the SQLite file: keys in flight are
/// tracked in this process's memory, which is only sound if no other
/// process writes the same file.
fn lock_sqlite_file(path: &Path) -> Result<File, OrdersError> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| OrdersError::Config(format!("{}: {e}", lock_path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(OrdersError::InUse(path.to_path_buf())),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(OrdersError::Config(format!("{}: {e}", lock_path.display())))
        }
    }
}

impl Store {
    /// Connects and brings the schema up to date. `database` is
    /// `sqlite:<path>` or `postgres://...`.
    pub async fn open(database: &str) -> Result<Self, OrdersError> {
        sqlx::any::install_default_drivers();
        if let Some(path) = sqlite_path(database) {
            let path = Path::new(path);
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| OrdersError::Config(format!("{}: {e}", dir.display())))?;
            }
            let lock = lock_sqlite_file(path)?;
            // One connection: SQLite has one writer at a time anyway, and a
            // single connection can never meet SQLITE_BUSY from itself.
            let pool = AnyPoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        // FULL: a commit is on disk before it is acknowledged,
                        // so confirmed orders survive kill -9 and power loss.
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        Ok(())
                    })
                })
                .connect(&sqlite_url(path, "rwc"))
                .await?;
            SQLITE_MIGRATIONS.run(&pool).await?;
            Ok(Self {
                pool,
                backend: Backend::Sqlite,
                url: None,
                _sqlite_lock: Some(lock),
            })
        } else if database.starts_with("postgres://") || database.starts_with("postgresql://") {
            let pool = AnyPoolOptions::new()
                .max_connections(POSTGRES_CONNECTIONS)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect(database)
                .await?;
            POSTGRES_MIGRATIONS.run(&pool).await?;
            Ok(Self {
                pool,
                backend: Backend::Postgres,
                url: Some(database.to_owned()),
                _sqlite_lock: None,
            })
        } else {
            Err(OrdersError::Config(format!(
                "unsupported database {database:?}: use sqlite:<path> or postgres://..."
            )))
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// PostgreSQL: the database URL (for a listening connection).
    pub fn postgres_url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        self.pool.begin().await
    }

    pub async fn acquire(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, StoreError> {
        self.pool.acquire().await
    }

    /// PostgreSQL only: takes the transaction-scoped advisory lock of each
    /// key, without waiting, in one statement. `false` means another
    /// transaction holds that key's lock. SQLite: one process owns the
    /// file, and its keys in flight are in memory.
    pub async fn try_lock_keys(
        &self,
        conn: &mut AnyConnection,
        keys: &[(&str, &IdempotencyKey)],
    ) -> Result<Vec<bool>, StoreError> {
        if self.backend == Backend::Sqlite || keys.is_empty() {
            return Ok(vec![true; keys.len()]);
        }
        let columns: Vec<String> = (1..=keys.len())
            .map(|n| format!("pg_try_advisory_xact_lock(${n})"))
            .collect();
        let sql = format!("SELECT {}", columns.join(", "));
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (scope, key) in keys {
            query = query.bind(advisory_lock_id(scope, key));
        }
        let row = query.fetch_one(conn).await?;
        (0..keys.len()).map(|i| row.try_get::<bool, _>(i)).collect()
    }
}

/// One connection for reading, without migrations or the SQLite file lock.
pub async fn connect_read_only(database: &str) -> Result<AnyConnection, OrdersError> {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let url = match sqlite_path(database) {
        Some(path) => sqlite_url(Path::new(path), "ro"),
        None => database.to_owned(),
    };
    Ok(AnyConnection::connect(&url).await?)
}

/// A stored response for an idempotency key.
pub struct StoredResponse {
    pub fingerprint: Vec<u8>,
    pub status: u16,
    pub body: Vec<u8>,
}

/// The stored responses of any of `keys`, by `(scope, key)`.
pub async fn find_keys(
    conn: &mut AnyConnection,
    keys: &[(&str, &IdempotencyKey)],
) -> Result<HashMap<(String, String), StoredResponse>, StoreError> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let wanted: Vec<String> = (0..keys.len())
        .map(|i| format!("(scope = ${} AND key = ${})", 2 * i + 1, 2 * i + 2))
        .collect();
    let sql = format!(
        "SELECT scope, key, fingerprint, status, body FROM idempotency_keys WHERE {}",
        wanted.join(" OR ")
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for (scope, key) in keys {
        query = query.bind(*scope).bind(key.as_str());
    }
    let rows = query.fetch_all(conn).await?;
    rows.iter()
        .map(|row| {
            let id = (row.try_get(0)?, row.try_get(1)?);
            let stored = StoredResponse {
                fingerprint: row.try_get(2)?,
                status: u16::try_from(row.try_get::<i64, _>(3)?).unwrap_or(500),
                body: row.try_get(4)?,
            };
            Ok((id, stored))
        })
        .collect()
}

/// A reply to store for its idempotency key.
pub struct KeyRecord {
    pub scope: &'static str,
    pub key: IdempotencyKey,
    pub fingerprint: [u8; 32],
    pub status: u16,
    pub body: Vec<u8>,
    pub created_at: Timestamp,
}

/// Stores `records` in one statement.
pub async fn save_keys(conn: &mut AnyConnection, records: &[KeyRecord]) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    let rows: Vec<String> = (0..records.len())
        .map(|i| {
            let n = 6 * i;
            format!(
                "(${}, ${}, ${}, ${}, ${}, ${})",
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                n + 5,
                n + 6
            )
        })
        .collect();
    let sql = format!(
        "INSERT INTO idempotency_keys (scope, key, fingerprint, status, body, created_at) VALUES {}",
        rows.join(", ")
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for record in records {
        query = query
            .bind(record.scope)
            .bind(record.key.as_str())
            .bind(record.fingerprint.to_vec())
            .bind(i64::from(record.status))
            .bind(record.body.clone())
            .bind(record.created_at.unix_millis());
    }
    query.execute(conn).await?;
    Ok(())
}

pub async fn forget_keys_before(
    conn: &mut AnyConnection,
    cutoff: Timestamp,
) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
        .bind(cutoff.unix_millis())
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// PostgreSQL: tells the hosts listening on `channel` that these drops
/// changed, when (and if) the transaction commits.
pub async fn notify_drops(
    conn: &mut AnyConnection,
    channel: &str,
    drop_ids: &[&str],
) -> Result<(), StoreError> {
    for id in drop_ids {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Opens savepoint `name`, first releasing the one of that name already
/// open when `release_open` (one round trip either way). Savepoints are
/// named by the code, never by input.
pub async fn next_savepoint(
    conn: &mut AnyConnection,
    name: &'static str,
    release_open: bool,
) -> Result<(), StoreError> {
    let sql = if release_open {
        format!("RELEASE SAVEPOINT {name}; SAVEPOINT {name}")
    } else {
        format!("SAVEPOINT {name}")
    };
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(conn)
        .await
        .map(drop)
}

pub async fn release_savepoint(
    conn: &mut AnyConnection,
    name: &'static str,
) -> Result<(), StoreError> {
    conn.execute(AssertSqlSafe(format!("RELEASE SAVEPOINT {name}")))
        .await
        .map(drop)
}

pub async fn rollback_to_savepoint(
    conn: &mut AnyConnection,
    name: &'static str,
) -> Result<(), StoreError> {
    conn.execute(AssertSqlSafe(format!("ROLLBACK TO SAVEPOINT {name}")))
        .await
        .map(drop)
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

fn decode_error(what: &str, e: impl std::fmt::Display) -> StoreError {
    sqlx::Error::Decode(format!("{what}: {e}").into())
}

const DROP_COLUMNS: &str = "id, sku, title, units, reserved, sold, price_list, starts_at, \
     ends_at, per_buyer_limit, stream, pinned, hold_ms, shades, detail";

/// A drop row.
#[derive(Clone)]
pub struct DropRow {
    pub id: String,
    pub sku: String,
    pub title: String,
    pub units: i64,
    pub reserved: i64,
    pub sold: i64,
    pub price_list: PriceList,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub per_buyer_limit: Option<i64>,
    pub stream: Option<String>,
    pub pinned: bool,
    pub hold_ms: Option<i64>,
    pub shades: Vec<Shade>,
    pub detail: Option<String>,
}

impl DropRow {
    fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        let price_list: String = row.try_get("price_list")?;
        let shades: Option<String> = row.try_get("shades")?;
        Ok(Self {
            id: row.try_get("id")?,
            sku: row.try_get("sku")?,
            title: row.try_get("title")?,
            units: row.try_get("units")?,
            reserved: row.try_get("reserved")?,
            sold: row.try_get("sold")?,
            price_list: serde_json::from_str(&price_list)
                .map_err(|e| decode_error("drops.price_list", e))?,
            starts_at: Timestamp::from_unix_millis(row.try_get("starts_at")?),
            ends_at: Timestamp::from_unix_millis(row.try_get("ends_at")?),
            per_buyer_limit: row.try_get("per_buyer_limit")?,
            stream: row.try_get("stream")?,
            pinned: row.try_get::<i64, _>("pinned")? != 0,
            hold_ms: row.try_get("hold_ms")?,
            shades: match shades {
                Some(text) => {
                    serde_json::from_str(&text).map_err(|e| decode_error("drops.shades", e))?
                }
                None => Vec::new(),
            },
            detail: row.try_get("detail")?,
        })
    }

    pub fn available(&self) -> i64 {
        self.units - self.sold - self.reserved
    }

    /// How long a reservation of this drop holds its units.
    pub fn hold_ms(&self, default_ms: i64) -> i64 {
        self.hold_ms.unwrap_or(default_ms)
    }

    /// The drop's state at `now`, for its viewers.
    pub fn event(&self, now: Timestamp, default_hold_ms: i64) -> DropEvent {
        std::sync::Arc::new(self.clone().view(now, default_hold_ms))
    }

    pub fn view(self, now: Timestamp, default_hold_ms: i64) -> DropView {
        let status = if now < self.starts_at {
            DropStatus::Scheduled
        } else if now >= self.ends_at {
            DropStatus::Ended
        } else if self.available() == 0 {
            DropStatus::SoldOut
        } else {
            DropStatus::Active
        };
        let available = self.available();
        let hold_seconds = self.hold_ms(default_hold_ms) / 1000;
        let quote = self.price_list.price(1, now);
        let bundle_quote = self
            .price_list
            .bundle
            .as_ref()
            .map(|bundle| self.price_list.price(bundle.units, now));
        let price_changes_at = self.price_list.next_change(now);
        DropView {
            id: self.id,
            sku: self.sku,
            title: self.title,
            status,
            units: self.units,
            available,
            reserved: self.reserved,
            sold: self.sold,
            unit_price: self.price_list.unit_price,
            currency: self.price_list.currency,
            bundle: self.price_list.bundle,
            discounts: self.price_list.discounts,
            per_buyer_limit: self.per_buyer_limit,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            stream: self.stream,
            pinned: self.pinned,
            hold_seconds,
            shades: self.shades,
            detail: self.detail,
            quote,
            bundle_quote,
            price_changes_at,
            server_time: now,
        }
    }
}

fn shades_json(shades: &[Shade]) -> Option<String> {
    (!shades.is_empty()).then(|| serde_json::to_string(shades).expect("shades serialise"))
}

pub async fn insert_drop(
    conn: &mut AnyConnection,
    drop: &NewDrop,
    now: Timestamp,
) -> Result<DropRow, StoreError> {
    let price_list =
        serde_json::to_string(&drop.price_list).expect("a price list always serialises");
    let row = sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO drops (id, sku, title, units, reserved, sold, unit_price, currency,
                            price_list, starts_at, ends_at, per_buyer_limit, created_at,
                            stream, pinned, hold_ms, shades, detail)
         VALUES ($1, $2, $3, $4, 0, 0, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
         RETURNING {DROP_COLUMNS}"
    )))
    .bind(new_id("drp"))
    .bind(&drop.sku)
    .bind(&drop.title)
    .bind(drop.units)
    .bind(drop.price_list.unit_price)
    .bind(&drop.price_list.currency)
    .bind(price_list)
    .bind(drop.starts_at.unix_millis())
    .bind(drop.ends_at.unix_millis())
    .bind(drop.per_buyer_limit)
    .bind(now.unix_millis())
    .bind(drop.stream.as_deref())
    .bind(i64::from(drop.pinned))
    .bind(drop.hold_ms)
    .bind(shades_json(&drop.shades))
    .bind(drop.detail.as_deref())
    .fetch_one(conn)
    .await?;
    DropRow::from_row(&row)
}

/// A stream's drops, newest start first, at most `limit`.
pub async fn list_drops(
    conn: &mut AnyConnection,
    stream: &str,
    limit: i64,
) -> Result<Vec<DropRow>, StoreError> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {DROP_COLUMNS} FROM drops WHERE stream = $1 ORDER BY starts_at DESC, id DESC LIMIT $2"
    )))
    .bind(stream)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(DropRow::from_row).collect()
}

/// Every drop on any stream that has not ended by `now`: what viewers may
/// be shown when the host starts.
pub async fn open_stream_drops(
    conn: &mut AnyConnection,
    now: Timestamp,
) -> Result<Vec<DropRow>, StoreError> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {DROP_COLUMNS} FROM drops WHERE stream IS NOT NULL AND ends_at > $1"
    )))
    .bind(now.unix_millis())
    .fetch_all(conn)
    .await?;
    rows.iter().map(DropRow::from_row).collect()
}

/// Writes a drop's changeable fields (title, pinned, window end, price
/// list, shades, detail) as `drop` now has them.
pub async fn update_drop(conn: &mut AnyConnection, drop: &DropRow) -> Result<DropRow, StoreError> {
    let price_list =
        serde_json::to_string(&drop.price_list).expect("a price list always serialises");
    let row = sqlx::query(AssertSqlSafe(format!(
        "UPDATE drops SET title = $1, pinned = $2, starts_at = $3, ends_at = $4,
                          price_list = $5, shades = $6, detail = $7
         WHERE id = $8 RETURNING {DROP_COLUMNS}"
    )))
    .bind(&drop.title)
    .bind(i64::from(drop.pinned))
    .bind(drop.starts_at.unix_millis())
    .bind(drop.ends_at.unix_millis())
    .bind(price_list)
    .bind(shades_json(&drop.shades))
    .bind(drop.detail.as_deref())
    .bind(&drop.id)
    .fetch_one(conn)
    .await?;
    DropRow::from_row(&row)
}

/// Reservations by state, orders and the stock audit of one drop.
pub async fn drop_funnel(
    conn: &mut AnyConnection,
    drop_id: &str,
) -> Result<Option<DropFunnel>, StoreError> {
    let Some(audit) = audit_drop(conn, drop_id).await? else {
        return Ok(None);
    };
    let rows = sqlx::query(
        "SELECT state, CAST(COUNT(*) AS BIGINT) FROM reservations WHERE drop_id = $1 GROUP BY state",
    )
    .bind(drop_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut funnel = DropFunnel {
        drop_id: drop_id.to_owned(),
        ..DropFunnel::default()
    };
    for row in &rows {
        let count: i64 = row.try_get(1)?;
        funnel.reservations += count;
        match ReservationState::parse(&row.try_get::<String, _>(0)?) {
            Some(ReservationState::Held) => funnel.held = count,
            Some(ReservationState::Confirmed) => funnel.confirmed = count,
            Some(ReservationState::Released) => funnel.released = count,
            Some(ReservationState::Expired) => funnel.expired = count,
            None => {}
        }
    }
    let orders = sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) FROM orders WHERE drop_id = $1")
        .bind(drop_id)
        .fetch_one(conn)
        .await?;
    funnel.orders = orders.try_get(0)?;
    funnel.units_sold = audit.sold;
    funnel.oversell_incidents = i64::from(
        audit.sold + audit.reserved > audit.units || audit.ordered_quantity > audit.units,
    );
    Ok(Some(funnel))
}

pub async fn find_drop(conn: &mut AnyConnection, id: &str) -> Result<Option<DropRow>, StoreError> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {DROP_COLUMNS} FROM drops WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(DropRow::from_row).transpose()
}

/// Moves `quantity` units into `reserved` if the drop is open at `now` and
/// has them: the one statement that decides whether a buyer gets stock.
/// `None` when it does not (the caller reads the drop to say why).
pub async fn take_units(
    conn: &mut AnyConnection,
    drop_id: &str,
    quantity: i64,
    now: Timestamp,
) -> Result<Option<DropRow>, StoreError> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "UPDATE drops SET reserved = reserved + $1
         WHERE id = $2 AND starts_at <= $3 AND ends_at > $3 AND units - sold - reserved >= $1
         RETURNING {DROP_COLUMNS}"
    )))
    .bind(quantity)
    .bind(drop_id)
    .bind(now.unix_millis())
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(DropRow::from_row).transpose()
}

/// Moves units from `reserved` back to available (`sell = false`) or on to
/// `sold` (`sell = true`).
async fn settle_units(
    conn: &mut AnyConnection,
    drop_id: &str,
    quantity: i64,
    sell: bool,
) -> Result<DropRow, StoreError> {
    let sold_delta = if sell { quantity } else { 0 };
    let row = sqlx::query(AssertSqlSafe(format!(
        "UPDATE drops SET reserved = reserved - $1, sold = sold + $2 WHERE id = $3
         RETURNING {DROP_COLUMNS}"
    )))
    .bind(quantity)
    .bind(sold_delta)
    .bind(drop_id)
    .fetch_one(conn)
    .await?;
    DropRow::from_row(&row)
}

/// Units of a drop that a buyer holds or bought. Called after
/// [`take_units`] locked the drop row, so concurrent reservations of the
/// same drop see each other's counts.
pub async fn units_of_buyer(
    conn: &mut AnyConnection,
    drop_id: &str,
    buyer_id: &str,
) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM reservations
         WHERE drop_id = $1 AND buyer_id = $2 AND state IN ('held', 'confirmed')",
    )
    .bind(drop_id)
    .bind(buyer_id)
    .fetch_one(conn)
    .await?;
    row.try_get(0)
}

const RESERVATION_COLUMNS: &str = "id, drop_id, buyer_id, quantity, state, price, \
     terms_version, consent_at, created_at, expires_at";

pub struct ReservationRow {
    pub id: String,
    pub drop_id: String,
    pub buyer_id: String,
    pub quantity: i64,
    pub state: ReservationState,
    pub price: PriceBreakdown,
    pub consent: Consent,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub order_id: Option<String>,
}

impl ReservationRow {
    fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        let state: String = row.try_get("state")?;
        let price: String = row.try_get("price")?;
        Ok(Self {
            id: row.try_get("id")?,
            drop_id: row.try_get("drop_id")?,
            buyer_id: row.try_get("buyer_id")?,
            quantity: row.try_get("quantity")?,
            state: ReservationState::parse(&state)
                .ok_or_else(|| decode_error("reservations.state", &state))?,
            price: serde_json::from_str(&price)
                .map_err(|e| decode_error("reservations.price", e))?,
            consent: Consent {
                terms_version: row.try_get("terms_version")?,
                accepted_at: Timestamp::from_unix_millis(row.try_get("consent_at")?),
            },
            created_at: Timestamp::from_unix_millis(row.try_get("created_at")?),
            expires_at: Timestamp::from_unix_millis(row.try_get("expires_at")?),
            order_id: row.try_get("order_id")?,
        })
    }

    pub fn view(self) -> ReservationView {
        ReservationView {
            id: self.id,
            drop_id: self.drop_id,
            buyer_id: self.buyer_id,
            quantity: self.quantity,
            state: self.state,
            price: self.price,
            consent: self.consent,
            created_at: self.created_at,
            expires_at: self.expires_at,
            order_id: self.order_id,
        }
    }
}

pub async fn find_reservation(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<ReservationRow>, StoreError> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {RESERVATION_COLUMNS},
            (SELECT o.id FROM orders o WHERE o.reservation_id = reservations.id) AS order_id
         FROM reservations WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(ReservationRow::from_row).transpose()
}

pub async fn insert_reservation(
    conn: &mut AnyConnection,
    request: &NewReservation,
    price: &PriceBreakdown,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<ReservationRow, StoreError> {
    let id = new_id("res");
    sqlx::query(
        "INSERT INTO reservations (id, drop_id, buyer_id, quantity, state, price, total,
                                   currency, terms_version, consent_at, created_at, expires_at)
         VALUES ($1, $2, $3, $4, 'held', $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&id)
    .bind(&request.drop_id)
    .bind(&request.buyer_id)
    .bind(request.quantity)
    .bind(serde_json::to_string(price).expect("a breakdown always serialises"))
    .bind(price.total)
    .bind(&price.currency)
    .bind(&request.consent.terms_version)
    .bind(request.consent.accepted_at.unix_millis())
    .bind(now.unix_millis())
    .bind(expires_at.unix_millis())
    .execute(conn)
    .await?;
    Ok(ReservationRow {
        id,
        drop_id: request.drop_id.clone(),
        buyer_id: request.buyer_id.clone(),
        quantity: request.quantity,
        state: ReservationState::Held,
        price: price.clone(),
        consent: request.consent.clone(),
        created_at: now,
        expires_at,
        order_id: None,
    })
}

/// Ends a held reservation (`held` to `to`) and moves its units: to `sold`
/// when confirming, back to available otherwise. `only_unexpired` makes a
/// hold past its expiry not match. `None` when the reservation was not in
/// a matching `held` state.
pub async fn close_reservation(
    conn: &mut AnyConnection,
    id: &str,
    to: ReservationState,
    now: Timestamp,
    only_unexpired: bool,
) -> Result<Option<(ReservationRow, DropRow)>, StoreError> {
    let expiry_clause = if only_unexpired {
        " AND expires_at > $3"
    } else {
        ""
    };
    let row = sqlx::query(AssertSqlSafe(format!(
        "UPDATE reservations SET state = $1, closed_at = $3
         WHERE id = $2 AND state = 'held'{expiry_clause}
         RETURNING {RESERVATION_COLUMNS}, NULL AS order_id"
    )))
    .bind(to.as_str())
    .bind(id)
    .bind(now.unix_millis())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let reservation = ReservationRow::from_row(&row)?;
    let drop = settle_units(
        conn,
        &reservation.drop_id,
        reservation.quantity,
        to == ReservationState::Confirmed,
    )
    .await?;
    Ok(Some((reservation, drop)))
}

pub async fn insert_order(
    conn: &mut AnyConnection,
    reservation: &ReservationRow,
    payment_reference: &str,
    now: Timestamp,
) -> Result<OrderView, StoreError> {
    let id = new_id("ord");
    sqlx::query(
        "INSERT INTO orders (id, reservation_id, drop_id, buyer_id, quantity, price, total,
                             currency, payment_reference, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&id)
    .bind(&reservation.id)
    .bind(&reservation.drop_id)
    .bind(&reservation.buyer_id)
    .bind(reservation.quantity)
    .bind(serde_json::to_string(&reservation.price).expect("a breakdown always serialises"))
    .bind(reservation.price.total)
    .bind(&reservation.price.currency)
    .bind(payment_reference)
    .bind(now.unix_millis())
    .execute(conn)
    .await?;
    Ok(OrderView {
        id,
        reservation_id: reservation.id.clone(),
        drop_id: reservation.drop_id.clone(),
        buyer_id: reservation.buyer_id.clone(),
        quantity: reservation.quantity,
        price: reservation.price.clone(),
        payment_reference: payment_reference.to_owned(),
        created_at: now,
    })
}

pub async fn find_order(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<OrderView>, StoreError> {
    let row = sqlx::query(
        "SELECT id, reservation_id, drop_id, buyer_id, quantity, price, payment_reference,
                created_at
         FROM orders WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.map(|row| {
        let price: String = row.try_get("price")?;
        Ok(OrderView {
            id: row.try_get("id")?,
            reservation_id: row.try_get("reservation_id")?,
            drop_id: row.try_get("drop_id")?,
            buyer_id: row.try_get("buyer_id")?,
            quantity: row.try_get("quantity")?,
            price: serde_json::from_str(&price).map_err(|e| decode_error("orders.price", e))?,
            payment_reference: row.try_get("payment_reference")?,
            created_at: Timestamp::from_unix_millis(row.try_get("created_at")?),
        })
    })
    .transpose()
}

/// Expires up to [`SWEEP_BATCH`] holds whose time is up and returns their
/// units; gives the new state of each drop touched.
pub async fn expire_holds(
    conn: &mut AnyConnection,
    backend: Backend,
    now: Timestamp,
) -> Result<Vec<DropRow>, StoreError> {
    // On PostgreSQL, SKIP LOCKED keeps two processes' sweepers (and a
    // confirm racing them) from waiting on each other's rows.
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let rows = sqlx::query(AssertSqlSafe(format!(
        "UPDATE reservations SET state = 'expired', closed_at = $1
         WHERE state = 'held' AND id IN (
             SELECT id FROM reservations WHERE state = 'held' AND expires_at <= $1
             ORDER BY expires_at LIMIT $2{lock})
         RETURNING drop_id, quantity"
    )))
    .bind(now.unix_millis())
    .bind(SWEEP_BATCH)
    .fetch_all(&mut *conn)
    .await?;
    let mut per_drop: BTreeMap<String, i64> = BTreeMap::new();
    for row in &rows {
        *per_drop.entry(row.try_get("drop_id")?).or_default() +=
            row.try_get::<i64, _>("quantity")?;
    }
    // Drops in id order, so concurrent sweepers lock them in the same order.
    let mut drops = Vec::with_capacity(per_drop.len());
    for (drop_id, quantity) in per_drop {
        drops.push(settle_units(conn, &drop_id, quantity, false).await?);
    }
    Ok(drops)
}

/// Stock totals straight from the tables, for checking the invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockAudit {
    pub units: i64,
    pub reserved: i64,
    pub sold: i64,
    /// Sum of quantities of reservations in state `held`.
    pub held_quantity: i64,
    /// Sum of quantities of orders.
    pub ordered_quantity: i64,
}

/// Drops whose stored state breaks the invariant: more units sold and
/// reserved than the drop has, or more units in orders than it has.
pub async fn count_oversold_drops(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM drops d
         WHERE d.sold + d.reserved > d.units
            OR (SELECT COALESCE(SUM(quantity), 0) FROM orders WHERE drop_id = d.id) > d.units",
    )
    .fetch_one(conn)
    .await?;
    row.try_get(0)
}

pub async fn audit_drop(
    conn: &mut AnyConnection,
    drop_id: &str,
) -> Result<Option<StockAudit>, StoreError> {
    let row = sqlx::query(
        "SELECT d.units, d.reserved, d.sold,
            (SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM reservations
               WHERE drop_id = d.id AND state = 'held'),
            (SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM orders WHERE drop_id = d.id)
         FROM drops d WHERE d.id = $1",
    )
    .bind(drop_id)
    .fetch_optional(conn)
    .await?;
    row.map(|row| {
        Ok(StockAudit {
            units: row.try_get(0)?,
            reserved: row.try_get(1)?,
            sold: row.try_get(2)?,
            held_quantity: row.try_get(3)?,
            ordered_quantity: row.try_get(4)?,
        })
    })
    .transpose()
}
