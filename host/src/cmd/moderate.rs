//! `studio-edge moderate IN [--blocklist FILE] [--previous HEX]`: moderation
//! hints for one image, printed as the JSON report the HTTP route answers.
//! The moderation component runs in-process (the same `.wasm` the route
//! serves); blocklist labels from the file are filled into the matches.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;

use crate::runtime::{GuestConfig, Runtime};
use crate::typed::moderation::{ModerationComponent, WorkerError};
use studio_edge_spin::ComponentServices;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The image (JPEG, PNG, WebP or GIF).
    input: PathBuf,
    /// Blocklist file: `<64 hex> [quality] [label]` a line, `#` comments.
    #[arg(long, value_name = "FILE")]
    blocklist: Option<PathBuf>,
    /// The previous frame's PDQ hash (64 hex digits), for the frozen-frame check.
    #[arg(long, value_name = "HEX")]
    previous: Option<String>,
    /// Threshold options as the route's query, e.g. `blur=120&qr_allow=shop.example`.
    #[arg(long, value_name = "QUERY", default_value = "")]
    options: String,
    /// Hosts QR-code URLs may point to, comma-separated (the component's
    /// `QR_ALLOWED_HOSTS`).
    #[arg(
        long,
        value_name = "HOSTS",
        env = "QR_ALLOWED_HOSTS",
        default_value = ""
    )]
    qr_allowed_hosts: String,
    /// The moderation component.
    #[arg(
        long,
        value_name = "WASM",
        default_value = "target/wasm32-wasip2/release/studio_edge_moderation.wasm"
    )]
    component: PathBuf,
    /// Directory for the compile cache.
    #[arg(long, value_name = "DIR", default_value = "./data")]
    data_dir: PathBuf,
    #[command(flatten)]
    sandbox: super::SandboxArgs,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let image =
        std::fs::read(&args.input).with_context(|| format!("reading {}", args.input.display()))?;
    let blocklist_text = match &args.blocklist {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        }
        None => String::new(),
    };
    let started = Instant::now();
    let runtime = Runtime::new(args.sandbox.runtime_config(&args.data_dir))?;
    // What `[component.moderation.variables]` gives it under `up`.
    let mut services = ComponentServices::named("moderation");
    services
        .variables
        .insert("qr_allowed_hosts".to_owned(), args.qr_allowed_hosts.clone());
    let guest = GuestConfig {
        services: Arc::new(services),
        ..GuestConfig::named("moderation")
    };
    let worker = ModerationComponent::load(&runtime, &args.component, guest).with_context(|| {
        format!(
            "loading {} (build it with: cargo build --release --target wasm32-wasip2 -p studio-edge-moderation)",
            args.component.display()
        )
    })?;
    let loaded = started.elapsed();
    let config = worker
        .parse_options(&args.options)
        .await?
        .map_err(worker_error)?;
    let blocklist = worker
        .parse_blocklist(&blocklist_text, config.min_quality)
        .await?
        .map_err(worker_error)?;
    let report = worker
        .moderate(&image, &config, args.previous.as_deref(), &blocklist.hashes)
        .await?
        .map_err(worker_error)?;
    let mut json: serde_json::Value =
        serde_json::from_str(&report.json).context("the worker's report is not JSON")?;
    if let Some(matches) = json
        .pointer_mut("/metrics/blocklist/matches")
        .and_then(|m| m.as_array_mut())
    {
        for found in matches {
            let label = found["index"]
                .as_u64()
                .and_then(|i| blocklist.labels.get(i as usize).cloned().flatten());
            found["label"] = label.map_or(serde_json::Value::Null, serde_json::Value::String);
        }
    }
    println!("{}", serde_json::to_string_pretty(&json)?);
    eprintln!(
        "{}: {:?} with {} hint(s), {} blocklist entries (component ready in {} ms, moderated in {} ms)",
        args.input.display(),
        report.action,
        report.hints.len(),
        blocklist.labels.len(),
        loaded.as_millis(),
        (started.elapsed() - loaded).as_millis(),
    );
    Ok(())
}

fn worker_error(error: WorkerError) -> anyhow::Error {
    match error {
        WorkerError::BadOption(why) => anyhow::anyhow!("bad option: {why}"),
        WorkerError::TooLarge(why) => anyhow::anyhow!("too large: {why}"),
        WorkerError::UnsupportedFormat(why) => anyhow::anyhow!("unsupported format: {why}"),
        WorkerError::Unprocessable(why) => anyhow::anyhow!("unprocessable: {why}"),
        WorkerError::Internal(why) => anyhow::anyhow!("worker failed: {why}"),
    }
}
