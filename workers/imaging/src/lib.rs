//! Decoding, orientation and encoding shared by the studio-edge workers.
//!
//! Every worker that touches pixels goes through this crate so that they all
//! agree on what a source image is: the same format sniffing, the same limits
//! (checked from the header *before* any pixel is decoded), the same EXIF
//! orientation, and the same encoders.
//!
//! ```
//! use studio_edge_imaging::{decode, encode, Format, Limits};
//!
//! let mut image = image::RgbaImage::from_pixel(4, 3, image::Rgba([0, 0, 0, 255]));
//! image.put_pixel(1, 1, image::Rgba([255, 0, 0, 255]));
//! let png = encode(&image, Format::Png, 80).unwrap();
//! let decoded = decode(&png, &Limits::default()).unwrap();
//! assert_eq!(decoded.format, Format::Png);
//! assert_eq!(decoded.image.dimensions(), (4, 3));
//! assert!(!decoded.has_alpha);
//! ```
//!
//! Decoding is an ordered list of steps, each a small function in
//! [`decode`](mod@decode): sniff, probe the header, check limits, decode
//! (at a reduced scale for JPEG and PNG when [`decode_at_least`] allows it,
//! into one RGBA buffer otherwise), orient.
//! [`icc::to_srgb`] then converts ICC-tagged pixels to sRGB.

mod decode;
mod encode;
mod error;
mod format;
pub mod icc;
pub mod pam;
mod png_rows;
pub mod quality;
mod resize;
pub mod testing;

pub use decode::{Decoded, Probe, decode, decode_at_least, decode_stored_at_least, probe};
pub use encode::encode;
pub use error::ImagingError;
pub use format::{Format, sniff};
pub use resize::{Filter, SourceRect, resize};

/// Re-exported so that callers name the same pixel types as this crate.
pub use image;

/// Bounds on what a worker accepts, checked before decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest encoded source, in bytes.
    pub max_bytes: u64,
    /// The largest image, in pixels (width x height from the header).
    pub max_pixels: u64,
}

/// The pixel limit of WebP and GIF sources (and of WebP output): their
/// decoders (and the lossless WebP encoder) keep copies of their own beside
/// the RGBA buffer, so the 50 MP of JPEG and PNG would not fit a worker's
/// 256 MiB.
pub const WEBP_GIF_MAX_PIXELS: u64 = 16_000_000;

impl Limits {
    /// The pixel limit for `format`: [`Limits::max_pixels`], capped at
    /// [`WEBP_GIF_MAX_PIXELS`] for WebP and GIF.
    pub fn max_pixels_for(&self, format: Format) -> u64 {
        match format {
            Format::Webp | Format::Gif => self.max_pixels.min(WEBP_GIF_MAX_PIXELS),
            _ => self.max_pixels,
        }
    }
}

impl Default for Limits {
    /// 32 MiB and 50 megapixels.
    fn default() -> Self {
        Self {
            max_bytes: 32 << 20,
            max_pixels: 50_000_000,
        }
    }
}
