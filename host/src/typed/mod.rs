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

use wasmtime::Store;
use wasmtime::component::{Instance, InstancePre};

use crate::runtime::{GuestConfig, GuestError, GuestState, Runtime, RuntimeError};

pub mod color;
pub mod moderation;
pub mod thumbnail;

/// A world's export indices as `bindgen!` generates them: only the typed
/// `studio:edge` interface is type-checked (the world-level `...Pre` would
/// also check `wasi:http/incoming-handler` against bindgen's own resource
/// types, which differ from the linker's wasi-http ones).
pub trait Export: Clone + Send + Sync + 'static {
    /// The loaded interface, whose `call_*` methods run the guest.
    type Guest: Send + Sync;
    fn new(pre: &InstancePre<GuestState>) -> wasmtime::Result<Self>;
    fn load(
        &self,
        store: &mut Store<GuestState>,
        instance: &Instance,
    ) -> wasmtime::Result<Self::Guest>;
}

/// Implements [`Export`] for a `bindgen!` exports module.
macro_rules! export {
    ($($module:ident)::+) => {
        impl $crate::typed::Export for $($module)::+::GuestIndices {
            type Guest = $($module)::+::Guest;
            fn new(
                pre: &wasmtime::component::InstancePre<$crate::runtime::GuestState>,
            ) -> wasmtime::Result<Self> {
                Self::new(pre)
            }
            fn load(
                &self,
                store: &mut wasmtime::Store<$crate::runtime::GuestState>,
                instance: &wasmtime::component::Instance,
            ) -> wasmtime::Result<Self::Guest> {
                self.load(store, instance)
            }
        }
    };
}
pub(crate) use export;

/// A component linked for its typed export `I`; every call gets a fresh
/// instance under the runtime's deadline and memory cap. Cheap to clone.
#[derive(Clone)]
pub struct TypedComponent<I> {
    pre: InstancePre<GuestState>,
    indices: I,
    guest: GuestConfig,
    runtime: Runtime,
}

impl<I: Export> TypedComponent<I> {
    /// Compiles (or loads from the cache) and links the component at `path`.
    pub fn load(runtime: &Runtime, path: &Path, guest: GuestConfig) -> Result<Self, RuntimeError> {
        let component = runtime.load_component(path)?;
        let link_error = |e: wasmtime::Error| RuntimeError::Link {
            path: path.to_path_buf(),
            message: format!("{e:#}"),
        };
        let pre = runtime.instantiate_pre(&component).map_err(link_error)?;
        let indices = I::new(&pre).map_err(link_error)?;
        Ok(Self {
            pre,
            indices,
            guest,
            runtime: runtime.clone(),
        })
    }

    /// Instantiates the component and runs `call` on its export.
    pub async fn call<R>(
        &self,
        call: impl AsyncFnOnce(&mut Store<GuestState>, &I::Guest) -> wasmtime::Result<R>,
    ) -> Result<R, GuestError> {
        let (mut store, guard) = self.runtime.new_store(&self.guest);
        guard
            .run(async {
                let instance = self.pre.instantiate_async(&mut store).await?;
                let worker = self.indices.load(&mut store, &instance)?;
                call(&mut store, &worker).await
            })
            .await
    }
}
