//! What the orders API does, independent of HTTP: the state-changing
//! commands, run exactly once per idempotency key, and the sweeper that
//! returns expired holds to their drops.

use std::time::Duration;

use studio_edge_cart::timestamp::Timestamp;
use tokio::sync::broadcast;

use crate::DropEvent;
use crate::idempotency::{IdempotencyKey, InFlight, KEY_RETENTION_MS};
use crate::metrics::Metrics;
use crate::model::{
    Confirmation, DropView, NewDrop, NewReservation, OrderView, ReservationState, ReservationView,
};
use crate::problem::ApiProblem;
use crate::store::{self, Store, StoreError};

/// A state-changing request, validated.
#[derive(Debug, Clone)]
pub enum Command {
    CreateDrop(NewDrop),
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

impl Step {
    fn into_reply(self) -> Reply {
        match self {
            Self::Replay(reply) => reply,
            Self::Done(done) => done.reply,
        }
    }
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

/// The orders service behind the HTTP routes.
pub struct Service {
    store: Store,
    reservation_ttl: Duration,
    in_flight: InFlight,
    events: broadcast::Sender<DropEvent>,
    metrics: Metrics,
}

impl Service {
    pub fn new(
        store: Store,
        reservation_ttl: Duration,
        events: broadcast::Sender<DropEvent>,
    ) -> Self {
        Self {
            store,
            reservation_ttl,
            in_flight: InFlight::default(),
            events,
            metrics: Metrics::default(),
        }
    }

    /// Runs `command` once for `(scope, key)`: a retry of a completed
    /// request gets the stored reply, a retry while the first is in flight
    /// gets 409, the key with a different request gets 422.
    ///
    /// The command's writes and its stored reply commit in one transaction,
    /// so a reply is stored if and only if its effect happened.
    pub async fn execute(
        &self,
        scope: &'static str,
        key: &IdempotencyKey,
        fingerprint: [u8; 32],
        command: Command,
    ) -> Result<Reply, ApiProblem> {
        let _claim = self.in_flight.claim(scope, key, fingerprint)?;
        let name = command.name();
        let mut tx = self.store.begin().await.map_err(failed)?;
        let outcome = self
            .execute_in(&mut tx, scope, key, fingerprint, command)
            .await;
        let Ok(Step::Done(done)) = outcome else {
            // Roll back now rather than when the connection is next used:
            // on PostgreSQL the key's advisory lock lasts until then.
            if let Err(e) = tx.rollback().await {
                tracing::warn!(error = %e, "rolling back an idempotent request failed");
            }
            return outcome.map(Step::into_reply);
        };
        tx.commit().await.map_err(failed)?;
        self.metrics.record(name, &done.reply);
        if let Some(event) = done.event {
            // Nobody listening is fine.
            let _ = self.events.send(event);
        }
        Ok(done.reply)
    }

    async fn execute_in(
        &self,
        tx: &mut sqlx::AnyConnection,
        scope: &'static str,
        key: &IdempotencyKey,
        fingerprint: [u8; 32],
        command: Command,
    ) -> Result<Step, ApiProblem> {
        if !self
            .store
            .try_lock_key(tx, scope, key)
            .await
            .map_err(failed)?
        {
            return Err(ApiProblem::idempotency_key_in_use());
        }
        if let Some(stored) = store::find_key(tx, scope, key).await.map_err(failed)? {
            if stored.fingerprint != fingerprint {
                return Err(ApiProblem::idempotency_key_reused());
            }
            return Ok(Step::Replay(Reply {
                status: stored.status,
                body: stored.body,
            }));
        }
        let now = Timestamp::now();
        store::savepoint(tx).await.map_err(failed)?;
        let done = match self.run(tx, command, now).await {
            Ok(done) => {
                store::release_savepoint(tx).await.map_err(failed)?;
                done
            }
            Err(Refusal::Rejected(problem)) => {
                store::rollback_to_savepoint(tx).await.map_err(failed)?;
                Done {
                    reply: Reply::problem(&problem),
                    event: None,
                }
            }
            Err(Refusal::Failed(e)) => return Err(failed(e)),
        };
        store::save_key(
            tx,
            scope,
            key,
            &fingerprint,
            done.reply.status,
            &done.reply.body,
            now,
        )
        .await
        .map_err(failed)?;
        Ok(Step::Done(done))
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
                let event = row.event();
                Ok(Done {
                    reply: Reply::json(201, &row.view(now)),
                    event: Some(event),
                })
            }
            Command::Reserve(request) => self.reserve(conn, request, now).await,
            Command::Confirm {
                reservation_id,
                confirmation,
            } => confirm(conn, &reservation_id, &confirmation, now).await,
            Command::Release { reservation_id } => release(conn, &reservation_id, now).await,
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
        let ttl = i64::try_from(self.reservation_ttl.as_millis()).unwrap_or(i64::MAX);
        let reservation =
            store::insert_reservation(conn, &request, &price, now, now.plus_millis(ttl)).await?;
        Ok(Done {
            reply: Reply::json(201, &reservation.view()),
            event: Some(drop.event()),
        })
    }

    /// Reads a drop's state now.
    pub async fn drop_view(&self, id: &str) -> Result<DropView, ApiProblem> {
        let mut conn = self.store.acquire().await.map_err(failed)?;
        let drop = store::find_drop(&mut conn, id).await.map_err(failed)?;
        drop.map(|d| d.view(Timestamp::now()))
            .ok_or_else(|| ApiProblem::not_found(format!("no drop {id}")))
    }

    pub async fn reservation_view(&self, id: &str) -> Result<ReservationView, ApiProblem> {
        let mut conn = self.store.acquire().await.map_err(failed)?;
        let reservation = store::find_reservation(&mut conn, id)
            .await
            .map_err(failed)?
            .ok_or_else(|| ApiProblem::not_found(format!("no reservation {id}")))?;
        Ok(reservation.view())
    }

    pub async fn order_view(&self, id: &str) -> Result<OrderView, ApiProblem> {
        let mut conn = self.store.acquire().await.map_err(failed)?;
        store::find_order(&mut conn, id)
            .await
            .map_err(failed)?
            .ok_or_else(|| ApiProblem::not_found(format!("no order {id}")))
    }

    /// Stock totals from the tables, for tests and operators.
    pub async fn audit(&self, drop_id: &str) -> Result<Option<store::StockAudit>, StoreError> {
        let mut conn = self.store.acquire().await?;
        store::audit_drop(&mut conn, drop_id).await
    }

    /// Expires holds whose time is up, until none is left.
    pub async fn sweep(&self) -> Result<usize, StoreError> {
        let mut drops_touched = 0;
        loop {
            let mut tx = self.store.begin().await?;
            let drops =
                store::expire_holds(&mut tx, self.store.backend(), Timestamp::now()).await?;
            tx.commit().await?;
            if drops.is_empty() {
                return Ok(drops_touched);
            }
            drops_touched += drops.len();
            for drop in drops {
                let _ = self.events.send(drop.event());
            }
        }
    }

    /// What this service did, and the last stock audit.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Counts the drops whose stored state breaks the stock invariant (see
    /// [`crate::metrics`]) and records the count.
    pub async fn audit_stock(&self) -> Result<i64, StoreError> {
        let mut conn = self.store.acquire().await?;
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
        let mut conn = self.store.acquire().await?;
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

async fn confirm(
    conn: &mut sqlx::AnyConnection,
    id: &str,
    confirmation: &Confirmation,
    now: Timestamp,
) -> Result<Done, Refusal> {
    if let Some((reservation, drop)) =
        store::close_reservation(conn, id, ReservationState::Confirmed, now, true).await?
    {
        let order =
            store::insert_order(conn, &reservation, &confirmation.payment_reference, now).await?;
        return Ok(Done {
            reply: Reply::json(201, &order),
            event: Some(drop.event()),
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
                event: closed.map(|(_, drop)| drop.event()),
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
) -> Result<Done, Refusal> {
    if let Some((reservation, drop)) =
        store::close_reservation(conn, id, ReservationState::Released, now, false).await?
    {
        return Ok(Done {
            reply: Reply::json(200, &reservation.view()),
            event: Some(drop.event()),
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
