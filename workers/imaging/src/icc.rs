//! Colour management: pixels tagged with an ICC profile (Display P3 from
//! phones, Adobe RGB from cameras, ...) converted to sRGB, so that every
//! later step can treat an image as sRGB. Untagged images are sRGB already.
//!
//! The conversion uses moxcms (pure Rust, already a dependency of `image`)
//! with the relative colorimetric intent: colours outside sRGB are clipped
//! rather than the whole image desaturated, which keeps in-gamut colours
//! (skin, most product shots) exact.
//!
//! ```
//! use studio_edge_imaging::icc;
//! use studio_edge_imaging::image::{Rgba, RgbaImage};
//!
//! // A Display P3 profile, as a phone would embed it.
//! let p3 = icc::display_p3_profile();
//! let mut image = RgbaImage::from_pixel(2, 2, Rgba([200, 100, 50, 255]));
//! assert_eq!(icc::to_srgb(&mut image, &p3).unwrap(), icc::Conversion::Converted);
//! // P3 (200, 100, 50) is a more saturated orange than sRGB (200, 100, 50).
//! let Rgba([r, g, b, a]) = *image.get_pixel(0, 0);
//! assert!(r > 200 && g < 100 && b < 50 && a == 255);
//! ```

use image::RgbaImage;
use moxcms::{ColorProfile, DataColorSpace, Layout, RenderingIntent, TransformOptions};
use thiserror::Error;

/// Why an embedded profile was not applied. Callers treat such images as
/// sRGB, as browsers do with profiles they cannot use.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IccError {
    #[error("the ICC profile cannot be read: {0}")]
    Malformed(String),
    #[error("ICC profiles for {0} data are not supported; only RGB profiles are converted")]
    UnsupportedColourSpace(String),
    #[error("the ICC profile cannot be converted to sRGB: {0}")]
    Transform(String),
}

/// What [`to_srgb`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    /// The pixels were converted to sRGB.
    Converted,
    /// The profile describes sRGB (the pixels would not change): nothing done.
    AlreadySrgb,
}

/// Bytes converted at a time (whole RGBA pixels).
const ICC_PIECE_BYTES: usize = 4 << 16;

/// Converts the RGB of `image` (alpha untouched) from the space of the ICC
/// profile `icc` to sRGB, in place.
pub fn to_srgb(image: &mut RgbaImage, icc: &[u8]) -> Result<Conversion, IccError> {
    let source =
        ColorProfile::new_from_slice(icc).map_err(|e| IccError::Malformed(e.to_string()))?;
    if source.color_space != DataColorSpace::Rgb {
        return Err(IccError::UnsupportedColourSpace(format!(
            "{:?}",
            source.color_space
        )));
    }
    let options = TransformOptions {
        rendering_intent: RenderingIntent::RelativeColorimetric,
        ..TransformOptions::default()
    };
    let transform = source
        .create_transform_8bit(
            Layout::Rgba,
            &ColorProfile::new_srgb(),
            Layout::Rgba,
            options,
        )
        .map_err(|e| IccError::Transform(e.to_string()))?;
    // Most phone JPEGs embed an sRGB profile: a probe grid that comes back
    // unchanged means the transform is the identity, and skipping it avoids
    // both the cost and any 1-code rounding drift.
    let probe: Vec<u8> = (0..16u32 * 16 * 16)
        .flat_map(|i| {
            let level = |v: u32| (v * 17) as u8;
            [level(i % 16), level(i / 16 % 16), level(i / 256), 255]
        })
        .collect();
    let mut probed = vec![0u8; probe.len()];
    transform
        .transform(&probe, &mut probed)
        .map_err(|e| IccError::Transform(e.to_string()))?;
    if probe == probed {
        return Ok(Conversion::AlreadySrgb);
    }
    // In pieces through a small copy: a large image is never held twice.
    let mut piece = Vec::with_capacity(ICC_PIECE_BYTES);
    for pixels in image.as_mut().chunks_mut(ICC_PIECE_BYTES) {
        piece.clear();
        piece.extend_from_slice(pixels);
        transform
            .transform(&piece, pixels)
            .map_err(|e| IccError::Transform(e.to_string()))?;
    }
    Ok(Conversion::Converted)
}

/// A Display P3 ICC profile (D65, sRGB transfer curve) as bytes: what a
/// phone embeds. Used to tag test images and by callers that need one.
pub fn display_p3_profile() -> Vec<u8> {
    encode_without_cicp(ColorProfile::new_display_p3())
}

/// An Adobe RGB (1998) ICC profile as bytes.
pub fn adobe_rgb_profile() -> Vec<u8> {
    encode_without_cicp(ColorProfile::new_adobe_rgb())
}

fn encode_without_cicp(mut profile: ColorProfile) -> Vec<u8> {
    // The colorants and curves describe the space fully; a CICP tag would
    // only let a reader take a shortcut that not every reader shares.
    profile.cicp = None;
    profile.encode().expect("a built-in RGB profile encodes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgba;

    /// Linear RGB -> XYZ for primaries and white given as xy, computed here
    /// independently of the CMS.
    fn rgb_to_xyz(primaries: [(f64, f64); 3], white: (f64, f64)) -> [[f64; 3]; 3] {
        let xyz = |(x, y): (f64, f64)| [x / y, 1.0, (1.0 - x - y) / y];
        let p = primaries.map(xyz);
        let m = [
            [p[0][0], p[1][0], p[2][0]],
            [p[0][1], p[1][1], p[2][1]],
            [p[0][2], p[1][2], p[2][2]],
        ];
        let s = solve(m, xyz(white));
        std::array::from_fn(|i| std::array::from_fn(|j| m[i][j] * s[j]))
    }

    fn solve(m: [[f64; 3]; 3], v: [f64; 3]) -> [f64; 3] {
        let det = |m: [[f64; 3]; 3]| {
            m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
                - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
                + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
        };
        let d = det(m);
        std::array::from_fn(|c| {
            let mut mc = m;
            for r in 0..3 {
                mc[r][c] = v[r];
            }
            det(mc) / d
        })
    }

    fn decode(v: u8) -> f64 {
        let x = v as f64 / 255.0;
        if x <= 0.04045 {
            x / 12.92
        } else {
            ((x + 0.055) / 1.055).powf(2.4)
        }
    }

    fn encode(x: f64) -> u8 {
        let x = x.clamp(0.0, 1.0);
        let e = if x <= 0.0031308 {
            x * 12.92
        } else {
            1.055 * x.powf(1.0 / 2.4) - 0.055
        };
        (e * 255.0).round() as u8
    }

    /// The expected sRGB code of a colour given in a D65 RGB space with the
    /// sRGB curve (Display P3).
    fn expected_from_p3(rgb: [u8; 3]) -> [u8; 3] {
        let d65 = (0.3127, 0.3290);
        let p3 = rgb_to_xyz([(0.680, 0.320), (0.265, 0.690), (0.150, 0.060)], d65);
        let srgb = rgb_to_xyz([(0.64, 0.33), (0.30, 0.60), (0.15, 0.06)], d65);
        let linear = rgb.map(decode);
        let xyz: [f64; 3] = std::array::from_fn(|i| (0..3).map(|k| p3[i][k] * linear[k]).sum());
        solve(srgb, xyz).map(encode)
    }

    #[test]
    fn display_p3_converts_to_the_expected_srgb() {
        let profile = display_p3_profile();
        for colour in [
            [200u8, 100, 50],
            [120, 160, 90],
            [90, 90, 200],
            [230, 180, 160],
            [128, 128, 128],
        ] {
            let mut image =
                RgbaImage::from_pixel(3, 1, Rgba([colour[0], colour[1], colour[2], 77]));
            to_srgb(&mut image, &profile).unwrap();
            let Rgba([r, g, b, a]) = *image.get_pixel(2, 0);
            let want = expected_from_p3(colour);
            assert_eq!(a, 77, "alpha is untouched");
            for (got, want) in [r, g, b].into_iter().zip(want) {
                assert!(
                    (got as i32 - want as i32).abs() <= 1,
                    "{colour:?}: got {:?}, want {want:?}",
                    [r, g, b]
                );
            }
        }
    }

    #[test]
    fn adobe_rgb_green_is_clipped_into_srgb() {
        let mut image = RgbaImage::from_pixel(1, 1, Rgba([0, 255, 0, 255]));
        assert_eq!(
            to_srgb(&mut image, &adobe_rgb_profile()),
            Ok(Conversion::Converted)
        );
        let Rgba([r, g, b, _]) = *image.get_pixel(0, 0);
        // Adobe RGB's green lies far outside sRGB: it clips to sRGB green.
        assert!(r == 0 && g == 255 && b <= 5, "{:?}", [r, g, b]);
    }

    #[test]
    fn fixture_profiles_are_recognised() {
        use crate::{Limits, decode};
        let photos = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/photos");
        // Three fixtures embed the HP "sRGB IEC61966-2.1" profile, rocket.jpg
        // embeds Adobe RGB (1998).
        for (name, expected) in [
            ("astronaut.png", Conversion::AlreadySrgb),
            ("hubble_deep_field.jpg", Conversion::AlreadySrgb),
            ("rocket.jpg", Conversion::Converted),
        ] {
            let mut decoded = decode(
                &std::fs::read(photos.join(name)).unwrap(),
                &Limits::default(),
            )
            .unwrap();
            let icc = decoded.icc_profile.take().expect("the fixture is tagged");
            assert_eq!(to_srgb(&mut decoded.image, &icc), Ok(expected), "{name}");
        }
    }

    #[test]
    fn srgb_profile_is_left_alone_and_garbage_is_refused() {
        let srgb = {
            let mut p = ColorProfile::new_srgb();
            p.cicp = None;
            p.encode().unwrap()
        };
        let original =
            RgbaImage::from_fn(16, 16, |x, y| Rgba([x as u8 * 16, y as u8 * 16, 7, 255]));
        let mut image = original.clone();
        assert_eq!(to_srgb(&mut image, &srgb), Ok(Conversion::AlreadySrgb));
        assert_eq!(image, original);
        assert!(matches!(
            to_srgb(&mut image, b"not a profile"),
            Err(IccError::Malformed(_))
        ));
        assert_eq!(image, original);
    }
}
