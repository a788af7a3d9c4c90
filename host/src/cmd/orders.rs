//! `studio-edge orders`: serve only the orders service, with its counters
//! at `GET /metrics`; operator tokens from `<data-dir>/operators.json`.

use std::net::SocketAddr;

use anyhow::Context;

use crate::server;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on; port 0 picks a free port (printed on stdout).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:3001")]
    listen: SocketAddr,
    #[command(flatten)]
    store: super::OrdersStoreArgs,
    #[command(flatten)]
    limits: crate::limits::ClientLimitArgs,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    args.store.ensure_data_dir()?;
    let orders = studio_edge_orders::Orders::open(args.store.orders_config())
        .await
        .context("opening the orders service")?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let operators = studio_edge_ingest::operators::OperatorRegistry::open(&args.store.data_dir)
        .context("reading the operator tokens")?;
    let limits = crate::limits::ClientLimits::new(args.limits.clone());
    let service = orders.service();
    let metrics_limits = limits.clone();
    let metrics = axum::routing::get(move || {
        let text = service.metrics().text() + &metrics_limits.metrics_text();
        async move {
            (
                [(
                    axum::http::header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                text,
            )
        }
    });
    let router = orders
        .router(std::sync::Arc::new(operators))
        .route("/metrics", metrics)
        .fallback(not_found);
    server::announce(&listener)?;
    server::serve(listener, router, limits).await?;
    Ok(())
}

async fn not_found(uri: axum::http::Uri) -> axum::response::Response {
    crate::problem::response(&crate::problem::Problem::not_found(format!(
        "no route matches {}",
        uri.path()
    )))
}
