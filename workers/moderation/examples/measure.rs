//! Timings of the moderation hints on a 1920x1080 JPEG frame and of a
//! 100,000-entry blocklist lookup, the same code natively and in wasm:
//!
//! ```text
//! cargo run --release -p studio-edge-moderation --example measure -- ../shared/fixtures
//! cargo build --release --target wasm32-wasip2 -p studio-edge-moderation --example measure
//! wasmtime run -Scli --dir ../shared/fixtures target/wasm32-wasip2/release/examples/measure.wasm ../shared/fixtures
//! ```
//!
//! It prints the median of several runs for each step. The criterion
//! benchmark (`benches/moderation.rs`) measures the same through the host's
//! typed calls; this one needs no host and shows where the time goes.

use std::time::{Duration, Instant};

use studio_edge_moderation::imaging::image::RgbaImage;
use studio_edge_moderation::imaging::{Format, Limits, encode};
use studio_edge_moderation::{
    Blocklist, Hash256, ModerationConfig, decode_pixels, finder, moderate, moderate_rgba, pdq,
    signals,
};

fn median_of<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn main() {
    let fixtures = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/fixtures".to_owned());
    let tile_bytes = std::fs::read(format!("{fixtures}/photos/coffee.png")).expect("coffee.png");
    let tile = decode_pixels(&tile_bytes, &Limits::default()).expect("decodes");
    let frame = RgbaImage::from_fn(1920, 1080, |x, y| {
        *tile.get_pixel(x % tile.width(), y % tile.height())
    });
    let jpeg = encode(&frame, Format::Jpeg, 85).expect("encodes");
    let config = ModerationConfig::default();
    let empty = Blocklist::default();
    let (w, h) = (1920usize, 1080usize);

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
        "decode 1080p JPEG",
        median_of(runs, || decode_pixels(&jpeg, &Limits::default()).unwrap()),
    );
    report(
        "luma",
        median_of(runs, || pdq::luma_from_rgba(frame.as_raw())),
    );
    report(
        "PDQ (from luma, 8 variants)",
        median_of(runs, || pdq::hash_luma(&mut luma.clone(), w, h)),
    );
    report(
        "exposure + black",
        median_of(runs, || signals::exposure(&luma, 0.1)),
    );
    let working = signals::WorkingPlane::new(&luma, w, h);
    report(
        "working plane (1024 px)",
        median_of(runs, || signals::WorkingPlane::new(&luma, w, h)),
    );
    report(
        "blur (Laplacian variance)",
        median_of(runs, || working.sharpness()),
    );
    report(
        "skin coverage",
        median_of(runs, || signals::skin_coverage(frame.as_raw(), w, h)),
    );
    let plane: Vec<u8> = working.luma.iter().map(|&y| y.round() as u8).collect();
    let patterns = finder::finder_patterns(&plane, working.width, working.height);
    report(
        &format!("QR finder screen ({} patterns)", patterns.len()),
        median_of(runs, || {
            finder::finder_patterns(&plane, working.width, working.height)
        }),
    );
    report(
        "QR detection (working plane)",
        median_of(runs, || working.qr_payloads()),
    );
    report(
        "QR detection (full 1080p)",
        median_of(runs, || signals::qr_payloads(&luma, w, h)),
    );
    report(
        "all hints from pixels",
        median_of(runs, || {
            moderate_rgba(frame.as_raw(), 1920, 1080, &config, None, &empty)
        }),
    );
    report(
        "all hints from JPEG",
        median_of(runs, || {
            moderate(&jpeg, &Limits::default(), &config, None, &empty).unwrap()
        }),
    );
    report(
        "blocklist 100k lookup",
        median_of(runs, || {
            blocklist.find(&frame_hashes, config.match_distance)
        }),
    );
    report(
        "blocklist 100k unpack + lookup",
        median_of(runs, || {
            Blocklist::from_packed(&packed)
                .unwrap()
                .find(&frame_hashes, config.match_distance)
        }),
    );
}
