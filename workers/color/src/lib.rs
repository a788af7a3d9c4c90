//! Colour-correction worker.

pub mod chart;
pub mod exposure;
pub mod image;
pub mod lab;
pub mod lut;
pub mod profile;
pub mod transfer;
pub mod white_balance;
