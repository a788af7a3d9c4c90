//! `studio-edge up`: serve a Spin manifest's routes and the orders service.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;

use crate::manifest::Manifest;
use crate::runtime::Runtime;
use crate::server::{self, ComponentRoutes};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The Spin manifest (version 2).
    #[arg(long, value_name = "FILE", default_value = "spin.toml")]
    manifest: PathBuf,
    /// Address to listen on; port 0 picks a free port (printed on stdout).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    #[command(flatten)]
    store: super::OrdersStoreArgs,
    #[command(flatten)]
    sandbox: super::SandboxArgs,
    /// Largest request body passed to a component, in MiB (413 past it).
    #[arg(long, value_name = "MIB", default_value_t = 32)]
    max_body_mb: u64,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    args.store.ensure_data_dir()?;
    let manifest = Manifest::load(&args.manifest)?;
    let mut app = manifest.resolve(|name| std::env::var(name).ok())?;
    app.mount_state(&args.store.data_dir)?;
    tracing::info!(
        application = %app.name,
        manifest = %args.manifest.display(),
        components = app.components.len(),
        "manifest loaded"
    );

    let runtime = Runtime::new(args.sandbox.runtime_config(&args.store.data_dir))?;
    let max_body = args.max_body_mb.saturating_mul(1 << 20);
    // Compiling is CPU-bound and can take seconds: keep it off the reactor.
    let components = {
        let (runtime, app) = (runtime.clone(), app.clone());
        tokio::task::spawn_blocking(move || ComponentRoutes::load(&runtime, &app, max_body))
            .await
            .context("loading components")??
    };

    let orders = studio_edge_orders::Orders::open(args.store.orders_config())
        .await
        .context("opening the orders service")?;
    let ingest =
        crate::pipeline_stages::open_ingest(&runtime, &app, &args.store.data_dir, &orders).await?;

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let local_addr = listener.local_addr()?;
    let router = components
        .into_router(local_addr)
        .merge(orders.router())
        .merge(studio_edge_ingest::router(ingest));
    server::announce(&listener)?;
    server::serve(listener, router).await?;
    Ok(())
}
