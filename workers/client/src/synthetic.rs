//! Synthetic frames of known colour, for the tests (native and in the
//! browser) and the benchmarks.

use studio_edge_colorimetry::lab::{self, Lab};
use studio_edge_colorimetry::transfer::{decode_table, encode_u8};

use crate::region::{Frame, Region, Shape};

/// A `width` x `height` RGBA frame: a light grey wall (linear 0.45,
/// brighter than the skin, as walls and shirts usually are: what the
/// white-balance estimate starts from) with a rectangle of `skin`
/// ([`skin_patch`]), both with a little texture, a few specular highlights
/// on the skin, everything lit by a light of `cast` (per-channel gains in
/// linear light).
pub fn skin_on_wall(width: u32, height: u32, skin: Lab, cast: [f32; 3]) -> Vec<u8> {
    compose(width, height, skin, cast, |x, y| [0.45 * texture(x, y); 3])
}

/// As [`skin_on_wall`], with the RGBA `photo` (the frame's size) as the
/// background instead of the wall: a fake camera's scene.
pub fn skin_on_photo(photo: &Frame, skin: Lab, cast: [f32; 3]) -> Vec<u8> {
    let table = decode_table();
    compose(
        photo.width as u32,
        photo.height as u32,
        skin,
        cast,
        |x, y| {
            let [r, g, b, _] = photo.pixel(x as usize, y as usize);
            [table[r as usize], table[g as usize], table[b as usize]]
        },
    )
}

fn texture(x: u32, y: u32) -> f32 {
    1.0 + 0.03 * (((x * 7 + y * 13) % 5) as f32 - 2.0)
}

fn compose(
    width: u32,
    height: u32,
    skin: Lab,
    cast: [f32; 3],
    background: impl Fn(u32, u32) -> [f32; 3],
) -> Vec<u8> {
    let skin = lab::lab_to_linear_srgb(skin).map(|c| c as f32);
    let (xs, ys) = patch_bounds(width, height);
    let mut rgba = Vec::with_capacity(4 * width as usize * height as usize);
    for y in 0..height {
        for x in 0..width {
            let base = match (
                xs.contains(&x) && ys.contains(&y),
                (x * 31 + y * 17) % 41 == 0,
            ) {
                (true, true) => [0.9; 3],
                (true, false) => skin.map(|c| c * texture(x, y)),
                (false, _) => background(x, y),
            };
            let lit: [f32; 3] = std::array::from_fn(|c| base[c] * cast[c]);
            rgba.extend(lit.map(encode_u8));
            rgba.push(255);
        }
    }
    rgba
}

/// The skin rectangle of [`skin_on_wall`]: x from 3/8 to 7/8 of the width,
/// y from 1/6 to 5/6 of the height.
pub fn skin_patch(width: u32, height: u32) -> Region {
    let (xs, ys) = patch_bounds(width, height);
    Region {
        shape: Shape::Rect {
            x: f64::from(xs.start),
            y: f64::from(ys.start),
            w: f64::from(xs.end - xs.start),
            h: f64::from(ys.end - ys.start),
        },
        skin: false,
    }
}

fn patch_bounds(width: u32, height: u32) -> (std::ops::Range<u32>, std::ops::Range<u32>) {
    (width * 3 / 8..width * 7 / 8, height / 6..height * 5 / 6)
}
