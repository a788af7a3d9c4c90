//! White balance: estimate the colour of the light and divide it out, as
//! per-channel gains in linear light (von Kries scaling in sRGB primaries).
//!
//! Gains are normalised so that green is 1: white balance changes the
//! colour, not the brightness, and exposure is a separate step.
//!
//! Estimators look only at usable pixels: visible, no channel at or above
//! 98% (clipped highlights carry no colour), and luminance above 0.2%
//! (the noise floor).

use crate::image::{Histogram, LinearImage, luminance};
use crate::lab;

/// How to choose the white-balance gains.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WhiteBalance {
    /// Grey-pixel search: the average of the pixels that are nearly
    /// neutral, found iteratively (see [`neutral_pixel_gains`]). The most
    /// robust estimator here on scenes dominated by one colour.
    Auto,
    /// The average scene colour is grey (Buchsbaum 1980).
    GrayWorld,
    /// The brightest surfaces are white: per-channel `percentile`
    /// (0.5..=1, default 0.99) of usable pixels.
    WhitePatch { percentile: f32 },
    /// Minkowski p-norm of each channel (Finlayson & Trezzi 2004); p 1 is
    /// grey-world, large p tends to white-patch. p in 1..=16, default 6.
    ShadesOfGray { p: f32 },
    /// Explicit gains, each 0.1..=10.
    Gains([f32; 3]),
    /// The light was a blackbody/daylight source of `kelvin` (1667..=25000)
    /// and `tint` (-100..=100; positive removes green, i.e. adds magenta):
    /// correct it to D65.
    Temperature { kelvin: f32, tint: f32 },
}

/// Why no gains could be estimated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WhiteBalanceError {
    #[error("white balance: the image has no usable pixels (all transparent, clipped or black)")]
    NoUsablePixels,
}

/// The grey-pixel search looks at about this many pixels at most.
const SEARCH_SAMPLES: usize = 1 << 16;
const CLIPPED: f32 = 0.98;
const NOISE_FLOOR: f32 = 0.002;
/// Estimated gains are limited to this range: beyond it the estimate is
/// more likely a wrong guess (a scene full of one colour) than a light.
const MAX_ESTIMATED_GAIN: f32 = 4.0;

/// Whether a linear pixel carries the colour of its surface: no channel at
/// or above 98% (clipped), luminance above 0.2% (the noise floor).
pub fn usable(p: &[f32; 3]) -> bool {
    p.iter().all(|&c| c < CLIPPED) && luminance(*p) > NOISE_FLOOR
}

impl WhiteBalance {
    /// The per-channel gains this method gives for `image`.
    pub fn gains(&self, image: &LinearImage) -> Result<[f32; 3], WhiteBalanceError> {
        match *self {
            Self::Auto => neutral_pixel_gains(image),
            Self::GrayWorld => estimate_gains(image, |values| minkowski_mean(values, 1.0)),
            Self::ShadesOfGray { p } => estimate_gains(image, |values| minkowski_mean(values, p)),
            Self::WhitePatch { percentile } => estimate_gains(image, |values| {
                let mut h = Histogram::new(1.0);
                values.iter().for_each(|&v| h.add(v));
                h.quantile(percentile).unwrap_or(0.0) as f64
            }),
            Self::Gains(gains) => Ok(gains),
            Self::Temperature { kelvin, tint } => Ok(temperature_gains(kelvin, tint)),
        }
    }
}

fn minkowski_mean(values: &[f32], p: f32) -> f64 {
    let p = p as f64;
    let sum: f64 = values.iter().map(|&v| (v.max(0.0) as f64).powf(p)).sum();
    (sum / values.len() as f64).powf(1.0 / p)
}

/// Applies `statistic` to each channel of the usable pixels and turns the
/// three estimates of the light into gains.
fn estimate_gains(
    image: &LinearImage,
    statistic: impl Fn(&[f32]) -> f64,
) -> Result<[f32; 3], WhiteBalanceError> {
    let mut channels: [Vec<f32>; 3] = Default::default();
    for p in image.visible().filter(|p| usable(p)) {
        for c in 0..3 {
            channels[c].push(p[c]);
        }
    }
    if channels[0].is_empty() {
        return Err(WhiteBalanceError::NoUsablePixels);
    }
    let light = channels.map(|values| statistic(&values));
    if light.iter().any(|&l| l <= 0.0 || !l.is_finite()) {
        return Err(WhiteBalanceError::NoUsablePixels);
    }
    Ok(light.map(|l| ((light[1] / l) as f32).clamp(1.0 / MAX_ESTIMATED_GAIN, MAX_ESTIMATED_GAIN)))
}

/// Grey-pixel search. Starting from the white-patch estimate, each round keeps the
/// usable pixels whose log chromaticities `ln(R/G)` and `ln(B/G)`, after the
/// current gains, are both within a tolerance of neutral, and sets the gains
/// so that their mean becomes neutral. The tolerance starts at 0.3 and
/// narrows each round to 0.1, so the estimate locks onto the surfaces that
/// really are grey instead of averaging the scene's own colours in. When
/// fewer than 1% of the usable pixels are near neutral, the last estimate
/// stands (at first, white-patch).
fn neutral_pixel_gains(image: &LinearImage) -> Result<[f32; 3], WhiteBalanceError> {
    // The search works on an even sample of at most SEARCH_SAMPLES usable
    // pixels: the estimate is a mean over thousands of grey pixels, which
    // a sample gives as well as the whole frame, at a fraction of the cost.
    let usable_pixels = image.visible().filter(|p| usable(p));
    let stride = image.pixels.len().div_ceil(SEARCH_SAMPLES).max(1);
    let pixels: Vec<[f32; 3]> = usable_pixels.step_by(stride).copied().collect();
    if pixels.is_empty() {
        return Err(WhiteBalanceError::NoUsablePixels);
    }
    let minimum = (pixels.len() / 100).max(1);
    let start = WhiteBalance::WhitePatch { percentile: 0.99 }.gains(image)?;
    let mut gains = start;
    let mut tolerance = 0.3f32;
    for _ in 0..12 {
        // |ln(x / g)| < tolerance  <=>  g * e^-tolerance < x < g * e^tolerance
        // (g > 0): the test without a logarithm per pixel.
        let (low, high) = ((-tolerance).exp(), tolerance.exp());
        let mut sum = [0f64; 3];
        let mut count = 0usize;
        for p in &pixels {
            let q = [p[0] * gains[0], p[1] * gains[1], p[2] * gains[2]];
            if q.iter().any(|&c| c <= 0.0) {
                continue;
            }
            let near = |x: f32| x > q[1] * low && x < q[1] * high;
            if near(q[0]) && near(q[2]) {
                for c in 0..3 {
                    sum[c] += p[c] as f64;
                }
                count += 1;
            }
        }
        if count < minimum {
            break;
        }
        let next = [sum[1] / sum[0], 1.0, sum[1] / sum[2]]
            .map(|g| (g as f32).clamp(1.0 / MAX_ESTIMATED_GAIN, MAX_ESTIMATED_GAIN));
        let settled = tolerance <= 0.1 && (0..3).all(|c| (next[c] - gains[c]).abs() < 1e-5);
        gains = next;
        if settled {
            // The same pixels would be picked again.
            break;
        }
        tolerance = (tolerance * 0.75).max(0.1);
    }
    Ok(gains)
}

/// The chromaticity of a light of correlated colour temperature `kelvin`:
/// the CIE daylight locus from 4000 K, the Planckian locus (Kim et al.'s
/// cubic-spline fit) below, which is how cameras label "temperature".
pub fn illuminant_xy(kelvin: f64) -> (f64, f64) {
    let t = kelvin.clamp(1667.0, 25000.0);
    if t >= 4000.0 {
        let x = if t <= 7000.0 {
            -4.6070e9 / t.powi(3) + 2.9678e6 / t.powi(2) + 0.09911e3 / t + 0.244063
        } else {
            -2.0064e9 / t.powi(3) + 1.9018e6 / t.powi(2) + 0.24748e3 / t + 0.237040
        };
        (x, -3.000 * x * x + 2.870 * x - 0.275)
    } else {
        let x = -0.2661239e9 / t.powi(3) - 0.2343589e6 / t.powi(2) + 0.8776956e3 / t + 0.179910;
        let y = if t <= 2222.0 {
            -1.1063814 * x.powi(3) - 1.34811020 * x.powi(2) + 2.18555832 * x - 0.20219683
        } else {
            -0.9549476 * x.powi(3) - 1.37418593 * x.powi(2) + 2.09137015 * x - 0.16748867
        };
        (x, y)
    }
}

/// Gains that turn a white lit by `kelvin`/`tint` into D65 white.
pub fn temperature_gains(kelvin: f32, tint: f32) -> [f32; 3] {
    let (x, y) = illuminant_xy(kelvin as f64);
    let white = lab::xyz_to_linear_srgb(lab::xy_to_xyz(x, y));
    let mut gains = white.map(|c| (white[1] / c) as f32);
    // Tint moves along green-magenta: +100 is half a stop less green.
    gains[1] *= (-tint / 200.0).exp2();
    gains
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image_of(pixels: Vec<[f32; 3]>) -> LinearImage {
        LinearImage {
            width: pixels.len() as u32,
            height: 1,
            alpha: vec![255; pixels.len()],
            pixels,
        }
    }

    #[test]
    fn gray_world_neutralises_a_uniform_cast() {
        let pixels: Vec<[f32; 3]> = (0..300)
            .map(|i| {
                let t = i as f32 / 300.0;
                [
                    0.2 + 0.3 * t,
                    0.5 - 0.2 * t,
                    0.1 + 0.5 * (t * 7.0).sin().abs(),
                ]
            })
            .collect();
        let mut cast = image_of(
            pixels
                .iter()
                .map(|p| [p[0] * 1.3, p[1], p[2] * 0.7])
                .collect(),
        );
        let gains = WhiteBalance::GrayWorld.gains(&cast).unwrap();
        cast.scale(gains);
        let mean =
            |c: usize, img: &[[f32; 3]]| img.iter().map(|p| p[c]).sum::<f32>() / img.len() as f32;
        let means: Vec<f32> = (0..3).map(|c| mean(c, &cast.pixels)).collect();
        assert!(
            (means[0] - means[1]).abs() < 1e-4 && (means[2] - means[1]).abs() < 1e-4,
            "{means:?}"
        );
        assert_eq!(gains[1], 1.0);
    }

    #[test]
    fn white_patch_and_shades_of_gray_find_a_tinted_white() {
        let mut pixels: Vec<[f32; 3]> = (0..1000)
            .map(|i| [0.05 + (i % 10) as f32 * 0.01; 3])
            .collect();
        // A white patch lit by a warm light, plus a clipped highlight that
        // must be ignored.
        pixels.extend(std::iter::repeat_n([0.9, 0.7, 0.45], 50));
        pixels.extend(std::iter::repeat_n([1.0, 1.0, 1.0], 50));
        let image = image_of(pixels);
        let g = WhiteBalance::WhitePatch { percentile: 0.99 }
            .gains(&image)
            .unwrap();
        assert!(
            (g[0] - 0.7 / 0.9).abs() < 0.01 && (g[2] - 0.7 / 0.45).abs() < 0.02,
            "{g:?}"
        );
        let g = WhiteBalance::ShadesOfGray { p: 16.0 }
            .gains(&image)
            .unwrap();
        assert!(g[0] < 0.85 && g[2] > 1.3, "{g:?}");
    }

    #[test]
    fn no_usable_pixels_is_an_error() {
        let image = image_of(vec![[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]);
        assert_eq!(
            WhiteBalance::GrayWorld.gains(&image),
            Err(WhiteBalanceError::NoUsablePixels)
        );
    }

    #[test]
    fn temperature_gains_warm_light_needs_blue() {
        let d65 = temperature_gains(6504.0, 0.0);
        assert!(d65.iter().all(|g| (g - 1.0).abs() < 0.01), "{d65:?}");
        let tungsten = temperature_gains(2856.0, 0.0);
        assert!(tungsten[0] < 0.75 && tungsten[2] > 2.0, "{tungsten:?}");
        let (x, y) = illuminant_xy(2856.0);
        // CIE illuminant A: x 0.4476, y 0.4074.
        assert!((x - 0.4476).abs() < 0.002 && (y - 0.4074).abs() < 0.002);
        assert!(temperature_gains(6504.0, 100.0)[1] < 0.75);
    }
}
