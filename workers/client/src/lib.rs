//! The viewer page's client-side package: shade matching, a try-on preview
//! and product overlays, run in the viewer's browser on camera frames and
//! photos that never leave the device.
//!
//! Compiled to `wasm32-unknown-unknown` and bound with wasm-bindgen (the
//! exports work on canvas `ImageData` bytes: row-major 8-bit sRGB RGBA);
//! the logic is plain Rust, tested natively. The colour science is the
//! colour worker's own ([`studio_edge_colorimetry`]: sRGB transfer,
//! CIELAB, CIEDE2000, white balance, the skin-tone test, robust colour
//! measurement), so a shade measured at the edge with
//! `studio-edge shade measure` and a shade matched here agree.
//!
//! - [`shade`]: white balance, robust skin colour of a region, shades
//!   ranked by CIEDE2000, undertone note;
//! - [`tryon`]: tint a region with a shade in linear light, keeping each
//!   pixel's luminance;
//! - [`overlay`]: compose a detail crop or a price tag onto a frame
//!   (photon-rs);
//! - [`region`]: frames and regions (rectangle, ellipse, whole frame,
//!   optionally only skin).
//!
//! The JavaScript exports (`match_shades`, `find_skin`, `try_on`,
//! `compose_overlay`, `resize_rgba`, `srgb_hex`) are the module `bindings`
//! (`src/bindings.rs`), compiled for `wasm32` only; `web/tryon.js` builds
//! the page's try-on panel on them.

pub mod overlay;
pub mod region;
pub mod shade;
pub mod skin_finder;
pub mod synthetic;
pub mod tryon;

#[cfg(target_arch = "wasm32")]
pub mod bindings;

/// Why a call failed; the exports throw it as a JavaScript `Error` with
/// this message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClientError {
    #[error("frame: {len} bytes are not a {width}x{height} RGBA image (4 bytes per pixel)")]
    BadFrame { width: u32, height: u32, len: usize },
    #[error("region: {0}")]
    BadRegion(String),
    #[error("shades: {0}")]
    BadShades(String),
    #[error("the frame has no usable pixels (all transparent, clipped or black)")]
    NoUsablePixels,
    #[error("no skin-toned pixels in the region")]
    NoSkin,
    #[error("the region holds no pixels of the frame")]
    EmptyRegion,
}
