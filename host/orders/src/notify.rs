//! Drop changes across hosts: with several hosts on one PostgreSQL
//! database, every host's viewers hear about units reserved, sold, released
//! or expired on any of them.
//!
//! Every transaction that changes a drop also runs `pg_notify(channel,
//! drop_id)`; PostgreSQL delivers notifications only when (and if) the
//! transaction commits, once per distinct payload. Each host keeps one
//! connection that `LISTEN`s on the deployment's channel
//! (`studio_edge_drops_<deployment>`), collects the ids it hears for
//! [`COALESCE`], reads those drops and sends their state to its own
//! viewers, its own changes included. When the listening connection is lost
//! and re-established, notifications sent meanwhile are gone, so the host
//! re-reads every open drop (a resync) before listening on. A change thus
//! reaches every host's viewers within `COALESCE` plus one read, with no
//! polling per viewer.
//!
//! SQLite stores belong to one process: there, changes go to the viewers
//! straight from the command that made them.

use std::collections::BTreeSet;
use std::sync::Weak;
use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::service::Service;

/// How long a host gathers notifications before reading the drops they
/// name: one read per drop per window, however many units moved.
pub const COALESCE: Duration = Duration::from_millis(100);
/// The most drops read in one go.
const MAX_COALESCED: usize = 256;
/// Wait before connecting again after the listening connection failed.
const RECONNECT_DELAY: Duration = Duration::from_millis(500);

/// The channel of `deployment`: PostgreSQL identifiers are at most 63
/// bytes; deployment names are checked to be short and plain.
pub fn channel(deployment: &str) -> String {
    format!("studio_edge_drops_{deployment}")
}

/// Checks a deployment name: 1 to 40 of `a-z`, `0-9` and `_`.
pub fn check_deployment(name: &str) -> Result<(), String> {
    let plain = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if name.is_empty() || name.len() > 40 || !plain {
        return Err(format!(
            "deployment {name:?}: use 1 to 40 of a-z, 0-9 and _"
        ));
    }
    Ok(())
}

/// What the listening connection heard.
enum Heard {
    /// (Re)connected: notifications may have been missed.
    Connected,
    Drop(String),
}

/// Listens while `service` is alive.
pub(crate) async fn listen(service: Weak<Service>, url: String, channel: String) {
    let (tx, mut rx) = mpsc::channel(1024);
    tokio::spawn(receive(url, channel, tx));
    let mut heard = BTreeSet::new();
    // When the ids heard so far are read: COALESCE after the first, however
    // many arrive behind it (a hot drop is notified by every batch).
    let mut read_at: Option<Instant> = None;
    loop {
        // With nothing heard, wake now and then to notice the service has
        // gone.
        let until = read_at.unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
        let resync = match tokio::time::timeout_at(until, rx.recv()).await {
            Ok(Some(Heard::Drop(id))) => {
                heard.insert(id);
                let due = *read_at.get_or_insert_with(|| Instant::now() + COALESCE);
                if heard.len() < MAX_COALESCED && Instant::now() < due {
                    continue;
                }
                false
            }
            Ok(Some(Heard::Connected)) => true,
            Ok(None) => return,
            Err(_elapsed) => false,
        };
        read_at = None;
        let Some(service) = service.upgrade() else {
            return;
        };
        let read = if resync {
            heard.clear();
            service.announce_open_drops().await
        } else if heard.is_empty() {
            Ok(())
        } else {
            service.announce_drops(&std::mem::take(&mut heard)).await
        };
        if let Err(e) = read {
            tracing::warn!(error = %e, "reading changed drops failed");
        }
    }
}

/// Keeps a connection listening on `channel` and passes on what it hears,
/// until nobody reads it.
async fn receive(url: String, channel: String, tx: mpsc::Sender<Heard>) {
    loop {
        let mut listener = match connect(&url, &channel).await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, "listening for drop changes failed; will retry");
                tokio::select! {
                    () = tx.closed() => return,
                    () = tokio::time::sleep(RECONNECT_DELAY) => continue,
                }
            }
        };
        if tx.send(Heard::Connected).await.is_err() {
            return;
        }
        loop {
            let received = tokio::select! {
                () = tx.closed() => return,
                received = listener.try_recv() => received,
            };
            match received {
                Ok(Some(notification)) => {
                    let id = notification.payload().to_owned();
                    if tx.send(Heard::Drop(id)).await.is_err() {
                        return;
                    }
                }
                // Lost: connect afresh, and resync.
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "listening for drop changes failed; will reconnect");
                    break;
                }
            }
        }
    }
}

async fn connect(url: &str, channel: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(channel).await?;
    Ok(listener)
}
