//! Where the colour worker's time goes on a capture pipeline's working
//! frame (640x360, handed over as PAM) and on a 1920x1080 JPEG, natively
//! and in wasm:
//!
//! ```text
//! cargo run --release -p studio-edge-color --example steps -- ../shared/fixtures
//! cargo build --release --target wasm32-wasip2 -p studio-edge-color --example steps
//! .tools/wasmtime/wasmtime run --dir ../shared/fixtures --dir workers/color/assets \
//!     target/wasm32-wasip2/release/examples/steps.wasm ../shared/fixtures workers/color/assets
//! ```
//!
//! It prints the median of several runs of each step. The criterion
//! benchmark (`benches/color.rs`) measures whole calls through the host.

use std::time::Duration;

use studio_edge_color::assets::{Assets, Sources, Uploads};
use studio_edge_color::image::LinearImage;
use studio_edge_color::imaging::testing::median_time;
use studio_edge_color::imaging::{Filter, Format, Limits, SourceRect, decode, encode, resize};
use studio_edge_color::lut::Lut3d;
use studio_edge_color::ops::ColorOps;
use studio_edge_color::pipeline;
use studio_edge_color::white_balance::WhiteBalance;

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let fixtures = args
        .next()
        .unwrap_or_else(|| "../shared/fixtures".to_owned());
    let assets_dir = args
        .next()
        .unwrap_or_else(|| "workers/color/assets".to_owned());
    let photo = std::fs::read(format!("{fixtures}/photos/motorcycle_left.png")).expect("photo");
    let photo = decode(&photo, &Limits::default()).expect("decodes").image;
    let sized = |w, h| resize(&photo, SourceRect::full(&photo), w, h, Filter::Lanczos3);
    let cube = std::fs::read_to_string(format!("{assets_dir}/luts/warm.cube")).expect("warm.cube");
    let lut = Lut3d::parse_cube(&cube).expect("parses");
    let frames = [
        (
            "640x360 PAM",
            encode(&sized(640, 360), Format::Pam, 0).unwrap(),
        ),
        (
            "1920x1080 JPEG q85",
            encode(&sized(1920, 1080), Format::Jpeg, 85).unwrap(),
        ),
    ];
    for (name, bytes) in &frames {
        println!("{name}:");
        let limits = Limits::default();
        let decoded = decode(bytes, &limits).unwrap().image;
        println!(
            "  decode                     {}",
            ms(median_time(9, || decode(bytes, &limits)))
        );
        let linear = LinearImage::from_rgba8(&decoded);
        println!(
            "  to linear (whole image)    {}",
            ms(median_time(9, || LinearImage::from_rgba8(&decoded)))
        );
        println!(
            "  wb=auto gains              {}",
            ms(median_time(9, || WhiteBalance::Auto.gains(&linear)))
        );
        println!(
            "  parse warm.cube            {}",
            ms(median_time(9, || Lut3d::parse_cube(&cube)))
        );
        for ops in [
            "",
            "wb=auto",
            "lut=warm",
            "wb=auto&lut=warm",
            "wb=auto&ev=skin&lut=warm&format=jpeg",
        ] {
            let parsed = ColorOps::parse(ops).unwrap();
            let assets = Assets {
                lut: parsed.lut.as_ref().map(|_| lut.clone()),
                ..Assets::resolve(&ColorOps::default(), Uploads::default(), Sources::default())
                    .unwrap()
            };
            let time = median_time(9, || {
                pipeline::correct(bytes, &parsed, &assets, &limits).unwrap()
            });
            println!("  correct {:<34} {}", format!("{ops:?}"), ms(time));
        }
    }
}
