//! Decoding a source image: limits first, then pixels, then orientation.
//!
//! The steps, in order: check the byte length, sniff the format, read the
//! header (dimensions and EXIF orientation) and check the pixel count, decode
//! (JPEG at 1/2, 1/4 or 1/8 scale when the caller needs less), apply the
//! orientation so that every later step works in display coordinates. The ICC
//! profile is carried along untouched for colour management.

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
    /// are in that profile's space (sRGB when there is none).
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
/// decoding everything and resizing. Other formats decode at full size.
pub fn decode_at_least(
    bytes: &[u8],
    limits: &Limits,
    min_size: (u32, u32),
) -> Result<Decoded, ImagingError> {
    let header = Header::read(bytes, limits)?;
    let full_size = header.oriented_size();
    let reduction = header.jpeg_reduction(min_size);
    let orientation = header.orientation;
    let scaled = match reduction {
        Some(reduction) => decode_jpeg_scaled(bytes, &header, reduction)?,
        None => None,
    };
    let (image, has_alpha, icc_profile) = match scaled {
        Some(pixels) => pixels,
        None => decode_full(header.decoder)?,
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
            ImagingError::Unsupported("not JPEG, PNG, WebP, GIF or AVIF".to_owned())
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
            limits.max_pixels,
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

    /// The largest JPEG scale-down (2, 4 or 8) that still leaves at least
    /// `min_size` in both axes, or `None` to decode at full size.
    fn jpeg_reduction(&self, min_size: (u32, u32)) -> Option<u32> {
        if self.format != Format::Jpeg {
            return None;
        }
        let (min_w, min_h) = if self.swaps_axes() {
            (min_size.1, min_size.0)
        } else {
            min_size
        };
        let (w, h) = self.stored_size;
        [8, 4, 2]
            .into_iter()
            .find(|&d| w.div_ceil(d) >= min_w.max(1) && h.div_ceil(d) >= min_h.max(1))
    }
}

fn check_limit(what: &'static str, actual: u64, limit: u64) -> Result<(), ImagingError> {
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

fn decode_full(mut decoder: Box<dyn ImageDecoder + '_>) -> Result<Pixels, ImagingError> {
    let icc_profile = decoder.icc_profile().map_err(from_image_error)?;
    let has_alpha = decoder.color_type().has_alpha();
    let image = DynamicImage::from_decoder(decoder).map_err(from_image_error)?;
    let image = match image {
        DynamicImage::ImageRgba8(rgba) => rgba,
        other => other.to_rgba8(),
    };
    Ok((image, has_alpha, icc_profile))
}

/// Shrink-on-load: jpeg-decoder's scaled IDCT produces the image at
/// 1/`reduction` of its size directly from the DCT coefficients. `None` for
/// CMYK and 16-bit JPEGs, which the full decoder converts properly.
fn decode_jpeg_scaled(
    bytes: &[u8],
    header: &Header<'_>,
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
    let (w, h) = header.stored_size;
    // jpeg-decoder picks the smallest scale whose output reaches the request
    // in either axis; asking for exactly the reduced size selects `reduction`.
    let requested = |len: u32| u16::try_from(len.div_ceil(reduction)).unwrap_or(u16::MAX);
    let (out_w, out_h) = decoder.scale(requested(w), requested(h)).map_err(corrupt)?;
    let pixels = decoder.decode().map_err(corrupt)?;
    let (out_w, out_h) = (u32::from(out_w), u32::from(out_h));
    let rgba: Vec<u8> = if components == Some(jpeg_decoder::PixelFormat::L8) {
        pixels.iter().flat_map(|&l| [l, l, l, 255]).collect()
    } else {
        pixels
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect()
    };
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
