//! `gravity=smart`: the crop window with the most "interest" (edges and
//! saturated colour, as libvips' attention strategy weighs them), found on a
//! small copy of the image with a summed-area table.

use studio_edge_imaging::image::RgbaImage;
use studio_edge_imaging::{Filter, SourceRect, resize};

use crate::geometry::Rect;
use crate::options::FocalPoint;

/// The saliency map's longer side, in cells.
const MAP_SIZE: u32 = 96;

/// The focal point (relative to `region`) of the most salient window of
/// `window` size inside `region`; all in the coordinates of `image`.
pub fn focal_point(image: &RgbaImage, region: Rect, window: (f64, f64)) -> FocalPoint {
    let longest = region.width.max(region.height);
    let cell = (longest / f64::from(MAP_SIZE)).max(1.0);
    let map_w = ((region.width / cell).round() as u32).max(1);
    let map_h = ((region.height / cell).round() as u32).max(1);
    let small = resize(
        image,
        SourceRect {
            left: region.left,
            top: region.top,
            width: region.width,
            height: region.height,
        },
        map_w,
        map_h,
        Filter::Bilinear,
    );
    let (w, h) = (map_w as usize, map_h as usize);
    let interest = interest_map(&small);
    // Summed-area table with a zero row and column in front.
    let mut table = vec![0.0f64; (w + 1) * (h + 1)];
    for y in 0..h {
        let mut row = 0.0;
        for x in 0..w {
            row += interest[y * w + x];
            table[(y + 1) * (w + 1) + x + 1] = table[y * (w + 1) + x + 1] + row;
        }
    }
    let sum = |x: usize, y: usize, ww: usize, wh: usize| {
        table[(y + wh) * (w + 1) + x + ww]
            - table[y * (w + 1) + x + ww]
            - table[(y + wh) * (w + 1) + x]
            + table[y * (w + 1) + x]
    };
    let win_w = ((window.0 / region.width * w as f64).round() as usize).clamp(1, w);
    let win_h = ((window.1 / region.height * h as f64).round() as usize).clamp(1, h);
    let (mut best, mut best_xy) = (f64::NEG_INFINITY, (0, 0));
    let (centre_x, centre_y) = ((w - win_w) as f64 / 2.0, (h - win_h) as f64 / 2.0);
    for y in 0..=h - win_h {
        for x in 0..=w - win_w {
            // A slight pull towards the centre breaks ties in flat images.
            let distance = (x as f64 - centre_x).abs() + (y as f64 - centre_y).abs();
            let score = sum(x, y, win_w, win_h) - distance * 1e-6;
            if score > best {
                best = score;
                best_xy = (x, y);
            }
        }
    }
    let fx = (best_xy.0 as f64 + win_w as f64 / 2.0) / w as f64;
    let fy = (best_xy.1 as f64 + win_h as f64 / 2.0) / h as f64;
    FocalPoint::new(fx.clamp(0.0, 1.0) as f32, fy.clamp(0.0, 1.0) as f32).expect("clamped to 0..=1")
}

/// Per cell: luma gradient magnitude plus saturation (max - min channel).
fn interest_map(image: &RgbaImage) -> Vec<f64> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let luma: Vec<f64> = image
        .pixels()
        .map(|p| 0.299 * f64::from(p.0[0]) + 0.587 * f64::from(p.0[1]) + 0.114 * f64::from(p.0[2]))
        .collect();
    let at = |x: usize, y: usize| luma[y.min(h - 1) * w + x.min(w - 1)];
    image
        .pixels()
        .enumerate()
        .map(|(i, p)| {
            let (x, y) = (i % w, i / w);
            let gx = at(x + 1, y) - at(x.saturating_sub(1), y);
            let gy = at(x, y + 1) - at(x, y.saturating_sub(1));
            let [r, g, b, _] = p.0;
            let saturation = f64::from(r.max(g).max(b) - r.min(g).min(b));
            (gx * gx + gy * gy).sqrt() + 0.5 * saturation
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use studio_edge_imaging::image::Rgba;

    #[test]
    fn finds_the_busy_corner() {
        // Flat grey with a red-and-white checkerboard in the lower right.
        let image = RgbaImage::from_fn(400, 200, |x, y| {
            if x >= 300 && y >= 100 {
                if (x / 10 + y / 10) % 2 == 0 {
                    Rgba([255, 0, 0, 255])
                } else {
                    Rgba([255, 255, 255, 255])
                }
            } else {
                Rgba([128, 128, 128, 255])
            }
        });
        let region = Rect {
            left: 0.0,
            top: 0.0,
            width: 400.0,
            height: 200.0,
        };
        let point = focal_point(&image, region, (100.0, 100.0));
        assert!(point.x() > 0.8 && point.y() > 0.6, "{point:?}");
    }

    #[test]
    fn flat_image_stays_centred() {
        let image = RgbaImage::from_pixel(300, 100, Rgba([50, 60, 70, 255]));
        let region = Rect {
            left: 0.0,
            top: 0.0,
            width: 300.0,
            height: 100.0,
        };
        let point = focal_point(&image, region, (100.0, 100.0));
        assert!((point.x() - 0.5).abs() < 0.02 && (point.y() - 0.5).abs() < 0.02);
    }
}
