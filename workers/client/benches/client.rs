//! The client package's work on one 640x480 camera frame, natively:
//!
//! ```text
//! CARGO_TARGET_DIR=target-client cargo bench -p studio-edge-client
//! ```
//!
//! (The same calls in the browser: `workers/client/web/bench.html`, see the
//! crate README.)

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use studio_edge_client::region::{Frame, Region};
use studio_edge_client::{overlay, shade, skin_finder, synthetic, tryon};
use studio_edge_colorimetry::lab::Lab;

const W: u32 = 640;
const H: u32 = 480;

fn bench(c: &mut Criterion) {
    let skin = Lab {
        l: 62.0,
        a: 16.0,
        b: 20.0,
    };
    let rgba = synthetic::skin_on_wall(W, H, skin, [1.2, 1.0, 0.75]);
    let frame_ref = Frame::new(&rgba, W, H).unwrap();
    let shades = shade::parse_shades(
        r#"[{"name":"Ivory","lab":[78,6,16]},{"name":"Sand","lab":[68,12,22]},
            {"name":"Honey","lab":[62,16,24]},{"name":"Caramel","lab":[52,18,26]},
            {"name":"Espresso","lab":[35,12,16]}]"#,
    )
    .unwrap();
    let cheek = Region::parse(r#"{"shape":"ellipse","cx":400,"cy":240,"w":96,"h":96,"skin":true}"#)
        .unwrap();
    let face = Region::parse(r#"{"shape":"ellipse","cx":400,"cy":240,"w":240,"h":320}"#).unwrap();
    let frame_skin = Region::parse(r#"{"shape":"frame","skin":true}"#).unwrap();
    let rose = Lab {
        l: 55.0,
        a: 30.0,
        b: 12.0,
    };
    c.bench_function("match_shades cheek 640x480", |b| {
        b.iter(|| shade::match_shades(&frame_ref, black_box(&cheek), &shades).unwrap())
    });
    c.bench_function("match_shades frame skin mask 640x480", |b| {
        b.iter(|| shade::match_shades(&frame_ref, black_box(&frame_skin), &shades).unwrap())
    });
    c.bench_function("find_skin 640x480", |b| {
        b.iter(|| skin_finder::find_skin(black_box(&frame_ref)).unwrap())
    });
    let mut out = rgba.clone();
    c.bench_function("try_on face ellipse 640x480", |b| {
        b.iter(|| {
            out.copy_from_slice(&rgba);
            tryon::try_on(&mut out, W, H, &face, rose, 0.6).unwrap()
        })
    });
    let tag = [240u8, 240, 240, 220].repeat(160 * 60);
    let tag = Frame::new(&tag, 160, 60).unwrap();
    c.bench_function("compose_overlay 160x60 on 640x480", |b| {
        b.iter(|| overlay::compose_overlay(&mut out, (W, H), &tag, (460, 400), 0.9).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
