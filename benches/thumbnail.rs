//! Thumbnails, native vs in wasmtime vs libvips: a 1920x1080 JPEG to a
//! 320-px-wide JPEG at quality 80, single-threaded.
//!
//! ```text
//! cargo build --release --target wasm32-wasip2 -p studio-edge-thumbnail
//! apt-get install -y libvips-tools   # optional: adds the vipsthumbnail peer
//! cargo bench -p studio-edge --bench thumbnail
//! ```
//!
//! * `native`: [`studio_edge_thumbnail::render`] compiled natively (the
//!   code is single-threaded);
//! * `wasm`: the component's typed `transform` through the host runtime,
//!   including what every pipeline call pays: a fresh instance and copying
//!   the source in and the result out;
//! * `vipsthumbnail`: `VIPS_CONCURRENCY=1 vipsthumbnail -s 320x -o
//!   %s_tn.jpg[Q=80]` on distinct copies of the same file, many per process;
//!   criterion's per-iteration slope leaves out the process start-up.
//!
//! The source is tiled from a fixture photo so that it has real detail;
//! it is written as baseline 4:2:0 JPEG at quality 90.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use studio_edge::runtime::{GuestConfig, Runtime, RuntimeConfig};
use studio_edge::typed::thumbnail::ThumbnailComponent;
use studio_edge_imaging::image::RgbaImage;
use studio_edge_imaging::{Format, Limits, decode, encode};
use studio_edge_thumbnail::{parse_options, render};

const OPTIONS: &str = "w=320&format=jpeg&q=80";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A 1920x1080 JPEG (quality 90) tiled from `motorcycle_left.png`.
fn source_1080p() -> Vec<u8> {
    let path = repo().join("../shared/fixtures/photos/motorcycle_left.png");
    let bytes = std::fs::read(&path).expect("fixture photo");
    let tile = decode(&bytes, &Limits::default()).expect("decodes").image;
    let frame = RgbaImage::from_fn(1920, 1080, |x, y| {
        *tile.get_pixel(x % tile.width(), y % tile.height())
    });
    encode(&frame, Format::Jpeg, 90).expect("encodes")
}

fn component_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|dir| repo().join(dir))
        .unwrap_or_else(|| repo().join("target"));
    let path = target.join("wasm32-wasip2/release/studio_edge_thumbnail.wasm");
    assert!(
        path.is_file(),
        "{} is missing; build it with: cargo build --release --target wasm32-wasip2 -p studio-edge-thumbnail",
        path.display()
    );
    path
}

/// `vipsthumbnail` on `PATH`, if installed.
fn vipsthumbnail() -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join("vipsthumbnail"))
        .find(|candidate| candidate.is_file())
}

/// Runs vipsthumbnail once over `count` distinct copies of the source in
/// `dir` (made on demand) and returns the elapsed time.
fn run_vips(vips: &Path, dir: &Path, source: &[u8], count: u64) -> Duration {
    let inputs: Vec<PathBuf> = (0..count)
        .map(|i| {
            let path = dir.join(format!("src{i}.jpg"));
            if !path.is_file() {
                std::fs::write(&path, source).expect("write vips input");
            }
            path
        })
        .collect();
    let start = Instant::now();
    let status = Command::new(vips)
        .env("VIPS_CONCURRENCY", "1")
        .args(["-s", "320x", "-o", "%s_tn.jpg[Q=80]"])
        .args(&inputs)
        .status()
        .expect("run vipsthumbnail");
    let elapsed = start.elapsed();
    assert!(status.success(), "vipsthumbnail failed: {status}");
    elapsed
}

fn bench(c: &mut Criterion) {
    let source = source_1080p();
    let spec = parse_options(OPTIONS).unwrap();
    let limits = Limits::default();
    let native = render(&source, &spec, &limits).unwrap();
    assert_eq!((native.width, native.height), (320, 180));

    let tokio = tokio::runtime::Runtime::new().unwrap();
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let worker =
        ThumbnailComponent::load(&runtime, &component_path(), GuestConfig::named("thumbnail"))
            .unwrap();
    let wit_spec = tokio
        .block_on(worker.parse_options(OPTIONS))
        .unwrap()
        .unwrap();
    let from_wasm = tokio
        .block_on(worker.transform(&source, &wit_spec))
        .unwrap()
        .unwrap();
    // Not byte-identical to native: SIMD paths (AVX2 vs simd128) round
    // differently. The same size and format, though.
    let decoded = decode(&from_wasm.bytes, &limits).unwrap().image;
    assert_eq!(decoded.dimensions(), (native.width, native.height));

    let mut group = c.benchmark_group("thumbnail 1080p JPEG to 320w JPEG q80");
    group.sample_size(30);
    // Linear sampling reports the per-iteration slope, which for
    // vipsthumbnail excludes its process start-up.
    group.sampling_mode(SamplingMode::Linear);
    group.bench_function("native", |b| {
        b.iter(|| render(black_box(&source), &spec, &limits).unwrap())
    });
    group.bench_function("wasm", |b| {
        b.iter(|| {
            tokio
                .block_on(worker.transform(black_box(&source), &wit_spec))
                .unwrap()
                .unwrap()
        })
    });
    match vipsthumbnail() {
        Some(vips) => {
            let dir = tempfile::tempdir().unwrap();
            group.bench_function("vipsthumbnail", |b| {
                b.iter_custom(|iters| run_vips(&vips, dir.path(), &source, iters))
            });
        }
        None => eprintln!("vipsthumbnail is not installed: skipping the libvips peer"),
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
