//! A robust colour of a set of pixels: what `studio-edge shade measure` and
//! the client package's shade matching take as the colour of a region.
//!
//! The rule, in linear light:
//!
//! 1. Only usable pixels count ([`white_balance::usable`], tested before
//!    any gains): a channel at or above 98% is clipped and carries no
//!    colour, a luminance at or below 0.2% is noise.
//! 2. The white-balance gains are applied.
//! 3. Brightness outliers go: a pixel whose natural-log luminance is more
//!    than 3 robust standard deviations from the median is dropped, the
//!    robust standard deviation being 1.4826 times the median absolute
//!    deviation (at least 0.05). That removes specular highlights (far
//!    above the diffuse skin) and shadows such as nostrils or stray hair.
//! 4. Colour outliers go: the same test, in this order, on the
//!    chromaticities r = R / (R + G + B) and then g = G / (R + G + B)
//!    (spread at least 0.005): lips, eyes, bits of background, and any
//!    whitish highlight the first test let through.
//! 5. The colour is the median of each channel over the pixels left (the
//!    mean of the two middle values for an even count).
//!
//! At most [`MAX_SAMPLES`] pixels (an even sample of a larger set) are
//! looked at.
//!
//! [`white_balance::usable`]: crate::white_balance::usable

use crate::image::luminance;
use crate::lab::{self, Lab};
use crate::white_balance::usable;

/// At most this many pixels are looked at: a median over 65,536 pixels
/// spread evenly over a region is the region's.
pub const MAX_SAMPLES: usize = 1 << 16;
/// How many robust standard deviations from the median an inlier may be.
pub const OUTLIER_SIGMAS: f32 = 3.0;
/// The median absolute deviation of a normal distribution times this is
/// its standard deviation.
const MAD_TO_SIGMA: f32 = 1.4826;
/// The smallest spread of the log-luminance test: a flat patch (MAD 0)
/// keeps its noise.
pub const MIN_LOG_LUMINANCE_SPREAD: f32 = 0.05;
/// The smallest spread of the chromaticity tests.
pub const MIN_CHROMATICITY_SPREAD: f32 = 0.005;

/// The robust colour of a region.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Measured {
    /// Linear sRGB, after the gains.
    pub linear: [f32; 3],
    /// The same colour in CIELAB (D65).
    pub lab: Lab,
    /// The pixels the median was taken over.
    pub used: usize,
    /// The pixels looked at and rejected (unusable or outliers).
    pub rejected: usize,
}

/// The robust colour of linear sRGB `pixels` after white-balance `gains`
/// (see the module docs for the rule), or `None` when no pixel is usable.
pub fn robust_colour(pixels: &[[f32; 3]], gains: [f32; 3]) -> Option<Measured> {
    let stride = pixels.len().div_ceil(MAX_SAMPLES).max(1);
    let looked_at = pixels.len().div_ceil(stride);
    let candidates: Vec<[f32; 3]> = pixels
        .iter()
        .step_by(stride)
        .filter(|p| usable(p))
        .map(|p| [p[0] * gains[0], p[1] * gains[1], p[2] * gains[2]])
        .collect();
    if candidates.is_empty() {
        return None;
    }
    let kept = keep_inliers(
        candidates,
        |p| luminance(*p).max(f32::MIN_POSITIVE).ln(),
        MIN_LOG_LUMINANCE_SPREAD,
    );
    let kept = keep_inliers(kept, |p| chromaticity(p, 0), MIN_CHROMATICITY_SPREAD);
    let kept = keep_inliers(kept, |p| chromaticity(p, 1), MIN_CHROMATICITY_SPREAD);
    let linear: [f32; 3] =
        std::array::from_fn(|c| median(&mut kept.iter().map(|p| p[c]).collect::<Vec<_>>()));
    Some(Measured {
        linear,
        lab: lab::linear_srgb_to_lab(linear.map(f64::from)),
        used: kept.len(),
        rejected: looked_at - kept.len(),
    })
}

/// Channel `c`'s share of the pixel's sum.
fn chromaticity(p: &[f32; 3], c: usize) -> f32 {
    let sum = p[0] + p[1] + p[2];
    if sum > 0.0 { p[c] / sum } else { 0.0 }
}

/// The pixels whose `key` is within [`OUTLIER_SIGMAS`] robust standard
/// deviations (at least `min_spread`) of the median key. Never empty for
/// a non-empty input: the median itself is within.
fn keep_inliers(
    pixels: Vec<[f32; 3]>,
    key: impl Fn(&[f32; 3]) -> f32,
    min_spread: f32,
) -> Vec<[f32; 3]> {
    let keys: Vec<f32> = pixels.iter().map(&key).collect();
    let centre = median(&mut keys.clone());
    let mut deviations: Vec<f32> = keys.iter().map(|k| (k - centre).abs()).collect();
    let spread = (MAD_TO_SIGMA * median(&mut deviations)).max(min_spread);
    let limit = OUTLIER_SIGMAS * spread;
    pixels
        .into_iter()
        .zip(keys)
        .filter(|(_, k)| (k - centre).abs() <= limit)
        .map(|(p, _)| p)
        .collect()
}

/// The median of `values` (reordered), the mean of the two middle values
/// for an even count; 0 for none.
fn median(values: &mut [f32]) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    let (count, middle) = (values.len(), values.len() / 2);
    let (below, &mut upper, _) = values.select_nth_unstable_by(middle, f32::total_cmp);
    if count % 2 == 1 {
        upper
    } else {
        let lower = below.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        (lower + upper) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A patch of one colour with a smooth shading and a little texture.
    fn shaded(colour: [f32; 3], n: usize) -> Vec<[f32; 3]> {
        (0..n)
            .map(|i| {
                let shade = 0.85 + 0.3 * (i as f32 / n as f32) + 0.01 * ((i * 7) % 5) as f32;
                colour.map(|c| c * shade)
            })
            .collect()
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
    }

    #[test]
    fn specular_highlights_are_rejected() {
        let skin = [0.45, 0.28, 0.2];
        let mut pixels = shaded(skin, 900);
        // 10% specular highlights: bright and nearly white, not clipped.
        pixels.extend(std::iter::repeat_n([0.93, 0.9, 0.88], 100));
        let measured = robust_colour(&pixels, [1.0; 3]).unwrap();
        assert_eq!(measured.used, 900, "{measured:?}");
        let clean = robust_colour(&shaded(skin, 900), [1.0; 3]).unwrap();
        assert!(lab::ciede2000(measured.lab, clean.lab) < 1e-6);
        // A plain mean would be pulled far off.
        let mean: [f64; 3] = std::array::from_fn(|c| {
            pixels.iter().map(|p| f64::from(p[c])).sum::<f64>() / pixels.len() as f64
        });
        assert!(lab::ciede2000(lab::linear_srgb_to_lab(mean), clean.lab) > 3.0);
    }

    #[test]
    fn clipped_black_and_coloured_outliers_are_rejected() {
        let skin = [0.3, 0.18, 0.12];
        let mut pixels = shaded(skin, 800);
        pixels.extend(std::iter::repeat_n([1.0, 0.7, 0.6], 50)); // clipped red
        pixels.extend(std::iter::repeat_n([0.0005, 0.0004, 0.0003], 50)); // black
        pixels.extend(std::iter::repeat_n([0.25, 0.05, 0.07], 60)); // lips
        pixels.extend(std::iter::repeat_n([0.1, 0.12, 0.2], 40)); // background
        let measured = robust_colour(&pixels, [1.0; 3]).unwrap();
        assert_eq!((measured.used, measured.rejected), (800, 200));
        let clean = robust_colour(&shaded(skin, 800), [1.0; 3]).unwrap();
        assert_eq!(measured.linear, clean.linear);
    }

    #[test]
    fn gains_apply_after_the_clipping_test() {
        let pixels = vec![[0.4, 0.2, 0.1]; 10];
        let measured = robust_colour(&pixels, [0.5, 1.0, 2.0]).unwrap();
        assert_eq!(measured.linear, [0.2, 0.2, 0.2]);
        assert!(measured.lab.a.abs() < 1e-4 && measured.lab.b.abs() < 1e-4);
        assert_eq!(robust_colour(&[[1.0; 3]], [1.0; 3]), None);
    }

    #[test]
    fn large_regions_are_sampled() {
        let pixels = vec![[0.2, 0.1, 0.05]; 3 * MAX_SAMPLES];
        let measured = robust_colour(&pixels, [1.0; 3]).unwrap();
        assert_eq!(measured.used + measured.rejected, MAX_SAMPLES);
    }
}
