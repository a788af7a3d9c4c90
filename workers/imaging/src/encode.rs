//! Encoding RGBA pixels to JPEG (jpeg-encoder), PNG or WebP (image). No metadata is ever written:
//! outputs carry pixels only (EXIF, XMP and ICC are stripped).

use image::codecs::png::{CompressionType, FilterType, PngEncoder};
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
    match format {
        Format::Jpeg => return encode_jpeg(image, quality, false),
        Format::Pam => return Ok(crate::pam::encode(image)),
        _ => {}
    }
    let (width, height) = image.dimensions();
    let opaque = image.pixels().all(|p| p.0[3] == 255);
    let mut out = Vec::new();
    let result = match format {
        Format::Png => {
            let encoder =
                PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Adaptive);
            if opaque {
                encoder.write_image(&drop_alpha(image), width, height, ExtendedColorType::Rgb8)
            } else {
                encoder.write_image(image, width, height, ExtendedColorType::Rgba8)
            }
        }
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
        Format::Jpeg | Format::Gif | Format::Pam => {
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
    encoder
        .encode(
            &flatten_on_white(image),
            width,
            height,
            jpeg_encoder::ColorType::Rgb,
        )
        .map_err(|e| ImagingError::Encode(e.to_string()))?;
    Ok(out)
}

fn drop_alpha(image: &RgbaImage) -> Vec<u8> {
    let mut rgb = Vec::with_capacity(image.len() / 4 * 3);
    for p in image.as_raw().chunks_exact(4) {
        rgb.extend_from_slice(&p[..3]);
    }
    rgb
}

fn flatten_on_white(image: &RgbaImage) -> Vec<u8> {
    let mut rgb = Vec::with_capacity(image.len() / 4 * 3);
    for p in image.as_raw().chunks_exact(4) {
        let a = u16::from(p[3]);
        if a == 255 {
            rgb.extend_from_slice(&p[..3]);
        } else {
            let over = |c: u8| ((u16::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
            rgb.extend_from_slice(&[over(p[0]), over(p[1]), over(p[2])]);
        }
    }
    rgb
}
