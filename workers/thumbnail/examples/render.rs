//! Renders one thumbnail natively and reports how long it took.
//!
//! ```text
//! cargo run --release -p studio-edge-thumbnail --example render -- \
//!     photo.jpg 'w=320&format=jpeg&q=80' thumb.jpg [repeat]
//! ```
//!
//! With `repeat`, the render runs that many times and the median and
//! fastest times are printed (single-threaded, source already in memory).

use std::time::{Duration, Instant};

use studio_edge_thumbnail::{Limits, parse_options, render};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, options, output, rest @ ..] = &args[..] else {
        anyhow::bail!("usage: render <input> <options> <output> [repeat]");
    };
    let repeat: usize = rest.first().map_or(Ok(1), |n| n.parse())?;
    let source = std::fs::read(input)?;
    let spec = parse_options(options)?;
    let limits = Limits::default();
    let mut times: Vec<Duration> = Vec::with_capacity(repeat);
    let mut rendered = None;
    for _ in 0..repeat.max(1) {
        let start = Instant::now();
        rendered = Some(render(&source, &spec, &limits)?);
        times.push(start.elapsed());
    }
    let rendered = rendered.expect("rendered at least once");
    std::fs::write(output, &rendered.bytes)?;
    times.sort();
    println!(
        "{}x{} {} ({} bytes): median {:.2} ms, fastest {:.2} ms over {} runs",
        rendered.width,
        rendered.height,
        rendered.format,
        rendered.bytes.len(),
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times.len()
    );
    Ok(())
}
