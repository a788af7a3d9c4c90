//! Thumbnail worker: resize, crop and re-encode images, imgproxy-style.
//!
//! Options are parsed once into a validated [`ThumbnailSpec`] (grammar in
//! [`options`]); [`render`] runs the pipeline (steps in [`pipeline`]) on an
//! encoded source. The same code serves HTTP ([`http::handle`]), the typed
//! `studio:edge/thumbnail` export of the component, and the native host.
//!
//! ```
//! use studio_edge_imaging::{Format, Limits, encode, image};
//! use studio_edge_thumbnail::{parse_options, render};
//!
//! let photo = image::RgbaImage::from_pixel(640, 480, image::Rgba([200, 120, 40, 255]));
//! let source = encode(&photo, Format::Png, 80).unwrap();
//! let spec = parse_options("w=160&h=160&fit=cover&format=jpeg&q=75").unwrap();
//! let thumbnail = render(&source, &spec, &Limits::default()).unwrap();
//! assert_eq!(thumbnail.format, Format::Jpeg);
//! assert_eq!((thumbnail.width, thumbnail.height), (160, 160));
//! ```

mod accept;
pub mod geometry;
pub mod http;
pub mod options;
pub mod pipeline;
pub mod signing;
mod smart;

#[cfg(target_arch = "wasm32")]
mod component;

pub use options::{ThumbnailSpec, parse_options, parse_path_options};
pub use pipeline::{Rendered, render, render_many};
pub use studio_edge_imaging::Limits;

use studio_edge_guest::Problem;
use studio_edge_imaging::ImagingError;

/// Why a thumbnail could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThumbnailError {
    /// An option is invalid (400); `option` names it.
    #[error("bad option {option}: {reason}")]
    BadOption { option: String, reason: String },
    /// Decoding or encoding failed (413, 415, 422 or 500).
    #[error(transparent)]
    Imaging(#[from] ImagingError),
}

impl ThumbnailError {
    /// The HTTP status this error is reported with.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadOption { .. } => 400,
            Self::Imaging(error) => error.status(),
        }
    }
}

impl From<ThumbnailError> for Problem {
    fn from(error: ThumbnailError) -> Self {
        match error {
            ThumbnailError::BadOption { .. } => Problem::bad_request(error.to_string()),
            ThumbnailError::Imaging(error) => error.into(),
        }
    }
}
