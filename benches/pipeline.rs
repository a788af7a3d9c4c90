//! The capture pipeline under load, as `studio-edge up` runs it: 1920x1080
//! JPEG fragments over HTTP into the ingest router, each shrunk to working
//! size, colour-corrected (`wb=auto&lut=warm`), rendered to three thumbnail
//! renditions and moderated by the worker components in wasmtime (from
//! `spin.toml`, with the host's runtime limits).
//!
//! ```text
//! scripts/build-workers.sh
//! cargo bench -p studio-edge --bench pipeline
//! ```
//!
//! Prints the sustained fragments per second (4 streams back to back) and
//! the p50/p99 ingest-to-publish latency at 4 streams x 5 fps. Set
//! `PIPELINE_BENCH_SECONDS` to lengthen the paced phase (default 20),
//! `PIPELINE_BENCH_STREAMS` and `PIPELINE_BENCH_FPS` to change its load. The
//! same load with the worker crates called natively:
//! `cargo run --release -p studio-edge-ingest --features native --example pipeline_load`.

use std::path::Path;
use std::time::Duration;

use studio_edge::manifest::Manifest;
use studio_edge::pipeline_stages::load_stages;
use studio_edge::runtime::{Runtime, RuntimeConfig};
use studio_edge_ingest::bench::{LoadOptions, run};

fn main() -> anyhow::Result<()> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut options = LoadOptions::default();
    let var = |name: &str| std::env::var(name).ok().and_then(|s| s.parse::<f64>().ok());
    if let Some(seconds) = var("PIPELINE_BENCH_SECONDS") {
        options.paced = Duration::from_secs_f64(seconds);
    }
    if let Some(fps) = var("PIPELINE_BENCH_FPS") {
        options.fps = fps;
    }
    if let Some(streams) = var("PIPELINE_BENCH_STREAMS") {
        options.streams = streams as usize;
    }
    let app = Manifest::load(&repo.join("spin.toml"))?.resolve(|_| None)?;
    let tokio = tokio::runtime::Runtime::new()?;
    let runtime = Runtime::new(RuntimeConfig::default())?;
    let stages = load_stages(&runtime, &app, tokio.handle().clone())?;
    let report = tokio
        .block_on(run(&repo.join("../shared/fixtures"), options, stages))
        .map_err(anyhow::Error::msg)?;
    print!("{report}");
    Ok(())
}
