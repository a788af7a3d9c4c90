//! Timings of the moderation hints on a 1920x1080 (or any size) frame and of a
//! 100,000-entry blocklist lookup, the same code natively and in wasm:
//!
//! ```text
//! cargo run --release -p studio-edge-moderation --example measure -- ../shared/fixtures [640x360]
//! cargo build --release --target wasm32-wasip2 -p studio-edge-moderation --example measure
//! wasmtime run -Scli --dir ../shared/fixtures target/wasm32-wasip2/release/examples/measure.wasm ../shared/fixtures
//! ```
//!
//! It prints the median of several runs for each step. The criterion
//! benchmark (`benches/moderation.rs`) measures the same through the host's
//! typed calls; this one needs no host and shows where the time goes.

use std::time::Duration;

use studio_edge_moderation::imaging::image::RgbaImage;
use studio_edge_moderation::imaging::testing::median_time;
use studio_edge_moderation::imaging::{Format, Limits, encode};
use studio_edge_moderation::{
    Blocklist, Hash256, ModerationConfig, decode_pixels, finder, moderate, moderate_rgba, pdq,
    signals,
};

fn main() {
    let fixtures = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/fixtures".to_owned());
    // The frame size, `WxH` (the capture pipeline's working frame: 640x360).
    let size = std::env::args()
        .nth(2)
        .unwrap_or_else(|| "1920x1080".to_owned());
    let (w, h) = size
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse::<usize>().ok()?, h.parse::<usize>().ok()?)))
        .expect("the size is WxH");
    let tile_bytes = std::fs::read(format!("{fixtures}/photos/coffee.png")).expect("coffee.png");
    let tile = decode_pixels(&tile_bytes, &Limits::default()).expect("decodes");
    let frame = RgbaImage::from_fn(w as u32, h as u32, |x, y| {
        *tile.get_pixel(x % tile.width(), y % tile.height())
    });
    let jpeg = encode(&frame, Format::Jpeg, 85).expect("encodes");
    let config = ModerationConfig::default();
    let empty = Blocklist::default();

    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let hashes = (0..100_000)
        .map(|_| {
            let mut bytes = [0u8; 32];
            for chunk in bytes.chunks_exact_mut(8) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                chunk.copy_from_slice(&state.to_be_bytes());
            }
            Hash256::from_bytes(&bytes)
        })
        .collect();
    let blocklist = Blocklist::from_hashes(hashes);
    let packed = blocklist.to_packed();
    let frame_hashes = pdq::hash_rgba(frame.as_raw(), w, h);

    let runs = 9;
    let report = |name: &str, d: Duration| println!("{name:40} {:8.2} ms", d.as_secs_f64() * 1e3);
    let luma = pdq::luma_from_rgba(frame.as_raw());
    report(
        &format!("decode {size} JPEG"),
        median_time(runs, || decode_pixels(&jpeg, &Limits::default()).unwrap()),
    );
    report(
        "luma",
        median_time(runs, || pdq::luma_from_rgba(frame.as_raw())),
    );
    report(
        "PDQ (from luma, 8 variants)",
        median_time(runs, || pdq::hash_luma(&mut luma.clone(), w, h)),
    );
    report(
        "exposure + black",
        median_time(runs, || signals::exposure(&luma, 0.1)),
    );
    let working = signals::WorkingPlane::new(&luma, w, h);
    report(
        "working plane (1024 px)",
        median_time(runs, || signals::WorkingPlane::new(&luma, w, h)),
    );
    report(
        "blur (Laplacian variance)",
        median_time(runs, || working.sharpness()),
    );
    report(
        "skin coverage",
        median_time(runs, || signals::skin_coverage(frame.as_raw(), w, h)),
    );
    let plane: Vec<u8> = working.luma.iter().map(|&y| y.round() as u8).collect();
    let patterns = finder::finder_patterns(&plane, working.width, working.height);
    report(
        &format!("QR finder screen ({} patterns)", patterns.len()),
        median_time(runs, || {
            finder::finder_patterns(&plane, working.width, working.height)
        }),
    );
    report(
        "QR detection (working plane)",
        median_time(runs, || working.qr_payloads()),
    );
    report(
        "QR detection (full frame)",
        median_time(runs, || signals::qr_payloads(&luma, w, h)),
    );
    report(
        "all hints from pixels",
        median_time(runs, || {
            moderate_rgba(frame.as_raw(), w as u32, h as u32, &config, None, &empty)
        }),
    );
    report(
        "all hints from JPEG",
        median_time(runs, || {
            moderate(&jpeg, &Limits::default(), &config, None, &empty).unwrap()
        }),
    );
    report(
        "blocklist 100k lookup",
        median_time(runs, || {
            blocklist.find(&frame_hashes, config.match_distance)
        }),
    );
    report(
        "blocklist 100k unpack + lookup",
        median_time(runs, || {
            Blocklist::from_packed(&packed)
                .unwrap()
                .find(&frame_hashes, config.match_distance)
        }),
    );
}
