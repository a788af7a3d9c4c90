//! Typed calls into the workers' `studio:edge` exports, without HTTP.
//!
//! One module per worker world, each with the `bindgen!` output in a
//! `bindings` submodule and a small wrapper that runs every call in a fresh
//! instance under the runtime's deadline and memory cap (see
//! [`crate::runtime::Guard`]). A call returns
//! `Result<Result<T, WorkerError>, GuestError>`: the outer error is the
//! sandbox's verdict (timeout, memory cap, trap), the inner one is the
//! worker's own answer (bad option, unsupported format, ...).
//!
//! To add a world: write `typed/<name>.rs` like [`thumbnail`] (its
//! `bindgen!` maps `wasi` and `wasi:http` onto wasmtime's bindings, because
//! every worker world includes `wasi:http/proxy`) and declare it here.

use std::path::Path;

use wasmtime::component::InstancePre;

use crate::runtime::{GuestState, Runtime, RuntimeError};

pub mod color;
pub mod moderation;
pub mod thumbnail;

/// A linked component and the export indices of its typed `studio:edge`
/// interface. Only that interface is type-checked: the world-level `...Pre`
/// would also check `wasi:http/incoming-handler` against bindgen's own
/// resource types, which differ from the linker's wasi-http ones.
#[derive(Clone)]
pub struct ExportPre<I> {
    pub instance_pre: InstancePre<GuestState>,
    pub indices: I,
}

/// Compiles (or loads from cache) the component at `path`, links it, and
/// wraps the result in a world's `...Pre` with `wrap` (e.g.
/// `ThumbnailWorkerPre::new`).
pub fn load_pre<P>(
    runtime: &Runtime,
    path: &Path,
    wrap: impl FnOnce(InstancePre<GuestState>) -> wasmtime::Result<P>,
) -> Result<P, RuntimeError> {
    let component = runtime.load_component(path)?;
    let link_error = |e: wasmtime::Error| RuntimeError::Link {
        path: path.to_path_buf(),
        message: format!("{e:#}"),
    };
    let pre = runtime.instantiate_pre(&component).map_err(link_error)?;
    wrap(pre).map_err(link_error)
}
