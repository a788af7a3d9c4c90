//! The `.cube` 3D LUT parser and its interpolation. Input: the file text.
//!
//! Checks: no panic; a LUT that parses maps every input, inside and outside
//! the unit cube, to finite values with either interpolation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use studio_edge_color::lut::{Interpolation, Lut3d};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(lut) = Lut3d::parse_cube(text) else {
        return;
    };
    assert!(lut.size() >= 2);
    for rgb in [
        [0.0, 0.0, 0.0],
        [1.0, 1.0, 1.0],
        [0.25, 0.5, 0.999],
        [-1.0, 2.0, f32::NAN],
    ] {
        for interpolation in [Interpolation::Trilinear, Interpolation::Tetrahedral] {
            let out = lut.apply(rgb, interpolation);
            assert!(out.iter().all(|v| v.is_finite()), "{rgb:?} -> {out:?}");
        }
    }
});
