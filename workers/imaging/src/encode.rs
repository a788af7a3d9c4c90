//! Encoding RGBA pixels to JPEG (jpeg-encoder), PNG (png) or WebP (image). No metadata is ever written:
//! outputs carry pixels only (EXIF, XMP and ICC are stripped).

use image::codecs::webp::WebPEncoder;
use image::{ExtendedColorType, ImageEncoder, RgbaImage};

use crate::{Format, ImagingError};

/// Encodes `image` as `format`.
///
/// `quality` (1 to 100, clamped) drives the JPEG quantiser and is ignored by
/// the lossless formats. Fully opaque images are written without an alpha
/// channel; JPEG, which has none, gets translucent pixels composited over
/// white (callers that want another background flatten first). WebP output is
/// lossless: the `image` crate's WebP encoder has no lossy mode. AVIF needs
/// the `avif` feature.
pub fn encode(image: &RgbaImage, format: Format, quality: u8) -> Result<Vec<u8>, ImagingError> {
    let opaque = image.pixels().all(|p| p.0[3] == 255);
    match format {
        Format::Jpeg => return encode_jpeg(image, quality, false),
        Format::Png => return encode_png(image, opaque),
        Format::Pam => return Ok(crate::pam::encode(image)),
        _ => {}
    }
    let (width, height) = image.dimensions();
    let mut out = Vec::new();
    let result = match format {
        Format::Webp => {
            let encoder = WebPEncoder::new_lossless(&mut out);
            if opaque {
                encoder.write_image(&drop_alpha(image), width, height, ExtendedColorType::Rgb8)
            } else {
                encoder.write_image(image, width, height, ExtendedColorType::Rgba8)
            }
        }
        #[cfg(feature = "avif")]
        Format::Avif => {
            // Speed 9 of 10: a 320-px thumbnail in tens of milliseconds; the
            // slower settings buy a few percent of size at many times the cost.
            image::codecs::avif::AvifEncoder::new_with_speed_quality(
                &mut out,
                10,
                quality.clamp(1, 100),
            )
            .write_image(image, width, height, ExtendedColorType::Rgba8)
        }
        #[cfg(not(feature = "avif"))]
        Format::Avif => {
            return Err(ImagingError::Encode(
                "this build has no AVIF encoder (feature `avif`)".to_owned(),
            ));
        }
        Format::Jpeg | Format::Png | Format::Gif | Format::Pam => {
            return Err(ImagingError::Encode(format!(
                "{format} output is not supported"
            )));
        }
    };
    result.map_err(|e| ImagingError::Encode(e.to_string()))?;
    Ok(out)
}

/// Baseline (or `progressive`) JPEG, 4:2:0, standard quantisation tables
/// scaled by `quality`, translucent pixels composited over white.
pub(crate) fn encode_jpeg(
    image: &RgbaImage,
    quality: u8,
    progressive: bool,
) -> Result<Vec<u8>, ImagingError> {
    let (width, height) = image.dimensions();
    let too_big = || ImagingError::Encode(format!("{width}x{height} exceeds JPEG's 65535 limit"));
    let width = u16::try_from(width).map_err(|_| too_big())?;
    let height = u16::try_from(height).map_err(|_| too_big())?;
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality.clamp(1, 100));
    encoder.set_progressive(progressive);
    // Straight from the RGBA buffer: a large image is never copied whole.
    let encoded = if image.pixels().all(|p| p.0[3] == 255) {
        encoder.encode(image.as_raw(), width, height, jpeg_encoder::ColorType::Rgba)
    } else {
        encoder.encode_image(OnWhite {
            rgba: image.as_raw(),
            width,
            height,
        })
    };
    encoded.map_err(|e| ImagingError::Encode(e.to_string()))?;
    Ok(out)
}

/// PNG with fast compression and adaptive filters; an opaque image as RGB,
/// written a row at a time so that it is never copied whole.
fn encode_png(image: &RgbaImage, opaque: bool) -> Result<Vec<u8>, ImagingError> {
    use std::io::Write;
    let failed = |e: &dyn std::fmt::Display| ImagingError::Encode(e.to_string());
    let (width, height) = image.dimensions();
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(if opaque {
        png::ColorType::Rgb
    } else {
        png::ColorType::Rgba
    });
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    encoder.set_filter(png::Filter::Adaptive);
    let mut writer = encoder.write_header().map_err(|e| failed(&e))?;
    if opaque {
        let mut stream = writer.stream_writer().map_err(|e| failed(&e))?;
        let mut row = Vec::with_capacity(width as usize * 3);
        for pixels in image.as_raw().chunks_exact(width as usize * 4) {
            row.clear();
            for p in pixels.chunks_exact(4) {
                row.extend_from_slice(&p[..3]);
            }
            stream.write_all(&row).map_err(|e| failed(&e))?;
        }
        stream.finish().map_err(|e| failed(&e))?;
        drop(writer);
    } else {
        writer
            .write_image_data(image.as_raw())
            .map_err(|e| failed(&e))?;
        writer.finish().map_err(|e| failed(&e))?;
    }
    Ok(out)
}

/// RGBA rows composited over white as the JPEG encoder asks for them.
struct OnWhite<'a> {
    rgba: &'a [u8],
    width: u16,
    height: u16,
}

impl jpeg_encoder::ImageBuffer for OnWhite<'_> {
    fn get_jpeg_color_type(&self) -> jpeg_encoder::JpegColorType {
        jpeg_encoder::JpegColorType::Ycbcr
    }

    fn width(&self) -> u16 {
        self.width
    }

    fn height(&self) -> u16 {
        self.height
    }

    fn fill_buffers(&self, y: u16, buffers: &mut [Vec<u8>; 4]) {
        let row_bytes = usize::from(self.width) * 4;
        let row = &self.rgba[usize::from(y) * row_bytes..][..row_bytes];
        for p in row.chunks_exact(4) {
            let a = u16::from(p[3]);
            let over = |c: u8| ((u16::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
            let (luma, cb, cr) = jpeg_encoder::rgb_to_ycbcr(over(p[0]), over(p[1]), over(p[2]));
            buffers[0].push(luma);
            buffers[1].push(cb);
            buffers[2].push(cr);
        }
    }
}

fn drop_alpha(image: &RgbaImage) -> Vec<u8> {
    let mut rgb = Vec::with_capacity(image.len() / 4 * 3);
    for p in image.as_raw().chunks_exact(4) {
        rgb.extend_from_slice(&p[..3]);
    }
    rgb
}
