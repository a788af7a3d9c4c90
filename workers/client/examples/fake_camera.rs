//! Writes a fake camera for Chromium (`--use-file-for-fake-video-capture`):
//! a one-frame Y4M (4:2:0, BT.601 studio range) of a photo with a skin
//! patch of known CIELAB, all under a colour cast (see
//! `synthetic::skin_on_photo`). Prints the patch region as JSON.
//!
//!     cargo run -p studio-edge-client --example fake_camera -- \
//!         PHOTO OUT.y4m WIDTHxHEIGHT L,a,b R,G,B
//!
//! e.g. `../shared/fixtures/photos/astronaut.png target/cam.y4m 640x480
//! 62,14,18 1.0,0.85,0.62` (a warm light).

use std::io::Write;

use image::imageops::FilterType;
use studio_edge_client::region::Frame;
use studio_edge_client::synthetic::{skin_on_photo, skin_patch};
use studio_edge_colorimetry::lab::Lab;

fn numbers<const N: usize>(text: &str, separator: char) -> [f64; N] {
    let values: Vec<f64> = text
        .split(separator)
        .map(|v| v.trim().parse().expect("a number"))
        .collect();
    values
        .try_into()
        .unwrap_or_else(|_| panic!("{text}: expected {N} numbers"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [photo, out, size, lab, cast] = &args[..] else {
        eprintln!("usage: fake_camera PHOTO OUT.y4m WIDTHxHEIGHT L,a,b R,G,B");
        std::process::exit(2);
    };
    let [w, h] = numbers::<2>(size, 'x').map(|v| v as u32);
    let [l, a, b] = numbers::<3>(lab, ',');
    let cast = numbers::<3>(cast, ',').map(|v| v as f32);
    let photo = image::open(photo)
        .expect("a readable photo")
        .resize_to_fill(w, h, FilterType::Lanczos3)
        .to_rgba8();
    let frame = Frame::new(photo.as_raw(), w, h).expect("a whole frame");
    let rgba = skin_on_photo(&frame, Lab { l, a, b }, cast);
    let mut file = std::io::BufWriter::new(std::fs::File::create(out).expect("a writable file"));
    write!(file, "YUV4MPEG2 W{w} H{h} F30:1 Ip A1:1 C420jpeg\nFRAME\n").unwrap();
    file.write_all(&i420(&rgba, w as usize, h as usize))
        .unwrap();
    file.flush().unwrap();
    println!(
        "{}",
        serde_json::to_string(&skin_patch(w, h)).expect("plain data")
    );
}

/// BT.601 studio-range Y'CbCr, chroma averaged over 2x2 blocks.
fn i420(rgba: &[u8], w: usize, h: usize) -> Vec<u8> {
    let ycc = |i: usize| {
        let [r, g, b] = [0, 1, 2].map(|c| f64::from(rgba[4 * i + c]));
        let y = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0;
        let cb = 128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0;
        let cr = 128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0;
        [y, cb, cr]
    };
    let mut planes = Vec::with_capacity(w * h * 3 / 2);
    planes.extend((0..w * h).map(|i| ycc(i)[0].round() as u8));
    for plane in [1, 2] {
        for y in (0..h).step_by(2) {
            for x in (0..w).step_by(2) {
                let block = [(x, y), (x + 1, y), (x, y + 1), (x + 1, y + 1)];
                let sum: f64 = block
                    .iter()
                    .map(|&(bx, by)| ycc(by.min(h - 1) * w + bx.min(w - 1))[plane])
                    .sum();
                planes.push((sum / 4.0).round() as u8);
            }
        }
    }
    planes
}
