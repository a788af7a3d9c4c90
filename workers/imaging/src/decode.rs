//! Decoding a source image: limits first, then pixels, then orientation.
//!
//! The steps, in order: check the byte length, sniff the format, read the
//! header (dimensions and EXIF orientation) and check the pixel count, decode
//! (JPEG at 1/2, 1/4 or 1/8 scale when the caller needs less), apply the
//! orientation so that every later step works in display coordinates. The ICC
//! profile is returned untouched; converting to sRGB is the caller's step
//! ([`crate::icc::to_srgb`]).

use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, RgbaImage};

use crate::{Format, ImagingError, Limits, sniff};

/// A decoded source image in display orientation, as 8-bit RGBA.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The pixels, EXIF orientation already applied. When decoded with
    /// [`decode_at_least`] this may be smaller than [`Decoded::full_size`].
    pub image: RgbaImage,
    /// Whether the source format declared an alpha channel (PNG with alpha,
    /// WebP with alpha, every GIF); JPEG never does.
    pub has_alpha: bool,
    /// The embedded ICC profile, if any, as the decoder found it. The pixels
    /// are still in that profile's space: callers that need sRGB convert
    /// with [`crate::icc::to_srgb`] (the thumbnail and colour workers do).
    pub icc_profile: Option<Vec<u8>>,
    /// The source format.
    pub format: Format,
    /// The full-resolution size in display orientation (width, height):
    /// source-pixel coordinates such as crop regions refer to this size.
    pub full_size: (u32, u32),
}

/// What the header says about a source, read without decoding pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub format: Format,
    /// Width in display orientation (after EXIF orientation).
    pub width: u32,
    /// Height in display orientation.
    pub height: u32,
}

/// Reads the header of `bytes`, checking `limits` on the way.
pub fn probe(bytes: &[u8], limits: &Limits) -> Result<Probe, ImagingError> {
    if let Some(pam) = read_pam(bytes, limits)? {
        return Ok(Probe {
            format: Format::Pam,
            width: pam.width,
            height: pam.height,
        });
    }
    let header = Header::read(bytes, limits)?;
    let (width, height) = header.oriented_size();
    Ok(Probe {
        format: header.format,
        width,
        height,
    })
}

/// Decodes `bytes` at full resolution.
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Decoded, ImagingError> {
    decode_at_least(bytes, limits, (u32::MAX, u32::MAX))
}

/// Decodes `bytes`, allowed to return a smaller image as long as it is at
/// least `min_size` (width, height in display orientation) or the full size.
///
/// JPEG sources are then decoded at 1/2, 1/4 or 1/8 scale through the
/// decoder's scaled IDCT (shrink-on-load), which is several times faster than
/// decoding everything and resizing; PNG sources are read row by row and
/// box-shrunk by a whole factor on the way, so a large PNG never occupies
/// memory at full size. WebP and GIF decode at full size.
pub fn decode_at_least(
    bytes: &[u8],
    limits: &Limits,
    min_size: (u32, u32),
) -> Result<Decoded, ImagingError> {
    decode_with(bytes, limits, min_size, true)
}

/// Like [`decode_at_least`], with the pixels as stored: no EXIF orientation
/// applied, and `min_size` and [`Decoded::full_size`] in stored orientation.
/// For measurements defined on the stored samples (PDQ).
pub fn decode_stored_at_least(
    bytes: &[u8],
    limits: &Limits,
    min_size: (u32, u32),
) -> Result<Decoded, ImagingError> {
    decode_with(bytes, limits, min_size, false)
}

fn decode_with(
    bytes: &[u8],
    limits: &Limits,
    min_size: (u32, u32),
    oriented: bool,
) -> Result<Decoded, ImagingError> {
    if let Some(pam) = read_pam(bytes, limits)? {
        return Ok(Decoded {
            image: crate::pam::pixels(bytes, &pam),
            has_alpha: pam.depth == 4,
            icc_profile: None,
            format: Format::Pam,
            full_size: (pam.width, pam.height),
        });
    }
    let mut header = Header::read(bytes, limits)?;
    if !oriented {
        header.orientation = Orientation::NoTransforms;
    }
    let full_size = header.oriented_size();
    let reduction = header.reduction(min_size);
    let orientation = header.orientation;
    let (image, has_alpha, icc_profile) = match header.format {
        Format::Png => {
            // Read by the png crate directly: the header's decoder goes.
            drop(header.decoder);
            let png = crate::png_rows::decode(bytes, reduction.unwrap_or(1))?;
            (png.image, png.has_alpha, png.icc_profile)
        }
        Format::Jpeg => {
            // image's JPEG decoder holds a copy of the whole file.
            let stored_size = header.stored_size;
            drop(header.decoder);
            // The scaled decoder (jpeg-decoder) refuses some files the full
            // one (zune-jpeg) reads, such as a stray JPGn marker: those are
            // decoded in full rather than refused.
            let scaled = reduction.and_then(|reduction| {
                decode_jpeg_scaled(bytes, stored_size, reduction).unwrap_or(None)
            });
            match scaled {
                Some(pixels) => pixels,
                None => decode_jpeg_full(bytes)?,
            }
        }
        _ => decode_full(header.decoder)?,
    };
    let image = orient(image, orientation);
    Ok(Decoded {
        image,
        has_alpha,
        icc_profile,
        format: header.format,
        full_size,
    })
}

/// The header of a PAM source (which the image crate is not asked to
/// read), checked against the limits; `None` for other formats.
fn read_pam(bytes: &[u8], limits: &Limits) -> Result<Option<crate::pam::Header>, ImagingError> {
    if sniff(bytes) != Some(Format::Pam) {
        return Ok(None);
    }
    check_limit("size in bytes", bytes.len() as u64, limits.max_bytes)?;
    let header = crate::pam::header(bytes)?;
    check_limit(
        "size in pixels",
        u64::from(header.width) * u64::from(header.height),
        limits.max_pixels,
    )?;
    Ok(Some(header))
}

/// An opened decoder whose header has passed the limits.
struct Header<'a> {
    format: Format,
    decoder: Box<dyn ImageDecoder + 'a>,
    /// Stored size, before orientation.
    stored_size: (u32, u32),
    orientation: Orientation,
}

impl<'a> Header<'a> {
    fn read(bytes: &'a [u8], limits: &Limits) -> Result<Self, ImagingError> {
        check_limit("size in bytes", bytes.len() as u64, limits.max_bytes)?;
        let format = sniff(bytes).ok_or_else(|| {
            ImagingError::Unsupported("not JPEG, PNG, WebP, GIF, AVIF or PAM".to_owned())
        })?;
        let image_format = match format {
            Format::Jpeg => ImageFormat::Jpeg,
            Format::Png => ImageFormat::Png,
            Format::Webp => ImageFormat::WebP,
            Format::Gif => ImageFormat::Gif,
            Format::Avif => {
                return Err(ImagingError::Unsupported(
                    "AVIF sources cannot be decoded (AVIF is an output format only)".to_owned(),
                ));
            }
            Format::Pam => unreachable!("PAM is read before the image crate is asked"),
        };
        let mut decoder: Box<dyn ImageDecoder + 'a> = Box::new(
            ImageReader::with_format(Cursor::new(bytes), image_format)
                .into_decoder()
                .map_err(from_image_error)?,
        );
        let stored_size = decoder.dimensions();
        check_limit(
            "size in pixels",
            u64::from(stored_size.0) * u64::from(stored_size.1),
            limits.max_pixels_for(format),
        )?;
        let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
        Ok(Self {
            format,
            decoder,
            stored_size,
            orientation,
        })
    }

    fn swaps_axes(&self) -> bool {
        matches!(
            self.orientation,
            Orientation::Rotate90
                | Orientation::Rotate270
                | Orientation::Rotate90FlipH
                | Orientation::Rotate270FlipH
        )
    }

    fn oriented_size(&self) -> (u32, u32) {
        let (w, h) = self.stored_size;
        if self.swaps_axes() { (h, w) } else { (w, h) }
    }

    /// The largest scale-down that still leaves at least `min_size` in both
    /// axes, or `None` to decode at full size: 2, 4 or 8 for JPEG (what its
    /// scaled IDCT offers), any whole factor up to 64 for PNG, none for the
    /// other formats.
    fn reduction(&self, min_size: (u32, u32)) -> Option<u32> {
        let factors: &[u32] = match self.format {
            Format::Jpeg => &[8, 4, 2],
            Format::Png => &PNG_FACTORS,
            _ => return None,
        };
        let (min_w, min_h) = if self.swaps_axes() {
            (min_size.1, min_size.0)
        } else {
            min_size
        };
        let (w, h) = self.stored_size;
        factors
            .iter()
            .copied()
            .find(|&d| w.div_ceil(d) >= min_w.max(1) && h.div_ceil(d) >= min_h.max(1))
    }
}

/// The PNG box-shrink factors tried, largest first.
const PNG_FACTORS: [u32; 63] = {
    let mut factors = [0; 63];
    let mut i = 0;
    while i < 63 {
        factors[i] = 64 - i as u32;
        i += 1;
    }
    factors
};

pub(crate) fn check_limit(what: &'static str, actual: u64, limit: u64) -> Result<(), ImagingError> {
    if actual > limit {
        Err(ImagingError::TooLarge {
            what,
            actual,
            limit,
        })
    } else {
        Ok(())
    }
}

type Pixels = (RgbaImage, bool, Option<Vec<u8>>);

/// Decodes everything into one RGBA buffer: 8-bit grey, grey+alpha and RGB
/// are written to its front and widened in place, so a large image never
/// needs its native and its RGBA copy at once.
fn decode_full(mut decoder: Box<dyn ImageDecoder + '_>) -> Result<Pixels, ImagingError> {
    use image::ColorType;
    let icc_profile = decoder.icc_profile().map_err(from_image_error)?;
    let color = decoder.color_type();
    let has_alpha = color.has_alpha();
    let channels = match color {
        ColorType::L8 => 1,
        ColorType::La8 => 2,
        ColorType::Rgb8 => 3,
        ColorType::Rgba8 => 4,
        _ => {
            let image = DynamicImage::from_decoder(decoder).map_err(from_image_error)?;
            return Ok((image.to_rgba8(), has_alpha, icc_profile));
        }
    };
    let (width, height) = decoder.dimensions();
    let pixels = width as usize * height as usize;
    let mut rgba = vec![0u8; pixels * 4];
    decoder
        .read_image(&mut rgba[..pixels * channels])
        .map_err(from_image_error)?;
    expand_to_rgba(&mut rgba, channels);
    let image = RgbaImage::from_raw(width, height, rgba).expect("sized for the image");
    Ok((image, has_alpha, icc_profile))
}

/// Widens the `channels`-per-pixel samples at the front of `buffer` to RGBA
/// in place (grey to R=G=B, missing alpha to 255), back to front so that no
/// sample is overwritten before it is read.
pub(crate) fn expand_to_rgba(buffer: &mut [u8], channels: usize) {
    let pixels = buffer.len() / 4;
    for i in (0..pixels).rev() {
        let s = i * channels;
        let rgba = match channels {
            1 => [buffer[s], buffer[s], buffer[s], 255],
            2 => [buffer[s], buffer[s], buffer[s], buffer[s + 1]],
            3 => [buffer[s], buffer[s + 1], buffer[s + 2], 255],
            _ => return,
        };
        buffer[i * 4..i * 4 + 4].copy_from_slice(&rgba);
    }
}

/// A whole JPEG through zune-jpeg (the decoder image uses) straight into
/// one RGBA buffer, reading the caller's bytes in place.
fn decode_jpeg_full(bytes: &[u8]) -> Result<Pixels, ImagingError> {
    use zune_core::bytestream::ZCursor;
    use zune_core::colorspace::ColorSpace;
    use zune_core::options::DecoderOptions;
    let corrupt = |e: zune_jpeg::errors::DecodeErrors| ImagingError::Corrupt(e.to_string());
    let options = DecoderOptions::default()
        .set_strict_mode(false)
        .set_max_width(usize::MAX)
        .set_max_height(usize::MAX)
        .jpeg_set_out_colorspace(ColorSpace::RGBA);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    decoder.decode_headers().map_err(corrupt)?;
    let (width, height) = decoder.dimensions().expect("headers were decoded");
    let mut rgba = vec![0u8; width * height * 4];
    decoder.decode_into(&mut rgba).map_err(corrupt)?;
    let image =
        RgbaImage::from_raw(width as u32, height as u32, rgba).expect("sized for the image");
    Ok((image, false, decoder.icc_profile()))
}

/// Shrink-on-load: jpeg-decoder's scaled IDCT produces the image at
/// 1/`reduction` of its size directly from the DCT coefficients. `None` for
/// CMYK and 16-bit JPEGs, which the full decoder converts properly.
fn decode_jpeg_scaled(
    bytes: &[u8],
    stored_size: (u32, u32),
    reduction: u32,
) -> Result<Option<Pixels>, ImagingError> {
    let corrupt = |e: jpeg_decoder::Error| ImagingError::Corrupt(e.to_string());
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    decoder.read_info().map_err(corrupt)?;
    let components = decoder.info().map(|info| info.pixel_format);
    if !matches!(
        components,
        Some(jpeg_decoder::PixelFormat::RGB24 | jpeg_decoder::PixelFormat::L8)
    ) {
        return Ok(None);
    }
    let (w, h) = stored_size;
    // jpeg-decoder picks the smallest scale whose output reaches the request
    // in either axis; asking for exactly the reduced size selects `reduction`.
    let requested = |len: u32| u16::try_from(len.div_ceil(reduction)).unwrap_or(u16::MAX);
    let (out_w, out_h) = decoder.scale(requested(w), requested(h)).map_err(corrupt)?;
    if out_w < requested(w) || out_h < requested(h) {
        // A side of a few pixels is reached by a smaller scale than the other
        // side needs (jpeg-decoder takes the smallest scale that reaches the
        // request in either axis): decode in full instead.
        return Ok(None);
    }
    let pixels = decoder.decode().map_err(corrupt)?;
    let (out_w, out_h) = (u32::from(out_w), u32::from(out_h));
    let mut rgba = Vec::with_capacity(out_w as usize * out_h as usize * 4);
    if components == Some(jpeg_decoder::PixelFormat::L8) {
        for &l in &pixels {
            rgba.extend_from_slice(&[l, l, l, 255]);
        }
    } else {
        for p in pixels.chunks_exact(3) {
            rgba.extend_from_slice(&[p[0], p[1], p[2], 255]);
        }
    }
    let image = RgbaImage::from_raw(out_w, out_h, rgba).ok_or_else(|| {
        ImagingError::Corrupt("JPEG decoded to fewer pixels than its header says".to_owned())
    })?;
    Ok(Some((image, false, decoder.icc_profile())))
}

fn orient(image: RgbaImage, orientation: Orientation) -> RgbaImage {
    if orientation == Orientation::NoTransforms {
        return image;
    }
    let mut dynamic = DynamicImage::ImageRgba8(image);
    dynamic.apply_orientation(orientation);
    match dynamic {
        DynamicImage::ImageRgba8(rgba) => rgba,
        other => other.to_rgba8(),
    }
}

fn from_image_error(error: ImageError) -> ImagingError {
    match error {
        ImageError::Unsupported(e) => ImagingError::Unsupported(e.to_string()),
        ImageError::Limits(e) => ImagingError::Corrupt(format!("decoder limit: {e}")),
        other => ImagingError::Corrupt(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{
        jpeg_with_exif_orientation, png_header_only, progressive_jpeg, two_frame_gif,
    };
    use crate::{encode, quality};
    use image::Rgba;

    fn photo(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/photos")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// A 64x32 grey image with a red 8x8 block in its top-left corner.
    fn marked() -> RgbaImage {
        RgbaImage::from_fn(64, 32, |x, y| {
            if x < 8 && y < 8 {
                Rgba([255, 0, 0, 255])
            } else {
                Rgba([128, 128, 128, 255])
            }
        })
    }

    fn is_red(image: &RgbaImage, x: u32, y: u32) -> bool {
        let [r, g, b, _] = image.get_pixel(x, y).0;
        r > 200 && g < 60 && b < 60
    }

    #[test]
    fn widening_in_place_matches_the_image_crate() {
        let grey = image::GrayImage::from_fn(5, 3, |x, y| image::Luma([(x * 40 + y) as u8]));
        let rgb = image::RgbImage::from_fn(5, 3, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let cases: [(Vec<u8>, usize, RgbaImage); 2] = [
            (
                grey.as_raw().clone(),
                1,
                DynamicImage::ImageLuma8(grey).to_rgba8(),
            ),
            (
                rgb.as_raw().clone(),
                3,
                DynamicImage::ImageRgb8(rgb).to_rgba8(),
            ),
        ];
        for (native, channels, expected) in cases {
            let mut buffer = native.clone();
            buffer.resize(15 * 4, 0);
            expand_to_rgba(&mut buffer, channels);
            assert_eq!(buffer, expected.into_raw(), "{channels} channels");
        }
    }

    #[test]
    fn png_rows_equal_the_whole_decode_and_shrink_by_whole_factors() {
        for name in ["astronaut.png", "coffee.png"] {
            let bytes = photo(name);
            let reference = image::load_from_memory(&bytes).unwrap().to_rgba8();
            let limits = Limits::default();
            let full = decode(&bytes, &limits).unwrap();
            assert_eq!(full.image, reference, "{name}");
            let (w, h) = reference.dimensions();
            let small = decode_at_least(&bytes, &limits, (w / 5, h / 5)).unwrap();
            assert_eq!(
                small.image.dimensions(),
                (w.div_ceil(5), h.div_ceil(5)),
                "{name}"
            );
            assert_eq!(small.full_size, (w, h));
            let resized = crate::resize(
                &reference,
                crate::SourceRect::full(&reference),
                small.image.width(),
                small.image.height(),
                crate::Filter::Lanczos3,
            );
            assert!(quality::ssim_luma(&resized, &small.image) > 0.9, "{name}");
        }
    }

    #[test]
    fn decodes_the_fixture_photos() {
        for (name, format) in [
            ("astronaut.png", Format::Png),
            ("rocket.jpg", Format::Jpeg),
            ("hubble_deep_field.jpg", Format::Jpeg),
            ("coffee.png", Format::Png),
        ] {
            let decoded = decode(&photo(name), &Limits::default()).unwrap();
            assert_eq!(decoded.format, format, "{name}");
            assert_eq!(decoded.image.dimensions(), decoded.full_size, "{name}");
            assert!(!decoded.has_alpha || format == Format::Png, "{name}");
        }
    }

    /// Where the stored top-left corner of a W x H image is displayed under
    /// each EXIF orientation (the EXIF 2.32 definitions), in display pixels.
    #[test]
    fn applies_every_exif_orientation() {
        let (w, h) = (64, 32);
        let corners = [
            (1, (w, h), (0, 0)),
            (2, (w, h), (w - 1, 0)),
            (3, (w, h), (w - 1, h - 1)),
            (4, (w, h), (0, h - 1)),
            (5, (h, w), (0, 0)),
            (6, (h, w), (h - 1, 0)),
            (7, (h, w), (h - 1, w - 1)),
            (8, (h, w), (0, w - 1)),
        ];
        for (orientation, size, (cx, cy)) in corners {
            let jpeg = jpeg_with_exif_orientation(&marked(), 95, orientation).unwrap();
            let limits = Limits::default();
            assert_eq!(probe(&jpeg, &limits).unwrap().width, size.0);
            let decoded = decode(&jpeg, &limits).unwrap();
            assert_eq!(
                decoded.image.dimensions(),
                size,
                "orientation {orientation}"
            );
            // Sample 3 px inside the marker from the displayed corner.
            let x = if cx == 0 { 3 } else { cx - 3 };
            let y = if cy == 0 { 3 } else { cy - 3 };
            assert!(is_red(&decoded.image, x, y), "orientation {orientation}");
        }
    }

    #[test]
    fn limits_are_checked_before_decoding() {
        let png = photo("coffee.png");
        let small = Limits {
            max_bytes: png.len() as u64 - 1,
            ..Limits::default()
        };
        assert!(matches!(
            decode(&png, &small),
            Err(ImagingError::TooLarge {
                what: "size in bytes",
                ..
            })
        ));
        // No pixel data at all: only a header check can say "too large".
        let bomb = png_header_only(10_000, 10_000);
        assert!(matches!(
            decode(&bomb, &Limits::default()),
            Err(ImagingError::TooLarge {
                what: "size in pixels",
                actual: 100_000_000,
                ..
            })
        ));
        // The same header within the limit is just corrupt.
        assert!(matches!(
            decode(&png_header_only(100, 100), &Limits::default()),
            Err(ImagingError::Corrupt(_))
        ));
    }

    #[test]
    fn corrupt_and_unknown_bytes() {
        // zune-jpeg, like browsers, shows what a truncated JPEG holds; a
        // truncated PNG fails its checksums.
        let png = photo("coffee.png");
        let result = decode(&png[..png.len() / 3], &Limits::default()).map(|d| d.full_size);
        assert!(
            matches!(result, Err(ImagingError::Corrupt(_))),
            "{result:?}"
        );
        let jpeg = photo("rocket.jpg");
        let mut garbage = jpeg[..4].to_vec();
        garbage.extend(std::iter::repeat_n(0x55, 4000));
        let result = decode(&garbage, &Limits::default()).map(|d| d.full_size);
        assert!(
            matches!(result, Err(ImagingError::Corrupt(_))),
            "{result:?}"
        );
        assert!(matches!(
            decode(b"BM not a supported format", &Limits::default()),
            Err(ImagingError::Unsupported(_))
        ));
    }

    #[test]
    fn jpeg_shrink_on_load_keeps_at_least_the_target() {
        let source = decode(&photo("rocket.jpg"), &Limits::default()).unwrap();
        let (w, h) = source.image.dimensions();
        let jpeg = encode(&source.image, Format::Jpeg, 90).unwrap();
        let limits = Limits::default();
        for (target, reduction) in [((w / 8, h / 8), 8), ((w / 4, 1), 4), ((w / 2 + 1, 1), 1)] {
            let decoded = decode_at_least(&jpeg, &limits, target).unwrap();
            assert_eq!(
                decoded.image.dimensions(),
                (w.div_ceil(reduction), h.div_ceil(reduction)),
                "target {target:?}"
            );
            assert_eq!(decoded.full_size, (w, h));
        }
        // Rotated sources: the target is in display orientation.
        let rotated = jpeg_with_exif_orientation(&source.image, 90, 6).unwrap();
        let decoded = decode_at_least(&rotated, &limits, (h / 4, w / 4)).unwrap();
        assert_eq!(decoded.image.dimensions(), (h.div_ceil(4), w.div_ceil(4)));
        assert_eq!(decoded.full_size, (h, w));
        // The reduced decode looks like the full one, downscaled.
        let quarter = decode_at_least(&jpeg, &limits, (w / 4, h / 4))
            .unwrap()
            .image;
        let reference = crate::resize(
            &decode(&jpeg, &limits).unwrap().image,
            crate::SourceRect::full(&source.image),
            quarter.width(),
            quarter.height(),
            crate::Filter::Lanczos3,
        );
        assert!(quality::ssim_luma(&reference, &quarter) > 0.9);
    }

    #[test]
    fn progressive_jpeg_gif_and_webp() {
        let source = decode(&photo("astronaut.png"), &Limits::default())
            .unwrap()
            .image;
        let limits = Limits::default();
        let baseline = decode(&encode(&source, Format::Jpeg, 90).unwrap(), &limits).unwrap();
        let progressive = decode(&progressive_jpeg(&source, 90).unwrap(), &limits).unwrap();
        assert!(quality::psnr(&baseline.image, &progressive.image) > 40.0);
        let small =
            decode_at_least(&progressive_jpeg(&source, 90).unwrap(), &limits, (128, 128)).unwrap();
        assert_eq!(small.image.dimensions(), (128, 128));

        let gif = decode(&two_frame_gif(&source).unwrap(), &limits).unwrap();
        assert_eq!(gif.format, Format::Gif);
        assert!(
            quality::psnr(&source, &gif.image) > 20.0,
            "the first frame, not the blank one"
        );

        let webp = decode(&encode(&source, Format::Webp, 80).unwrap(), &limits).unwrap();
        assert_eq!(webp.format, Format::Webp);
        let pam = decode(&encode(&source, Format::Pam, 0).unwrap(), &limits).unwrap();
        assert_eq!((pam.format, &pam.image), (Format::Pam, &source));
        let small = Limits {
            max_pixels: 10,
            ..limits
        };
        assert!(matches!(
            probe(&encode(&source, Format::Pam, 0).unwrap(), &small),
            Err(ImagingError::TooLarge { .. })
        ));
        assert_eq!(webp.image, source, "WebP output is lossless");
    }
}
