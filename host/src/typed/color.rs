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

use std::path::Path;

use crate::runtime::{GuestConfig, GuestError, Runtime, RuntimeError};

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
#[derive(Clone)]
pub struct ColorComponent {
    pre: super::ExportPre<bindings::exports::studio::edge::color::GuestIndices>,
    guest: GuestConfig,
    runtime: Runtime,
}

impl ColorComponent {
    /// Compiles (or loads from the cache) and links the component at `path`.
    pub fn load(runtime: &Runtime, path: &Path, guest: GuestConfig) -> Result<Self, RuntimeError> {
        let pre = super::load_pre(runtime, path, |instance_pre| {
            let indices = bindings::exports::studio::edge::color::GuestIndices::new(&instance_pre)?;
            Ok(super::ExportPre {
                instance_pre,
                indices,
            })
        })?;
        Ok(Self {
            pre,
            guest,
            runtime: runtime.clone(),
        })
    }

    /// `parse-options`: URL options (`wb=auto&ev=+0.5&lut=warm`) to ops.
    pub async fn parse_options(
        &self,
        query: &str,
    ) -> Result<Result<ColorOps, WorkerError>, GuestError> {
        let (mut store, guard) = self.runtime.new_store(&self.guest);
        guard
            .run(async {
                let instance = self.pre.instance_pre.instantiate_async(&mut store).await?;
                let worker = self.pre.indices.load(&mut store, &instance)?;
                worker.call_parse_options(&mut store, query).await
            })
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
        let (mut store, guard) = self.runtime.new_store(&self.guest);
        guard
            .run(async {
                let instance = self.pre.instance_pre.instantiate_async(&mut store).await?;
                let worker = self.pre.indices.load(&mut store, &instance)?;
                worker.call_correct(&mut store, source, ops, assets).await
            })
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
        let (mut store, guard) = self.runtime.new_store(&self.guest);
        guard
            .run(async {
                let instance = self.pre.instance_pre.instantiate_async(&mut store).await?;
                let worker = self.pre.indices.load(&mut store, &instance)?;
                worker.call_analyze(&mut store, source, query, assets).await
            })
            .await
    }

    /// `fit-profile`: a camera profile (JSON) from a chart capture.
    pub async fn fit_profile(
        &self,
        source: &[u8],
        query: &str,
    ) -> Result<Result<String, WorkerError>, GuestError> {
        let (mut store, guard) = self.runtime.new_store(&self.guest);
        guard
            .run(async {
                let instance = self.pre.instance_pre.instantiate_async(&mut store).await?;
                let worker = self.pre.indices.load(&mut store, &instance)?;
                worker.call_fit_profile(&mut store, source, query).await
            })
            .await
    }
}
