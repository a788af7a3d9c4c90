//! Typed calls into a colour worker (world `studio:edge/color-worker`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use studio_edge::runtime::{GuestConfig, Runtime, RuntimeConfig};
//! use studio_edge::typed::color::{Assets, ColorComponent};
//!
//! let runtime = Runtime::new(RuntimeConfig::default())?;
//! let worker = ColorComponent::load(
//!     &runtime,
//!     "target/wasm32-wasip2/release/studio_edge_color.wasm".as_ref(),
//!     GuestConfig::named("color"),
//! )?;
//! let ops = worker.parse_options("wb=auto&ev=skin&format=jpeg").await??;
//! let assets = Assets { lut_cube: Some(std::fs::read_to_string("warm.cube")?), profile_json: None };
//! let corrected = worker.correct(&std::fs::read("in.jpg")?, &ops, &assets).await??;
//! std::fs::write("out.jpg", &corrected.image.bytes)?;
//! # Ok(())
//! # }
//! ```

use crate::runtime::GuestError;

/// `bindgen!` output for the world.
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "studio:edge/color-worker",
        exports: { default: async },
        require_store_data_send: true,
    });
}

pub use bindings::exports::studio::edge::color::{
    Assets, ColorOps, Corrected, Exposure, Interpolation, WhiteBalance,
};
pub use bindings::studio::edge::types::{EncodedImage, Error as WorkerError, ImageFormat};

/// A colour component, linked and ready; every call gets a fresh instance.
/// Cheap to clone.
pub type ColorComponent =
    super::TypedComponent<bindings::exports::studio::edge::color::GuestIndices>;

super::export!(bindings::exports::studio::edge::color);

impl ColorComponent {
    /// `parse-options`: URL options (`wb=auto&ev=+0.5&lut=warm`) to ops.
    pub async fn parse_options(
        &self,
        query: &str,
    ) -> Result<Result<ColorOps, WorkerError>, GuestError> {
        self.call(async |store, worker| worker.call_parse_options(store, query).await)
            .await
    }

    /// `correct`: one image through the ops; `assets` carries LUT and
    /// profile contents (they win over names).
    pub async fn correct(
        &self,
        source: &[u8],
        ops: &ColorOps,
        assets: &Assets,
    ) -> Result<Result<Corrected, WorkerError>, GuestError> {
        self.call(async |store, worker| worker.call_correct(store, source, ops, assets).await)
            .await
    }

    /// `analyze`: the analysis document (JSON) with the analyze route's
    /// options in `query`.
    pub async fn analyze(
        &self,
        source: &[u8],
        query: &str,
        assets: &Assets,
    ) -> Result<Result<String, WorkerError>, GuestError> {
        self.call(async |store, worker| worker.call_analyze(store, source, query, assets).await)
            .await
    }

    /// `fit-profile`: a camera profile (JSON) from a chart capture.
    pub async fn fit_profile(
        &self,
        source: &[u8],
        query: &str,
    ) -> Result<Result<String, WorkerError>, GuestError> {
        self.call(async |store, worker| worker.call_fit_profile(store, source, query).await)
            .await
    }
}
