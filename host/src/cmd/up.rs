//! `studio-edge up`: serve a Spin app as `spin up` does, with the studio's
//! native services (orders, ingest, viewer pages, metrics) on the paths the
//! app's routes leave free.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use studio_edge_spin::runtime_config::RuntimeConfig;

use crate::limits::ClientLimits;
use crate::manifest::Manifest;
use crate::runtime::Runtime;
use crate::server::{self, ComponentRoutes};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The Spin manifest (version 2), or a directory holding `spin.toml`.
    #[arg(
        short = 'f',
        long = "from",
        visible_alias = "manifest",
        value_name = "APPLICATION",
        default_value = "spin.toml"
    )]
    from: PathBuf,
    /// Address to listen on; port 0 picks a free port (printed on stdout).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Sets an application variable (`[variables]`), over
    /// `SPIN_VARIABLE_<NAME>` and the manifest default. Repeatable.
    #[arg(long = "variable", value_name = "NAME=VALUE", value_parser = name_value)]
    variables: Vec<(String, String)>,
    /// Passes an environment variable to every component. Repeatable.
    #[arg(short = 'e', long = "env", value_name = "NAME=VALUE", value_parser = name_value)]
    env: Vec<(String, String)>,
    /// Spin runtime configuration (key-value stores, SQLite databases,
    /// variables providers).
    #[arg(long, value_name = "FILE")]
    runtime_config_file: Option<PathBuf>,
    /// Sets a key in the default key-value store before serving. Repeatable.
    #[arg(long = "key-value", value_name = "KEY=VALUE", value_parser = name_value)]
    key_values: Vec<(String, String)>,
    /// Runs a SQL statement (or `@FILE`) on the default SQLite database
    /// before serving. Repeatable.
    #[arg(long = "sqlite", value_name = "STATEMENT")]
    sqlite: Vec<String>,
    #[command(flatten)]
    store: super::OrdersStoreArgs,
    #[command(flatten)]
    limits: crate::limits::ClientLimitArgs,
    #[command(flatten)]
    sandbox: super::SandboxArgs,
    /// Largest request body passed to a component, in MiB (413 past it).
    #[arg(long, value_name = "MIB", default_value_t = 32)]
    max_body_mb: u64,
    /// Viewers (event streams) one capture stream may have at once; 503
    /// `stream-full` past it (0: no limit).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    max_viewers_per_stream: usize,
    /// Fragments per second one capture stream may send on average; 429
    /// `fragment-rate` past it (0: no limit).
    #[arg(long, value_name = "N", default_value_t = 60)]
    fragment_rate: u32,
    /// Fragments one capture stream may send at once above its rate.
    #[arg(long, value_name = "N", default_value_t = 120)]
    fragment_burst: u32,
}

fn name_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("expected NAME=VALUE, got {text:?}")),
    }
}

/// `--from` as a manifest path (a directory means its `spin.toml`).
fn manifest_path(from: &Path) -> PathBuf {
    if from.is_dir() {
        from.join("spin.toml")
    } else {
        from.to_path_buf()
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    args.store.ensure_data_dir()?;
    let manifest_path = manifest_path(&args.from);
    let manifest = Manifest::load(&manifest_path)?;
    let runtime_config = match &args.runtime_config_file {
        Some(path) => RuntimeConfig::load(path)?,
        None => RuntimeConfig::default(),
    };
    let mut app = manifest.resolve(variable_sources(&args.variables, &runtime_config))?;
    let state_dir = &args.store.data_dir;
    app.open_stores(&runtime_config, state_dir)?;
    app.mount_state(state_dir)?;
    for component in app.components.values_mut() {
        component.env.extend(args.env.iter().cloned());
    }
    seed_defaults(&app, &args).await?;
    tracing::info!(
        application = %app.name,
        manifest = %manifest_path.display(),
        components = app.components.len(),
        "manifest loaded"
    );

    let runtime = Runtime::new(args.sandbox.runtime_config(state_dir))?;
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
    let mut ingest_config = studio_edge_ingest::IngestConfig::new(state_dir);
    ingest_config.limits = studio_edge_ingest::StreamLimits {
        max_viewers: args.max_viewers_per_stream,
        fragment_rate: args.fragment_rate,
        fragment_burst: args.fragment_burst,
    };
    let ingest =
        crate::pipeline_stages::open_ingest(&runtime, &app, ingest_config, &orders).await?;
    let limits = ClientLimits::new(args.limits.clone());
    {
        let limits = limits.clone();
        ingest.add_metrics_source(move || limits.metrics_text());
    }

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let local_addr = server::announce(&listener)?;
    components.print_routes(&format!("http://{local_addr}"));
    let native = orders
        .router(ingest.operators())
        .merge(studio_edge_ingest::router(ingest))
        .merge(crate::client_assets::router(
            crate::client_assets::dist_dir(),
        ));
    let router = components.into_router(local_addr, native);
    runtime.serve_self(router.clone(), local_addr);
    server::serve(listener, router, limits).await?;
    Ok(())
}

/// A variable's value from `--variable`, then each `env` variables
/// provider of the runtime configuration (`SPIN_VARIABLE_<NAME>` when it
/// names none), as `spin up` looks them up.
fn variable_sources<'a>(
    flags: &'a [(String, String)],
    config: &'a RuntimeConfig,
) -> impl Fn(&str) -> Option<String> + 'a {
    let flags: BTreeMap<&str, &str> = flags
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    move |name| {
        if let Some(value) = flags.get(name) {
            return Some((*value).to_owned());
        }
        let default_prefix = ["SPIN_VARIABLE".to_owned()];
        let prefixes = if config.env_prefixes.is_empty() {
            &default_prefix[..]
        } else {
            &config.env_prefixes[..]
        };
        prefixes.iter().find_map(|prefix| {
            std::env::var(format!("{prefix}_{}", name.to_ascii_uppercase())).ok()
        })
    }
}

/// `--key-value` and `--sqlite`: applied to the default store and database
/// before the first request, as `spin up` does.
async fn seed_defaults(app: &crate::manifest::App, args: &Args) -> anyhow::Result<()> {
    let find = |pick: &dyn Fn(&studio_edge_spin::ComponentServices) -> bool| {
        app.components
            .values()
            .find(|c| pick(&c.services))
            .map(|c| c.services.clone())
    };
    if !args.key_values.is_empty() {
        let services = find(&|s| s.key_value.contains_key("default"))
            .context("--key-value: no component lists the \"default\" key-value store")?;
        let store = &services.key_value["default"];
        for (key, value) in &args.key_values {
            store
                .set(key, value.clone().into_bytes())
                .await
                .with_context(|| format!("--key-value {key}=..."))?;
        }
    }
    if !args.sqlite.is_empty() {
        let services = find(&|s| s.sqlite.contains_key("default"))
            .context("--sqlite: no component lists the \"default\" SQLite database")?;
        let database = &services.sqlite["default"];
        for statement in &args.sqlite {
            let sql = match statement.strip_prefix('@') {
                Some(file) => std::fs::read_to_string(file)
                    .with_context(|| format!("--sqlite: reading {file}"))?,
                None => statement.clone(),
            };
            database
                .execute_batch(sql)
                .await
                .with_context(|| format!("--sqlite {statement:?}"))?;
        }
    }
    Ok(())
}
