//! The pipeline load benchmark with the native stages:
//! `cargo run --release -p studio-edge-ingest --features native --example pipeline_load`.
//! It runs the same code as `cargo bench -p studio-edge --bench pipeline`
//! without building the wasmtime host.

use std::path::Path;

use studio_edge_ingest::bench::{LoadOptions, run};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures");
    let report = run(&fixtures, LoadOptions::default())
        .await
        .map_err(anyhow::Error::msg)?;
    print!("{report}");
    Ok(())
}
