//! Colour-correction worker.

pub mod lab;
pub mod lut;
pub mod transfer;
