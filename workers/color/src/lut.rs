//! 3D lookup tables: the Adobe/Resolve `.cube` format and tetrahedral or
//! trilinear interpolation.
//!
//! A `.cube` file holds `LUT_3D_SIZE N` (2 to 256) and N^3 output triples
//! with red varying fastest, then green, then blue. `DOMAIN_MIN` and
//! `DOMAIN_MAX` (default 0 and 1) give the input range per channel; inputs
//! outside it are clamped. `TITLE`, comments (`#`) and blank lines are
//! allowed; 1D LUTs (`LUT_1D_SIZE`) are refused.

use thiserror::Error;

/// Why a `.cube` text was refused. Line numbers count from 1.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum CubeError {
    #[error("line {line}: {reason}")]
    Syntax { line: usize, reason: String },
    #[error("no LUT_3D_SIZE line")]
    MissingSize,
    #[error("LUT_3D_SIZE {0} is outside 2..=256")]
    BadSize(u64),
    #[error("1D LUTs (LUT_1D_SIZE) are not supported; use a 3D LUT")]
    OneDimensional,
    #[error("expected {expected} table rows for size {size}, found {found}")]
    WrongCount {
        size: usize,
        expected: usize,
        found: usize,
    },
    #[error("DOMAIN_MIN must be below DOMAIN_MAX in every channel")]
    BadDomain,
}

/// How to interpolate between the lattice points of a LUT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Interpolation {
    /// Split each cube cell into six tetrahedra along its grey diagonal
    /// (neutral-preserving; the usual choice for colour LUTs).
    #[default]
    Tetrahedral,
    /// Blend the eight corners of the cell.
    Trilinear,
}

impl Interpolation {
    pub fn name(self) -> &'static str {
        match self {
            Self::Tetrahedral => "tetrahedral",
            Self::Trilinear => "trilinear",
        }
    }
}

/// A parsed 3D LUT.
#[derive(Debug, Clone, PartialEq)]
pub struct Lut3d {
    pub title: Option<String>,
    size: usize,
    domain_min: [f32; 3],
    domain_max: [f32; 3],
    /// `size^3` entries, red fastest.
    table: Vec<[f32; 3]>,
}

const MAX_SIZE: u64 = 256;

impl Lut3d {
    /// Parses `.cube` text.
    pub fn parse_cube(text: &str) -> Result<Self, CubeError> {
        let mut title = None;
        let mut size: Option<usize> = None;
        let mut domain_min = [0.0f32; 3];
        let mut domain_max = [1.0f32; 3];
        let mut table: Vec<[f32; 3]> = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line_no = index + 1;
            let syntax = |reason: String| CubeError::Syntax {
                line: line_no,
                reason,
            };
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let (keyword, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let rest = rest.trim();
            match keyword {
                "TITLE" => title = Some(rest.trim_matches('"').to_owned()),
                "LUT_3D_SIZE" => {
                    if size.is_some() {
                        return Err(syntax("LUT_3D_SIZE given twice".into()));
                    }
                    let n: u64 = rest.parse().map_err(|_| {
                        syntax(format!("LUT_3D_SIZE {rest:?} is not a whole number"))
                    })?;
                    if !(2..=MAX_SIZE).contains(&n) {
                        return Err(CubeError::BadSize(n));
                    }
                    size = Some(n as usize);
                    table.reserve((n * n * n) as usize);
                }
                "LUT_1D_SIZE" => return Err(CubeError::OneDimensional),
                "DOMAIN_MIN" => domain_min = triple(rest).map_err(syntax)?,
                "DOMAIN_MAX" => domain_max = triple(rest).map_err(syntax)?,
                // Resolve's spelling of the domain: one range for all channels.
                "LUT_3D_INPUT_RANGE" => {
                    let values = numbers(rest).map_err(syntax)?;
                    let [lo, hi] = values[..] else {
                        return Err(syntax("LUT_3D_INPUT_RANGE needs two numbers".into()));
                    };
                    domain_min = [lo; 3];
                    domain_max = [hi; 3];
                }
                _ if keyword.starts_with(|c: char| {
                    c.is_ascii_digit() || c == '-' || c == '+' || c == '.'
                }) =>
                {
                    let Some(n) = size else {
                        return Err(syntax("table data before LUT_3D_SIZE".into()));
                    };
                    if table.len() == n * n * n {
                        return Err(CubeError::WrongCount {
                            size: n,
                            expected: n * n * n,
                            found: table.len() + 1,
                        });
                    }
                    table.push(triple(line).map_err(syntax)?);
                }
                other => return Err(syntax(format!("unknown keyword {other:?}"))),
            }
        }
        let size = size.ok_or(CubeError::MissingSize)?;
        if table.len() != size * size * size {
            return Err(CubeError::WrongCount {
                size,
                expected: size * size * size,
                found: table.len(),
            });
        }
        if (0..3).any(|c| domain_min[c] >= domain_max[c]) {
            return Err(CubeError::BadDomain);
        }
        Ok(Self {
            title,
            size,
            domain_min,
            domain_max,
            table,
        })
    }

    pub fn size(&self) -> usize {
        self.size
    }

    #[inline]
    fn at(&self, r: usize, g: usize, b: usize) -> [f32; 3] {
        self.table[(b * self.size + g) * self.size + r]
    }

    /// The lattice cell (its lower index) and the position inside it of
    /// `value` on channel `c`'s axis.
    #[inline]
    fn locate(&self, c: usize, value: f32) -> (usize, f32) {
        let last = (self.size - 1) as f32;
        let span = self.domain_max[c] - self.domain_min[c];
        let x = ((value - self.domain_min[c]) / span).clamp(0.0, 1.0) * last;
        // NaN clamps to NaN; treat it as the domain minimum.
        let x = if x.is_nan() { 0.0 } else { x };
        let i = (x as usize).min(self.size - 2);
        (i, x - i as f32)
    }

    /// Maps one RGB triple (in the LUT's domain) through the table.
    #[inline]
    pub fn apply(&self, rgb: [f32; 3], interpolation: Interpolation) -> [f32; 3] {
        let [(r, fr), (g, fg), (b, fb)] = [0, 1, 2].map(|c| self.locate(c, rgb[c]));
        match interpolation {
            Interpolation::Tetrahedral => self.tetrahedral([r, g, b], [fr, fg, fb]),
            Interpolation::Trilinear => self.trilinear([r, g, b], [fr, fg, fb]),
        }
    }

    /// The LUT for inputs that take at most 256 values per channel: each
    /// channel's values are located on their axis once, so each pixel costs
    /// only the interpolation. `values[c][code]` is the value channel `c`
    /// has for 8-bit code `code`; [`CodeLut::apply`] gives what
    /// [`Lut3d::apply`] gives for those values, exactly.
    pub fn for_codes(&self, values: &[[f32; 256]; 3], interpolation: Interpolation) -> CodeLut<'_> {
        let n = self.size;
        let strides = [1, n, n * n];
        CodeLut {
            lut: self,
            axes: std::array::from_fn(|c| {
                std::array::from_fn(|code| {
                    let (i, frac) = self.locate(c, values[c][code]);
                    (i * strides[c], frac)
                })
            }),
            interpolation,
        }
    }

    fn tetrahedral(&self, [r, g, b]: [usize; 3], [fr, fg, fb]: [f32; 3]) -> [f32; 3] {
        let n = self.size;
        self.tetrahedral_at((b * n + g) * n + r, [fr, fg, fb])
    }

    /// Tetrahedral interpolation in the cell whose lower corner is entry
    /// `base` of the table.
    #[inline]
    fn tetrahedral_at(&self, base: usize, [fr, fg, fb]: [f32; 3]) -> [f32; 3] {
        let (sr, sg, sb) = (1, self.size, self.size * self.size);
        let t = &self.table[base..=base + sr + sg + sb];
        let (c000, c111) = (t[0], t[sr + sg + sb]);
        // Walk from the origin corner to the far corner along the channel
        // with the largest fraction first: that picks the tetrahedron.
        let (w, corner1, corner2) = if fr >= fg {
            if fg >= fb {
                ([fr, fg, fb], t[sr], t[sr + sg])
            } else if fr >= fb {
                ([fr, fb, fg], t[sr], t[sr + sb])
            } else {
                ([fb, fr, fg], t[sb], t[sr + sb])
            }
        } else if fb >= fg {
            ([fb, fg, fr], t[sb], t[sg + sb])
        } else if fb >= fr {
            ([fg, fb, fr], t[sg], t[sg + sb])
        } else {
            ([fg, fr, fb], t[sg], t[sr + sg])
        };
        let [w1, w2, w3] = w;
        std::array::from_fn(|c| {
            (1.0 - w1) * c000[c] + (w1 - w2) * corner1[c] + (w2 - w3) * corner2[c] + w3 * c111[c]
        })
    }

    fn trilinear(&self, [r, g, b]: [usize; 3], [fr, fg, fb]: [f32; 3]) -> [f32; 3] {
        let lerp = |a: [f32; 3], b: [f32; 3], t: f32| -> [f32; 3] {
            std::array::from_fn(|c| a[c] + (b[c] - a[c]) * t)
        };
        let c00 = lerp(self.at(r, g, b), self.at(r + 1, g, b), fr);
        let c10 = lerp(self.at(r, g + 1, b), self.at(r + 1, g + 1, b), fr);
        let c01 = lerp(self.at(r, g, b + 1), self.at(r + 1, g, b + 1), fr);
        let c11 = lerp(self.at(r, g + 1, b + 1), self.at(r + 1, g + 1, b + 1), fr);
        lerp(lerp(c00, c10, fg), lerp(c01, c11, fg), fb)
    }
}

/// A [`Lut3d`] prepared for 8-bit-coded inputs ([`Lut3d::for_codes`]).
pub struct CodeLut<'a> {
    lut: &'a Lut3d,
    /// Per channel and code: the cell's offset in the table along that
    /// channel, and the position inside the cell.
    axes: [[(usize, f32); 256]; 3],
    interpolation: Interpolation,
}

impl CodeLut<'_> {
    /// Maps one pixel's codes through the LUT.
    #[inline]
    pub fn apply(&self, [r, g, b]: [u8; 3]) -> [f32; 3] {
        let (or, fr) = self.axes[0][r as usize];
        let (og, fg) = self.axes[1][g as usize];
        let (ob, fb) = self.axes[2][b as usize];
        match self.interpolation {
            Interpolation::Tetrahedral => self.lut.tetrahedral_at(or + og + ob, [fr, fg, fb]),
            Interpolation::Trilinear => {
                let n = self.lut.size;
                let index = [or, og / n, ob / (n * n)];
                self.lut.trilinear(index, [fr, fg, fb])
            }
        }
    }
}

fn numbers(text: &str) -> Result<Vec<f32>, String> {
    text.split_whitespace()
        .map(|v| {
            v.parse::<f32>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| format!("{v:?} is not a number"))
        })
        .collect()
}

fn triple(text: &str) -> Result<[f32; 3], String> {
    let values = numbers(text)?;
    <[f32; 3]>::try_from(values.as_slice())
        .map_err(|_| format!("expected three numbers, found {}", values.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
    }

    #[test]
    fn matches_colour_science_for_both_luts_and_interpolations() {
        let luts: Vec<(String, Lut3d)> = ["warm-17", "mix-33"]
            .iter()
            .map(|name| {
                let text =
                    std::fs::read_to_string(fixtures().join(format!("luts/{name}.cube"))).unwrap();
                (name.to_string(), Lut3d::parse_cube(&text).unwrap())
            })
            .collect();
        let reference = std::fs::read_to_string(fixtures().join("luts/reference.tsv")).unwrap();
        let mut checked = std::collections::BTreeMap::new();
        let mut worst = 0f32;
        for line in reference
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("lut\t"))
        {
            let fields: Vec<&str> = line.split('\t').collect();
            let lut = &luts.iter().find(|(n, _)| n == fields[0]).unwrap().1;
            let interpolation = match fields[1] {
                "tetrahedral" => Interpolation::Tetrahedral,
                "trilinear" => Interpolation::Trilinear,
                other => panic!("unknown interpolation {other}"),
            };
            let v: Vec<f32> = fields[2..].iter().map(|x| x.parse().unwrap()).collect();
            let out = lut.apply([v[0], v[1], v[2]], interpolation);
            for c in 0..3 {
                let err = (out[c] - v[3 + c]).abs();
                worst = worst.max(err);
                assert!(err < 1e-4, "{line}: got {out:?}");
            }
            *checked.entry((fields[0], fields[1])).or_insert(0) += 1;
        }
        assert_eq!(checked.len(), 4, "both LUTs under both interpolations");
        assert!(checked.values().all(|&n| n > 100));
        assert!(worst < 1e-4);
    }

    #[test]
    fn the_code_lut_is_the_lut_on_each_code() {
        let text = std::fs::read_to_string(fixtures().join("luts/mix-33.cube")).unwrap();
        let lut = Lut3d::parse_cube(&text).unwrap();
        // Uneven, out-of-domain and NaN values on the axes.
        let values: [[f32; 256]; 3] = std::array::from_fn(|c| {
            std::array::from_fn(|code| match code {
                0 => f32::NAN,
                255 => 1.5,
                _ => (code as f32 / 255.0).powf(0.8 + 0.2 * c as f32) - 0.01,
            })
        });
        for interpolation in [Interpolation::Tetrahedral, Interpolation::Trilinear] {
            let fast = lut.for_codes(&values, interpolation);
            for r in (0..=255u8).step_by(5) {
                for g in (0..=255u8).step_by(3) {
                    for b in [0u8, 1, 77, 128, 254, 255] {
                        let want = lut.apply(
                            [
                                values[0][r as usize],
                                values[1][g as usize],
                                values[2][b as usize],
                            ],
                            interpolation,
                        );
                        assert_eq!(fast.apply([r, g, b]), want, "{r} {g} {b} {interpolation:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn interpolations_differ_on_a_mixing_lut() {
        let text = std::fs::read_to_string(fixtures().join("luts/mix-33.cube")).unwrap();
        let lut = Lut3d::parse_cube(&text).unwrap();
        let x = [0.31, 0.77, 0.12];
        let a = lut.apply(x, Interpolation::Tetrahedral);
        let b = lut.apply(x, Interpolation::Trilinear);
        assert!((0..3).any(|c| (a[c] - b[c]).abs() > 1e-5));
    }

    fn identity_cube(size: usize, header: &str) -> String {
        let mut text = format!("{header}LUT_3D_SIZE {size}\n");
        let step = |i: usize| i as f32 / (size - 1) as f32;
        for b in 0..size {
            for g in 0..size {
                for r in 0..size {
                    text += &format!("{} {} {}\n", step(r), step(g), step(b));
                }
            }
        }
        text
    }

    #[test]
    fn identity_lut_is_identity_and_domain_rescales() {
        let lut = Lut3d::parse_cube(&identity_cube(2, "# comment\nTITLE \"id\"\n")).unwrap();
        assert_eq!(lut.title.as_deref(), Some("id"));
        for interpolation in [Interpolation::Tetrahedral, Interpolation::Trilinear] {
            let out = lut.apply([0.25, 0.5, 0.9], interpolation);
            assert!(
                (out[0] - 0.25).abs() < 1e-6
                    && (out[1] - 0.5).abs() < 1e-6
                    && (out[2] - 0.9).abs() < 1e-6
            );
            assert_eq!(
                lut.apply([-1.0, 2.0, f32::NAN], interpolation),
                [0.0, 1.0, 0.0]
            );
        }
        let wide =
            Lut3d::parse_cube(&identity_cube(3, "DOMAIN_MIN 0 0 0\nDOMAIN_MAX 2 2 2\n")).unwrap();
        let out = wide.apply([1.0, 0.5, 2.0], Interpolation::Tetrahedral);
        assert!(
            (out[0] - 0.5).abs() < 1e-6
                && (out[1] - 0.25).abs() < 1e-6
                && (out[2] - 1.0).abs() < 1e-6
        );
    }

    #[test]
    fn malformed_cubes_are_refused_with_a_reason() {
        assert_eq!(
            Lut3d::parse_cube("TITLE \"x\"\n"),
            Err(CubeError::MissingSize)
        );
        assert_eq!(
            Lut3d::parse_cube("LUT_3D_SIZE 1\n"),
            Err(CubeError::BadSize(1))
        );
        assert_eq!(
            Lut3d::parse_cube("LUT_3D_SIZE 257\n"),
            Err(CubeError::BadSize(257))
        );
        assert_eq!(
            Lut3d::parse_cube("LUT_1D_SIZE 16\n"),
            Err(CubeError::OneDimensional)
        );
        assert!(matches!(
            Lut3d::parse_cube("LUT_3D_SIZE 2\n0 0 0\n"),
            Err(CubeError::WrongCount {
                expected: 8,
                found: 1,
                ..
            })
        ));
        assert!(matches!(
            Lut3d::parse_cube(&identity_cube(2, "").replace("1 1 1", "1 x 1")),
            Err(CubeError::Syntax { line: 9, .. })
        ));
        assert!(matches!(
            Lut3d::parse_cube(&(identity_cube(2, "") + "0 0 0\n")),
            Err(CubeError::WrongCount { found: 9, .. })
        ));
        assert!(matches!(
            Lut3d::parse_cube("0 0 0\nLUT_3D_SIZE 2\n"),
            Err(CubeError::Syntax { line: 1, .. })
        ));
        assert!(matches!(
            Lut3d::parse_cube("BOGUS 1\n"),
            Err(CubeError::Syntax { .. })
        ));
        assert_eq!(
            Lut3d::parse_cube(&identity_cube(2, "DOMAIN_MIN 1 0 0\n")),
            Err(CubeError::BadDomain)
        );
    }
}
