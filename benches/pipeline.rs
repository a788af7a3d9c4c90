//! The capture pipeline under load: 1920x1080 JPEG fragments over HTTP into
//! the ingest router, with colour correction (`wb=auto&lut=warm-17`), three
//! thumbnail renditions and moderation run natively by the worker crates.
//!
//! `cargo bench -p studio-edge --bench pipeline` prints the sustained
//! fragments per second (4 streams back to back) and the p50/p99
//! ingest-to-publish latency at 4 streams x 5 fps. The same code runs
//! without building the host as
//! `cargo run --release -p studio-edge-ingest --features native --example pipeline_load`.
//! Set `PIPELINE_BENCH_SECONDS` to lengthen the paced phase (default 20).

use std::path::Path;
use std::time::Duration;

use studio_edge_ingest::bench::{LoadOptions, run};

fn main() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures");
    let mut options = LoadOptions::default();
    if let Some(seconds) = std::env::var("PIPELINE_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        options.paced = Duration::from_secs(seconds);
    }
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    match runtime.block_on(run(&fixtures, options)) {
        Ok(report) => print!("{report}"),
        Err(error) => {
            eprintln!("pipeline bench failed: {error}");
            std::process::exit(1);
        }
    }
}
