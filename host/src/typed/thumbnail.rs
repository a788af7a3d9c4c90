//! Typed calls into a thumbnail worker (world `studio:edge/thumbnail-worker`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use studio_edge::runtime::{GuestConfig, Runtime, RuntimeConfig};
//! use studio_edge::typed::thumbnail::ThumbnailComponent;
//!
//! let runtime = Runtime::new(RuntimeConfig::default())?;
//! let worker = ThumbnailComponent::load(
//!     &runtime,
//!     "target/wasm32-wasip2/release/studio_edge_thumbnail.wasm".as_ref(),
//!     GuestConfig::named("thumbnail"),
//! )?;
//! let spec = worker.parse_options("w=320&h=320&fit=cover").await??;
//! let image = worker.transform(&std::fs::read("in.jpg")?, &spec).await??;
//! std::fs::write("out.jpg", &image.bytes)?;
//! # Ok(())
//! # }
//! ```

use std::path::Path;

use crate::runtime::{GuestConfig, GuestError, Runtime, RuntimeError};

/// `bindgen!` output for the world.
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "studio:edge/thumbnail-worker",
        exports: { default: async },
        require_store_data_send: true,
    });
}

pub use bindings::exports::studio::edge::thumbnail::{
    Fit, Gravity, OutputFormat, Region, Rgba, ThumbnailSpec,
};
pub use bindings::studio::edge::types::{EncodedImage, Error as WorkerError, ImageFormat};

/// A thumbnail component, linked and ready; every call gets a fresh
/// instance. Cheap to clone.
#[derive(Clone)]
pub struct ThumbnailComponent {
    pre: super::ExportPre<bindings::exports::studio::edge::thumbnail::GuestIndices>,
    guest: GuestConfig,
    runtime: Runtime,
}

impl ThumbnailComponent {
    /// Compiles (or loads from the cache) and links the component at `path`.
    pub fn load(runtime: &Runtime, path: &Path, guest: GuestConfig) -> Result<Self, RuntimeError> {
        let pre = super::load_pre(runtime, path, |instance_pre| {
            let indices =
                bindings::exports::studio::edge::thumbnail::GuestIndices::new(&instance_pre)?;
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

    /// `parse-options`: URL options (`w=320&fit=cover&...`) to a spec.
    pub async fn parse_options(
        &self,
        query: &str,
    ) -> Result<Result<ThumbnailSpec, WorkerError>, GuestError> {
        let (mut store, guard) = self.runtime.new_store(&self.guest);
        guard
            .run(async {
                let instance = self.pre.instance_pre.instantiate_async(&mut store).await?;
                let worker = self.pre.indices.load(&mut store, &instance)?;
                worker.call_parse_options(&mut store, query).await
            })
            .await
    }

    /// `transform`: one thumbnail of `source`.
    pub async fn transform(
        &self,
        source: &[u8],
        spec: &ThumbnailSpec,
    ) -> Result<Result<EncodedImage, WorkerError>, GuestError> {
        let (mut store, guard) = self.runtime.new_store(&self.guest);
        guard
            .run(async {
                let instance = self.pre.instance_pre.instantiate_async(&mut store).await?;
                let worker = self.pre.indices.load(&mut store, &instance)?;
                worker.call_transform(&mut store, source, spec).await
            })
            .await
    }

    /// `transform-many`: several thumbnails of one source, decoded once.
    pub async fn transform_many(
        &self,
        source: &[u8],
        specs: &[ThumbnailSpec],
    ) -> Result<Vec<Result<EncodedImage, WorkerError>>, GuestError> {
        let (mut store, guard) = self.runtime.new_store(&self.guest);
        guard
            .run(async {
                let instance = self.pre.instance_pre.instantiate_async(&mut store).await?;
                let worker = self.pre.indices.load(&mut store, &instance)?;
                worker.call_transform_many(&mut store, source, specs).await
            })
            .await
    }
}
