//! Try-on: tints a region of a frame with a shade, keeping the texture.
//!
//! The blend, per pixel, in linear light:
//!
//! 1. `Y` = the pixel's luminance.
//! 2. The tinted pixel is the shade's colour scaled to luminance `Y`
//!    (`shade * Y / Y_shade`): the shade's chromaticity with the pixel's
//!    own brightness, so pores, shading and highlights stay. When that
//!    leaves the gamut (a channel above 1), it is desaturated towards the
//!    grey of luminance `Y` until it fits, which keeps `Y`.
//! 3. The output is `pixel + k * (tinted - pixel)` with
//!    `k = strength * weight`: the region's weight (1 inside, fading over
//!    an ellipse's outer 15%), 0 for pixels the skin test rejects when the
//!    region asks for skin. Both ends have luminance `Y`, so the mix does
//!    too: luminance is kept exactly up to the final rounding to 8 bits.
//!
//! A shade outside the sRGB gamut has its negative channels clipped to 0
//! first. Alpha is never changed.

use studio_edge_colorimetry::image::luminance;
use studio_edge_colorimetry::lab::{self, Lab};
use studio_edge_colorimetry::skin;
use studio_edge_colorimetry::transfer;

use crate::ClientError;
use crate::region::{Region, checked_size};

/// A shade prepared for tinting: its linear colour and luminance.
#[derive(Debug, Clone, Copy)]
pub struct Tint {
    colour: [f32; 3],
    luminance: f32,
}

impl Tint {
    /// The tint of a CIELAB (D65) shade, or [`ClientError::BadShades`] for
    /// a black or non-finite one.
    pub fn new(shade: Lab) -> Result<Self, ClientError> {
        let colour = lab::lab_to_linear_srgb(shade).map(|c| c.max(0.0) as f32);
        let luminance = luminance(colour);
        if !(luminance > 0.0 && luminance.is_finite()) {
            return Err(ClientError::BadShades(
                "a try-on shade must be a finite colour brighter than black".into(),
            ));
        }
        Ok(Self { colour, luminance })
    }

    /// The shade's chromaticity at luminance `y`, within gamut.
    #[inline]
    fn at_luminance(&self, y: f32) -> [f32; 3] {
        let scale = y / self.luminance;
        let tinted = self.colour.map(|c| c * scale);
        let peak = tinted[0].max(tinted[1]).max(tinted[2]);
        if peak <= 1.0 || y >= 1.0 {
            return if y >= 1.0 { [1.0; 3] } else { tinted };
        }
        let keep = (1.0 - y) / (peak - y);
        tinted.map(|c| y + keep * (c - y))
    }
}

/// Tints `region` of the `width` x `height` RGBA frame in place with
/// `shade` at `strength` (0..=1; clamped) — see the module docs.
pub fn try_on(
    rgba: &mut [u8],
    width: u32,
    height: u32,
    region: &Region,
    shade: Lab,
    strength: f32,
) -> Result<(), ClientError> {
    let (width, height) = checked_size(rgba.len(), width, height)?;
    let tint = Tint::new(shade)?;
    let strength = if strength.is_nan() {
        0.0
    } else {
        strength.clamp(0.0, 1.0)
    };
    if strength == 0.0 {
        return Ok(());
    }
    let table = transfer::decode_table();
    let (columns, rows) = region.bounds(width, height);
    for y in rows {
        let row = &mut rgba[4 * y * width..4 * (y + 1) * width];
        for x in columns.clone() {
            let k = strength * region.weight(x, y);
            if k <= 0.0 {
                continue;
            }
            let px = &mut row[4 * x..4 * x + 3];
            let p = [
                table[px[0] as usize],
                table[px[1] as usize],
                table[px[2] as usize],
            ];
            if region.skin && !skin::is_skin_linear(p) {
                continue;
            }
            let tinted = tint.at_luminance(luminance(p));
            for c in 0..3 {
                px[c] = transfer::encode_u8(p[c] + k * (tinted[c] - p[c]));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{skin_on_wall, skin_patch};

    const WIDTH: u32 = 64;
    const HEIGHT: u32 = 48;

    fn lum(p: &[u8]) -> f32 {
        luminance([0, 1, 2].map(|c| transfer::decode_u8(p[c])))
    }

    const SKIN: Lab = Lab {
        l: 62.0,
        a: 16.0,
        b: 20.0,
    };
    const ROSE: Lab = Lab {
        l: 55.0,
        a: 30.0,
        b: 12.0,
    };

    #[test]
    fn only_the_region_changes_and_luminance_is_kept() {
        let (w, h) = (WIDTH, HEIGHT);
        let original = skin_on_wall(w, h, SKIN, [1.0; 3]);
        let mut frame = original.clone();
        let region = Region::parse(r#"{"shape":"ellipse","cx":40,"cy":24,"w":24,"h":20}"#).unwrap();
        try_on(&mut frame, w, h, &region, ROSE, 1.0).unwrap();
        let mut changed = 0;
        for y in 0..HEIGHT as usize {
            for x in 0..WIDTH as usize {
                let i = 4 * (y * WIDTH as usize + x);
                let (before, after) = (&original[i..i + 4], &frame[i..i + 4]);
                if !region.contains(x, y) {
                    assert_eq!(before, after, "({x}, {y}) is outside");
                    continue;
                }
                changed += (before != after) as usize;
                assert_eq!(before[3], after[3]);
                // Kept up to the rounding to 8 bits: half a code per
                // channel is at most 0.004 of luminance at these levels.
                let (y0, y1) = (lum(before), lum(after));
                assert!((y1 - y0).abs() <= 0.004, "({x}, {y}): {y0} -> {y1}");
            }
        }
        assert!(changed > 250, "{changed}");
        // Full strength in the middle: the chromaticity is the shade's.
        let i = 4 * (24 * WIDTH as usize + 40);
        let p = [0, 1, 2].map(|c| transfer::decode_u8(frame[i + c]) as f64);
        let got = lab::linear_srgb_to_lab(p);
        let hue = |c: Lab| c.b.atan2(c.a).to_degrees();
        assert!((hue(got) - hue(ROSE)).abs() < 1.5, "{got:?}");
    }

    #[test]
    fn skin_regions_leave_the_rest_and_strength_scales() {
        let (w, h) = (WIDTH, HEIGHT);
        let original = skin_on_wall(w, h, SKIN, [1.0; 3]);
        let mut frame = original.clone();
        let region = Region::parse(r#"{"shape":"frame","skin":true}"#).unwrap();
        try_on(&mut frame, w, h, &region, ROSE, 0.5).unwrap();
        // The wall (top-left) and the highlights are untouched.
        assert_eq!(&frame[..16], &original[..16]);
        let patch = skin_patch(w, h);
        let mut half = original.clone();
        try_on(&mut half, w, h, &patch, ROSE, 0.5).unwrap();
        let mut full = original.clone();
        try_on(&mut full, w, h, &patch, ROSE, 1.0).unwrap();
        let i = 4 * (20 * WIDTH as usize + 30);
        let red = |f: &[u8]| f[i] as i32 - f[i + 1] as i32;
        assert!(red(&original) < red(&half) && red(&half) < red(&full));
        let mut none = original.clone();
        try_on(&mut none, w, h, &patch, ROSE, 0.0).unwrap();
        assert_eq!(none, original);
    }

    #[test]
    fn bright_pixels_stay_in_gamut_with_their_luminance() {
        let tint = Tint::new(ROSE).unwrap();
        for y in [0.01f32, 0.3, 0.8, 0.97] {
            let p = tint.at_luminance(y);
            assert!(p.iter().all(|c| (0.0..=1.0 + 1e-6).contains(c)), "{p:?}");
            assert!((luminance(p) - y).abs() < 1e-5, "{y}: {p:?}");
        }
        assert!(
            Tint::new(Lab {
                l: 0.0,
                a: 0.0,
                b: 0.0
            })
            .is_err()
        );
        let mut frame = vec![0u8; 12];
        assert!(
            try_on(
                &mut frame,
                2,
                2,
                &Region::parse(r#"{"shape":"frame"}"#).unwrap(),
                ROSE,
                1.0
            )
            .is_err()
        );
    }
}
