//! The studio-edge host: runs the worker components of a Spin manifest with
//! wasmtime, next to native services.
//!
//! - [`manifest`], [`routes`], [`outbound`]: `spin.toml` read as Spin reads it.
//! - [`runtime`]: the wasmtime engine, compile cache, per-call sandbox
//!   (deadline, memory cap, outbound policy).
//! - [`http_component`]: one HTTP request through a `wasi:http` component.
//! - [`outgoing`]: a component's outgoing HTTP request, sent to the checked
//!   address of its host.
//! - [`typed`]: calls into the workers' typed `studio:edge` exports.
//! - [`server`]: the server of `studio-edge up` and `orders`, within the
//!   per-client [`limits`].
//! - [`cmd`]: the command line.

pub mod client_assets;
pub mod cmd;
pub mod http_component;
pub mod limits;
pub mod manifest;
pub use studio_edge_spin::outbound;
pub mod outgoing;
pub mod pipeline_stages;
pub mod problem;
pub mod routes;
pub mod runtime;
pub mod server;
pub mod typed;
