//! HTTP glue shared by the studio-edge worker components.
//!
//! A worker is written as a plain function from [`Request`] to [`Response`],
//! which runs and is tested natively. On `wasm32` this crate also provides the
//! `wasi:http` bindings (generated once, for the `guest` world in `wit/`) and
//! [`wasi_http::serve`], which turns an `incoming-request` into a [`Request`]
//! and writes the [`Response`] back, so a worker's component layer is a few
//! lines:
//!
//! ```ignore
//! impl exports::wasi::http::incoming_handler::Guest for Worker {
//!     fn handle(request: IncomingRequest, out: ResponseOutparam) {
//!         studio_edge_guest::wasi_http::serve(request, out, MAX_BODY, my_worker::handle);
//!     }
//! }
//! ```
//!
//! Outbound HTTP goes through the [`Fetch`] trait so that the pure logic can
//! be tested natively with a stand-in and run in wasm with
//! [`wasi_http::WasiFetch`]. Settings come from Spin variables through
//! [`variables`], read into a map that native tests fill from a closure.

mod http;
pub mod variables;
#[cfg(target_arch = "wasm32")]
pub mod wasi_http;

pub use http::{Fetch, FetchError, Problem, Request, Response};
