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

use crate::runtime::GuestError;

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
pub type ThumbnailComponent =
    super::TypedComponent<bindings::exports::studio::edge::thumbnail::GuestIndices>;

super::export!(bindings::exports::studio::edge::thumbnail);

impl ThumbnailComponent {
    /// `parse-options`: URL options (`w=320&fit=cover&...`) to a spec.
    pub async fn parse_options(
        &self,
        query: &str,
    ) -> Result<Result<ThumbnailSpec, WorkerError>, GuestError> {
        self.call(async |store, worker| worker.call_parse_options(store, query).await)
            .await
    }

    /// `transform`: one thumbnail of `source`.
    pub async fn transform(
        &self,
        source: &[u8],
        spec: &ThumbnailSpec,
    ) -> Result<Result<EncodedImage, WorkerError>, GuestError> {
        self.call(async |store, worker| worker.call_transform(store, source, spec).await)
            .await
    }

    /// `transform-many`: several thumbnails of one source, decoded once.
    pub async fn transform_many(
        &self,
        source: &[u8],
        specs: &[ThumbnailSpec],
    ) -> Result<Vec<Result<EncodedImage, WorkerError>>, GuestError> {
        self.call(async |store, worker| worker.call_transform_many(store, source, specs).await)
            .await
    }
}
