//! What the orders service did, for `/metrics`: every command that ran (not
//! replays) by outcome, and an audit of the stock invariant.
//!
//! ```text
//! studio_edge_orders_commands_total{command="reserve",outcome="ok"} 100
//! studio_edge_orders_commands_total{command="reserve",outcome="sold-out"} 900
//! studio_edge_orders_commands_total{command="confirm",outcome="ok"} 97
//! studio_edge_orders_oversell_incidents 0
//! studio_edge_orders_batches_total 31
//! studio_edge_orders_batched_commands_total 1197
//! studio_edge_orders_largest_batch 64
//! ```
//!
//! `outcome` is `ok` or the problem type's slug. The funnel from viewer
//! engagement (`studio_edge_engagement_total`) to reservations
//! (`command="reserve",outcome="ok"`) to confirmed orders
//! (`command="confirm",outcome="ok"`) reads off these counters.
//! `studio_edge_orders_oversell_incidents` is the number of drops whose
//! stored state breaks the invariant: `sold + reserved > units`, or more
//! units in orders than the drop has. The database refuses such writes, so
//! it must stay 0; the sweeper recounts it every few seconds (-1 until the
//! first count). The batch counters are the writer's group commits (see
//! [`crate::service`]): transactions, the commands they ran, and the most
//! commands one ran.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::service::{Command, Reply};

/// Counters of one orders service.
#[derive(Debug)]
pub struct Metrics {
    commands: Mutex<BTreeMap<(&'static str, String), u64>>,
    oversold_drops: AtomicI64,
    batches: AtomicU64,
    batched_commands: AtomicU64,
    largest_batch: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            commands: Mutex::default(),
            oversold_drops: AtomicI64::new(-1),
            batches: AtomicU64::new(0),
            batched_commands: AtomicU64::new(0),
            largest_batch: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// Counts a command that ran and committed with `reply`.
    pub(crate) fn record(&self, command: &'static str, reply: &Reply) {
        let outcome = if reply.is_problem() {
            problem_slug(&reply.body).unwrap_or_else(|| reply.status.to_string())
        } else {
            "ok".to_owned()
        };
        *self
            .commands
            .lock()
            .expect("orders metrics lock")
            .entry((command, outcome))
            .or_default() += 1;
    }

    /// Counts a transaction of the writer that ran `commands` commands.
    pub(crate) fn record_batch(&self, commands: usize) {
        let commands = commands as u64;
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.batched_commands.fetch_add(commands, Ordering::Relaxed);
        self.largest_batch.fetch_max(commands, Ordering::Relaxed);
    }

    /// Transactions of the writer, and the commands they ran.
    pub fn batches(&self) -> (u64, u64) {
        (
            self.batches.load(Ordering::Relaxed),
            self.batched_commands.load(Ordering::Relaxed),
        )
    }

    pub(crate) fn set_oversold_drops(&self, count: i64) {
        self.oversold_drops.store(count, Ordering::Relaxed);
    }

    /// How many times `command` ended with `outcome` (`ok` or a slug).
    pub fn count(&self, command: &str, outcome: &str) -> u64 {
        self.commands
            .lock()
            .expect("orders metrics lock")
            .iter()
            .filter(|((c, o), _)| *c == command && o == outcome)
            .map(|(_, n)| n)
            .sum()
    }

    /// Drops breaking the stock invariant at the last audit (-1: none yet).
    pub fn oversold_drops(&self) -> i64 {
        self.oversold_drops.load(Ordering::Relaxed)
    }

    /// Prometheus text exposition.
    pub fn text(&self) -> String {
        let mut out = String::from(
            "# HELP studio_edge_orders_commands_total Orders commands that ran (replays excluded), by outcome.\n\
             # TYPE studio_edge_orders_commands_total counter\n",
        );
        for ((command, outcome), n) in self.commands.lock().expect("orders metrics lock").iter() {
            let _ = writeln!(
                out,
                "studio_edge_orders_commands_total{{command=\"{command}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        let _ = write!(
            out,
            "# HELP studio_edge_orders_oversell_incidents Drops whose stored stock breaks sold + reserved <= units (must be 0; -1 before the first audit).\n\
             # TYPE studio_edge_orders_oversell_incidents gauge\n\
             studio_edge_orders_oversell_incidents {}\n",
            self.oversold_drops()
        );
        let (batches, commands) = self.batches();
        let _ = write!(
            out,
            "# HELP studio_edge_orders_batches_total Transactions of the orders writer (group commits).\n\
             # TYPE studio_edge_orders_batches_total counter\n\
             studio_edge_orders_batches_total {batches}\n\
             # HELP studio_edge_orders_batched_commands_total Commands run by the orders writer's transactions, replays included.\n\
             # TYPE studio_edge_orders_batched_commands_total counter\n\
             studio_edge_orders_batched_commands_total {commands}\n\
             # HELP studio_edge_orders_largest_batch The most commands one transaction of the writer ran.\n\
             # TYPE studio_edge_orders_largest_batch gauge\n\
             studio_edge_orders_largest_batch {}\n",
            self.largest_batch.load(Ordering::Relaxed)
        );
        out
    }
}

impl Command {
    /// The command's label in metrics.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::CreateDrop(_) => "create_drop",
            Self::UpdateDrop { .. } => "update_drop",
            Self::EndDrop { .. } => "end_drop",
            Self::Reserve(_) => "reserve",
            Self::Confirm { .. } => "confirm",
            Self::Release { .. } => "release",
        }
    }
}

/// The slug of a stored problem+json body (`urn:studio-edge:problem:<slug>`).
fn problem_slug(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let kind = value.get("type")?.as_str()?;
    Some(kind.rsplit(':').next()?.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::ApiProblem;

    #[test]
    fn outcomes_are_counted_by_slug() {
        let metrics = Metrics::default();
        let ok = Reply {
            status: 201,
            body: b"{}".to_vec(),
        };
        let sold_out = ApiProblem::new(409, "sold-out", "Sold out", "no units left");
        let sold_out = Reply {
            status: sold_out.status,
            body: sold_out.body(),
        };
        metrics.record("reserve", &ok);
        metrics.record("reserve", &sold_out);
        metrics.record("reserve", &sold_out);
        assert_eq!(metrics.count("reserve", "ok"), 1);
        assert_eq!(metrics.count("reserve", "sold-out"), 2);
        let text = metrics.text();
        assert!(
            text.contains(
                "studio_edge_orders_commands_total{command=\"reserve\",outcome=\"sold-out\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains("studio_edge_orders_oversell_incidents -1"),
            "{text}"
        );
        metrics.set_oversold_drops(0);
        assert!(
            metrics
                .text()
                .contains("studio_edge_orders_oversell_incidents 0")
        );
    }
}
