//! The sRGB transfer functions (IEC 61966-2-1), exact, and fast exact
//! conversions between 8-bit sRGB and linear light.
//!
//! Every operation of the worker works on linear light; these functions are
//! the only way in and out of 8-bit.

use std::sync::OnceLock;

/// sRGB-encoded value (0..=1) to linear light, the exact piecewise function.
pub fn srgb_to_linear(encoded: f64) -> f64 {
    if encoded <= 0.04045 {
        encoded / 12.92
    } else {
        ((encoded + 0.055) / 1.055).powf(2.4)
    }
}

/// Linear light (0..=1) to the sRGB-encoded value, the exact inverse of
/// [`srgb_to_linear`].
pub fn linear_to_srgb(linear: f64) -> f64 {
    if linear <= 0.003_130_8 {
        linear * 12.92
    } else {
        1.055 * linear.powf(1.0 / 2.4) - 0.055
    }
}

/// Number of cells in the coarse index of [`encode_u8`]; the sRGB curve is
/// steepest at 0 (slope 12.92 in 8-bit steps per unit: 3295), so 2^16 cells
/// keep every cell narrower than one output step and the index is at most
/// one step off, which the threshold check then corrects.
const INDEX_CELLS: usize = 1 << 16;

struct Tables {
    /// 8-bit code to linear light.
    decode: [f32; 256],
    /// `thresholds[c]`: the linear value halfway (in encoded terms) between
    /// code `c` and `c + 1`; a value at or above it rounds to `c + 1`.
    thresholds: [f32; 255],
    /// Coarse guess of the code for each index cell.
    index: Vec<u8>,
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut decode = [0.0f32; 256];
        for (code, value) in decode.iter_mut().enumerate() {
            *value = srgb_to_linear(code as f64 / 255.0) as f32;
        }
        let mut thresholds = [0.0f32; 255];
        for (code, value) in thresholds.iter_mut().enumerate() {
            // The smallest f32 at or above the exact threshold, so that the
            // f32 comparison rounds exactly as the f64 formula does.
            let exact = srgb_to_linear((code as f64 + 0.5) / 255.0);
            let nearest = exact as f32;
            *value = if (nearest as f64) < exact {
                nearest.next_up()
            } else {
                nearest
            };
        }
        // One sweep: the code for a cell is the number of thresholds at or
        // below its value, and both only grow. (A fresh component instance
        // builds this on every call, so it must be cheap.)
        let mut code = 0;
        let index = (0..INDEX_CELLS)
            .map(|cell| {
                let linear = cell as f32 / (INDEX_CELLS - 1) as f32;
                while code < thresholds.len() && thresholds[code] <= linear {
                    code += 1;
                }
                code as u8
            })
            .collect();
        Tables {
            decode,
            thresholds,
            index,
        }
    })
}

/// 8-bit sRGB code to linear light.
#[inline]
pub fn decode_u8(code: u8) -> f32 {
    tables().decode[code as usize]
}

/// The 256-entry decode table, for loops that convert whole images.
pub fn decode_table() -> &'static [f32; 256] {
    &tables().decode
}

/// Linear light to the nearest 8-bit sRGB code (clamped to 0..=255); equal
/// to `round(255 * linear_to_srgb(x))` for every input.
#[inline]
pub fn encode_u8(linear: f32) -> u8 {
    let t = tables();
    if linear.is_nan() || linear <= 0.0 {
        return 0;
    }
    if linear >= 1.0 {
        return 255;
    }
    let mut code = t.index[(linear * (INDEX_CELLS - 1) as f32) as usize] as usize;
    while code < 255 && linear >= t.thresholds[code] {
        code += 1;
    }
    while code > 0 && linear < t.thresholds[code - 1] {
        code -= 1;
    }
    code as u8
}

/// Cells of the smooth tables behind [`to_encoded`] and [`to_linear`].
const SMOOTH_CELLS: usize = 1024;

struct SmoothTables {
    /// `linear_to_srgb(s^2)` at `s = i / SMOOTH_CELLS`: uniform in the
    /// square root, so the steep start of the curve gets fine cells.
    encode: Vec<f32>,
    /// `srgb_to_linear(e)` at `e = i / SMOOTH_CELLS`.
    decode: Vec<f32>,
}

fn smooth_tables() -> &'static SmoothTables {
    static TABLES: OnceLock<SmoothTables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let at = |i: usize| i as f64 / SMOOTH_CELLS as f64;
        SmoothTables {
            encode: (0..=SMOOTH_CELLS + 1)
                .map(|i| linear_to_srgb(at(i).powi(2)) as f32)
                .collect(),
            decode: (0..=SMOOTH_CELLS + 1)
                .map(|i| srgb_to_linear(at(i)) as f32)
                .collect(),
        }
    })
}

#[inline]
fn interpolate(table: &[f32], x: f32) -> f32 {
    let position = x * SMOOTH_CELLS as f32;
    let i = (position as usize).min(SMOOTH_CELLS - 1);
    let t = position - i as f32;
    table[i] + (table[i + 1] - table[i]) * t
}

/// Linear light to the sRGB-encoded value as a float, clamped to 0..=1,
/// within 2e-5 of [`linear_to_srgb`]: for steps that work on encoded
/// values (3D LUTs) without rounding to 8 bits first.
#[inline]
pub fn to_encoded(linear: f32) -> f32 {
    encoder()(linear)
}

/// The sRGB-encoded value (clamped to 0..=1) to linear light, within 1e-5
/// of [`srgb_to_linear`].
#[inline]
pub fn to_linear(encoded: f32) -> f32 {
    decoder()(encoded)
}

/// [`to_encoded`] with its table looked up once, for loops over pixels.
pub fn encoder() -> impl Fn(f32) -> f32 {
    let table = smooth_tables().encode.as_slice();
    move |linear| {
        if linear.is_nan() || linear <= 0.0 {
            return 0.0;
        }
        interpolate(table, linear.min(1.0).sqrt())
    }
}

/// [`to_linear`] with its table looked up once, for loops over pixels.
pub fn decoder() -> impl Fn(f32) -> f32 {
    let table = smooth_tables().decode.as_slice();
    move |encoded| {
        if encoded.is_nan() || encoded <= 0.0 {
            return 0.0;
        }
        interpolate(table, encoded.min(1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_are_inverse_and_continuous() {
        for i in 0..=1000 {
            let x = i as f64 / 1000.0;
            assert!((linear_to_srgb(srgb_to_linear(x)) - x).abs() < 1e-12);
        }
        // The two pieces meet at the breakpoint.
        let below = 0.04045 / 12.92;
        let above = ((0.04045f64 + 0.055) / 1.055).powf(2.4);
        assert!((below - above).abs() < 1e-7);
        assert!((srgb_to_linear(0.5) - 0.214_041_140_5).abs() < 1e-9);
    }

    #[test]
    fn smooth_conversions_are_close_to_exact() {
        let (mut worst_encode, mut worst_decode) = (0f64, 0f64);
        for i in 0..=100_000 {
            let x = i as f32 / 100_000.0;
            worst_encode =
                worst_encode.max((to_encoded(x) as f64 - linear_to_srgb(x as f64)).abs());
            worst_decode = worst_decode.max((to_linear(x) as f64 - srgb_to_linear(x as f64)).abs());
        }
        assert!(worst_encode < 2e-5, "{worst_encode}");
        assert!(worst_decode < 1e-5, "{worst_decode}");
        assert_eq!((to_encoded(-1.0), to_encoded(3.0)), (0.0, 1.0));
    }

    #[test]
    fn u8_round_trip_is_identity() {
        for code in 0..=255u8 {
            assert_eq!(encode_u8(decode_u8(code)), code);
        }
    }

    #[test]
    fn encode_matches_exact_rounding() {
        let mut differing = 0;
        for i in 0..=200_000 {
            let x = i as f32 / 200_000.0;
            let exact = (255.0 * linear_to_srgb(x as f64)).round() as u8;
            if encode_u8(x) != exact {
                differing += 1;
            }
        }
        assert_eq!(differing, 0);
        assert_eq!(encode_u8(-0.5), 0);
        assert_eq!(encode_u8(f32::NAN), 0);
        assert_eq!(encode_u8(2.0), 255);
    }
}
