//! The boundary between the pipeline and the workers that do the image work.
//!
//! The pipeline knows nothing about wasmtime: the host implements these traits
//! with typed calls into the colour, thumbnail and moderation components, and
//! tests and benches implement them natively with the worker crates. A stage
//! whose worker is not configured is `None` in [`FrameStages`] and is skipped;
//! every frame event says which stages ran.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Encoded image formats, as in `studio:edge/types.image-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    Jpeg,
    Png,
    Webp,
    Gif,
    Avif,
    /// Uncompressed pixels: how the pipeline hands the working frame from
    /// one stage to the next; never a published rendition.
    Pam,
}

impl ImageFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
            Self::Gif => "image/gif",
            Self::Avif => "image/avif",
            Self::Pam => "image/x-portable-arbitrarymap",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
            Self::Webp => "webp",
            Self::Gif => "gif",
            Self::Avif => "avif",
            Self::Pam => "pam",
        }
    }

    pub fn from_extension(ext: &str) -> Option<Self> {
        Some(match ext {
            "jpg" => Self::Jpeg,
            "png" => Self::Png,
            "webp" => Self::Webp,
            "gif" => Self::Gif,
            "avif" => Self::Avif,
            "pam" => Self::Pam,
            _ => return None,
        })
    }

    /// Recognises a format from the first bytes of a file.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(Self::Webp)
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Some(Self::Gif)
        } else if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" && &bytes[8..12] == b"avif" {
            Some(Self::Avif)
        } else if bytes.starts_with(b"P7\n") {
            Some(Self::Pam)
        } else {
            None
        }
    }
}

/// An encoded image: the bytes of a file and the format they are in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedImage {
    pub format: ImageFormat,
    pub bytes: Vec<u8>,
}

/// A rectangle in source pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// One rendition a stream publishes for every frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantSpec {
    /// The name in rendition URLs, e.g. `w320-webp` or `detail-shoe`.
    pub name: String,
    /// Thumbnail options in the thumbnail worker's query syntax, e.g.
    /// `w=320&format=webp`.
    pub options: String,
    /// A product-detail region of the frame to crop before resizing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop: Option<Region>,
}

/// The output size a rendition asks for, in device pixels (`None`: follows
/// from the other side and the source's aspect ratio).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutputBox {
    pub width: Option<u32>,
    pub height: Option<u32>,
}

/// Why a stage refused or failed, as in `studio:edge/types.error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StageError {
    #[error("bad option: {0}")]
    BadOption(String),
    #[error("too large: {0}")]
    TooLarge(String),
    #[error("unsupported format: {0}")]
    UnsupportedFormat(String),
    #[error("unprocessable: {0}")]
    Unprocessable(String),
    #[error("internal: {0}")]
    Internal(String),
}

impl StageError {
    /// True when the error is about the frame itself rather than the stage.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Self::Unprocessable(_) | Self::UnsupportedFormat(_) | Self::TooLarge(_)
        )
    }
}

/// What moderation suggests doing with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModerationAction {
    Allow,
    Review,
    /// Withhold the frame from viewers and tell the operator.
    Hold,
}

/// One moderation hint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HintSummary {
    /// A stable code such as `frozen-frame` or `blocklisted`.
    pub code: String,
    /// `info`, `warning` or `critical`, as the moderation worker names it.
    pub severity: String,
    pub score: f32,
    pub detail: String,
}

/// The moderation stage's verdict on one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModerationSummary {
    pub action: ModerationAction,
    pub hints: Vec<HintSummary>,
    /// The frame's PDQ hash (64 hex digits), passed back as the next
    /// frame's `previous_hash` for freeze detection.
    pub pdq_hash: String,
}

/// Colour correction with a stream's camera profile, LUT or ops string.
pub trait ColorStage: Send + Sync + 'static {
    /// Checks a stream's colour ops when the stream is configured, so that a
    /// bad configuration is refused up front rather than on every frame.
    fn check(&self, ops: &str) -> Result<(), StageError>;

    /// Returns the corrected frame.
    fn correct(&self, frame: &[u8], ops: &str) -> Result<EncodedImage, StageError>;
}

/// Thumbnail renditions of the (corrected) frame.
pub trait ThumbnailStage: Send + Sync + 'static {
    /// Checks one variant's options and crop when the stream is configured,
    /// and says what output size it asks for (the pipeline shrinks each
    /// frame to the size its renditions need before colour correction).
    fn check(&self, variant: &VariantSpec) -> Result<OutputBox, StageError>;

    /// Renders every variant of one source, decoding it once; one result per
    /// variant, in order.
    fn render(
        &self,
        source: &[u8],
        variants: &[VariantSpec],
    ) -> Vec<Result<EncodedImage, StageError>>;
}

/// Moderation hints for the (corrected) frame.
pub trait ModerationStage: Send + Sync + 'static {
    /// `previous_hash` is the PDQ hash of the stream's previous frame (for
    /// freeze detection); `blocklist` holds PDQ hashes (hex) of images that
    /// must never be shown.
    fn moderate(
        &self,
        source: &[u8],
        previous_hash: Option<&str>,
        blocklist: &[String],
    ) -> Result<ModerationSummary, StageError>;
}

/// The stages the pipeline runs, in this order: colour, thumbnails,
/// moderation. A `None` stage is left out.
#[derive(Clone, Default)]
pub struct FrameStages {
    pub color: Option<Arc<dyn ColorStage>>,
    pub thumbnails: Option<Arc<dyn ThumbnailStage>>,
    pub moderation: Option<Arc<dyn ModerationStage>>,
}

impl FrameStages {
    /// Names of the configured stages, in pipeline order.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.color.is_some() {
            names.push("color");
        }
        if self.thumbnails.is_some() {
            names.push("thumbnails");
        }
        if self.moderation.is_some() {
            names.push("moderation");
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_the_formats_a_camera_sends() {
        assert_eq!(
            ImageFormat::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some(ImageFormat::Jpeg)
        );
        assert_eq!(
            ImageFormat::sniff(b"\x89PNG\r\n\x1a\n...."),
            Some(ImageFormat::Png)
        );
        assert_eq!(
            ImageFormat::sniff(b"RIFF\0\0\0\0WEBPVP8 "),
            Some(ImageFormat::Webp)
        );
        assert_eq!(ImageFormat::sniff(b"GIF89a"), Some(ImageFormat::Gif));
        assert_eq!(ImageFormat::sniff(b"not an image"), None);
        assert_eq!(ImageFormat::sniff(b""), None);
    }
}
