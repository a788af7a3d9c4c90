//! The correction pipeline: one fixed, ordered list of steps.
//!
//! 1. **colour-manage**: decode; ICC-tagged pixels are converted to sRGB
//!    (untagged input is taken as sRGB); into linear light.
//! 2. **camera profile**: the fitted transform, camera RGB to sRGB.
//! 3. **white balance**: per-channel gains.
//! 4. **exposure**: one gain, in stops.
//! 5. **LUT**: the 3D LUT, applied to sRGB-encoded values (what `.cube`
//!    files for display-referred images are made for), in float.
//! 6. **encode**: linear light to 8-bit sRGB, then the output format.
//!
//! Steps 2 to 5 run only when asked for; everything between decode and
//! encode is `f32` linear light.

use studio_edge_imaging::image::RgbaImage;
use studio_edge_imaging::{Format, Limits, decode, encode, icc};

use crate::assets::Assets;
use crate::error::ColorError;
use crate::exposure::{self, ExposureDecision};
use crate::image::LinearImage;
use crate::lut::{Interpolation, Lut3d};
use crate::ops::ColorOps;
use crate::profile::CameraProfile;
use crate::transfer;

/// What the steps decided, for headers and logs.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Applied {
    /// The white-balance gains used.
    pub gains: Option<[f32; 3]>,
    pub exposure: Option<ExposureDecision>,
}

/// A corrected, encoded image.
#[derive(Debug, Clone, PartialEq)]
pub struct Corrected {
    pub bytes: Vec<u8>,
    pub format: Format,
    pub applied: Applied,
}

/// How the source's colour space was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ColourManagement {
    /// No ICC profile: taken as sRGB.
    Untagged,
    /// Tagged sRGB: nothing to do.
    Srgb,
    /// Converted from the embedded profile to sRGB.
    Converted,
    /// The embedded profile could not be used: taken as sRGB.
    Ignored,
}

/// A decoded, colour-managed source in linear light.
pub struct Source {
    pub image: LinearImage,
    pub format: Format,
    pub colour_management: ColourManagement,
}

/// Step 1: decode and colour-manage.
pub fn colour_manage(bytes: &[u8], limits: &Limits) -> Result<Source, ColorError> {
    let (image, format, colour_management) = decode_srgb(bytes, limits)?;
    Ok(Source {
        image: LinearImage::from_rgba8(&image),
        format,
        colour_management,
    })
}

/// Decodes and converts to 8-bit sRGB.
fn decode_srgb(
    bytes: &[u8],
    limits: &Limits,
) -> Result<(RgbaImage, Format, ColourManagement), ColorError> {
    let mut decoded = decode(bytes, limits)?;
    let colour_management = match &decoded.icc_profile {
        None => ColourManagement::Untagged,
        Some(profile) => match icc::to_srgb(&mut decoded.image, profile) {
            Ok(icc::Conversion::Converted) => ColourManagement::Converted,
            Ok(icc::Conversion::AlreadySrgb) => ColourManagement::Srgb,
            Err(_) => ColourManagement::Ignored,
        },
    };
    Ok((decoded.image, decoded.format, colour_management))
}

/// Step 2: the camera profile.
pub fn apply_profile(image: &mut LinearImage, profile: &CameraProfile) {
    let transform = profile.applier();
    for p in &mut image.pixels {
        *p = transform(*p);
    }
}

/// Step 5: the 3D LUT, on encoded values.
pub fn apply_lut(image: &mut LinearImage, lut: &Lut3d, interpolation: Interpolation) {
    let (to_encoded, to_linear) = (transfer::encoder(), transfer::decoder());
    for p in &mut image.pixels {
        let encoded = p.map(&to_encoded);
        *p = lut.apply(encoded, interpolation).map(&to_linear);
    }
}

/// Steps 2 to 5 on a linear image.
pub fn apply(
    image: &mut LinearImage,
    ops: &ColorOps,
    assets: &Assets,
) -> Result<Applied, ColorError> {
    let mut applied = Applied::default();
    if let Some(profile) = &assets.profile {
        apply_profile(image, profile);
    }
    if let Some(white_balance) = &ops.white_balance {
        let gains = white_balance.gains(image)?;
        image.scale(gains);
        applied.gains = Some(gains);
    }
    if let Some(exposure) = &ops.exposure {
        let decision = exposure.decide(image);
        exposure::apply_ev(image, decision.ev);
        applied.exposure = Some(decision);
    }
    if let Some(lut) = &assets.lut {
        apply_lut(image, lut, ops.interpolation);
    }
    Ok(applied)
}

/// The output format: the one asked for, else the input's when it can be
/// written, else PNG.
pub fn output_format(ops: &ColorOps, input: Format) -> Format {
    ops.format.unwrap_or(match input {
        Format::Jpeg | Format::Png | Format::Webp | Format::Pam => input,
        Format::Gif | Format::Avif => Format::Png,
    })
}

/// The whole pipeline: bytes in, corrected bytes out.
///
/// Without a camera profile every step before the LUT is a gain per
/// channel, so the image need not be carried in linear light: the automatic
/// steps decide on (a sample of) the linear image, then each 8-bit code of
/// each channel is mapped once, through the sRGB transfer functions and the
/// gains, into a 256-entry table, and the pixels go through the tables (and
/// the LUT) straight to 8-bit. With a profile (a 3x3 or polynomial mix of
/// channels in linear light) the whole image goes through [`apply`].
pub fn correct(
    bytes: &[u8],
    ops: &ColorOps,
    assets: &Assets,
    limits: &Limits,
) -> Result<Corrected, ColorError> {
    check_output_size(bytes, ops, limits)?;
    let (image, input_format, _) = decode_srgb(bytes, limits)?;
    correct_decoded(image, input_format, ops, assets)
}

/// [`correct`], taking the source: its bytes are freed once decoded, before
/// the output is encoded, so that a large source, its pixels and its output
/// are never all held at once.
pub fn correct_owned(
    bytes: Vec<u8>,
    ops: &ColorOps,
    assets: &Assets,
    limits: &Limits,
) -> Result<Corrected, ColorError> {
    check_output_size(&bytes, ops, limits)?;
    let (image, input_format, _) = decode_srgb(&bytes, limits)?;
    drop(bytes);
    correct_decoded(image, input_format, ops, assets)
}

/// Refuses, from the header, a source too large for its output format
/// (WebP output has the lower limit of [`Limits::max_pixels_for`]).
fn check_output_size(bytes: &[u8], ops: &ColorOps, limits: &Limits) -> Result<(), ColorError> {
    let header = studio_edge_imaging::probe(bytes, limits)?;
    let format = output_format(ops, header.format);
    let pixels = u64::from(header.width) * u64::from(header.height);
    let limit = limits.max_pixels_for(format);
    if pixels > limit {
        return Err(studio_edge_imaging::ImagingError::TooLarge {
            what: "size in pixels for WebP output",
            actual: pixels,
            limit,
        }
        .into());
    }
    Ok(())
}

fn correct_decoded(
    mut image: RgbaImage,
    input_format: Format,
    ops: &ColorOps,
    assets: &Assets,
) -> Result<Corrected, ColorError> {
    let pixels = u64::from(image.width()) * u64::from(image.height());
    let applied = match &assets.profile {
        Some(profile) if pixels > WHOLE_LINEAR_PIXELS => {
            correct_in_strips(&mut image, profile, ops, assets)?
        }
        Some(_) => {
            let mut linear = LinearImage::from_rgba8(&image);
            let applied = apply(&mut linear, ops, assets)?;
            image = linear.to_rgba8();
            applied
        }
        None => {
            let mut sample = LinearImage::sample_rgba8(&image, DECISION_PIXELS);
            let applied = apply(&mut sample, ops, &Assets::default())?;
            map_codes(&mut image, &applied, assets.lut.as_ref(), ops.interpolation);
            applied
        }
    };
    let format = output_format(ops, input_format);
    let bytes = encode(&image, format, ops.quality)?;
    Ok(Corrected {
        bytes,
        format,
        applied,
    })
}

/// Past this many pixels an image with a camera profile is carried in
/// linear light a strip of [`STRIP_ROWS`] rows at a time (at 13 bytes a
/// pixel the whole of a 50 MP image would not fit the worker's memory cap),
/// the automatic steps deciding on a sample of the profiled image, as they
/// do without a profile.
const WHOLE_LINEAR_PIXELS: u64 = 4_000_000;
const STRIP_ROWS: usize = 64;

fn correct_in_strips(
    image: &mut RgbaImage,
    profile: &CameraProfile,
    ops: &ColorOps,
    assets: &Assets,
) -> Result<Applied, ColorError> {
    let mut sample = LinearImage::sample_rgba8(image, DECISION_PIXELS);
    apply_profile(&mut sample, profile);
    let applied = apply(&mut sample, ops, &Assets::default())?;
    let width = image.width();
    let row_bytes = width as usize * 4;
    for strip in image.chunks_mut(row_bytes * STRIP_ROWS) {
        let rows = (strip.len() / row_bytes) as u32;
        let mut linear = LinearImage::from_rgba(width, rows, strip);
        apply_profile(&mut linear, profile);
        if let Some(gains) = applied.gains {
            linear.scale(gains);
        }
        if let Some(decision) = applied.exposure {
            exposure::apply_ev(&mut linear, decision.ev);
        }
        if let Some(lut) = &assets.lut {
            apply_lut(&mut linear, lut, ops.interpolation);
        }
        strip.copy_from_slice(linear.to_rgba8().as_raw());
    }
    Ok(applied)
}

/// The automatic steps decide on at most this many pixels (an even sample
/// of larger images): a 99th percentile or a mean over 16,384 pixels spread
/// over the whole frame is the frame's.
const DECISION_PIXELS: usize = 1 << 14;

/// Maps each pixel's 8-bit sRGB codes through the gains `applied` decided
/// (in linear light, in the order [`apply`] multiplies them) and `lut`,
/// back to 8-bit sRGB.
fn map_codes(
    image: &mut RgbaImage,
    applied: &Applied,
    lut: Option<&Lut3d>,
    interpolation: Interpolation,
) {
    let gains = applied.gains.unwrap_or([1.0; 3]);
    let ev = applied.exposure.map(|e| e.ev.exp2());
    let linear = |c: usize, code: usize| {
        let value = transfer::decode_table()[code] * gains[c];
        ev.map_or(value, |gain| value * gain)
    };
    match lut {
        None => {
            let tables: [[u8; 256]; 3] = std::array::from_fn(|c| {
                std::array::from_fn(|code| transfer::encode_u8(linear(c, code)))
            });
            for p in image.chunks_exact_mut(4) {
                for c in 0..3 {
                    p[c] = tables[c][p[c] as usize];
                }
            }
        }
        Some(lut) => {
            let to_encoded = transfer::encoder();
            let encoded: [[f32; 256]; 3] =
                std::array::from_fn(|c| std::array::from_fn(|code| to_encoded(linear(c, code))));
            let lut = lut.for_codes(&encoded, interpolation);
            for p in image.chunks_exact_mut(4) {
                let out = lut.apply([p[0], p[1], p[2]]);
                for c in 0..3 {
                    // Clamped first: NaN-free, and `as u8` saturates anyway.
                    p[c] = (out[c].clamp(0.0, 1.0) * 255.0 + 0.5) as u8;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab;
    use crate::white_balance::WhiteBalance;
    use studio_edge_imaging::image::RgbaImage;

    fn fixtures() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
    }

    fn photo(name: &str) -> LinearImage {
        let bytes = std::fs::read(fixtures().join("photos").join(name)).unwrap();
        colour_manage(&bytes, &Limits::default()).unwrap().image
    }

    fn mean_de00(a: &LinearImage, b: &LinearImage) -> f64 {
        // Compare as the 8-bit images a viewer would see.
        let (a, b) = (a.to_rgba8(), b.to_rgba8());
        let to_lab =
            |p: &[u8]| lab::linear_srgb_to_lab([0, 1, 2].map(|c| transfer::decode_u8(p[c]) as f64));
        let total: f64 = a
            .as_raw()
            .chunks_exact(4)
            .zip(b.as_raw().chunks_exact(4))
            .step_by(7)
            .map(|(p, q)| lab::ciede2000(to_lab(p), to_lab(q)))
            .sum();
        total / (a.as_raw().len() / 4).div_ceil(7) as f64
    }

    #[test]
    fn auto_white_balance_undoes_a_known_cast() {
        // Photos whose scene is not dominated by one colour: on those (the
        // cat, the coffee, the retina) no estimator can tell a warm scene
        // from a warm light, and the README says so.
        for name in [
            "astronaut.png",
            "motorcycle_left.png",
            "rocket.jpg",
            "hubble_deep_field.jpg",
        ] {
            let original = photo(name);
            let mut cast = original.clone();
            // A warm studio light: red up, blue down, in linear light.
            cast.scale([1.25, 1.0, 0.7]);
            let cast_error = mean_de00(&original, &cast);
            let mut corrected = cast.clone();
            let ops = ColorOps {
                white_balance: Some(WhiteBalance::Auto),
                ..ColorOps::default()
            };
            apply(&mut corrected, &ops, &Assets::default()).unwrap();
            let error = mean_de00(&original, &corrected);
            assert!(
                error < 0.7 * cast_error,
                "{name}: {error:.2} vs cast {cast_error:.2}"
            );
        }
    }

    #[test]
    fn lut_step_matches_the_lut_on_encoded_values() {
        let text = std::fs::read_to_string(fixtures().join("luts/warm-17.cube")).unwrap();
        let lut = Lut3d::parse_cube(&text).unwrap();
        let source = RgbaImage::from_fn(64, 4, |x, y| {
            studio_edge_imaging::image::Rgba([(x * 4) as u8, (y * 60) as u8, 200 - x as u8, 255])
        });
        let mut image = LinearImage::from_rgba8(&source);
        apply_lut(&mut image, &lut, Interpolation::Tetrahedral);
        let out = image.to_rgba8();
        for (p, q) in source.pixels().zip(out.pixels()) {
            let want = lut.apply(
                [0, 1, 2].map(|c| p.0[c] as f32 / 255.0),
                Interpolation::Tetrahedral,
            );
            for c in 0..3 {
                assert!(
                    (q.0[c] as f32 - want[c] * 255.0).abs() <= 0.51,
                    "{p:?} -> {q:?} vs {want:?}"
                );
            }
        }
    }

    #[test]
    fn untouched_png_round_trips_exactly() {
        let bytes = std::fs::read(fixtures().join("colorchecker/colorchecker.png")).unwrap();
        let ops = ColorOps::parse("").unwrap();
        let out = correct(&bytes, &ops, &Assets::default(), &Limits::default()).unwrap();
        assert_eq!(out.format, Format::Png);
        let a = decode(&bytes, &Limits::default()).unwrap().image;
        let b = decode(&out.bytes, &Limits::default()).unwrap().image;
        assert_eq!(a, b);
    }

    #[test]
    fn a_large_profiled_image_in_strips_matches_the_whole_image_path() {
        // A photo tiled past WHOLE_LINEAR_PIXELS, with a warm cast.
        let tile = photo("coffee.png").to_rgba8();
        let (tw, th) = tile.dimensions();
        let big = RgbaImage::from_fn(tw * 4, th * 5, |x, y| {
            let mut p = *tile.get_pixel(x % tw, y % th);
            p.0[2] = (f32::from(p.0[2]) * 0.8) as u8;
            p
        });
        assert!(u64::from(big.width()) * u64::from(big.height()) > WHOLE_LINEAR_PIXELS);
        let profile = CameraProfile {
            name: "test".to_owned(),
            kind: crate::profile::ProfileKind::Matrix,
            matrix: vec![
                vec![0.9, 0.1, 0.0],
                vec![0.05, 0.9, 0.05],
                vec![0.0, 0.1, 0.9],
            ],
        };
        let ops = ColorOps {
            white_balance: Some(WhiteBalance::GrayWorld),
            ..ColorOps::default()
        };
        let mut strips = big.clone();
        let in_strips = correct_in_strips(&mut strips, &profile, &ops, &Assets::default()).unwrap();
        let mut whole = LinearImage::from_rgba8(&big);
        let assets = Assets {
            profile: Some(profile),
            ..Assets::default()
        };
        let at_once = apply(&mut whole, &ops, &assets).unwrap();
        // The sample decides gains within 1 % of the whole image's.
        let (a, b) = (in_strips.gains.unwrap(), at_once.gains.unwrap());
        for c in 0..3 {
            assert!((a[c] / b[c] - 1.0).abs() < 0.01, "{a:?} vs {b:?}");
        }
        let de = mean_de00(&LinearImage::from_rgba8(&strips), &whole);
        assert!(de < 0.5, "mean ΔE00 {de}");
    }
}
