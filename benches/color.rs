//! Colour correction, native vs in wasmtime: a 1920x1080 JPEG frame through
//! decode, white balance, a 33-point 3D LUT and JPEG encode.
//!
//! ```text
//! cargo build --release --target wasm32-wasip2 -p studio-edge-color
//! cargo bench -p studio-edge --bench color
//! ```
//!
//! The wasm numbers include what the host pipeline pays per call: a fresh
//! instance and copying the frame and the LUT text in (the LUT is parsed in
//! the guest on every call, as it is for an upload). The frame is tiled
//! from a fixture photo, so it has real detail; the LUT is the fixture
//! `mix-33.cube`, which mixes channels.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use studio_edge::runtime::{GuestConfig, Runtime, RuntimeConfig};
use studio_edge::typed::color::{Assets, ColorComponent};
use studio_edge_color::assets::{Assets as NativeAssets, Sources, Uploads};
use studio_edge_color::image::LinearImage;
use studio_edge_color::imaging::{self, Limits};
use studio_edge_color::ops::ColorOps;
use studio_edge_color::pipeline;

const OPS: &str = "wb=auto&lut=mix-33&format=jpeg&q=90";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixtures() -> PathBuf {
    repo().join("../shared/fixtures")
}

/// A 1920x1080 JPEG (quality 90) tiled from `astronaut.png`.
fn frame_1080p() -> Vec<u8> {
    use imaging::image::RgbaImage;
    let bytes = std::fs::read(fixtures().join("photos/astronaut.png")).expect("fixture photo");
    let tile = imaging::decode(&bytes, &Limits::default())
        .expect("decodes")
        .image;
    let frame = RgbaImage::from_fn(1920, 1080, |x, y| {
        *tile.get_pixel(x % tile.width(), y % tile.height())
    });
    imaging::encode(&frame, imaging::Format::Jpeg, 90).expect("encodes")
}

fn component_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|dir| repo().join(dir))
        .unwrap_or_else(|| repo().join("target"));
    let path = target.join("wasm32-wasip2/release/studio_edge_color.wasm");
    assert!(
        path.is_file(),
        "{} is missing; build it with: cargo build --release --target wasm32-wasip2 -p studio-edge-color",
        path.display()
    );
    path
}

fn bench(c: &mut Criterion) {
    let frame = frame_1080p();
    let cube = std::fs::read_to_string(fixtures().join("luts/mix-33.cube")).expect("fixture LUT");
    let ops = ColorOps::parse(OPS).unwrap();
    let uploads = Uploads {
        cube: Some(&cube),
        profile: None,
    };

    let tokio = tokio::runtime::Runtime::new().unwrap();
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let worker =
        ColorComponent::load(&runtime, &component_path(), GuestConfig::named("color")).unwrap();
    let wit_ops = tokio.block_on(worker.parse_options(OPS)).unwrap().unwrap();
    let wit_assets = Assets {
        lut_cube: Some(cube.clone()),
        profile_json: None,
    };

    let mut group = c.benchmark_group("color");
    group.sample_size(10);
    group.bench_function("decode+wb+lut+encode 1080p JPEG/native", |b| {
        b.iter(|| {
            let assets = NativeAssets::resolve(&ops, uploads, Sources::default()).unwrap();
            pipeline::correct(black_box(&frame), &ops, &assets, &Limits::default()).unwrap()
        })
    });
    group.bench_function("decode+wb+lut+encode 1080p JPEG/wasm", |b| {
        b.iter(|| {
            tokio
                .block_on(worker.correct(black_box(&frame), &wit_ops, &wit_assets))
                .unwrap()
                .unwrap()
        })
    });
    // The steps on their own, natively, to see where the time goes.
    let assets = NativeAssets::resolve(&ops, uploads, Sources::default()).unwrap();
    let decoded = pipeline::colour_manage(&frame, &Limits::default())
        .unwrap()
        .image;
    group.bench_function("step decode+linearise/native", |b| {
        b.iter(|| pipeline::colour_manage(black_box(&frame), &Limits::default()).unwrap())
    });
    group.bench_function("step white balance auto/native", |b| {
        b.iter(|| {
            let mut image: LinearImage = decoded.clone();
            let gains = studio_edge_color::white_balance::WhiteBalance::Auto
                .gains(&image)
                .unwrap();
            image.scale(gains);
            image
        })
    });
    group.bench_function("step LUT mix-33 tetrahedral/native", |b| {
        b.iter(|| {
            let mut image = decoded.clone();
            pipeline::apply_lut(&mut image, assets.lut.as_ref().unwrap(), ops.interpolation);
            image
        })
    });
    group.bench_function("step encode JPEG q90/native", |b| {
        b.iter(|| imaging::encode(&decoded.to_rgba8(), imaging::Format::Jpeg, 90).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
