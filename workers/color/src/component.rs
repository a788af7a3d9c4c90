//! The component layer: `wasi:http/incoming-handler` over [`crate::http`]
//! and the typed `studio:edge/color` export over the plain functions.

use studio_edge_guest::wasi_http::{self, IncomingRequest, ResponseOutparam};
use studio_edge_imaging::Format;

use crate::assets::{Assets, Uploads};
use crate::error::ColorError;
use crate::exposure::Exposure;
use crate::http::{Config, MAX_BODY};
use crate::lut::Interpolation;
use crate::ops::ColorOps;
use crate::white_balance::WhiteBalance;

studio_edge_guest::generate_worker!("color-worker");

use exports::studio::edge::color::{
    self as api, ColorOps as WitOps, Corrected, EncodedImage, Error,
};
use studio::edge::types::ImageFormat;

struct Worker;

impl exports::wasi::http::incoming_handler::Guest for Worker {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        wasi_http::serve(request, out, MAX_BODY, crate::http::handle);
    }
}

fn to_wit_error(error: ColorError) -> Error {
    let detail = error.to_string();
    match error.status() {
        413 => Error::TooLarge(detail),
        415 => Error::UnsupportedFormat(detail),
        422 => Error::Unprocessable(detail),
        400..=499 => Error::BadOption(detail),
        _ => Error::Internal(detail),
    }
}

fn to_wit_format(format: Format) -> ImageFormat {
    match format {
        Format::Jpeg => ImageFormat::Jpeg,
        Format::Png => ImageFormat::Png,
        Format::Webp => ImageFormat::Webp,
        Format::Gif => ImageFormat::Gif,
        Format::Avif => ImageFormat::Avif,
        Format::Pam => ImageFormat::Pam,
    }
}

fn to_wit_ops(ops: ColorOps) -> WitOps {
    WitOps {
        profile: ops.profile,
        white_balance: ops.white_balance.map(|wb| match wb {
            WhiteBalance::Auto => api::WhiteBalance::Auto,
            WhiteBalance::GrayWorld => api::WhiteBalance::GrayWorld,
            WhiteBalance::WhitePatch { percentile } => api::WhiteBalance::WhitePatch(percentile),
            WhiteBalance::ShadesOfGray { p } => api::WhiteBalance::ShadesOfGray(p),
            WhiteBalance::Gains([r, g, b]) => api::WhiteBalance::Gains((r, g, b)),
            WhiteBalance::Temperature { kelvin, tint } => {
                api::WhiteBalance::Temperature((kelvin, tint))
            }
        }),
        exposure: ops.exposure.map(|e| match e {
            Exposure::Manual { ev } => api::Exposure::Manual(ev),
            Exposure::Auto => api::Exposure::Auto,
            Exposure::Skin => api::Exposure::Skin,
        }),
        lut: ops.lut,
        interpolation: match ops.interpolation {
            Interpolation::Tetrahedral => api::Interpolation::Tetrahedral,
            Interpolation::Trilinear => api::Interpolation::Trilinear,
        },
        format: ops.format.map(to_wit_format),
        quality: ops.quality,
    }
}

/// The typed record is checked like the query: the same ranges and names.
fn from_wit_ops(ops: WitOps) -> Result<ColorOps, ColorError> {
    let mut query: Vec<String> = Vec::new();
    if let Some(profile) = &ops.profile {
        query.push(format!("profile={profile}"));
    }
    if let Some(wb) = &ops.white_balance {
        query.push(match wb {
            api::WhiteBalance::Auto => "wb=auto".to_owned(),
            api::WhiteBalance::GrayWorld => "wb=grayworld".to_owned(),
            api::WhiteBalance::WhitePatch(q) => format!("wb=whitepatch:{q}"),
            api::WhiteBalance::ShadesOfGray(p) => format!("wb=sog:{p}"),
            api::WhiteBalance::Gains((r, g, b)) => format!("wb=gains:{r},{g},{b}"),
            api::WhiteBalance::Temperature((k, t)) => format!("wb=temp:{k},{t}"),
        });
    }
    if let Some(exposure) = &ops.exposure {
        query.push(match exposure {
            api::Exposure::Manual(ev) => format!("ev={ev}"),
            api::Exposure::Auto => "ev=auto".to_owned(),
            api::Exposure::Skin => "ev=skin".to_owned(),
        });
    }
    if let Some(lut) = &ops.lut {
        query.push(format!("lut={lut}"));
    }
    if ops.interpolation == api::Interpolation::Trilinear {
        query.push("interp=trilinear".to_owned());
    }
    if let Some(format) = ops.format {
        query.push(format!(
            "format={}",
            match format {
                ImageFormat::Jpeg => "jpeg",
                ImageFormat::Png => "png",
                ImageFormat::Webp => "webp",
                ImageFormat::Gif => "gif",
                ImageFormat::Avif => "avif",
                ImageFormat::Pam => "pam",
            }
        ));
    }
    query.push(format!("q={}", ops.quality));
    // Names and numbers may hold characters that end a query field.
    let escaped: Vec<String> = query
        .into_iter()
        .map(|field| {
            field
                .replace('%', "%25")
                .replace('&', "%26")
                .replace('+', "%2B")
        })
        .collect();
    ColorOps::parse(&escaped.join("&"))
}

impl api::Guest for Worker {
    fn parse_options(query: String) -> Result<WitOps, Error> {
        ColorOps::parse(&query)
            .map(to_wit_ops)
            .map_err(to_wit_error)
    }

    fn correct(source: Vec<u8>, ops: WitOps, assets: api::Assets) -> Result<Corrected, Error> {
        let config = Config::from_env();
        let run = || {
            let ops = from_wit_ops(ops)?;
            let uploads = Uploads {
                cube: assets.lut_cube.as_deref(),
                profile: assets.profile_json.as_deref(),
            };
            let resolved = Assets::resolve(&ops, uploads, config.sources())?;
            crate::pipeline::correct_owned(source, &ops, &resolved, &config.limits)
        };
        let corrected = run().map_err(to_wit_error)?;
        Ok(Corrected {
            image: EncodedImage {
                format: to_wit_format(corrected.format),
                bytes: corrected.bytes,
            },
            gains: corrected.applied.gains.map(|[r, g, b]| (r, g, b)),
            ev: corrected.applied.exposure.map(|e| e.ev),
        })
    }

    fn analyze(source: Vec<u8>, query: String, assets: api::Assets) -> Result<String, Error> {
        crate::http::analyze_image(
            &source,
            &query,
            assets.profile_json.as_deref(),
            &Config::from_env(),
        )
        .map(|analysis| serde_json::to_string(&analysis).expect("plain data serialises"))
        .map_err(to_wit_error)
    }

    fn fit_profile(source: Vec<u8>, query: String) -> Result<String, Error> {
        crate::http::fit_profile_image(&source, &query, &Config::from_env())
            .map(|fitted| serde_json::to_string_pretty(&fitted).expect("plain data serialises"))
            .map_err(to_wit_error)
    }
}

export!(Worker);
