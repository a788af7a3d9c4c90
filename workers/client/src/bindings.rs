//! The JavaScript face: thin wasm-bindgen exports over the plain functions.
//! Frames are `ImageData.data` (a `Uint8ClampedArray`, or any `Uint8Array`
//! of RGBA bytes); regions and shades are JSON strings (see
//! [`crate::region`] and [`crate::shade`]); results are JSON strings.
//! Errors throw a JavaScript `Error` whose message is the [`ClientError`]'s
//! (wasm-bindgen converts any `std::error::Error`).

use studio_edge_colorimetry::lab::Lab;
use wasm_bindgen::prelude::*;

use crate::region::{Frame, Region};
use crate::{ClientError, overlay, shade, skin_finder, tryon};

fn lab_of(lab: &[f64]) -> Result<Lab, ClientError> {
    match *lab {
        [l, a, b] => Ok(Lab { l, a, b }),
        _ => Err(ClientError::BadShades("lab must be [L, a, b]".into())),
    }
}

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("plain data serialises")
}

/// Ranks `shades` (JSON `[{"name", "lab": [L, a, b]}]`) against the skin
/// in `region` (JSON) of the frame after white balance: JSON with `skin`
/// (`lab`, `hue`, `chroma`, `pixels`, `rejected`), `white_balance` (gains),
/// `undertone` (`cool`/`neutral`/`warm`), `undertone_note` and `best` (the
/// three closest: `name`, `lab`, `delta_e`).
#[wasm_bindgen]
pub fn match_shades(
    rgba: &[u8],
    width: u32,
    height: u32,
    region: &str,
    shades: &str,
) -> Result<String, JsError> {
    let frame = Frame::new(rgba, width, height)?;
    let region = Region::parse(region)?;
    let shades = shade::parse_shades(shades)?;
    Ok(json(&shade::match_shades(&frame, &region, &shades)?))
}

/// Where the skin is: region JSON (an ellipse with `"skin": true`) plus
/// `coverage`, or `undefined` when too little of the frame is skin.
#[wasm_bindgen]
pub fn find_skin(rgba: &[u8], width: u32, height: u32) -> Result<Option<String>, JsError> {
    let frame = Frame::new(rgba, width, height)?;
    Ok(skin_finder::find_skin(&frame)?.map(|area| json(&area)))
}

/// Tints `region` (JSON) of the frame in place with the CIELAB shade
/// `lab` (`[L, a, b]`) at `strength` (0..=1), keeping each pixel's
/// luminance.
#[wasm_bindgen]
pub fn try_on(
    rgba: &mut [u8],
    width: u32,
    height: u32,
    region: &str,
    lab: &[f64],
    strength: f32,
) -> Result<(), JsError> {
    let region = Region::parse(region)?;
    Ok(tryon::try_on(
        rgba,
        width,
        height,
        &region,
        lab_of(lab)?,
        strength,
    )?)
}

/// Composes the `dw` x `dh` RGBA `detail` (a product crop, a price tag)
/// onto the frame in place, top-left at (`x`, `y`), at `opacity` (0..=1).
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)] // a flat signature is what JS calls best
pub fn compose_overlay(
    frame: &mut [u8],
    w: u32,
    h: u32,
    detail: &[u8],
    dw: u32,
    dh: u32,
    x: i32,
    y: i32,
    opacity: f32,
) -> Result<(), JsError> {
    let detail = Frame::new(detail, dw, dh)?;
    Ok(overlay::compose_overlay(
        frame,
        (w, h),
        &detail,
        (x, y),
        opacity,
    )?)
}

/// The CIELAB shade `lab` (`[L, a, b]`) as a CSS colour `#rrggbb`.
#[wasm_bindgen]
pub fn srgb_hex(lab: &[f64]) -> Result<String, JsError> {
    Ok(shade::srgb_hex(lab_of(lab)?))
}

/// A `w` x `h` RGBA image resampled to `new_w` x `new_h` (Lanczos 3).
#[wasm_bindgen]
pub fn resize_rgba(
    rgba: &[u8],
    w: u32,
    h: u32,
    new_w: u32,
    new_h: u32,
) -> Result<Vec<u8>, JsError> {
    let image = Frame::new(rgba, w, h)?;
    Ok(overlay::resize_rgba(&image, (new_w, new_h))?)
}
