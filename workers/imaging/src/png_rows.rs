//! PNG decoded row by row into 8-bit RGBA, shrunk on the way by a whole
//! factor with a box filter when the caller needs less: a 50 MP PNG made
//! into a thumbnail never holds more than the shrunk image and one row.
//! Interlaced (Adam7) files arrive in passes, not rows: they are decoded
//! whole into one RGBA buffer, then shrunk.

use std::io::Cursor;

use image::RgbaImage;
use png::{ColorType, Transformations};

use crate::ImagingError;
use crate::decode::expand_to_rgba;

/// A decoded PNG: pixels, whether the file has alpha, its ICC profile.
pub(crate) struct PngPixels {
    pub image: RgbaImage,
    pub has_alpha: bool,
    pub icc_profile: Option<Vec<u8>>,
}

fn corrupt(error: png::DecodingError) -> ImagingError {
    ImagingError::Corrupt(error.to_string())
}

/// Decodes `bytes` (a PNG whose header passed the limits) to RGBA, box
/// shrunk by `factor` (1: full size): every output pixel is the
/// alpha-weighted mean of a `factor` x `factor` block (smaller at the right
/// and bottom edges).
pub(crate) fn decode(bytes: &[u8], factor: u32) -> Result<PngPixels, ImagingError> {
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    // Palettes, low bit depths and tRNS to 8-bit grey or colour, 16-bit to
    // 8-bit.
    decoder.set_transformations(Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(corrupt)?;
    let info = reader.info();
    let (width, height) = (info.width, info.height);
    let interlaced = info.interlaced;
    let icc_profile = info.icc_profile.as_ref().map(|profile| profile.to_vec());
    let channels = match reader.output_color_type().0 {
        ColorType::Grayscale => 1,
        ColorType::GrayscaleAlpha => 2,
        ColorType::Rgb => 3,
        ColorType::Rgba => 4,
        ColorType::Indexed => {
            return Err(ImagingError::Unsupported(
                "a PNG palette that could not be expanded".to_owned(),
            ));
        }
    };
    let has_alpha = channels % 2 == 0;
    let mut shrink = BoxShrink::new(width, height, factor.max(1));
    if interlaced {
        let len = reader
            .output_buffer_size()
            .ok_or_else(|| ImagingError::Corrupt("PNG too large to address".to_owned()))?;
        let mut rgba = vec![0u8; width as usize * height as usize * 4];
        reader.next_frame(&mut rgba[..len]).map_err(corrupt)?;
        expand_to_rgba(&mut rgba, channels);
        for row in rgba.chunks_exact(width as usize * 4) {
            shrink.push(row);
        }
    } else {
        let mut row = vec![0u8; width as usize * channels];
        let mut rgba = vec![0u8; width as usize * 4];
        for _ in 0..height {
            reader
                .read_row(&mut row)
                .map_err(corrupt)?
                .ok_or_else(|| ImagingError::Corrupt("the PNG ended early".to_owned()))?;
            rgba[..row.len()].copy_from_slice(&row);
            expand_to_rgba(&mut rgba, channels);
            shrink.push(&rgba);
        }
    }
    Ok(PngPixels {
        image: shrink.finish(),
        has_alpha,
        icc_profile,
    })
}

/// Shrinks RGBA rows pushed one at a time by a whole factor.
struct BoxShrink {
    width: u32,
    height: u32,
    factor: u32,
    /// Alpha-weighted sums of the block row being gathered: R·A, G·A, B·A, A.
    sums: Vec<u64>,
    rows: u32,
    out: Vec<u8>,
}

impl BoxShrink {
    fn new(width: u32, height: u32, factor: u32) -> Self {
        let out_w = width.div_ceil(factor) as usize;
        let out_h = height.div_ceil(factor) as usize;
        Self {
            width,
            height,
            factor,
            sums: if factor == 1 {
                Vec::new()
            } else {
                vec![0; out_w * 4]
            },
            rows: 0,
            out: Vec::with_capacity(out_w * out_h * 4),
        }
    }

    fn push(&mut self, row: &[u8]) {
        if self.factor == 1 {
            self.out.extend_from_slice(row);
            return;
        }
        let factor = self.factor as usize;
        for (x, pixel) in row.chunks_exact(4).enumerate() {
            let sum = &mut self.sums[x / factor * 4..][..4];
            let alpha = u64::from(pixel[3]);
            for c in 0..3 {
                sum[c] += u64::from(pixel[c]) * alpha;
            }
            sum[3] += alpha;
        }
        self.rows += 1;
        if self.rows == self.factor {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let factor = self.factor;
        for (ox, sum) in self.sums.chunks_exact_mut(4).enumerate() {
            let columns = (self.width - ox as u32 * factor).min(factor);
            let count = u64::from(columns * self.rows);
            let alpha = sum[3];
            if alpha == 0 {
                self.out.extend_from_slice(&[0, 0, 0, 0]);
            } else {
                for c in 0..3 {
                    self.out.push(((sum[c] + alpha / 2) / alpha) as u8);
                }
                self.out.push(((alpha + count / 2) / count) as u8);
            }
            sum.fill(0);
        }
        self.rows = 0;
    }

    fn finish(mut self) -> RgbaImage {
        if self.rows > 0 {
            self.flush();
        }
        let (w, h) = (
            self.width.div_ceil(self.factor),
            self.height.div_ceil(self.factor),
        );
        RgbaImage::from_raw(w, h, self.out).expect("every row was pushed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgba;

    #[test]
    fn box_shrink_weights_by_alpha_and_handles_edges() {
        // 3x3 shrunk by 2: one full block, two half blocks, one corner.
        let mut shrink = BoxShrink::new(3, 3, 2);
        let opaque_red = [255, 0, 0, 255];
        let clear_blue = [0, 0, 255, 0];
        let row: Vec<u8> = [opaque_red, clear_blue, [10, 20, 30, 255]].concat();
        for _ in 0..3 {
            shrink.push(&row);
        }
        let image = shrink.finish();
        assert_eq!(image.dimensions(), (2, 2));
        // Red and clear blue: the colour is red's (blue has no weight),
        // the alpha the mean.
        assert_eq!(image.get_pixel(0, 0), &Rgba([255, 0, 0, 128]));
        assert_eq!(image.get_pixel(1, 0), &Rgba([10, 20, 30, 255]));
        assert_eq!(image.get_pixel(0, 1), &Rgba([255, 0, 0, 128]));
        assert_eq!(image.get_pixel(1, 1), &Rgba([10, 20, 30, 255]));
    }
}
