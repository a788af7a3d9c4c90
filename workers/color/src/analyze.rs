//! Analysis without correction: white-balance estimates, exposure
//! statistics, skin coverage, and for a chart capture the per-patch
//! CIEDE2000 before and after a profile (fitted from the chart, or given).
//!
//! Chart options (also used by profile fitting): `grid=X0,Y0,X1,Y1` (the
//! centres of the first, top-left, and last, bottom-right, patches of an
//! upright 6x4 ColorChecker) or `patches=X,Y,X,Y,...` (all 24 centres, row
//! by row), `window=N` (half-side of the averaged square; default a fifth
//! of the patch pitch, or 10 with `patches`), `kind=matrix|affine|
//! root-polynomial` and `name=` for the fitted profile.

use serde::Serialize;

use crate::chart::{self, ChartLayout, ChartReport, PATCHES};
use crate::error::ColorError;
use crate::exposure::{self, Exposure, ExposureStats, SKIN_COVERAGE_THRESHOLD};
use crate::image::LinearImage;
use crate::ops::number;
use crate::pipeline::{ColourManagement, Source};
use crate::profile::{CameraProfile, ProfileKind};
use crate::white_balance::WhiteBalance;

/// The query keys of chart options.
pub const CHART_KEYS: [&str; 5] = ["grid", "patches", "window", "kind", "name"];

/// Chart options from a query.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartOptions {
    pub layout: ChartLayout,
    pub kind: ProfileKind,
    pub name: String,
}

fn coordinates(text: &str, what: &str) -> Result<Vec<u32>, ColorError> {
    text.split(',')
        .map(|v| {
            v.trim().parse::<u32>().map_err(|_| {
                ColorError::bad_option(format!("{what}: {v:?} is not a pixel coordinate"))
            })
        })
        .collect()
}

impl ChartOptions {
    /// Reads the chart options from query pairs; `None` when neither
    /// `grid` nor `patches` is given.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<Option<Self>, ColorError> {
        let get = |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let window = get("window")
            .map(|w| number(w, "window", 0.0..=200.0).map(|w| w as u32))
            .transpose()?;
        let layout = match (get("grid"), get("patches")) {
            (Some(_), Some(_)) => {
                return Err(ColorError::bad_option(
                    "give either grid or patches, not both",
                ));
            }
            (Some(grid), None) => {
                let [x0, y0, x1, y1] = coordinates(grid, "grid")?[..] else {
                    return Err(ColorError::bad_option(
                        "grid needs four numbers: X0,Y0,X1,Y1",
                    ));
                };
                ChartLayout::grid((x0, y0), (x1, y1), window)
            }
            (None, Some(patches)) => {
                let values = coordinates(patches, "patches")?;
                if values.len() != 2 * PATCHES {
                    return Err(ColorError::bad_option(format!(
                        "patches needs {} numbers (X,Y of {PATCHES} patches), got {}",
                        2 * PATCHES,
                        values.len()
                    )));
                }
                ChartLayout {
                    centres: values.chunks(2).map(|c| (c[0], c[1])).collect(),
                    window: window.unwrap_or(10),
                }
            }
            (None, None) => {
                if get("kind").is_some() || get("window").is_some() {
                    return Err(ColorError::bad_option(
                        "kind and window need a chart: give grid or patches",
                    ));
                }
                return Ok(None);
            }
        };
        let kind = match get("kind") {
            None => ProfileKind::default(),
            Some(kind) => ProfileKind::parse(kind).ok_or_else(|| {
                ColorError::bad_option(format!(
                    "kind: {kind:?} is not matrix, affine or root-polynomial"
                ))
            })?,
        };
        let name = crate::ops::asset_name(get("name").unwrap_or("chart"), "name")?;
        Ok(Some(Self { layout, kind, name }))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhiteBalanceEstimates {
    pub auto: Option<[f32; 3]>,
    pub gray_world: Option<[f32; 3]>,
    pub white_patch: Option<[f32; 3]>,
    pub shades_of_gray: Option<[f32; 3]>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExposureAnalysis {
    #[serde(flatten)]
    pub stats: ExposureStats,
    /// The EV `ev=auto` would apply.
    pub auto_ev: f32,
    /// The EV `ev=skin` would apply.
    pub skin_ev: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkinAnalysis {
    /// Fraction of visible pixels in the skin-tone box.
    pub coverage: f32,
    /// The coverage above which `ev=skin` meters on skin.
    pub threshold: f32,
    pub metered_on_skin: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChartAnalysis {
    /// The profile the "after" figures use: the one given, else fitted.
    pub profile: CameraProfile,
    pub fitted: bool,
    #[serde(flatten)]
    pub report: ChartReport,
}

/// The `POST /v1/color/analyze` document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    pub width: u32,
    pub height: u32,
    pub colour_management: ColourManagement,
    /// Estimated gains (green = 1), `null` when an estimator found no
    /// usable pixels.
    pub white_balance: WhiteBalanceEstimates,
    pub exposure: ExposureAnalysis,
    pub skin: SkinAnalysis,
    pub chart: Option<ChartAnalysis>,
}

/// Analyses a decoded source; `chart` adds the chart report, against
/// `profile` when given, else against a profile fitted from the chart.
pub fn analyze(
    source: &Source,
    chart: Option<&ChartOptions>,
    profile: Option<&CameraProfile>,
) -> Result<Analysis, ColorError> {
    let image: &LinearImage = &source.image;
    let estimate = |wb: WhiteBalance| wb.gains(image).ok();
    let skin_decision = Exposure::Skin.decide(image);
    let chart = match chart {
        None => None,
        Some(options) => {
            let measured = options.layout.sample(image)?;
            let (profile, fitted) = match profile {
                Some(p) => (p.clone(), false),
                None => (
                    CameraProfile::fit(
                        &options.name,
                        options.kind,
                        &measured,
                        &chart::reference_linear(),
                    )?,
                    true,
                ),
            };
            let report = chart::report(&measured, Some(&profile));
            Some(ChartAnalysis {
                profile,
                fitted,
                report,
            })
        }
    };
    Ok(Analysis {
        width: image.width,
        height: image.height,
        colour_management: source.colour_management,
        white_balance: WhiteBalanceEstimates {
            auto: estimate(WhiteBalance::Auto),
            gray_world: estimate(WhiteBalance::GrayWorld),
            white_patch: estimate(WhiteBalance::WhitePatch { percentile: 0.99 }),
            shades_of_gray: estimate(WhiteBalance::ShadesOfGray { p: 6.0 }),
        },
        exposure: ExposureAnalysis {
            stats: exposure::exposure_stats(image),
            auto_ev: Exposure::Auto.decide(image).ev,
            skin_ev: skin_decision.ev,
        },
        skin: SkinAnalysis {
            coverage: exposure::skin_coverage(image),
            threshold: SKIN_COVERAGE_THRESHOLD,
            metered_on_skin: skin_decision.metered_on_skin,
        },
        chart,
    })
}
