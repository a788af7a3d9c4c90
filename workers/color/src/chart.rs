//! The 24-patch ColorChecker: reference colours, sampling a captured chart
//! at given patch centres, and per-patch CIEDE2000 before and after a
//! camera profile.
//!
//! Reference values are the X-Rite ColorChecker (2014 edition) CIELAB
//! values, chromatically adapted from D50 to D65 with Bradford, as
//! colour-science 0.4.7 gives them. Patches are numbered row by row from
//! the top-left (dark skin) to the bottom-right (black) with the chart
//! upright: 6 columns, 4 rows.

use serde::Serialize;

use crate::image::LinearImage;
use crate::lab::{self, Lab};
use crate::profile::{CameraProfile, ProfileError, ProfileKind};
use crate::transfer;

pub const PATCHES: usize = 24;
const COLUMNS: usize = 6;
const ROWS: usize = 4;

pub const PATCH_NAMES: [&str; PATCHES] = [
    "dark skin",
    "light skin",
    "blue sky",
    "foliage",
    "blue flower",
    "bluish green",
    "orange",
    "purplish blue",
    "moderate red",
    "purple",
    "yellow green",
    "orange yellow",
    "blue",
    "green",
    "red",
    "yellow",
    "magenta",
    "cyan",
    "white 9.5",
    "neutral 8",
    "neutral 6.5",
    "neutral 5",
    "neutral 3.5",
    "black 2",
];

/// CIELAB (D65) of each patch.
pub const REFERENCE_LAB: [[f64; 3]; PATCHES] = [
    [37.274, 13.6833, 14.5286],
    [64.4426, 17.7889, 16.9332],
    [49.5248, -1.0117, -22.1637],
    [43.2407, -14.6565, 22.552],
    [55.1744, 12.2335, -24.8187],
    [70.7374, -32.0653, 0.0339],
    [62.0628, 33.4164, 55.8322],
    [40.1928, 15.9697, -43.9961],
    [50.0182, 47.9755, 15.5746],
    [30.2855, 24.3176, -20.8308],
    [71.4966, -28.4202, 58.8958],
    [70.8482, 14.7457, 67.1837],
    [29.2624, 21.3332, -48.4177],
    [54.3457, -42.5705, 32.9318],
    [41.8429, 50.1302, 27.228],
    [81.3882, -2.2801, 80.9322],
    [50.3859, 52.2717, -14.5936],
    [51.2575, -18.6295, -25.5281],
    [95.2464, -1.5495, 3.2578],
    [81.2232, -0.5202, 0.3798],
    [66.8364, -0.7084, -0.248],
    [50.8275, 0.0045, 0.002],
    [35.6657, -0.1812, -0.7219],
    [20.7878, 0.0025, 0.0011],
];

fn reference_lab(i: usize) -> Lab {
    let [l, a, b] = REFERENCE_LAB[i];
    Lab { l, a, b }
}

/// Where the patches of a captured chart are.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartLayout {
    /// The centre of each of the 24 patches, in image pixels.
    pub centres: Vec<(u32, u32)>,
    /// Half the side of the square averaged around each centre.
    pub window: u32,
}

/// Why a chart could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChartError {
    #[error("a ColorChecker has {PATCHES} patches; got {0} centres")]
    WrongCount(usize),
    #[error(
        "chart patch {patch} ({name}): the {side}x{side} window at ({x}, {y}) is not inside the {width}x{height} image"
    )]
    OffImage {
        patch: usize,
        name: &'static str,
        x: u32,
        y: u32,
        side: u32,
        width: u32,
        height: u32,
    },
    #[error(transparent)]
    Fit(#[from] ProfileError),
}

impl ChartLayout {
    /// The layout of an upright chart from the centres of its first
    /// (top-left) and last (bottom-right) patches.
    pub fn grid(first: (u32, u32), last: (u32, u32), window: Option<u32>) -> Self {
        let step_x = (last.0 as f64 - first.0 as f64) / (COLUMNS - 1) as f64;
        let step_y = (last.1 as f64 - first.1 as f64) / (ROWS - 1) as f64;
        let centres = (0..PATCHES)
            .map(|i| {
                let x = first.0 as f64 + step_x * (i % COLUMNS) as f64;
                let y = first.1 as f64 + step_y * (i / COLUMNS) as f64;
                (x.round().max(0.0) as u32, y.round().max(0.0) as u32)
            })
            .collect();
        // A fifth of the patch pitch leaves a wide margin to the patch edges.
        let pitch = step_x.abs().min(step_y.abs());
        Self {
            centres,
            window: window.unwrap_or(((pitch / 5.0) as u32).max(1)),
        }
    }

    /// The mean linear RGB of each patch window.
    pub fn sample(&self, image: &LinearImage) -> Result<Vec<[f64; 3]>, ChartError> {
        if self.centres.len() != PATCHES {
            return Err(ChartError::WrongCount(self.centres.len()));
        }
        let w = self.window;
        self.centres
            .iter()
            .enumerate()
            .map(|(i, &(x, y))| {
                let inside = x >= w && y >= w && x + w < image.width && y + w < image.height;
                if !inside {
                    return Err(ChartError::OffImage {
                        patch: i + 1,
                        name: PATCH_NAMES[i],
                        x,
                        y,
                        side: 2 * w + 1,
                        width: image.width,
                        height: image.height,
                    });
                }
                let mut sum = [0f64; 3];
                for yy in y - w..=y + w {
                    let row = (yy * image.width) as usize;
                    for p in &image.pixels[row + (x - w) as usize..=row + (x + w) as usize] {
                        for c in 0..3 {
                            sum[c] += p[c] as f64;
                        }
                    }
                }
                let n = ((2 * w + 1) * (2 * w + 1)) as f64;
                Ok(sum.map(|s| s / n))
            })
            .collect()
    }
}

/// The reference linear sRGB of each patch (unclipped: cyan lies a little
/// outside sRGB).
pub fn reference_linear() -> Vec<[f64; 3]> {
    (0..PATCHES)
        .map(|i| lab::lab_to_linear_srgb(reference_lab(i)))
        .collect()
}

/// One patch of a chart report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatchReport {
    pub patch: usize,
    pub name: &'static str,
    /// The measured mean as 8-bit sRGB.
    pub measured_srgb8: [u8; 3],
    pub reference_lab: [f64; 3],
    pub de00_before: f64,
    /// After the profile, when there is one.
    pub de00_after: Option<f64>,
}

/// Per-patch CIEDE2000 of a captured chart before and after a profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChartReport {
    pub patches: Vec<PatchReport>,
    pub mean_de00_before: f64,
    pub max_de00_before: f64,
    pub mean_de00_after: Option<f64>,
    pub max_de00_after: Option<f64>,
}

/// The difference of each measured patch (linear sRGB) to its reference,
/// as the image shows it: clipped to the displayable range.
fn de00(rgb: [f64; 3], i: usize) -> f64 {
    lab::ciede2000(
        lab::linear_srgb_to_lab(rgb.map(|c| c.clamp(0.0, 1.0))),
        reference_lab(i),
    )
}

pub fn report(measured: &[[f64; 3]], profile: Option<&CameraProfile>) -> ChartReport {
    let patches: Vec<PatchReport> = measured
        .iter()
        .enumerate()
        .map(|(i, &m)| PatchReport {
            patch: i + 1,
            name: PATCH_NAMES[i],
            measured_srgb8: m.map(|c| transfer::encode_u8(c as f32)),
            reference_lab: REFERENCE_LAB[i],
            de00_before: de00(m, i),
            de00_after: profile.map(|p| de00(p.apply(m), i)),
        })
        .collect();
    let stats = |values: Vec<f64>| {
        let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
        (mean, values.iter().cloned().fold(0.0, f64::max))
    };
    let (mean_before, max_before) = stats(patches.iter().map(|p| p.de00_before).collect());
    let after = profile.map(|_| stats(patches.iter().filter_map(|p| p.de00_after).collect()));
    ChartReport {
        patches,
        mean_de00_before: mean_before,
        max_de00_before: max_before,
        mean_de00_after: after.map(|a| a.0),
        max_de00_after: after.map(|a| a.1),
    }
}

/// Fits a profile of `kind` from a captured chart: samples the patches and
/// fits them to the reference.
pub fn fit_profile(
    image: &LinearImage,
    layout: &ChartLayout,
    name: &str,
    kind: ProfileKind,
) -> Result<(CameraProfile, ChartReport), ChartError> {
    let measured = layout.sample(image)?;
    let profile = CameraProfile::fit(name, kind, &measured, &reference_linear())?;
    let report = report(&measured, Some(&profile));
    Ok((profile, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use studio_edge_imaging::{Limits, decode};

    fn fixtures() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
    }

    fn load(name: &str) -> LinearImage {
        let bytes = std::fs::read(fixtures().join("colorchecker").join(name)).unwrap();
        LinearImage::from_rgba8(&decode(&bytes, &Limits::default()).unwrap().image)
    }

    fn fixture_json() -> serde_json::Value {
        serde_json::from_str(
            &std::fs::read_to_string(fixtures().join("colorchecker/colorchecker.json")).unwrap(),
        )
        .unwrap()
    }

    fn fixture_layout(json: &serde_json::Value) -> ChartLayout {
        let centres = json["centers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c[0].as_u64().unwrap() as u32, c[1].as_u64().unwrap() as u32))
            .collect();
        ChartLayout {
            centres,
            window: 20,
        }
    }

    #[test]
    fn reference_data_matches_the_fixture() {
        let json = fixture_json();
        for i in 0..PATCHES {
            let lab = &json["reference_lab_d65"][i];
            for c in 0..3 {
                assert!((lab[c].as_f64().unwrap() - REFERENCE_LAB[i][c]).abs() < 1e-9);
            }
            assert!(
                json["names"][i]
                    .as_str()
                    .unwrap()
                    .starts_with(PATCH_NAMES[i])
            );
        }
        // The grid from the first and last centres gives every centre.
        let grid = ChartLayout::grid((60, 60), (610, 390), None);
        assert_eq!(grid.centres, fixture_layout(&json).centres);
        assert_eq!(grid.window, 22);
    }

    #[test]
    fn the_rendered_chart_is_close_to_its_reference() {
        let json = fixture_json();
        let measured = fixture_layout(&json)
            .sample(&load("colorchecker.png"))
            .unwrap();
        let report = report(&measured, None);
        // Only 8-bit rounding and the clipped cyan separate them.
        assert!(report.mean_de00_before < 0.5, "{}", report.mean_de00_before);
    }

    #[test]
    fn fitted_profiles_meet_colour_science_3x3_on_both_captures() {
        let json = fixture_json();
        let layout = fixture_layout(&json);
        for capture in ["warm", "cool-green"] {
            let expected = &json["captures"][capture];
            let image = load(expected["file"].as_str().unwrap());
            let bar = expected["colour_science_cheung2004_3x3"]["mean_dE00"]
                .as_f64()
                .unwrap();
            let before = expected["mean_dE00_before"].as_f64().unwrap();
            for kind in [
                ProfileKind::Matrix,
                ProfileKind::Affine,
                ProfileKind::RootPolynomial,
            ] {
                let (_, report) = fit_profile(&image, &layout, "cam", kind).unwrap();
                eprintln!(
                    "{capture} {}: before {:.3} (fixture {before}), after {:.3} max {:.3} (colour-science 3x3 {bar})",
                    kind.name(),
                    report.mean_de00_before,
                    report.mean_de00_after.unwrap(),
                    report.max_de00_after.unwrap()
                );
                assert!((report.mean_de00_before - before).abs() < 0.1);
                assert!(
                    report.mean_de00_after.unwrap() < 0.8 * bar,
                    "{capture} {}",
                    kind.name()
                );
            }
        }
    }

    #[test]
    fn off_image_centres_name_the_patch() {
        let image = load("colorchecker.png");
        let layout = ChartLayout::grid((60, 60), (700, 390), Some(10));
        match layout.sample(&image) {
            Err(ChartError::OffImage {
                patch: 6,
                name: "bluish green",
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
        let short = ChartLayout {
            centres: vec![(10, 10)],
            window: 1,
        };
        assert_eq!(short.sample(&image), Err(ChartError::WrongCount(1)));
    }
}
