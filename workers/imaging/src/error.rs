//! Why decoding or encoding failed, and the HTTP status each reason maps to.

use studio_edge_guest::Problem;

/// A decode or encode failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImagingError {
    /// The source exceeds a [`Limits`](crate::Limits) bound (413).
    #[error("the image {what} ({actual}) exceeds the limit of {limit}")]
    TooLarge {
        /// `"size in bytes"` or `"size in pixels"`.
        what: &'static str,
        actual: u64,
        limit: u64,
    },
    /// The bytes are not an image format this crate decodes (415).
    #[error("unsupported image format: {0}")]
    Unsupported(String),
    /// The bytes claim a known format but cannot be decoded (422).
    #[error("corrupt image: {0}")]
    Corrupt(String),
    /// Encoding the output failed (500).
    #[error("encoding failed: {0}")]
    Encode(String),
}

impl ImagingError {
    /// The HTTP status this error is reported with.
    pub fn status(&self) -> u16 {
        match self {
            Self::TooLarge { .. } => 413,
            Self::Unsupported(_) => 415,
            Self::Corrupt(_) => 422,
            Self::Encode(_) => 500,
        }
    }
}

impl From<ImagingError> for Problem {
    fn from(error: ImagingError) -> Self {
        let detail = error.to_string();
        match error {
            ImagingError::TooLarge { .. } => Problem::too_large(detail),
            ImagingError::Unsupported(_) => Problem::unsupported_media(detail),
            ImagingError::Corrupt(_) => Problem::unprocessable(detail),
            ImagingError::Encode(_) => Problem::internal(detail),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_match_problems() {
        let errors = [
            ImagingError::TooLarge {
                what: "size in bytes",
                actual: 2,
                limit: 1,
            },
            ImagingError::Unsupported("bmp".into()),
            ImagingError::Corrupt("truncated".into()),
            ImagingError::Encode("boom".into()),
        ];
        let statuses: Vec<u16> = errors.iter().map(ImagingError::status).collect();
        assert_eq!(statuses, [413, 415, 422, 500]);
        for error in errors {
            let status = error.status();
            assert_eq!(Problem::from(error).status, status);
        }
    }
}
