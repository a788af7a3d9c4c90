//! The thumbnail pipeline, as an ordered list of steps:
//!
//! 1. **probe**: read the header, check the byte and pixel limits;
//! 2. **plan**: the geometry of every requested thumbnail ([`geometry`]);
//! 3. **shrink-on-load + decode + orient**: one decode for all thumbnails,
//!    JPEG at the smallest 1/2..1/8 scale that still covers the largest of
//!    them ([`studio_edge_imaging::decode_at_least`]);
//! 4. **colour-manage**: ICC-tagged pixels to sRGB (outputs carry no
//!    profile, so they must be sRGB);
//! 5. **smart gravity**: resolve `smart` into a focal point ([`smart`]);
//! 6. **crop + resize**: the planned source rectangle (crop region and
//!    gravity crop together) resampled in one pass;
//! 7. **pad / background**: place on the `pad` canvas, flatten translucency
//!    for JPEG onto the background;
//! 8. **encode**: the fixed or negotiated format; no metadata is written.
//!
//! [`geometry`]: crate::geometry
//! [`smart`]: crate::smart

use studio_edge_imaging::image::{Rgba as Pixel, RgbaImage, imageops};
use studio_edge_imaging::{
    Decoded, Filter, Format, Limits, SourceRect, decode_at_least, encode, icc, probe, resize,
};

use crate::accept::negotiate;
use crate::geometry::{Plan, Rect, plan};
use crate::options::{EncodeFormat, Gravity, OutputFormat, Rgba, ThumbnailSpec};
use crate::{ThumbnailError, smart};

/// Whether this build encodes AVIF (the `avif` feature).
pub const AVIF_AVAILABLE: bool = cfg!(feature = "avif");

/// An encoded thumbnail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub format: Format,
    pub bytes: Vec<u8>,
    /// Output size in pixels.
    pub width: u32,
    pub height: u32,
}

/// Makes one thumbnail of `source`.
pub fn render(
    source: &[u8],
    spec: &ThumbnailSpec,
    limits: &Limits,
) -> Result<Rendered, ThumbnailError> {
    render_many(source, std::slice::from_ref(spec), limits)
        .pop()
        .expect("one result per spec")
}

/// Makes one thumbnail per spec, decoding `source` once. A spec that fails
/// (a crop outside the image, say) does not stop the others; a source that
/// cannot be decoded fails them all.
pub fn render_many(
    source: &[u8],
    specs: &[ThumbnailSpec],
    limits: &Limits,
) -> Vec<Result<Rendered, ThumbnailError>> {
    let header = match probe(source, limits) {
        Ok(header) => header,
        Err(error) => return specs.iter().map(|_| Err(error.clone().into())).collect(),
    };
    let full_size = (header.width, header.height);
    let plans: Vec<Result<Plan, ThumbnailError>> = specs
        .iter()
        .map(|spec| plan(full_size, spec, spec.gravity))
        .collect();
    let mut decoded = match decode_at_least(source, limits, decode_size(full_size, &plans)) {
        Ok(decoded) => decoded,
        Err(error) => return specs.iter().map(|_| Err(error.clone().into())).collect(),
    };
    colour_manage(&mut decoded);
    specs
        .iter()
        .zip(plans)
        .map(|(spec, planned)| render_one(&decoded, spec, planned?))
        .collect()
}

/// Converts ICC-tagged pixels to sRGB. A profile that cannot be applied
/// (malformed, CMYK) leaves the pixels as they are, as browsers do.
fn colour_manage(decoded: &mut Decoded) {
    if let Some(profile) = &decoded.icc_profile {
        let _ = icc::to_srgb(&mut decoded.image, profile);
    }
}

/// How many decoded pixels shrink-on-load leaves per output pixel, at
/// least. The scaled IDCT is a box filter: decoding at exactly the output
/// size aliases (SSIM 0.97 against Lanczos3 on rocket.jpg at 1/2), while
/// leaving 1.5x for the Lanczos3 resize keeps the result at 0.99+.
const SHRINK_MARGIN: f64 = 1.5;

/// The smallest decoded size (display orientation) that still gives every
/// plan [`SHRINK_MARGIN`] source pixels per output pixel.
fn decode_size(full_size: (u32, u32), plans: &[Result<Plan, ThumbnailError>]) -> (u32, u32) {
    plans
        .iter()
        .flatten()
        .map(|plan| {
            let (sx, sy) = plan.scale();
            let need =
                |full: u32, s: f64| (f64::from(full) * (s * SHRINK_MARGIN).min(1.0)).ceil() as u32;
            (need(full_size.0, sx), need(full_size.1, sy))
        })
        .fold((1, 1), |(w, h), (pw, ph)| (w.max(pw), h.max(ph)))
}

fn render_one(
    decoded: &Decoded,
    spec: &ThumbnailSpec,
    planned: Plan,
) -> Result<Rendered, ThumbnailError> {
    let planned = resolve_smart_gravity(decoded, spec, planned)?;
    let resized = crop_and_resize(decoded, &planned);
    let canvas = pad(resized, &planned, spec.background);
    let transparent = canvas.pixels().any(|p| p.0[3] != 255);
    let format = output_format(spec, transparent)?;
    let canvas = if format.supports_alpha() {
        canvas
    } else {
        flatten(canvas, spec.background)
    };
    let bytes = encode(&canvas, format, spec.quality.get())?;
    Ok(Rendered {
        format,
        bytes,
        width: canvas.width(),
        height: canvas.height(),
    })
}

/// Scale from full-resolution source coordinates to the decoded image's.
fn decoded_scale(decoded: &Decoded) -> (f64, f64) {
    (
        f64::from(decoded.image.width()) / f64::from(decoded.full_size.0),
        f64::from(decoded.image.height()) / f64::from(decoded.full_size.1),
    )
}

fn resolve_smart_gravity(
    decoded: &Decoded,
    spec: &ThumbnailSpec,
    planned: Plan,
) -> Result<Plan, ThumbnailError> {
    if spec.gravity != Gravity::Smart {
        return Ok(planned);
    }
    // The region smart cropping chooses within: the crop region or the
    // whole image, in decoded coordinates.
    let (kx, ky) = decoded_scale(decoded);
    let base = match spec.crop {
        Some(region) => Rect {
            left: f64::from(region.x()) * kx,
            top: f64::from(region.y()) * ky,
            width: f64::from(region.width()) * kx,
            height: f64::from(region.height()) * ky,
        },
        None => Rect {
            left: 0.0,
            top: 0.0,
            width: f64::from(decoded.image.width()),
            height: f64::from(decoded.image.height()),
        },
    };
    let window = (planned.source.width * kx, planned.source.height * ky);
    let focus = smart::focal_point(&decoded.image, base, window);
    plan(decoded.full_size, spec, Gravity::FocalPoint(focus))
}

fn crop_and_resize(decoded: &Decoded, planned: &Plan) -> RgbaImage {
    let (kx, ky) = decoded_scale(decoded);
    let source = SourceRect {
        left: planned.source.left * kx,
        top: planned.source.top * ky,
        width: planned.source.width * kx,
        height: planned.source.height * ky,
    };
    let (w, h) = planned.resized;
    resize(&decoded.image, source, w, h, Filter::Lanczos3)
}

fn pad(resized: RgbaImage, planned: &Plan, background: Rgba) -> RgbaImage {
    if planned.canvas == planned.resized {
        return resized;
    }
    let (w, h) = planned.canvas;
    let mut canvas = RgbaImage::from_pixel(w, h, Pixel(background.0));
    imageops::overlay(
        &mut canvas,
        &resized,
        i64::from(planned.offset.0),
        i64::from(planned.offset.1),
    );
    canvas
}

fn flatten(mut image: RgbaImage, background: Rgba) -> RgbaImage {
    let [br, bg, bb, _] = background.0;
    for pixel in image.pixels_mut() {
        let [r, g, b, a] = pixel.0;
        if a == 255 {
            continue;
        }
        let a = u16::from(a);
        let over = |c: u8, under: u8| {
            ((u16::from(c) * a + u16::from(under) * (255 - a) + 127) / 255) as u8
        };
        pixel.0 = [over(r, br), over(g, bg), over(b, bb), 255];
    }
    image
}

fn output_format(spec: &ThumbnailSpec, transparent: bool) -> Result<Format, ThumbnailError> {
    let format = match &spec.format {
        OutputFormat::Fixed(EncodeFormat::Avif) if !AVIF_AVAILABLE => {
            return Err(ThumbnailError::BadOption {
                option: "format".to_owned(),
                reason: "avif output is not available in this build".to_owned(),
            });
        }
        OutputFormat::Fixed(format) => *format,
        OutputFormat::Auto { accept } => negotiate(accept.as_deref(), transparent, AVIF_AVAILABLE),
    };
    Ok(format.into())
}
