//! An image in linear light: what every operation works on.
//!
//! 8-bit sRGB comes in through [`LinearImage::from_rgba`] (raw RGBA bytes,
//! as a canvas `ImageData` holds them) or [`LinearImage::from_rgba8`] and
//! goes out through [`LinearImage::to_rgba8`]; in between,
//! each pixel is three `f32` in linear sRGB, free to go outside 0..=1 until
//! the final encode clips.

use ::image::RgbaImage;

use crate::transfer;

/// An image as linear sRGB pixels and their alpha.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearImage {
    pub width: u32,
    pub height: u32,
    /// Row-major linear sRGB.
    pub pixels: Vec<[f32; 3]>,
    /// Alpha, untouched by every operation.
    pub alpha: Vec<u8>,
}

impl LinearImage {
    /// A `width` x `height` image from row-major 8-bit sRGB RGBA bytes
    /// (`rgba.len()` must be `4 * width * height`).
    pub fn from_rgba(width: u32, height: u32, rgba: &[u8]) -> Self {
        assert_eq!(
            rgba.len(),
            4 * width as usize * height as usize,
            "RGBA bytes for {width}x{height}"
        );
        let (pixels, alpha) = linearise(rgba.chunks_exact(4));
        Self {
            width,
            height,
            pixels,
            alpha,
        }
    }

    /// An even sample of at most about `max` pixels of a `width` x
    /// `height` RGBA image (every n-th pixel in reading order; all of them
    /// when it is small enough), as a one-row image: for statistics, not
    /// for output.
    pub fn sample_rgba(width: u32, height: u32, rgba: &[u8], max: usize) -> Self {
        let stride = (rgba.len() / 4).div_ceil(max.max(1)).max(1);
        if stride == 1 {
            return Self::from_rgba(width, height, rgba);
        }
        let (pixels, alpha) = linearise(rgba.chunks_exact(4).step_by(stride));
        Self {
            width: pixels.len() as u32,
            height: 1,
            pixels,
            alpha,
        }
    }

    /// [`LinearImage::from_rgba`] of an `RgbaImage`.
    pub fn from_rgba8(image: &RgbaImage) -> Self {
        Self::from_rgba(image.width(), image.height(), image.as_raw())
    }

    /// [`LinearImage::sample_rgba`] of an `RgbaImage`.
    pub fn sample_rgba8(image: &RgbaImage, max: usize) -> Self {
        Self::sample_rgba(image.width(), image.height(), image.as_raw(), max)
    }

    /// Back to 8-bit sRGB (nearest code, [`transfer::encode_u8`]).
    pub fn to_rgba8(&self) -> RgbaImage {
        let mut raw = Vec::with_capacity(self.pixels.len() * 4);
        for (p, &a) in self.pixels.iter().zip(&self.alpha) {
            raw.extend_from_slice(&[
                transfer::encode_u8(p[0]),
                transfer::encode_u8(p[1]),
                transfer::encode_u8(p[2]),
                a,
            ]);
        }
        RgbaImage::from_raw(self.width, self.height, raw).expect("one RGBA quadruple per pixel")
    }

    /// Multiplies each channel by its gain.
    pub fn scale(&mut self, gains: [f32; 3]) {
        for p in &mut self.pixels {
            p[0] *= gains[0];
            p[1] *= gains[1];
            p[2] *= gains[2];
        }
    }

    /// The pixels that carry colour information: not transparent.
    pub fn visible(&self) -> impl Iterator<Item = &[f32; 3]> {
        self.pixels
            .iter()
            .zip(&self.alpha)
            .filter(|(_, a)| **a > 0)
            .map(|(p, _)| p)
    }
}

/// 8-bit sRGB RGBA pixels to linear RGB and their alpha.
fn linearise<'a>(rgba: impl ExactSizeIterator<Item = &'a [u8]>) -> (Vec<[f32; 3]>, Vec<u8>) {
    let table = transfer::decode_table();
    let mut pixels = Vec::with_capacity(rgba.len());
    let mut alpha = Vec::with_capacity(rgba.len());
    for p in rgba {
        pixels.push([
            table[p[0] as usize],
            table[p[1] as usize],
            table[p[2] as usize],
        ]);
        alpha.push(p[3]);
    }
    (pixels, alpha)
}

/// Relative luminance (Rec. 709 / sRGB weights) of a linear pixel.
#[inline]
pub fn luminance(p: [f32; 3]) -> f32 {
    0.212_639 * p[0] + 0.715_169 * p[1] + 0.072_192 * p[2]
}

/// A histogram of non-negative linear values with fine resolution in the
/// shadows (bins are uniform in the square root), for percentiles without
/// sorting millions of values.
pub struct Histogram {
    bins: Vec<u64>,
    /// Values above this land in the last bin.
    max: f32,
    total: u64,
}

const HISTOGRAM_BINS: usize = 4096;

impl Histogram {
    /// A histogram for values in 0..=`max`.
    pub fn new(max: f32) -> Self {
        Self {
            bins: vec![0; HISTOGRAM_BINS],
            max,
            total: 0,
        }
    }

    #[inline]
    pub fn add(&mut self, value: f32) {
        let s = (value.max(0.0) / self.max).sqrt().min(1.0);
        let bin = if s.is_nan() {
            0
        } else {
            (s * (HISTOGRAM_BINS - 1) as f32) as usize
        };
        self.bins[bin] += 1;
        self.total += 1;
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// The value below which a fraction `q` (0..=1) of the samples lie, or
    /// `None` for an empty histogram.
    pub fn quantile(&self, q: f32) -> Option<f32> {
        if self.total == 0 {
            return None;
        }
        let target = (q.clamp(0.0, 1.0) as f64 * self.total as f64)
            .ceil()
            .max(1.0) as u64;
        let mut seen = 0;
        for (bin, &count) in self.bins.iter().enumerate() {
            seen += count;
            if seen >= target {
                let s = (bin as f32 + 0.5) / (HISTOGRAM_BINS - 1) as f32;
                return Some(s.min(1.0).powi(2) * self.max);
            }
        }
        Some(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_every_code_and_alpha() {
        use ::image::Rgba;
        let image = RgbaImage::from_fn(256, 2, |x, y| {
            Rgba([x as u8, 255 - x as u8, (x * 7) as u8, y as u8 * 200])
        });
        assert_eq!(LinearImage::from_rgba8(&image).to_rgba8(), image);
    }

    #[test]
    fn histogram_quantiles_are_close() {
        let mut h = Histogram::new(1.0);
        for i in 0..10_000 {
            h.add(i as f32 / 10_000.0);
        }
        for q in [0.01f32, 0.5, 0.99] {
            let got = h.quantile(q).unwrap();
            assert!((got - q).abs() < 0.002, "{q}: {got}");
        }
        assert_eq!(Histogram::new(1.0).quantile(0.5), None);
    }
}
