//! What the orders API does, independent of HTTP: the state-changing
//! commands, run exactly once per idempotency key, and the sweeper that
//! returns expired holds to their drops.
//!
//! ## Group commit
//!
//! Every state-changing command goes to the store's one writer task. The
//! writer takes the first command waiting and every other one already
//! queued behind it, up to [`MAX_BATCH`], and runs them in one transaction,
//! each inside its own savepoint: a command that is refused (sold out, over
//! the buyer limit, in the wrong state) or that meets a database error is
//! rolled back to its savepoint and fails alone, the others stand. Each
//! command is the same conditional update as before (the schema's
//! `CHECK (sold + reserved <= units)` still decides), with its idempotency
//! record written in its savepoint. The callers are answered only after the
//! transaction has committed (SQLite `synchronous=FULL`, PostgreSQL
//! `synchronous_commit=on`), so one durable commit serves a whole batch.
//!
//! The writer never waits to fill a batch: a batch starts as soon as the
//! previous one has committed, with whatever arrived meanwhile. So a command
//! waits at most for the batch in progress and then its own, each bounded by
//! [`MAX_BATCH`] commands; at most [`QUEUE_DEPTH`] commands wait in all,
//! and a caller past that waits for room.

use std::collections::BTreeSet;
use std::sync::{Arc, Weak};
use std::time::Duration;

use studio_edge_cart::timestamp::Timestamp;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::DropEvent;
use crate::idempotency::{IdempotencyKey, InFlight, KEY_RETENTION_MS};
use crate::metrics::Metrics;
use crate::model::{
    Confirmation, DropFunnel, DropPatch, DropView, NewDrop, NewReservation, OrderView,
    ReservationState, ReservationView,
};
use crate::problem::ApiProblem;
use crate::store::{self, Store, StoreError};

/// A state-changing request, validated.
#[derive(Debug, Clone)]
pub enum Command {
    CreateDrop(NewDrop),
    UpdateDrop {
        drop_id: String,
        patch: DropPatch,
    },
    /// Ends the drop's sale now (reservations already held may still be
    /// confirmed until they expire).
    EndDrop {
        drop_id: String,
    },
    Reserve(NewReservation),
    Confirm {
        reservation_id: String,
        confirmation: Confirmation,
    },
    Release {
        reservation_id: String,
    },
}

/// The answer to a command: exactly what is stored for its idempotency key
/// and replayed to retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    fn json<T: serde::Serialize>(status: u16, value: &T) -> Self {
        Self {
            status,
            body: serde_json::to_vec(value).expect("views always serialise"),
        }
    }

    fn problem(problem: &ApiProblem) -> Self {
        Self {
            status: problem.status,
            body: problem.body(),
        }
    }

    pub fn is_problem(&self) -> bool {
        self.status >= 400
    }
}

/// How a command ended short of success.
enum Refusal {
    /// The request cannot be done as asked: the answer is stored, the
    /// command's writes are undone.
    Rejected(ApiProblem),
    /// The database failed: nothing is stored, the client may retry.
    Failed(StoreError),
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Self::Failed(e)
    }
}

impl From<ApiProblem> for Refusal {
    fn from(p: ApiProblem) -> Self {
        Self::Rejected(p)
    }
}

/// What a command did: its reply and the drop state it changed. A problem
/// reply can come with writes that stand: a confirm that finds its hold
/// expired releases the units and answers 410.
struct Done {
    reply: Reply,
    event: Option<DropEvent>,
}

/// Where an idempotent request ended inside its transaction.
enum Step {
    /// The key had a stored reply: nothing to commit.
    Replay(Reply),
    /// The command ran and its reply is stored: commit.
    Done(Done),
}

fn failed(e: StoreError) -> ApiProblem {
    match e {
        StoreError::PoolTimedOut => ApiProblem::unavailable("the database is busy; retry shortly"),
        other => {
            tracing::error!(error = %other, "orders database error");
            ApiProblem::new(
                500,
                "internal",
                "Internal error",
                "the database failed; retry",
            )
        }
    }
}

/// The savepoint around each command of a batch.
const JOB: &str = "job";

/// The most commands one transaction runs. Larger batches were slower on
/// PostgreSQL (256 gave 1,444 reservations/s at 512 clients where 64 gives
/// 2,303, probably because every reservation of a batch updates the same
/// drop row, whose version chain grows within the transaction) and no
/// faster on SQLite.
pub const MAX_BATCH: usize = 64;
/// The most commands waiting for the writer.
pub const QUEUE_DEPTH: usize = 1024;

/// How one job of a batch ended.
type Outcome = Result<Step, ApiProblem>;

/// Outcomes of a batch whose transaction did not commit: a stored reply
/// read before is still true, nothing else happened.
/// `outcomes` may stop short of the `jobs` of the batch.
fn commit_failed(outcomes: Vec<Outcome>, jobs: usize, problem: &ApiProblem) -> Vec<Outcome> {
    outcomes
        .into_iter()
        .map(|outcome| match outcome {
            Ok(Step::Replay(reply)) => Ok(Step::Replay(reply)),
            _ => Err(problem.clone()),
        })
        .chain(std::iter::repeat_with(|| Err(problem.clone())))
        .take(jobs)
        .collect()
}

/// A command on its way to the writer.
struct Job {
    scope: &'static str,
    key: IdempotencyKey,
    fingerprint: [u8; 32],
    command: Command,
    answer: oneshot::Sender<Result<Step, ApiProblem>>,
}

/// What runs commands: the store and the default hold.
struct Engine {
    store: Store,
    metrics: Arc<Metrics>,
    /// PostgreSQL: the deployment's channel, notified of every changed drop
    /// (see [`crate::notify`]); its listener tells the viewers.
    channel: Option<String>,
    /// Milliseconds a reservation holds its units unless its drop says.
    default_hold_ms: i64,
}

/// The orders service behind the HTTP routes.
pub struct Service {
    engine: Arc<Engine>,
    writer: mpsc::Sender<Job>,
    in_flight: InFlight,
    events: broadcast::Sender<DropEvent>,
    metrics: Arc<Metrics>,
}

impl Service {
    /// Starts the store's writer task: must be called inside a Tokio
    /// runtime. The writer stops when the service is dropped.
    pub fn new(
        store: Store,
        reservation_ttl: Duration,
        events: broadcast::Sender<DropEvent>,
        channel: Option<String>,
    ) -> Self {
        let metrics = Arc::new(Metrics::default());
        let engine = Arc::new(Engine {
            store,
            metrics: Arc::clone(&metrics),
            channel,
            default_hold_ms: i64::try_from(reservation_ttl.as_millis()).unwrap_or(i64::MAX),
        });
        let (writer, jobs) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(write_batches(Arc::downgrade(&engine), jobs));
        Self {
            engine,
            writer,
            in_flight: InFlight::default(),
            events,
            metrics,
        }
    }

    /// Runs `command` once for `(scope, key)`: a retry of a completed
    /// request gets the stored reply, a retry while the first is in flight
    /// gets 409, the key with a different request gets 422.
    ///
    /// The command's writes and its stored reply commit in one transaction
    /// (shared with the other commands of its batch, see the module docs), so
    /// a reply is stored if and only if its effect happened, and it is
    /// returned only once it is durable.
    pub async fn execute(
        &self,
        scope: &'static str,
        key: &IdempotencyKey,
        fingerprint: [u8; 32],
        command: Command,
    ) -> Result<Reply, ApiProblem> {
        let _claim = self.in_flight.claim(scope, key, fingerprint)?;
        let name = command.name();
        let (answer, answered) = oneshot::channel();
        let job = Job {
            scope,
            key: key.clone(),
            fingerprint,
            command,
            answer,
        };
        let stopped = || ApiProblem::unavailable("the orders service is stopping; retry");
        self.writer.send(job).await.map_err(|_| stopped())?;
        match answered.await.map_err(|_| stopped())?? {
            Step::Replay(reply) => Ok(reply),
            Step::Done(done) => {
                self.metrics.record(name, &done.reply);
                if let Some(event) = done.event {
                    self.announce(event);
                }
                Ok(done.reply)
            }
        }
    }
}

/// The writer: batches of waiting commands, one transaction each. It holds
/// the engine only while a batch runs, so the store closes (and a SQLite
/// file is free to open again) as soon as the service is dropped.
async fn write_batches(engine: Weak<Engine>, mut jobs: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let Some(engine) = engine.upgrade() else {
            return;
        };
        engine.run_batch(std::mem::take(&mut batch)).await;
    }
}

impl Engine {
    /// Runs `batch` in one transaction and answers each job after the
    /// commit.
    ///
    /// Statements per batch: the keys' locks (PostgreSQL, one statement),
    /// their stored replies (one), then per command its own statements
    /// between savepoints, then the new replies (one multi-row insert), the
    /// notifications and the commit. A command refused or failing in the
    /// database is rolled back to its savepoint and fails alone; if the
    /// transaction itself fails, no command's effect happened and each
    /// caller is told to retry.
    async fn run_batch(&self, batch: Vec<Job>) {
        self.metrics.record_batch(batch.len());
        let (jobs, answers): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .map(|job| {
                let Job {
                    scope,
                    key,
                    fingerprint,
                    command,
                    answer,
                } = job;
                ((scope, key, fingerprint, command), answer)
            })
            .unzip();
        let count = jobs.len();
        let outcomes = match self.store.begin().await {
            Ok(mut tx) => match self.run_in(&mut tx, jobs).await {
                Ok(outcomes) => match tx.commit().await {
                    Ok(()) => outcomes,
                    Err(e) => commit_failed(outcomes, count, &failed(e)),
                },
                Err((outcomes, problem)) => {
                    let _ = tx.rollback().await;
                    commit_failed(outcomes, count, &problem)
                }
            },
            Err(e) => {
                let problem = failed(e);
                answers.iter().map(|_| Err(problem.clone())).collect()
            }
        };
        for (answer, outcome) in answers.into_iter().zip(outcomes) {
            // The caller may be gone (its task was cancelled): the outcome is
            // stored for its retry either way.
            let _ = answer.send(outcome);
        }
    }

    /// The batch's statements up to the commit: an outcome per job, or, when
    /// the transaction cannot go on, the outcomes so far and why.
    async fn run_in(
        &self,
        tx: &mut sqlx::AnyConnection,
        jobs: Vec<(&'static str, IdempotencyKey, [u8; 32], Command)>,
    ) -> Result<Vec<Outcome>, (Vec<Outcome>, ApiProblem)> {
        let keys: Vec<(&str, &IdempotencyKey)> =
            jobs.iter().map(|(scope, key, ..)| (*scope, key)).collect();
        let locked = self
            .store
            .try_lock_keys(tx, &keys)
            .await
            .map_err(|e| (Vec::new(), failed(e)))?;
        let mut stored = store::find_keys(tx, &keys)
            .await
            .map_err(|e| (Vec::new(), failed(e)))?;
        drop(keys);
        let mut outcomes = Vec::with_capacity(jobs.len());
        let mut replies = Vec::new();
        let mut in_savepoint = false;
        for ((scope, key, fingerprint, command), locked) in jobs.into_iter().zip(locked) {
            if !locked {
                outcomes.push(Err(ApiProblem::idempotency_key_in_use()));
                continue;
            }
            if let Some(stored) = stored.remove(&(scope.to_owned(), key.as_str().to_owned())) {
                outcomes.push(if stored.fingerprint == fingerprint {
                    Ok(Step::Replay(Reply {
                        status: stored.status,
                        body: stored.body,
                    }))
                } else {
                    Err(ApiProblem::idempotency_key_reused())
                });
                continue;
            }
            let now = Timestamp::now();
            let step = store::next_savepoint(tx, JOB, in_savepoint).await;
            in_savepoint = true;
            let ran = match step {
                Ok(()) => self.run(tx, command, now).await,
                Err(e) => Err(Refusal::Failed(e)),
            };
            let done = match ran {
                Ok(done) => done,
                Err(refusal) => {
                    if let Err(e) = store::rollback_to_savepoint(tx, JOB).await {
                        return Err((outcomes, failed(e)));
                    }
                    match refusal {
                        Refusal::Rejected(problem) => Done {
                            reply: Reply::problem(&problem),
                            event: None,
                        },
                        Refusal::Failed(e) => {
                            outcomes.push(Err(failed(e)));
                            continue;
                        }
                    }
                }
            };
            replies.push(store::KeyRecord {
                scope,
                key,
                fingerprint,
                status: done.reply.status,
                body: done.reply.body.clone(),
                created_at: now,
            });
            outcomes.push(Ok(Step::Done(done)));
        }
        let finish = async {
            if in_savepoint {
                store::release_savepoint(tx, JOB).await?;
            }
            store::save_keys(tx, &replies).await?;
            if let Some(channel) = &self.channel {
                let changed: Vec<&str> = outcomes
                    .iter()
                    .filter_map(|outcome| match outcome {
                        Ok(Step::Done(Done {
                            event: Some(event), ..
                        })) => Some(event.id.as_str()),
                        _ => None,
                    })
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                store::notify_drops(tx, channel, &changed).await?;
            }
            Ok::<(), StoreError>(())
        };
        match finish.await {
            Ok(()) => Ok(outcomes),
            Err(e) => Err((outcomes, failed(e))),
        }
    }

    async fn run(
        &self,
        conn: &mut sqlx::AnyConnection,
        command: Command,
        now: Timestamp,
    ) -> Result<Done, Refusal> {
        match command {
            Command::CreateDrop(drop) => {
                let row = store::insert_drop(conn, &drop, now).await?;
                Ok(self.drop_done(201, &row, now))
            }
            Command::UpdateDrop { drop_id, patch } => {
                let row = find_drop_or_404(conn, &drop_id).await?;
                let row = store::update_drop(conn, &patched(row, patch, now)?).await?;
                Ok(self.drop_done(200, &row, now))
            }
            Command::EndDrop { drop_id } => {
                let mut row = find_drop_or_404(conn, &drop_id).await?;
                if row.ends_at > now {
                    row.ends_at = now;
                    // The window stays non-empty: a drop ended before it
                    // started ends just after it "started".
                    if row.starts_at >= now {
                        row.starts_at = now.plus_millis(-1);
                    }
                    row = store::update_drop(conn, &row).await?;
                }
                Ok(self.drop_done(200, &row, now))
            }
            Command::Reserve(request) => self.reserve(conn, request, now).await,
            Command::Confirm {
                reservation_id,
                confirmation,
            } => {
                confirm(
                    conn,
                    &reservation_id,
                    &confirmation,
                    now,
                    self.default_hold_ms,
                )
                .await
            }
            Command::Release { reservation_id } => {
                release(conn, &reservation_id, now, self.default_hold_ms).await
            }
        }
    }

    async fn reserve(
        &self,
        conn: &mut sqlx::AnyConnection,
        request: NewReservation,
        now: Timestamp,
    ) -> Result<Done, Refusal> {
        let Some(drop) = store::take_units(conn, &request.drop_id, request.quantity, now).await?
        else {
            return Err(why_not_reserved(conn, &request, now).await?.into());
        };
        if let Some(limit) = drop.per_buyer_limit {
            // Counted after take_units: its row lock orders this check after
            // every earlier reservation of the drop.
            let held = store::units_of_buyer(conn, &drop.id, &request.buyer_id).await?;
            if held + request.quantity > limit {
                return Err(ApiProblem::buyer_limit(limit, held).into());
            }
        }
        let price = drop.price_list.price(request.quantity, now);
        let expires_at = now.plus_millis(drop.hold_ms(self.default_hold_ms));
        let reservation =
            store::insert_reservation(conn, &request, &price, now, expires_at).await?;
        Ok(Done {
            reply: Reply::json(201, &reservation.view()),
            event: Some(drop.event(now, self.default_hold_ms)),
        })
    }

    /// A command's answer that is the drop's new state, announced to viewers.
    fn drop_done(&self, status: u16, row: &store::DropRow, now: Timestamp) -> Done {
        let event = row.event(now, self.default_hold_ms);
        Done {
            reply: Reply::json(status, event.as_ref()),
            event: Some(event),
        }
    }
}

impl Service {
    /// Reads a drop's state now.
    pub async fn drop_view(&self, id: &str) -> Result<DropView, ApiProblem> {
        let mut conn = self.engine.store.acquire().await.map_err(failed)?;
        let drop = store::find_drop(&mut conn, id).await.map_err(failed)?;
        drop.map(|d| d.view(Timestamp::now(), self.engine.default_hold_ms))
            .ok_or_else(|| ApiProblem::not_found(format!("no drop {id}")))
    }

    /// A stream's drops, newest first.
    pub async fn stream_drops(
        &self,
        stream: &str,
        limit: i64,
    ) -> Result<Vec<DropView>, ApiProblem> {
        let mut conn = self.engine.store.acquire().await.map_err(failed)?;
        let now = Timestamp::now();
        let rows = store::list_drops(&mut conn, stream, limit)
            .await
            .map_err(failed)?;
        Ok(rows
            .into_iter()
            .map(|row| row.view(now, self.engine.default_hold_ms))
            .collect())
    }

    /// Every drop of any stream that has not ended: what viewers are shown
    /// when a host starts.
    pub async fn open_stream_drops(&self) -> Result<Vec<DropView>, StoreError> {
        let mut conn = self.engine.store.acquire().await?;
        let now = Timestamp::now();
        let rows = store::open_stream_drops(&mut conn, now).await?;
        Ok(rows
            .into_iter()
            .map(|row| row.view(now, self.engine.default_hold_ms))
            .collect())
    }

    /// What buyers did with a drop.
    pub async fn funnel(&self, id: &str) -> Result<DropFunnel, ApiProblem> {
        let mut conn = self.engine.store.acquire().await.map_err(failed)?;
        store::drop_funnel(&mut conn, id)
            .await
            .map_err(failed)?
            .ok_or_else(|| ApiProblem::not_found(format!("no drop {id}")))
    }

    pub async fn reservation_view(&self, id: &str) -> Result<ReservationView, ApiProblem> {
        let mut conn = self.engine.store.acquire().await.map_err(failed)?;
        let reservation = store::find_reservation(&mut conn, id)
            .await
            .map_err(failed)?
            .ok_or_else(|| ApiProblem::not_found(format!("no reservation {id}")))?;
        Ok(reservation.view())
    }

    pub async fn order_view(&self, id: &str) -> Result<OrderView, ApiProblem> {
        let mut conn = self.engine.store.acquire().await.map_err(failed)?;
        store::find_order(&mut conn, id)
            .await
            .map_err(failed)?
            .ok_or_else(|| ApiProblem::not_found(format!("no order {id}")))
    }

    /// Stock totals from the tables, for tests and operators.
    pub async fn audit(&self, drop_id: &str) -> Result<Option<store::StockAudit>, StoreError> {
        let mut conn = self.engine.store.acquire().await?;
        store::audit_drop(&mut conn, drop_id).await
    }

    /// Expires holds whose time is up, until none is left.
    pub async fn sweep(&self) -> Result<usize, StoreError> {
        let mut drops_touched = 0;
        loop {
            let mut tx = self.engine.store.begin().await?;
            let drops =
                store::expire_holds(&mut tx, self.engine.store.backend(), Timestamp::now()).await?;
            if let Some(channel) = &self.engine.channel {
                let ids: Vec<&str> = drops.iter().map(|drop| drop.id.as_str()).collect();
                store::notify_drops(&mut tx, channel, &ids).await?;
            }
            tx.commit().await?;
            if drops.is_empty() {
                return Ok(drops_touched);
            }
            drops_touched += drops.len();
            let now = Timestamp::now();
            for drop in drops {
                self.announce(drop.event(now, self.engine.default_hold_ms));
            }
        }
    }

    /// What this service did, and the last stock audit.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Tells this host's viewers about a change it made, unless the
    /// database's notifications will (PostgreSQL: every host hears every
    /// change, its own included, from its listener).
    fn announce(&self, event: DropEvent) {
        if self.engine.channel.is_none() {
            // Nobody listening is fine.
            let _ = self.events.send(event);
        }
    }

    /// Reads the drops `ids` and tells this host's viewers their state (the
    /// listener, for changes any host made).
    pub(crate) async fn announce_drops(&self, ids: &BTreeSet<String>) -> Result<(), StoreError> {
        let mut conn = self.engine.store.acquire().await?;
        let now = Timestamp::now();
        for id in ids {
            if let Some(drop) = store::find_drop(&mut conn, id).await? {
                let _ = self
                    .events
                    .send(drop.event(now, self.engine.default_hold_ms));
            }
        }
        Ok(())
    }

    /// Tells this host's viewers the state of every open stream drop (the
    /// listener, after its connection was re-established).
    pub(crate) async fn announce_open_drops(&self) -> Result<(), StoreError> {
        for view in self.open_stream_drops().await? {
            let _ = self.events.send(Arc::new(view));
        }
        Ok(())
    }

    /// Counts the drops whose stored state breaks the stock invariant (see
    /// [`crate::metrics`]) and records the count.
    pub async fn audit_stock(&self) -> Result<i64, StoreError> {
        let mut conn = self.engine.store.acquire().await?;
        let count = store::count_oversold_drops(&mut conn).await?;
        if count > 0 {
            tracing::error!(
                drops = count,
                "stock invariant broken: oversold drops in the database"
            );
        }
        self.metrics.set_oversold_drops(count);
        Ok(count)
    }

    /// Deletes stored replies older than the retention period.
    pub async fn forget_old_keys(&self) -> Result<u64, StoreError> {
        let mut conn = self.engine.store.acquire().await?;
        let cutoff = Timestamp::now().plus_millis(-KEY_RETENTION_MS);
        store::forget_keys_before(&mut conn, cutoff).await
    }
}

/// Says why [`store::take_units`] took nothing.
async fn why_not_reserved(
    conn: &mut sqlx::AnyConnection,
    request: &NewReservation,
    now: Timestamp,
) -> Result<ApiProblem, StoreError> {
    let Some(drop) = store::find_drop(conn, &request.drop_id).await? else {
        return Ok(ApiProblem::not_found(format!(
            "no drop {}",
            request.drop_id
        )));
    };
    Ok(if now < drop.starts_at {
        ApiProblem::drop_not_active(format!("the drop starts at {}", drop.starts_at))
            .with("starts_at", drop.starts_at.to_rfc3339())
    } else if now >= drop.ends_at {
        ApiProblem::drop_not_active(format!("the drop ended at {}", drop.ends_at))
            .with("ends_at", drop.ends_at.to_rfc3339())
    } else {
        let available = drop.available();
        let detail = if available == 0 {
            "no units are left".to_owned()
        } else {
            format!("only {available} units are left")
        };
        ApiProblem::sold_out(detail, available)
    })
}

async fn find_drop_or_404(
    conn: &mut sqlx::AnyConnection,
    id: &str,
) -> Result<store::DropRow, Refusal> {
    store::find_drop(conn, id)
        .await?
        .ok_or_else(|| ApiProblem::not_found(format!("no drop {id}")).into())
}

/// `row` with `patch` applied, checked as a new drop would be.
fn patched(
    mut row: store::DropRow,
    patch: DropPatch,
    now: Timestamp,
) -> Result<store::DropRow, Refusal> {
    if let Some(title) = patch.title {
        row.title = title;
    }
    if let Some(pinned) = patch.pinned {
        row.pinned = pinned;
    }
    if let Some(ends_at) = patch.ends_at {
        if ends_at <= row.starts_at {
            return Err(ApiProblem::bad_request("ends_at must be after starts_at").into());
        }
        if ends_at < now && row.ends_at > now {
            return Err(ApiProblem::bad_request(
                "ends_at is in the past: end a drop with POST /orders/v1/drops/{id}/end",
            )
            .into());
        }
        row.ends_at = ends_at;
    }
    if let Some(discounts) = patch.discounts {
        row.price_list.discounts = discounts;
        row.price_list
            .validate()
            .map_err(|e| ApiProblem::bad_request(e.to_string()))?;
    }
    if let Some(shades) = patch.shades {
        row.shades = shades;
    }
    if let Some(detail) = patch.detail {
        row.detail = detail;
    }
    Ok(row)
}

async fn confirm(
    conn: &mut sqlx::AnyConnection,
    id: &str,
    confirmation: &Confirmation,
    now: Timestamp,
    default_hold_ms: i64,
) -> Result<Done, Refusal> {
    if let Some((reservation, drop)) =
        store::close_reservation(conn, id, ReservationState::Confirmed, now, true).await?
    {
        let order =
            store::insert_order(conn, &reservation, &confirmation.payment_reference, now).await?;
        return Ok(Done {
            reply: Reply::json(201, &order),
            event: Some(drop.event(now, default_hold_ms)),
        });
    }
    let Some(reservation) = store::find_reservation(conn, id).await? else {
        return Err(ApiProblem::not_found(format!("no reservation {id}")).into());
    };
    match reservation.state {
        ReservationState::Held => {
            // Past its expiry but not yet swept: expire it here, in this
            // transaction, so the 410 and the returned units go together.
            let closed =
                store::close_reservation(conn, id, ReservationState::Expired, now, false).await?;
            Ok(Done {
                reply: Reply::problem(&ApiProblem::reservation_expired(id)),
                event: closed.map(|(_, drop)| drop.event(now, default_hold_ms)),
            })
        }
        ReservationState::Expired => Err(ApiProblem::reservation_expired(id).into()),
        ReservationState::Released => Err(ApiProblem::reservation_released(id).into()),
        ReservationState::Confirmed => {
            let order_id = reservation.order_id.unwrap_or_default();
            Err(ApiProblem::already_confirmed(id, &order_id).into())
        }
    }
}

async fn release(
    conn: &mut sqlx::AnyConnection,
    id: &str,
    now: Timestamp,
    default_hold_ms: i64,
) -> Result<Done, Refusal> {
    if let Some((reservation, drop)) =
        store::close_reservation(conn, id, ReservationState::Released, now, false).await?
    {
        return Ok(Done {
            reply: Reply::json(200, &reservation.view()),
            event: Some(drop.event(now, default_hold_ms)),
        });
    }
    let Some(reservation) = store::find_reservation(conn, id).await? else {
        return Err(ApiProblem::not_found(format!("no reservation {id}")).into());
    };
    match reservation.state {
        ReservationState::Confirmed => {
            let order_id = reservation.order_id.clone().unwrap_or_default();
            Err(ApiProblem::already_confirmed(id, &order_id).into())
        }
        // Released or expired already: the units are back, which is what
        // the caller wants.
        _ => Ok(Done {
            reply: Reply::json(200, &reservation.view()),
            event: None,
        }),
    }
}
