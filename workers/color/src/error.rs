//! Why a colour request failed, and the problem+json each reason becomes.

use studio_edge_guest::Problem;
use studio_edge_imaging::ImagingError;

use crate::chart::ChartError;
use crate::lut::CubeError;
use crate::profile::ProfileError;
use crate::white_balance::WhiteBalanceError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ColorError {
    /// An option is missing, unknown or out of range (400).
    #[error("{0}")]
    BadOption(String),
    /// A LUT named in the request does not exist (400).
    #[error("unknown LUT {name:?}: {why}")]
    UnknownLut { name: String, why: String },
    /// A profile named in the request does not exist (400).
    #[error("unknown profile {name:?}: {why}")]
    UnknownProfile { name: String, why: String },
    /// The `.cube` text is malformed (422).
    #[error("malformed .cube LUT: {0}")]
    Cube(#[from] CubeError),
    /// The profile is malformed or its fit is singular (422; a bad name is 400).
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// The chart layout does not fit the image (400).
    #[error(transparent)]
    Chart(ChartError),
    /// The image has nothing to estimate a white balance from (422).
    #[error(transparent)]
    WhiteBalance(#[from] WhiteBalanceError),
    /// The request body is not what the content type says (400).
    #[error("bad request body: {0}")]
    Body(String),
    /// A stored profile of that name exists and `replace` was not given (409).
    #[error("a profile named {0:?} is stored already; add replace=true to replace it")]
    ProfileExists(String),
    /// The profile store could not be written (500).
    #[error("{0}")]
    Store(String),
    /// Decoding or encoding failed.
    #[error(transparent)]
    Imaging(#[from] ImagingError),
}

impl From<ChartError> for ColorError {
    fn from(error: ChartError) -> Self {
        match error {
            ChartError::Fit(fit) => Self::Profile(fit),
            other => Self::Chart(other),
        }
    }
}

impl ColorError {
    pub fn bad_option(detail: impl Into<String>) -> Self {
        Self::BadOption(detail.into())
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadOption(_)
            | Self::UnknownLut { .. }
            | Self::UnknownProfile { .. }
            | Self::Body(_) => 400,
            Self::Chart(_) => 400,
            Self::Profile(ProfileError::BadName(_)) => 400,
            Self::Cube(_) | Self::Profile(_) | Self::WhiteBalance(_) => 422,
            Self::ProfileExists(_) => 409,
            Self::Store(_) => 500,
            Self::Imaging(e) => e.status(),
        }
    }

    /// The stable problem type slug (`urn:studio-edge:problem:<slug>`).
    pub fn slug(&self) -> &'static str {
        match self {
            Self::BadOption(_) | Self::Profile(ProfileError::BadName(_)) => "bad-option",
            Self::UnknownLut { .. } => "unknown-lut",
            Self::UnknownProfile { .. } => "unknown-profile",
            Self::Cube(_) => "malformed-cube",
            Self::Profile(ProfileError::Singular { .. }) => "singular-fit",
            Self::Profile(ProfileError::TooFewPatches { .. }) => "singular-fit",
            Self::Profile(_) => "malformed-profile",
            Self::Chart(ChartError::OffImage { .. }) => "chart-off-image",
            Self::Chart(_) => "bad-option",
            Self::WhiteBalance(_) => "unprocessable",
            Self::Body(_) => "bad-body",
            Self::ProfileExists(_) => "profile-exists",
            Self::Store(_) => "profile-store",
            Self::Imaging(ImagingError::TooLarge { .. }) => "too-large",
            Self::Imaging(ImagingError::Unsupported(_)) => "unsupported-format",
            Self::Imaging(ImagingError::Corrupt(_)) => "unprocessable",
            Self::Imaging(ImagingError::Encode(_)) => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self.slug() {
            "unknown-lut" => "Unknown LUT",
            "unknown-profile" => "Unknown profile",
            "malformed-cube" => "Malformed .cube LUT",
            "singular-fit" => "Singular profile fit",
            "malformed-profile" => "Malformed profile",
            "chart-off-image" => "Chart off the image",
            "bad-body" => "Bad request body",
            "profile-exists" => "Profile exists",
            "profile-store" => "Profile store failed",
            "too-large" => "Payload too large",
            "unsupported-format" => "Unsupported media type",
            "unprocessable" => "Unprocessable content",
            "internal" => "Internal error",
            _ => "Bad option",
        }
    }

    pub fn to_problem(&self) -> Problem {
        Problem::new(self.status(), self.slug(), self.title(), self.to_string())
    }
}

impl From<ColorError> for Problem {
    fn from(error: ColorError) -> Self {
        error.to_problem()
    }
}
