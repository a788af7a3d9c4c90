//! Auto skin-find: where the skin is in a frame, as an ellipse region to
//! match shades in and to place the try-on preview on.
//!
//! The frame is white-balanced as for matching ([`white_balance_gains`]),
//! then sampled on a grid of at most [`GRID_LONG_SIDE`] points along its
//! longer side; a point is skin when its white-balanced colour passes the
//! shared skin-tone test. With at least [`MIN_COVERAGE`] of the points
//! skin, the answer is the ellipse centred on the median skin point whose
//! width and height are the spans from the 10th to the 90th percentile of
//! the skin points' x and y, with `"skin": true` (so the matching and the
//! tint keep to the skin inside it).

use serde::Serialize;
use studio_edge_colorimetry::skin;
use studio_edge_colorimetry::transfer;

use crate::ClientError;
use crate::region::{Frame, Region, Shape};
use crate::shade::white_balance_gains;

/// Grid points along the longer side.
pub const GRID_LONG_SIDE: usize = 160;
/// The smallest fraction of grid points that must be skin.
pub const MIN_COVERAGE: f64 = 0.01;

/// Found skin: the region and the fraction of the frame that is skin.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SkinArea {
    #[serde(flatten)]
    pub region: Region,
    pub coverage: f64,
}

/// The skin area of `frame`, or `None` when too little of it is skin.
pub fn find_skin(frame: &Frame) -> Result<Option<SkinArea>, ClientError> {
    let gains = white_balance_gains(frame)?;
    let table = transfer::decode_table();
    let step = frame
        .width
        .max(frame.height)
        .div_ceil(GRID_LONG_SIDE)
        .max(1);
    let (mut xs, mut ys, mut total) = (Vec::new(), Vec::new(), 0usize);
    for y in (0..frame.height).step_by(step) {
        for x in (0..frame.width).step_by(step) {
            total += 1;
            let [r, g, b, a] = frame.pixel(x, y);
            let p = [
                table[r as usize] * gains[0],
                table[g as usize] * gains[1],
                table[b as usize] * gains[2],
            ];
            if a > 0 && skin::is_skin_linear(p) {
                xs.push(x);
                ys.push(y);
            }
        }
    }
    let coverage = xs.len() as f64 / total as f64;
    if coverage < MIN_COVERAGE {
        return Ok(None);
    }
    let (cx, w) = centre_and_span(&mut xs, step);
    let (cy, h) = centre_and_span(&mut ys, step);
    Ok(Some(SkinArea {
        region: Region {
            shape: Shape::Ellipse { cx, cy, w, h },
            skin: true,
        },
        coverage,
    }))
}

/// The median (at the pixel's centre) and the 10th-90th percentile span
/// of grid coordinates, at least one grid step wide.
fn centre_and_span(values: &mut [usize], step: usize) -> (f64, f64) {
    values.sort_unstable();
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize] as f64;
    (at(0.5) + 0.5, (at(0.9) - at(0.1)).max(step as f64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::skin_on_wall;
    use studio_edge_colorimetry::lab::Lab;

    #[test]
    fn finds_the_skin_patch_under_a_cast() {
        let skin = Lab {
            l: 62.0,
            a: 16.0,
            b: 20.0,
        };
        let rgba = skin_on_wall(64, 48, skin, [1.2, 1.0, 0.75]);
        let area = find_skin(&Frame::new(&rgba, 64, 48).unwrap())
            .unwrap()
            .unwrap();
        let Shape::Ellipse { cx, cy, w, h } = area.region.shape else {
            panic!("{area:?}");
        };
        // The patch is x 24..56, y 8..40.
        assert!(
            (cx - 40.0).abs() <= 1.5 && (cy - 24.0).abs() <= 1.5,
            "{area:?}"
        );
        assert!(
            (24.0..=28.0).contains(&w) && (24.0..=28.0).contains(&h),
            "{area:?}"
        );
        assert!((area.coverage - 1024.0 / 3072.0).abs() < 0.03, "{area:?}");
        let json = serde_json::to_string(&area).unwrap();
        assert_eq!(Region::parse(&json).unwrap(), area.region);
    }

    #[test]
    fn a_grey_frame_has_no_skin() {
        let grey = [128u8, 128, 128, 255].repeat(32 * 24);
        assert_eq!(
            find_skin(&Frame::new(&grey, 32, 24).unwrap()).unwrap(),
            None
        );
    }
}
