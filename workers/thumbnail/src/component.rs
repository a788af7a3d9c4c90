//! The component layer: `wasi:http/incoming-handler` onto [`crate::http`],
//! and the typed `studio:edge/thumbnail` export onto [`crate::render`],
//! both configured from Spin variables.

use studio_edge_guest::variables;
use studio_edge_guest::wasi_http::{self, IncomingRequest, ResponseOutparam, WasiFetch};

use crate::options::{
    Dimension, Dpr, EncodeFormat, Fit, FocalPoint, Gravity, OutputFormat, Quality, Region, Rgba,
};
use crate::{Limits, ThumbnailError, http};
use studio_edge_imaging::{Format, ImagingError};

studio_edge_guest::generate_worker!(
    "thumbnail-worker",
    "fermyon:spin/variables@2.0.0": studio_edge_guest::wasi_http::fermyon::spin::variables,
);

use exports::studio::edge::thumbnail as api;
use studio::edge::types::{EncodedImage, Error, ImageFormat};

struct Worker;

impl exports::wasi::http::incoming_handler::Guest for Worker {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        // The body limit is the source limit; a broken configuration is
        // reported for the request, after reading within the default.
        let config = http::Config::from_variables(&variables::read_spin(http::VARIABLES));
        let max_body = config
            .as_ref()
            .map_or(Limits::default().max_bytes, |config| {
                config.limits.max_bytes
            });
        wasi_http::serve(request, out, max_body, |request| match &config {
            Ok(config) => http::handle(request, config, &WasiFetch),
            Err(error) => error.to_problem().into_response(),
        });
    }
}

impl api::Guest for Worker {
    fn parse_options(query: String) -> Result<api::ThumbnailSpec, Error> {
        crate::parse_options(&query)
            .map(to_wit)
            .map_err(error_to_wit)
    }

    fn transform(source: Vec<u8>, spec: api::ThumbnailSpec) -> Result<EncodedImage, Error> {
        let spec = from_wit(spec).map_err(error_to_wit)?;
        crate::render(&source, &spec, &limits()?)
            .map(encoded)
            .map_err(error_to_wit)
    }

    fn transform_many(
        source: Vec<u8>,
        specs: Vec<api::ThumbnailSpec>,
    ) -> Vec<Result<EncodedImage, Error>> {
        let limits = match limits() {
            Ok(limits) => limits,
            Err(error) => return specs.iter().map(|_| Err(error.clone())).collect(),
        };
        let parsed: Vec<Result<crate::ThumbnailSpec, ThumbnailError>> =
            specs.into_iter().map(from_wit).collect();
        let valid: Vec<crate::ThumbnailSpec> = parsed.iter().flatten().cloned().collect();
        let mut rendered = crate::render_many(&source, &valid, &limits).into_iter();
        parsed
            .into_iter()
            .map(|spec| match spec {
                Ok(_) => rendered
                    .next()
                    .expect("one result per valid spec")
                    .map(encoded)
                    .map_err(error_to_wit),
                Err(error) => Err(error_to_wit(error)),
            })
            .collect()
    }
}

export!(Worker);

/// The typed calls use the deployment's limits, and refuse to run without
/// them rather than guess.
fn limits() -> Result<Limits, Error> {
    http::source_limits(&variables::read_spin(http::VARIABLES))
        .map_err(|error| Error::Internal(error.to_string()))
}

fn encoded(rendered: crate::Rendered) -> EncodedImage {
    EncodedImage {
        format: format_to_wit(rendered.format),
        bytes: rendered.bytes,
    }
}

fn format_to_wit(format: Format) -> ImageFormat {
    match format {
        Format::Jpeg => ImageFormat::Jpeg,
        Format::Png => ImageFormat::Png,
        Format::Webp => ImageFormat::Webp,
        Format::Gif => ImageFormat::Gif,
        Format::Avif => ImageFormat::Avif,
        Format::Pam => ImageFormat::Pam,
    }
}

fn error_to_wit(error: ThumbnailError) -> Error {
    let text = error.to_string();
    match error {
        ThumbnailError::BadOption { .. } => Error::BadOption(text),
        ThumbnailError::Imaging(ImagingError::TooLarge { .. }) => Error::TooLarge(text),
        ThumbnailError::Imaging(ImagingError::Unsupported(_)) => Error::UnsupportedFormat(text),
        ThumbnailError::Imaging(ImagingError::Corrupt(_)) => Error::Unprocessable(text),
        ThumbnailError::Imaging(ImagingError::Encode(_)) => Error::Internal(text),
    }
}

fn to_wit(spec: crate::ThumbnailSpec) -> api::ThumbnailSpec {
    api::ThumbnailSpec {
        width: spec.width.map(Dimension::get),
        height: spec.height.map(Dimension::get),
        fit: match spec.fit {
            Fit::Cover => api::Fit::Cover,
            Fit::Contain => api::Fit::Contain,
            Fit::Fill => api::Fit::Fill,
            Fit::ScaleDown => api::Fit::ScaleDown,
            Fit::Pad => api::Fit::Pad,
        },
        gravity: match spec.gravity {
            Gravity::Centre => api::Gravity::Centre,
            Gravity::North => api::Gravity::North,
            Gravity::NorthEast => api::Gravity::NorthEast,
            Gravity::East => api::Gravity::East,
            Gravity::SouthEast => api::Gravity::SouthEast,
            Gravity::South => api::Gravity::South,
            Gravity::SouthWest => api::Gravity::SouthWest,
            Gravity::West => api::Gravity::West,
            Gravity::NorthWest => api::Gravity::NorthWest,
            Gravity::Smart => api::Gravity::Smart,
            Gravity::FocalPoint(point) => api::Gravity::FocalPoint((point.x(), point.y())),
        },
        dpr: spec.dpr.get(),
        format: match spec.format {
            OutputFormat::Fixed(format) => {
                api::OutputFormat::Fixed(format_to_wit(Format::from(format)))
            }
            OutputFormat::Auto { accept } => api::OutputFormat::Auto(accept),
        },
        quality: spec.quality.get(),
        enlarge: spec.enlarge,
        background: api::Rgba {
            r: spec.background.0[0],
            g: spec.background.0[1],
            b: spec.background.0[2],
            a: spec.background.0[3],
        },
        crop: spec.crop.map(|region| api::Region {
            x: region.x(),
            y: region.y(),
            width: region.width(),
            height: region.height(),
        }),
    }
}

/// Validates a spec that came over the typed interface, as the parser would.
fn from_wit(spec: api::ThumbnailSpec) -> Result<crate::ThumbnailSpec, ThumbnailError> {
    let bad = |option: &str, reason: &str| ThumbnailError::BadOption {
        option: option.to_owned(),
        reason: reason.to_owned(),
    };
    let dimension = |option: &str, value: Option<u32>| {
        value
            .map(|v| Dimension::new(v).ok_or_else(|| bad(option, "must be 1 to 8192")))
            .transpose()
    };
    Ok(crate::ThumbnailSpec {
        width: dimension("w", spec.width)?,
        height: dimension("h", spec.height)?,
        fit: match spec.fit {
            api::Fit::Cover => Fit::Cover,
            api::Fit::Contain => Fit::Contain,
            api::Fit::Fill => Fit::Fill,
            api::Fit::ScaleDown => Fit::ScaleDown,
            api::Fit::Pad => Fit::Pad,
        },
        gravity: match spec.gravity {
            api::Gravity::Centre => Gravity::Centre,
            api::Gravity::North => Gravity::North,
            api::Gravity::NorthEast => Gravity::NorthEast,
            api::Gravity::East => Gravity::East,
            api::Gravity::SouthEast => Gravity::SouthEast,
            api::Gravity::South => Gravity::South,
            api::Gravity::SouthWest => Gravity::SouthWest,
            api::Gravity::West => Gravity::West,
            api::Gravity::NorthWest => Gravity::NorthWest,
            api::Gravity::Smart => Gravity::Smart,
            api::Gravity::FocalPoint((x, y)) => Gravity::FocalPoint(
                FocalPoint::new(x, y)
                    .ok_or_else(|| bad("gravity", "focal point coordinates must be 0 to 1"))?,
            ),
        },
        dpr: Dpr::new(spec.dpr).ok_or_else(|| bad("dpr", "must be 1 to 4"))?,
        format: match spec.format {
            api::OutputFormat::Fixed(format) => OutputFormat::Fixed(match format {
                ImageFormat::Jpeg => EncodeFormat::Jpeg,
                ImageFormat::Png => EncodeFormat::Png,
                ImageFormat::Webp => EncodeFormat::Webp,
                ImageFormat::Avif => EncodeFormat::Avif,
                ImageFormat::Gif | ImageFormat::Pam => {
                    return Err(bad("format", "gif and pam are not thumbnail formats"));
                }
            }),
            api::OutputFormat::Auto(accept) => OutputFormat::Auto { accept },
        },
        quality: Quality::new(spec.quality).ok_or_else(|| bad("q", "must be 1 to 100"))?,
        enlarge: spec.enlarge,
        background: Rgba([
            spec.background.r,
            spec.background.g,
            spec.background.b,
            spec.background.a,
        ]),
        crop: spec
            .crop
            .map(|region| {
                Region::new(region.x, region.y, region.width, region.height)
                    .ok_or_else(|| bad("crop", "width and height must be non-zero"))
            })
            .transpose()?,
    })
}
