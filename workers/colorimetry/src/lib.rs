//! The colour science of studio-edge, in one place: the colour worker, the
//! moderation worker and the viewer's client package (`workers/client`,
//! compiled to `wasm32-unknown-unknown`) all call these functions, so a
//! shade measured at the edge and a shade matched in the browser are the
//! same numbers.
//!
//! - [`transfer`]: the exact sRGB transfer functions and fast 8-bit
//!   conversions;
//! - [`lab`]: linear sRGB, CIE XYZ, CIELAB (D65) and CIEDE2000;
//! - [`image`]: an image in linear light ([`image::LinearImage`]);
//! - [`white_balance`]: light estimates (grey pixels, grey world, white
//!   patch, shades of grey) and gains;
//! - [`skin`]: the CIELAB skin-tone box;
//! - [`measure`]: a robust colour of a region (median in linear light with
//!   clipped pixels, specular highlights and other outliers rejected).
//!
//! Plain Rust without I/O: it builds for every target.
//!
//! ```
//! use studio_edge_colorimetry::{lab, measure, skin};
//!
//! // A patch of ColorChecker "light skin" (sRGB 194, 150, 130) with one
//! // specular highlight: the highlight is rejected.
//! let code = studio_edge_colorimetry::transfer::decode_u8;
//! let skin_rgb = [code(194), code(150), code(130)];
//! let mut pixels = vec![skin_rgb; 99];
//! pixels.push([0.95, 0.95, 0.93]);
//! let measured = measure::robust_colour(&pixels, [1.0; 3]).unwrap();
//! assert_eq!((measured.used, measured.rejected), (99, 1));
//! assert!(skin::is_skin(measured.lab, &skin::SKIN_RANGE));
//! assert!((measured.lab.l - lab::linear_srgb_to_lab(skin_rgb.map(f64::from)).l).abs() < 1e-6);
//! ```

pub mod image;
pub mod lab;
pub mod measure;
pub mod skin;
pub mod transfer;
pub mod white_balance;
