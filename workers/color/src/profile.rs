//! Camera profiles: a colour-correction transform from a camera's linear
//! RGB to linear sRGB, fitted by least squares on a colour chart and stored
//! as JSON.
//!
//! Kinds (the terms each output channel is a linear combination of):
//! - `matrix`: r, g, b (the classic 3x3 colour-correction matrix);
//! - `affine`: r, g, b, 1 (3x3 plus an offset: models flare and a raised
//!   black level);
//! - `root-polynomial`: r, g, b, sqrt(rg), sqrt(gb), sqrt(rb) (Finlayson,
//!   Mackiewicz & Hurlbert 2015, second order: exposure-invariant like the
//!   matrix, but bends the hues a 3x3 cannot).
//!
//! The fit is weighted least squares in linear RGB, each patch weighted by
//! how visible its error is (see [`CameraProfile::fit`]).
//!
//! The JSON form is `{"name": "...", "kind": "matrix", "matrix": [[...],
//! [...], [...]]}`: three rows (output R, G, B), one column per term.

use serde::{Deserialize, Serialize};

/// The form of a profile's transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ProfileKind {
    #[default]
    Matrix,
    Affine,
    RootPolynomial,
}

impl ProfileKind {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "matrix" | "3x3" => Some(Self::Matrix),
            "affine" => Some(Self::Affine),
            "root-polynomial" | "rootpoly" => Some(Self::RootPolynomial),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Matrix => "matrix",
            Self::Affine => "affine",
            Self::RootPolynomial => "root-polynomial",
        }
    }

    /// How many terms each output is made of.
    pub fn terms(self) -> usize {
        match self {
            Self::Matrix => 3,
            Self::Affine => 4,
            Self::RootPolynomial => 6,
        }
    }

    /// The terms of `rgb` (negative inputs count as 0 under the roots).
    #[inline]
    fn expand(self, rgb: [f64; 3], out: &mut [f64; 6]) {
        out[..3].copy_from_slice(&rgb);
        match self {
            Self::Matrix => {}
            Self::Affine => out[3] = 1.0,
            Self::RootPolynomial => {
                let [r, g, b] = rgb.map(|c| c.max(0.0));
                out[3] = (r * g).sqrt();
                out[4] = (g * b).sqrt();
                out[5] = (r * b).sqrt();
            }
        }
    }
}

/// A named camera profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraProfile {
    pub name: String,
    pub kind: ProfileKind,
    /// Three rows (output R, G, B) of `kind.terms()` coefficients.
    pub matrix: Vec<Vec<f64>>,
}

/// Why a profile could not be fitted or read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProfileError {
    #[error(
        "the {kind} fit is singular: the chart patches do not span enough colours (a flat, clipped or wrongly placed chart?)"
    )]
    Singular { kind: &'static str },
    #[error("a {kind} fit needs at least {needed} patches, got {got}")]
    TooFewPatches {
        kind: &'static str,
        needed: usize,
        got: usize,
    },
    #[error("invalid profile JSON: {0}")]
    Json(String),
    #[error("profile {name:?}: a {kind} profile has 3 rows of {terms} numbers")]
    Shape {
        name: String,
        kind: &'static str,
        terms: usize,
    },
    #[error("profile name {0:?} is not 1 to 64 of a-z, 0-9, '-' and '_'")]
    BadName(String),
}

/// Whether `name` is a valid profile or LUT name (also safe as a file name).
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl CameraProfile {
    /// Fits a profile that maps each `measured` linear RGB to its
    /// `reference` linear RGB, least squares per output channel, each patch
    /// weighted by `(Y + 0.01)^(-4/3)` (Y its reference luminance) so that
    /// the linear residuals count about as much as the CIELAB errors they
    /// cause.
    pub fn fit(
        name: &str,
        kind: ProfileKind,
        measured: &[[f64; 3]],
        reference: &[[f64; 3]],
    ) -> Result<Self, ProfileError> {
        if !valid_name(name) {
            return Err(ProfileError::BadName(name.to_owned()));
        }
        let n = kind.terms();
        let needed = n + 1;
        if measured.len() < needed || measured.len() != reference.len() {
            return Err(ProfileError::TooFewPatches {
                kind: kind.name(),
                needed,
                got: measured.len().min(reference.len()),
            });
        }
        // Normal equations: (A^T A) X = A^T B, A the expanded terms.
        let mut ata = vec![vec![0.0; n]; n];
        let mut atb = vec![[0.0; 3]; n];
        let mut terms = [0.0; 6];
        for (m, r) in measured.iter().zip(reference) {
            kind.expand(*m, &mut terms);
            let w = weight(*r);
            for i in 0..n {
                for j in 0..n {
                    ata[i][j] += w * terms[i] * terms[j];
                }
                for c in 0..3 {
                    atb[i][c] += w * terms[i] * r[c];
                }
            }
        }
        let solution =
            solve_symmetric(ata, atb).ok_or(ProfileError::Singular { kind: kind.name() })?;
        let matrix = (0..3)
            .map(|c| solution.iter().map(|row| row[c]).collect())
            .collect();
        Ok(Self {
            name: name.to_owned(),
            kind,
            matrix,
        })
    }

    /// Reads and checks a profile's JSON.
    pub fn from_json(text: &str) -> Result<Self, ProfileError> {
        let profile: Self =
            serde_json::from_str(text).map_err(|e| ProfileError::Json(e.to_string()))?;
        if !valid_name(&profile.name) {
            return Err(ProfileError::BadName(profile.name));
        }
        let terms = profile.kind.terms();
        if profile.matrix.len() != 3
            || profile
                .matrix
                .iter()
                .any(|row| row.len() != terms || row.iter().any(|v| !v.is_finite()))
        {
            return Err(ProfileError::Shape {
                name: profile.name,
                kind: profile.kind.name(),
                terms,
            });
        }
        Ok(profile)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("plain data serialises")
    }

    /// Maps one camera linear RGB to linear sRGB.
    #[inline]
    pub fn apply(&self, rgb: [f64; 3]) -> [f64; 3] {
        let mut terms = [0.0; 6];
        self.kind.expand(rgb, &mut terms);
        let n = self.kind.terms();
        std::array::from_fn(|c| (0..n).map(|k| self.matrix[c][k] * terms[k]).sum())
    }

    /// The same transform in `f32` for whole images.
    pub fn applier(&self) -> impl Fn([f32; 3]) -> [f32; 3] + '_ {
        let kind = self.kind;
        let mut m = [[0f32; 6]; 3];
        for (c, row) in self.matrix.iter().enumerate() {
            for (k, v) in row.iter().enumerate() {
                m[c][k] = *v as f32;
            }
        }
        move |p: [f32; 3]| {
            let [r, g, b] = p;
            let t: [f32; 6] = match kind {
                ProfileKind::Matrix => [r, g, b, 0.0, 0.0, 0.0],
                ProfileKind::Affine => [r, g, b, 1.0, 0.0, 0.0],
                ProfileKind::RootPolynomial => {
                    let [rp, gp, bp] = p.map(|c| c.max(0.0));
                    [
                        r,
                        g,
                        b,
                        (rp * gp).sqrt(),
                        (gp * bp).sqrt(),
                        (rp * bp).sqrt(),
                    ]
                }
            };
            std::array::from_fn(|c| (0..6).map(|k| m[c][k] * t[k]).sum())
        }
    }
}

/// The least-squares weight of a patch. CIELAB lightness goes as the cube
/// root of luminance, so an error dY in linear light is an error of about
/// dY / Y^(2/3) in L*: weighting each squared residual by Y^(-4/3) makes the
/// linear fit treat dark and light patches as the eye does, instead of
/// letting the white patch dominate. The 0.01 keeps black finite.
fn weight(reference: [f64; 3]) -> f64 {
    (crate::lab::luminance(reference).max(0.0) + 0.01).powf(-4.0 / 3.0)
}

/// Solves `a x = b` (a symmetric positive semi-definite, three right-hand
/// sides) by Gaussian elimination with partial pivoting; `None` when `a` is
/// singular or too ill-conditioned for the answer to mean anything.
fn solve_symmetric(mut a: Vec<Vec<f64>>, mut b: Vec<[f64; 3]>) -> Option<Vec<[f64; 3]>> {
    let n = a.len();
    let scale = (0..n).map(|i| a[i][i].abs()).fold(0.0, f64::max);
    if scale == 0.0 || !scale.is_finite() {
        return None;
    }
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() <= scale * 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..n {
            let f = a[row][col] / a[col][col];
            for k in col..n {
                a[row][k] -= f * a[col][k];
            }
            for c in 0..3 {
                b[row][c] -= f * b[col][c];
            }
        }
    }
    let mut x = vec![[0.0; 3]; n];
    for row in (0..n).rev() {
        for c in 0..3 {
            let s: f64 = (row + 1..n).map(|k| a[row][k] * x[k][c]).sum();
            x[row][c] = (b[row][c] - s) / a[row][row];
        }
    }
    x.iter().flatten().all(|v| v.is_finite()).then_some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<[f64; 3]> {
        (0..24)
            .map(|i| {
                let f = i as f64;
                [
                    0.05 + 0.9 * ((f * 0.37).sin() * 0.5 + 0.5),
                    0.05 + 0.9 * ((f * 0.71 + 1.0).sin() * 0.5 + 0.5),
                    0.05 + 0.9 * ((f * 1.13 + 2.0).sin() * 0.5 + 0.5),
                ]
            })
            .collect()
    }

    #[test]
    fn recovers_a_known_matrix_and_offset() {
        let m = [[0.8, 0.15, 0.05], [0.1, 0.85, 0.05], [0.02, 0.1, 0.88]];
        let reference = samples();
        let measured: Vec<[f64; 3]> = reference
            .iter()
            .map(|r| std::array::from_fn(|c| (0..3).map(|k| m[c][k] * r[k]).sum()))
            .collect();
        let profile =
            CameraProfile::fit("cam", ProfileKind::Matrix, &measured, &reference).unwrap();
        for (mm, r) in measured.iter().zip(&reference) {
            let out = profile.apply(*mm);
            assert!((0..3).all(|c| (out[c] - r[c]).abs() < 1e-9));
        }
        let with_offset: Vec<[f64; 3]> = measured.iter().map(|p| p.map(|c| c + 0.02)).collect();
        let affine =
            CameraProfile::fit("cam", ProfileKind::Affine, &with_offset, &reference).unwrap();
        let out = affine.apply(with_offset[3]);
        assert!((0..3).all(|c| (out[c] - reference[3][c]).abs() < 1e-9));
        let f32_out = affine.applier()(with_offset[3].map(|c| c as f32));
        assert!((0..3).all(|c| (f32_out[c] as f64 - reference[3][c]).abs() < 1e-5));
    }

    #[test]
    fn singular_and_short_fits_are_refused() {
        let grey: Vec<[f64; 3]> = (0..24).map(|i| [i as f64 / 24.0; 3]).collect();
        assert_eq!(
            CameraProfile::fit("x", ProfileKind::Matrix, &grey, &samples()),
            Err(ProfileError::Singular { kind: "matrix" })
        );
        assert!(matches!(
            CameraProfile::fit(
                "x",
                ProfileKind::RootPolynomial,
                &samples()[..5],
                &samples()[..5]
            ),
            Err(ProfileError::TooFewPatches {
                needed: 7,
                got: 5,
                ..
            })
        ));
        assert!(matches!(
            CameraProfile::fit("../etc", ProfileKind::Matrix, &samples(), &samples()),
            Err(ProfileError::BadName(_))
        ));
    }

    #[test]
    fn json_round_trips_and_bad_shapes_are_refused() {
        let profile = CameraProfile::fit(
            "studio-a",
            ProfileKind::RootPolynomial,
            &samples(),
            &samples(),
        )
        .unwrap();
        let back = CameraProfile::from_json(&profile.to_json()).unwrap();
        assert_eq!(
            (back.name.as_str(), back.kind),
            ("studio-a", ProfileKind::RootPolynomial)
        );
        for (a, b) in back
            .matrix
            .iter()
            .flatten()
            .zip(profile.matrix.iter().flatten())
        {
            assert!((a - b).abs() < 1e-12);
        }
        let bad = r#"{"name":"a","kind":"matrix","matrix":[[1,0,0],[0,1,0]]}"#;
        assert!(matches!(
            CameraProfile::from_json(bad),
            Err(ProfileError::Shape { .. })
        ));
        assert!(matches!(
            CameraProfile::from_json("{"),
            Err(ProfileError::Json(_))
        ));
    }
}
