//! Moderation hints, native vs in wasmtime: full hints for a 1920x1080
//! frame, and a lookup in a 100,000-hash blocklist.
//!
//! ```text
//! cargo build --release --target wasm32-wasip2 -p studio-edge-moderation
//! cargo bench -p studio-edge --bench moderation
//! ```
//!
//! The wasm numbers include what the host pipeline pays per call: a fresh
//! instance and copying the arguments in (the 3.2 MB packed blocklist for the
//! lookup). The frame is a 1920x1080 JPEG tiled from the fixture photos, so
//! it has real detail; the blocklist is 100,000 pseudo-random hashes, none
//! within the match distance, so the whole list is scanned every time.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use studio_edge::runtime::{GuestConfig, Runtime, RuntimeConfig};
use studio_edge::typed::moderation::ModerationComponent;
use studio_edge_moderation::imaging::{self, Limits};
use studio_edge_moderation::{Blocklist, Hash256, ModerationConfig, moderate};

const BLOCKLIST_ENTRIES: usize = 100_000;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A 1920x1080 JPEG (quality 85) tiled from `coffee.png`.
fn frame_1080p() -> Vec<u8> {
    use imaging::image::RgbaImage;
    let path = repo().join("../shared/fixtures/photos/coffee.png");
    let bytes = std::fs::read(&path).expect("fixture photo");
    let tile = studio_edge_moderation::decode_pixels(&bytes, &Limits::default()).expect("decodes");
    let frame = RgbaImage::from_fn(1920, 1080, |x, y| {
        *tile.get_pixel(x % tile.width(), y % tile.height())
    });
    imaging::encode(&frame, imaging::Format::Jpeg, 85).expect("encodes")
}

/// `n` hashes from a xorshift generator: reproducible, and all far from any
/// real image's hash.
fn random_blocklist(n: usize) -> Blocklist {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let hashes = (0..n)
        .map(|_| {
            let mut bytes = [0u8; 32];
            for chunk in bytes.chunks_exact_mut(8) {
                chunk.copy_from_slice(&next().to_be_bytes());
            }
            Hash256::from_bytes(&bytes)
        })
        .collect();
    Blocklist::from_hashes(hashes)
}

fn component_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|dir| repo().join(dir))
        .unwrap_or_else(|| repo().join("target"));
    let path = target.join("wasm32-wasip2/release/studio_edge_moderation.wasm");
    assert!(
        path.is_file(),
        "{} is missing; build it with: cargo build --release --target wasm32-wasip2 -p studio-edge-moderation",
        path.display()
    );
    path
}

fn bench(c: &mut Criterion) {
    let frame = frame_1080p();
    let config = ModerationConfig::default();
    let empty = Blocklist::default();
    let blocklist = random_blocklist(BLOCKLIST_ENTRIES);
    let packed = blocklist.to_packed();
    let frame_hashes = studio_edge_moderation::hash_image(&frame, &Limits::default()).unwrap();

    let tokio = tokio::runtime::Runtime::new().unwrap();
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let worker = ModerationComponent::load(
        &runtime,
        &component_path(),
        GuestConfig::named("moderation"),
    )
    .unwrap();
    let wit_config = tokio.block_on(worker.default_config()).unwrap();
    let dihedral: Vec<String> = frame_hashes
        .variants
        .iter()
        .map(Hash256::to_string)
        .collect();

    let mut group = c.benchmark_group("moderation");
    group.sample_size(20);
    group.bench_function("full hints 1080p JPEG/native", |b| {
        b.iter(|| moderate(black_box(&frame), &Limits::default(), &config, None, &empty).unwrap())
    });
    group.bench_function("full hints 1080p JPEG/wasm", |b| {
        b.iter(|| {
            tokio
                .block_on(worker.moderate(black_box(&frame), &wit_config, None, &[]))
                .unwrap()
                .unwrap()
        })
    });
    group.bench_function("blocklist 100k lookup/native", |b| {
        b.iter(|| blocklist.find(black_box(&frame_hashes), config.match_distance))
    });
    group.bench_function("blocklist 100k lookup/wasm", |b| {
        b.iter(|| {
            tokio
                .block_on(worker.find_matches(&dihedral, black_box(&packed), config.match_distance))
                .unwrap()
                .unwrap()
        })
    });
    group.bench_function("blocklist 0 lookup/wasm (call overhead)", |b| {
        b.iter(|| {
            tokio
                .block_on(worker.find_matches(&dihedral, &[], config.match_distance))
                .unwrap()
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
