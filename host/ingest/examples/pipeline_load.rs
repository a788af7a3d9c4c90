//! The pipeline load benchmark with the native stages:
//! `cargo run --release -p studio-edge-ingest --features native --example pipeline_load`.
//! The same load as `cargo bench -p studio-edge --bench pipeline`, which
//! runs the worker components in wasmtime as `studio-edge up` does; this
//! one calls the worker crates natively, without building the host.

use std::path::Path;

use studio_edge_color::assets::AssetDir;
use studio_edge_ingest::bench::{LoadOptions, run};
use studio_edge_ingest::native;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixtures = crate_dir.join("../../../shared/fixtures");
    let assets = AssetDir::new(crate_dir.join("../../workers/color/assets"));
    let report = run(
        &fixtures,
        LoadOptions::default(),
        native::stages(Some(assets)),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    print!("{report}");
    Ok(())
}
