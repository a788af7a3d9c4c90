//! Colorimetry: linear sRGB <-> CIE XYZ <-> CIELAB (D65) and the CIEDE2000
//! colour difference.
//!
//! The sRGB matrix is derived from the primaries and the D65 white point
//! (x 0.3127, y 0.3290), and CIELAB uses the same white, so that linear sRGB
//! white maps to L* 100, a* 0, b* 0 exactly.

use std::sync::OnceLock;

/// A CIELAB colour (D65 white).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Lab {
    pub l: f64,
    pub a: f64,
    pub b: f64,
}

/// The chromaticity of CIE D65 used by sRGB.
pub const D65_XY: (f64, f64) = (0.3127, 0.3290);

/// A 3x3 matrix, rows of columns.
pub type Mat3 = [[f64; 3]; 3];

/// `xy` chromaticity to XYZ with Y = 1.
pub fn xy_to_xyz(x: f64, y: f64) -> [f64; 3] {
    [x / y, 1.0, (1.0 - x - y) / y]
}

pub fn mat_mul_vec(m: &Mat3, v: [f64; 3]) -> [f64; 3] {
    [
        m[0][0] * v[0] + m[0][1] * v[1] + m[0][2] * v[2],
        m[1][0] * v[0] + m[1][1] * v[1] + m[1][2] * v[2],
        m[2][0] * v[0] + m[2][1] * v[1] + m[2][2] * v[2],
    ]
}

pub fn mat_mul(a: &Mat3, b: &Mat3) -> Mat3 {
    let mut out = [[0.0; 3]; 3];
    for (i, row) in out.iter_mut().enumerate() {
        for (j, cell) in row.iter_mut().enumerate() {
            *cell = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    out
}

/// The inverse of `m`, or `None` when it is singular.
pub fn mat_inverse(m: &Mat3) -> Option<Mat3> {
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    if det.abs() < 1e-12 || !det.is_finite() {
        return None;
    }
    let c =
        |r0: usize, c0: usize, r1: usize, c1: usize| m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0];
    Some([
        [
            c(1, 1, 2, 2) / det,
            -c(0, 1, 2, 2) / det,
            c(0, 1, 1, 2) / det,
        ],
        [
            -c(1, 0, 2, 2) / det,
            c(0, 0, 2, 2) / det,
            -c(0, 0, 1, 2) / det,
        ],
        [
            c(1, 0, 2, 1) / det,
            -c(0, 0, 2, 1) / det,
            c(0, 0, 1, 1) / det,
        ],
    ])
}

/// The RGB -> XYZ matrix of an RGB space given its primaries and white
/// (all as xy chromaticities), normalised so that white has Y = 1.
pub fn rgb_to_xyz_matrix(primaries: [(f64, f64); 3], white: (f64, f64)) -> Mat3 {
    let columns = primaries.map(|(x, y)| xy_to_xyz(x, y));
    let p: Mat3 = [
        [columns[0][0], columns[1][0], columns[2][0]],
        [columns[0][1], columns[1][1], columns[2][1]],
        [columns[0][2], columns[1][2], columns[2][2]],
    ];
    let inverse = mat_inverse(&p).expect("real primaries are independent");
    let s = mat_mul_vec(&inverse, xy_to_xyz(white.0, white.1));
    let mut m = p;
    for row in &mut m {
        for (j, cell) in row.iter_mut().enumerate() {
            *cell *= s[j];
        }
    }
    m
}

struct Matrices {
    srgb_to_xyz: Mat3,
    xyz_to_srgb: Mat3,
}

fn matrices() -> &'static Matrices {
    static M: OnceLock<Matrices> = OnceLock::new();
    M.get_or_init(|| {
        let srgb_to_xyz = rgb_to_xyz_matrix([(0.64, 0.33), (0.30, 0.60), (0.15, 0.06)], D65_XY);
        let xyz_to_srgb = mat_inverse(&srgb_to_xyz).expect("sRGB matrix is invertible");
        Matrices {
            srgb_to_xyz,
            xyz_to_srgb,
        }
    })
}

/// Linear sRGB to CIE XYZ (D65, Y of white = 1).
pub fn linear_srgb_to_xyz(rgb: [f64; 3]) -> [f64; 3] {
    mat_mul_vec(&matrices().srgb_to_xyz, rgb)
}

/// CIE XYZ (D65) to linear sRGB, unclipped.
pub fn xyz_to_linear_srgb(xyz: [f64; 3]) -> [f64; 3] {
    mat_mul_vec(&matrices().xyz_to_srgb, xyz)
}

/// Relative luminance of a linear sRGB colour.
pub fn luminance(rgb: [f64; 3]) -> f64 {
    let m = &matrices().srgb_to_xyz;
    m[1][0] * rgb[0] + m[1][1] * rgb[1] + m[1][2] * rgb[2]
}

const EPSILON: f64 = 216.0 / 24389.0;
const KAPPA: f64 = 24389.0 / 27.0;

pub fn xyz_to_lab(xyz: [f64; 3]) -> Lab {
    let white = xy_to_xyz(D65_XY.0, D65_XY.1);
    let f = |t: f64| {
        if t > EPSILON {
            t.cbrt()
        } else {
            (KAPPA * t + 16.0) / 116.0
        }
    };
    let fx = f(xyz[0] / white[0]);
    let fy = f(xyz[1] / white[1]);
    let fz = f(xyz[2] / white[2]);
    Lab {
        l: 116.0 * fy - 16.0,
        a: 500.0 * (fx - fy),
        b: 200.0 * (fy - fz),
    }
}

pub fn lab_to_xyz(lab: Lab) -> [f64; 3] {
    let white = xy_to_xyz(D65_XY.0, D65_XY.1);
    let fy = (lab.l + 16.0) / 116.0;
    let fx = fy + lab.a / 500.0;
    let fz = fy - lab.b / 200.0;
    let inverse = |f: f64| {
        let cube = f * f * f;
        if cube > EPSILON {
            cube
        } else {
            (116.0 * f - 16.0) / KAPPA
        }
    };
    let y = if lab.l > KAPPA * EPSILON {
        fy * fy * fy
    } else {
        lab.l / KAPPA
    };
    [inverse(fx) * white[0], y * white[1], inverse(fz) * white[2]]
}

pub fn linear_srgb_to_lab(rgb: [f64; 3]) -> Lab {
    xyz_to_lab(linear_srgb_to_xyz(rgb))
}

pub fn lab_to_linear_srgb(lab: Lab) -> [f64; 3] {
    xyz_to_linear_srgb(lab_to_xyz(lab))
}

/// The CIEDE2000 colour difference (kL = kC = kH = 1), following Sharma,
/// Wu & Dalal (2005).
pub fn ciede2000(lab1: Lab, lab2: Lab) -> f64 {
    use std::f64::consts::PI;
    let deg = |r: f64| r * 180.0 / PI;
    let rad = |d: f64| d * PI / 180.0;
    let pow25_7 = 25f64.powi(7);

    let c1 = lab1.a.hypot(lab1.b);
    let c2 = lab2.a.hypot(lab2.b);
    let c_mean7 = ((c1 + c2) / 2.0).powi(7);
    let g = 0.5 * (1.0 - (c_mean7 / (c_mean7 + pow25_7)).sqrt());
    let a1 = (1.0 + g) * lab1.a;
    let a2 = (1.0 + g) * lab2.a;
    let c1p = a1.hypot(lab1.b);
    let c2p = a2.hypot(lab2.b);
    let hue = |b: f64, a: f64| {
        if a == 0.0 && b == 0.0 {
            0.0
        } else {
            let h = deg(b.atan2(a));
            if h < 0.0 { h + 360.0 } else { h }
        }
    };
    let h1p = hue(lab1.b, a1);
    let h2p = hue(lab2.b, a2);

    let dl = lab2.l - lab1.l;
    let dc = c2p - c1p;
    let dh_angle = if c1p * c2p == 0.0 {
        0.0
    } else {
        let d = h2p - h1p;
        if d > 180.0 {
            d - 360.0
        } else if d < -180.0 {
            d + 360.0
        } else {
            d
        }
    };
    let dh = 2.0 * (c1p * c2p).sqrt() * (rad(dh_angle) / 2.0).sin();

    let l_mean = (lab1.l + lab2.l) / 2.0;
    let c_mean_p = (c1p + c2p) / 2.0;
    let h_mean = if c1p * c2p == 0.0 {
        h1p + h2p
    } else if (h1p - h2p).abs() <= 180.0 {
        (h1p + h2p) / 2.0
    } else if h1p + h2p < 360.0 {
        (h1p + h2p + 360.0) / 2.0
    } else {
        (h1p + h2p - 360.0) / 2.0
    };
    let t = 1.0 - 0.17 * rad(h_mean - 30.0).cos()
        + 0.24 * rad(2.0 * h_mean).cos()
        + 0.32 * rad(3.0 * h_mean + 6.0).cos()
        - 0.20 * rad(4.0 * h_mean - 63.0).cos();
    let d_theta = 30.0 * (-((h_mean - 275.0) / 25.0).powi(2)).exp();
    let c_mean_p7 = c_mean_p.powi(7);
    let r_c = 2.0 * (c_mean_p7 / (c_mean_p7 + pow25_7)).sqrt();
    let l50 = (l_mean - 50.0).powi(2);
    let s_l = 1.0 + 0.015 * l50 / (20.0 + l50).sqrt();
    let s_c = 1.0 + 0.045 * c_mean_p;
    let s_h = 1.0 + 0.015 * c_mean_p * t;
    let r_t = -(rad(2.0 * d_theta)).sin() * r_c;

    let tl = dl / s_l;
    let tc = dc / s_c;
    let th = dh / s_h;
    (tl * tl + tc * tc + th * th + r_t * tc * th).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
    }

    #[test]
    fn ciede2000_matches_colour_science_on_all_pairs() {
        let text = std::fs::read_to_string(fixtures().join("ciede2000.tsv")).unwrap();
        let rows: Vec<Vec<f64>> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("L1"))
            .map(|l| l.split('\t').map(|v| v.parse().unwrap()).collect())
            .collect();
        assert_eq!(rows.len(), 334);
        for (i, row) in rows.iter().enumerate() {
            let lab1 = Lab {
                l: row[0],
                a: row[1],
                b: row[2],
            };
            let lab2 = Lab {
                l: row[3],
                a: row[4],
                b: row[5],
            };
            let got = ciede2000(lab1, lab2);
            let symmetric = ciede2000(lab2, lab1);
            assert!(
                (got - symmetric).abs() < 1e-9,
                "pair {} is not symmetric",
                i + 1
            );
            if i + 1 == 14 {
                // The hue discontinuity: either published value is right.
                assert!(
                    (got - 4.7461).abs() < 1e-4 || (got - 4.8045).abs() < 1e-4,
                    "pair 14: {got}"
                );
            } else {
                assert!(
                    (got - row[6]).abs() < 1e-4,
                    "pair {}: {got} vs {}",
                    i + 1,
                    row[6]
                );
            }
        }
    }

    #[test]
    fn white_is_lab_100_and_round_trips() {
        let white = linear_srgb_to_lab([1.0, 1.0, 1.0]);
        assert!((white.l - 100.0).abs() < 1e-9 && white.a.abs() < 1e-9 && white.b.abs() < 1e-9);
        for rgb in [[0.2, 0.5, 0.9], [0.001, 0.002, 0.0005], [0.7, 0.1, 0.3]] {
            let back = lab_to_linear_srgb(linear_srgb_to_lab(rgb));
            for c in 0..3 {
                assert!((back[c] - rgb[c]).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn matrix_matches_published_srgb_matrix() {
        // IEC 61966-2-1 rounds the luminance row to 0.2126, 0.7152, 0.0722.
        let y = [
            luminance([1.0, 0.0, 0.0]),
            luminance([0.0, 1.0, 0.0]),
            luminance([0.0, 0.0, 1.0]),
        ];
        assert!(
            (y[0] - 0.2126).abs() < 1e-4
                && (y[1] - 0.7152).abs() < 1e-4
                && (y[2] - 0.0722).abs() < 1e-4
        );
    }
}
