//! Colour-correction worker.

pub mod analyze;
pub mod assets;
pub mod chart;
pub mod error;
pub mod exposure;
pub mod http;
pub mod image;
pub mod lab;
pub mod lut;
pub mod ops;
pub mod pipeline;
pub mod profile;
pub mod transfer;
pub mod white_balance;

#[cfg(target_arch = "wasm32")]
mod component;
