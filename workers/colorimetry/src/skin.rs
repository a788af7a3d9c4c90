//! The skin-tone test: a box in CIELAB (D65, from sRGB).
//!
//! The moderation worker counts the pixels in it (`skin-tone` hints) and
//! the client package uses it to find skin for shade matching and try-on.
//! (The colour worker's skin-aware exposure meters on a wider YCbCr box of
//! its own, `exposure::is_skin_tone`, that also takes wood and sand.)

use crate::lab::{self, Lab};

/// The CIELAB box a pixel must fall in to count as skin-toned (D65, from
/// sRGB). It holds the skin patches of the ColorChecker (dark skin
/// L*38 a*14 b*14, light skin L*66 a*18 b*18) and typical skin across
/// tones, and excludes greys (a* < 8), sand, wood and yellows (b* more
/// than twice a*), and saturated oranges (b* > 40).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct SkinRange {
    pub lightness: (f64, f64),
    pub a: (f64, f64),
    pub b: (f64, f64),
    /// b* must not exceed `max_b_over_a` times a* (yellows are not skin).
    pub max_b_over_a: f64,
}

/// The documented default skin range: L* 20-90, a* 8-35, b* 6-40,
/// b* <= 2 a*.
pub const SKIN_RANGE: SkinRange = SkinRange {
    lightness: (20.0, 90.0),
    a: (8.0, 35.0),
    b: (6.0, 40.0),
    max_b_over_a: 2.0,
};

/// Whether a CIELAB colour is in `range`.
pub fn is_skin(lab: Lab, range: &SkinRange) -> bool {
    let within = |v: f64, (lo, hi): (f64, f64)| (lo..=hi).contains(&v);
    within(lab.l, range.lightness)
        && within(lab.a, range.a)
        && within(lab.b, range.b)
        && lab.b <= range.max_b_over_a * lab.a
}

/// A necessary condition for [`SKIN_RANGE`] on CIE XYZ (D65), without cube
/// roots: a* > 0 needs X/Xn > Y/Yn and b* > 0 needs Y/Yn > Z/Zn (the
/// CIELAB `f` is increasing), so a colour failing it is not skin; most
/// non-skin pixels are rejected here.
pub fn may_be_skin(xyz: [f64; 3]) -> bool {
    let white = lab::xy_to_xyz(lab::D65_XY.0, lab::D65_XY.1);
    let (x, y, z) = (xyz[0] / white[0], xyz[1] / white[1], xyz[2] / white[2]);
    x > y && y > z
}

/// Whether a linear sRGB pixel is skin-toned by [`SKIN_RANGE`].
pub fn is_skin_linear(rgb: [f32; 3]) -> bool {
    let xyz = lab::linear_srgb_to_xyz(rgb.map(f64::from));
    may_be_skin(xyz) && is_skin(lab::xyz_to_lab(xyz), &SKIN_RANGE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transfer::decode_u8;

    fn linear(r: u8, g: u8, b: u8) -> [f32; 3] {
        [decode_u8(r), decode_u8(g), decode_u8(b)]
    }

    #[test]
    fn colorchecker_skin_patches_are_skin_and_greys_are_not() {
        // ColorChecker dark skin and light skin (sRGB).
        assert!(is_skin_linear(linear(115, 82, 68)));
        assert!(is_skin_linear(linear(194, 150, 130)));
        // Neutral grey, sky blue, foliage green, saturated orange.
        for (r, g, b) in [
            (122, 122, 121),
            (98, 122, 157),
            (87, 108, 67),
            (255, 165, 0),
        ] {
            assert!(!is_skin_linear(linear(r, g, b)), "{r} {g} {b}");
        }
        let Lab { l, a, b } = lab::linear_srgb_to_lab(linear(194, 150, 130).map(f64::from));
        assert!((l - 65.7).abs() < 0.5 && (a - 14.1).abs() < 5.0 && (b - 17.8).abs() < 1.0);
    }

    #[test]
    fn the_shortcut_never_rejects_skin() {
        // Every 8-bit colour (on a coarse grid) in the box passes the
        // necessary condition.
        for r in (0..=255u8).step_by(5) {
            for g in (0..=255u8).step_by(5) {
                for b in (0..=255u8).step_by(5) {
                    let xyz = lab::linear_srgb_to_xyz(linear(r, g, b).map(f64::from));
                    if is_skin(lab::xyz_to_lab(xyz), &SKIN_RANGE) {
                        assert!(may_be_skin(xyz), "{r} {g} {b}");
                    }
                }
            }
        }
    }
}
