//! Thumbnail worker (placeholder while the foundation is laid).

#[cfg(target_arch = "wasm32")]
mod component;
