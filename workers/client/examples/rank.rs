//! The native shade ranking of a frame, the same code the page runs in
//! WebAssembly: reads raw RGBA from a file and prints `match_shades`'s JSON.
//!
//!     cargo run -p studio-edge-client --example rank -- \
//!         FRAME.rgba WIDTH HEIGHT 'REGION-JSON' 'SHADES-JSON'

use studio_edge_client::region::{Frame, Region};
use studio_edge_client::shade;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path, width, height, region, shades] = &args[..] else {
        eprintln!("usage: rank FRAME.rgba WIDTH HEIGHT REGION-JSON SHADES-JSON");
        std::process::exit(2);
    };
    let rgba = std::fs::read(path).expect("a readable frame");
    let run = || -> Result<String, studio_edge_client::ClientError> {
        let frame = Frame::new(
            &rgba,
            width.parse().expect("a width"),
            height.parse().expect("a height"),
        )?;
        let matched = shade::match_shades(
            &frame,
            &Region::parse(region)?,
            &shade::parse_shades(shades)?,
        )?;
        Ok(serde_json::to_string(&matched).expect("plain data"))
    };
    match run() {
        Ok(json) => println!("{json}"),
        Err(error) => {
            eprintln!("rank: {error}");
            std::process::exit(1);
        }
    }
}
