//! Colour-correction worker: makes frames and product shots colour-accurate
//! at the edge, so that the shade on screen is the shade in the jar.
//!
//! ```
//! use studio_edge_color::assets::{Assets, Sources, Uploads};
//! use studio_edge_color::imaging::{Format, Limits, encode, image::{Rgba, RgbaImage}};
//! use studio_edge_color::{ops::ColorOps, pipeline};
//!
//! // A grey card under a warm light, corrected by white balance.
//! let photo = encode(&RgbaImage::from_pixel(8, 8, Rgba([200, 160, 120, 255])), Format::Png, 90).unwrap();
//! let ops = ColorOps::parse("wb=grayworld&format=png").unwrap();
//! let assets = Assets::resolve(&ops, Uploads::default(), Sources::default()).unwrap();
//! let out = pipeline::correct(&photo, &ops, &assets, &Limits::default()).unwrap();
//! let pixels = studio_edge_color::imaging::decode(&out.bytes, &Limits::default()).unwrap().image;
//! let Rgba([r, g, b, _]) = *pixels.get_pixel(0, 0);
//! assert!(r.abs_diff(g) <= 1 && b.abs_diff(g) <= 1);
//! ```
//!
//! # Pipeline
//!
//! One fixed order ([`pipeline`]): **colour-manage** (ICC-tagged input such
//! as Display P3 or Adobe RGB converted to sRGB; untagged input is sRGB) ->
//! **camera profile** -> **white balance** -> **exposure** -> **3D LUT** ->
//! **encode**. Everything between decode and encode is `f32` linear light
//! reached through the exact sRGB transfer functions ([`transfer`]); 8-bit
//! only at the ends.
//!
//! # Options (`POST /v1/color?<ops>`)
//!
//! | key | values |
//! |---|---|
//! | `profile` | camera profile name |
//! | `wb` | `auto` (grey-pixel search), `grayworld`, `whitepatch[:Q]` (Q 0.5..=1, default 0.99), `sog[:P]` (Minkowski P 1..=16, default 6), `gains:R,G,B` (0.1..=10 each), `temp:K[,T]` / `temp:K,tint:T` (kelvin 1667..=25000, tint -100..=100) |
//! | `ev` | stops -5..=5 (`+0.5`), `auto` (highlight-protected), `skin` (skin-aware) |
//! | `lut` | LUT name; `interp=tetrahedral` (default) or `trilinear` |
//! | `format` | `jpeg`, `png`, `webp`, `pam` (uncompressed, for passing frames on) (default: the input's) ; `q` 1..=100 (default 90) |
//!
//! Example: `wb=temp:5200,tint:+5&ev=skin&lut=warm&interp=trilinear&format=jpeg&q=90`.
//! Unknown keys, repeated keys and out-of-range values are a 400 naming
//! the option ([`ops`]).
//!
//! # Routes
//!
//! - `POST /v1/color?<ops>`: the corrected image; headers `x-color-wb-gains`
//!   and `x-color-ev` say what the automatic steps chose.
//! - `POST /v1/color/analyze?[grid=|patches=][&window=&kind=&profile=]`:
//!   JSON with white-balance gain estimates, exposure statistics, skin
//!   coverage and, for a chart, per-patch CIEDE2000 before and after a
//!   profile ([`analyze`]).
//! - `POST /v1/color/profiles?name=N&grid=X0,Y0,X1,Y1[&kind=][&replace=true]`:
//!   fits a camera profile from a ColorChecker capture and stores it (201,
//!   `Location`; 409 `profile-exists` for a taken name without `replace`)
//!   when the runtime grants a state directory (`STUDIO_EDGE_STATE_DIR`),
//!   else returns it (200) ([`assets::ProfileStore`]).
//! - `GET /v1/color/profiles`: the stored and the asset directory's names;
//!   `GET /v1/color/profiles/<name>`: one profile's JSON;
//!   `DELETE /v1/color/profiles/<name>`: removes a stored one (204).
//!
//! The body is the image, or `application/json` `{"image": base64, "lut":
//! ".cube text", "profile": {...}}` to upload a LUT and a profile with it.
//!
//! # LUTs and profiles
//!
//! Uploaded with the request (always works, under every runtime), passed as
//! arguments of the typed export, or named and read from the profile store
//! and `COLOR_ASSETS_DIR` when the runtime grants the component directories
//! ([`assets`]).
//!
//! # Skin tones
//!
//! A pixel is skin when its 8-bit sRGB, as BT.601 YCbCr, has 77 <= Cb <= 127,
//! 133 <= Cr <= 173 and 40 <= Y <= 240; skin-aware exposure meters on skin
//! when it covers at least 5% of the frame ([`exposure`]).

pub mod analyze;
pub mod assets;
pub mod chart;
pub mod error;
pub mod exposure;
pub mod http;
pub mod lut;
pub mod ops;
pub mod pipeline;
pub mod profile;

/// The colour science the worker shares with the moderation worker and the
/// client package (`workers/colorimetry`): `image`, `lab`, `transfer` and
/// `white_balance` under the paths they always had here, plus the
/// skin-tone box and robust region measurement.
pub use studio_edge_colorimetry::{image, lab, measure, skin, transfer, white_balance};

/// Re-exported so that callers decode and encode with the same crate.
pub use studio_edge_imaging as imaging;

#[cfg(target_arch = "wasm32")]
mod component;
