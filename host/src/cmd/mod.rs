//! The `studio-edge` command line: one file per subcommand.
//!
//! To add a subcommand `name`: write `cmd/name.rs` with an `Args` struct
//! (clap derive) and `pub async fn run(args: Args) -> anyhow::Result<()>`,
//! then add one `mod` line, one [`Command`] variant and one match arm in
//! [`run`] below.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::runtime::RuntimeConfig;

mod color;
mod demo_capture;
mod moderate;
mod operators;
mod orders;
mod shade;
mod streams;
mod thumb;
mod up;

/// studio-edge: run the studio's worker components and services on one machine.
#[derive(Debug, Parser)]
#[command(name = "studio-edge", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve a Spin manifest's HTTP routes with wasmtime, plus the orders service.
    Up(up::Args),
    /// Make a thumbnail of a file with the thumbnail component (or natively).
    Thumb(thumb::Args),
    /// Colour-correct a file (white balance, exposure, LUT, camera profile)
    /// with the colour component (or natively).
    Color(color::Args),
    /// Serve only the orders service.
    Orders(orders::Args),
    /// Moderation hints for an image (PDQ, blocklist, frame signals) as JSON.
    Moderate(moderate::Args),
    /// Measure a product shade (CIELAB JSON for a drop) from a calibrated frame.
    Shade(shade::Args),
    /// Create or list capture streams (ingest keys, renditions, colour ops).
    Streams(streams::Args),
    /// Issue or list operator tokens (drops, orders, the operator console).
    Operators(operators::Args),
    /// Push frames to a running host's ingest route, as a camera would.
    DemoCapture(demo_capture::Args),
}

/// Runs the subcommand.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Up(args) => up::run(args).await,
        Command::Thumb(args) => thumb::run(args).await,
        Command::Color(args) => color::run(args).await,
        Command::Orders(args) => orders::run(args).await,
        Command::Moderate(args) => moderate::run(args).await,
        Command::Shade(args) => shade::run(args).await,
        Command::Streams(args) => streams::run(args).await,
        Command::Operators(args) => operators::run(args).await,
        Command::DemoCapture(args) => demo_capture::run(args).await,
    }
}

/// Sandbox limits for guest calls, shared by the subcommands that run
/// components.
#[derive(Debug, Clone, clap::Args)]
pub struct SandboxArgs {
    /// Wall-clock budget of one guest call in milliseconds; past it the call
    /// is stopped (504 over HTTP).
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// Memory cap of one guest instance in MiB; past it the call fails
    /// (500 `memory-limit` over HTTP).
    #[arg(long, value_name = "MIB", default_value_t = 256)]
    pub memory_limit_mb: usize,
}

impl SandboxArgs {
    /// The runtime configuration, caching compiled components under
    /// `<data_dir>/cache`.
    pub fn runtime_config(&self, data_dir: &std::path::Path) -> RuntimeConfig {
        RuntimeConfig {
            timeout: Duration::from_millis(self.timeout_ms.max(1)),
            memory_limit: self.memory_limit_mb.max(1) << 20,
            cache_dir: Some(data_dir.join("cache")),
            ..RuntimeConfig::default()
        }
    }
}

/// Where the orders service keeps its state, shared by `up` and `orders`.
#[derive(Debug, Clone, clap::Args)]
pub struct OrdersStoreArgs {
    /// Directory for the compile cache, the default key-value store and
    /// SQLite database, the orders database and ingest state.
    #[arg(
        long,
        visible_alias = "state-dir",
        value_name = "DIR",
        default_value = "./data"
    )]
    pub data_dir: PathBuf,
    /// Orders database: `sqlite:<path>` or `postgres://...`
    /// [default: sqlite:<data-dir>/orders.db]
    #[arg(long, value_name = "URL")]
    pub db: Option<String>,
    /// How long a reservation holds its units, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub reservation_ttl_secs: u64,
    /// Deployment name (a-z, 0-9, _): hosts sharing one PostgreSQL database
    /// under the same name tell each other's viewers about drop changes
    /// (`LISTEN studio_edge_drops_<NAME>`).
    #[arg(
        long,
        value_name = "NAME",
        env = "STUDIO_EDGE_DEPLOYMENT",
        default_value = "default"
    )]
    pub deployment: String,
}

impl OrdersStoreArgs {
    pub fn orders_config(&self) -> studio_edge_orders::OrdersConfig {
        studio_edge_orders::OrdersConfig {
            database: self
                .db
                .clone()
                .unwrap_or_else(|| format!("sqlite:{}", self.data_dir.join("orders.db").display())),
            reservation_ttl: Duration::from_secs(self.reservation_ttl_secs),
            deployment: self.deployment.clone(),
        }
    }

    /// Creates the data directory if needed.
    pub fn ensure_data_dir(&self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.data_dir).map_err(|e| {
            anyhow::anyhow!("creating data directory {}: {e}", self.data_dir.display())
        })
    }
}
