//! Stages that call the worker crates natively, for tests, benchmarks and
//! tools. The host runs the same crates as wasm components instead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use studio_edge_color::assets::{AssetDir, Assets, Sources, Uploads};
use studio_edge_color::ops::ColorOps;
use studio_edge_imaging::{Format, Limits};
use studio_edge_moderation::{Action, Blocklist, Hash256, ModerationConfig, Severity};
use studio_edge_thumbnail::ThumbnailSpec;

use crate::stages::{
    ColorStage, EncodedImage, HintSummary, ImageFormat, ModerationAction, ModerationStage,
    ModerationSummary, OutputBox, StageError, ThumbnailStage, VariantSpec,
};

/// The colour, thumbnail and moderation stages, all native.
pub fn stages(color_assets: Option<AssetDir>) -> crate::FrameStages {
    crate::FrameStages {
        color: Some(Arc::new(NativeColor::new(color_assets))),
        thumbnails: Some(Arc::new(NativeThumbnails::default())),
        moderation: Some(Arc::new(NativeModeration::new(ModerationConfig::default()))),
    }
}

/// An error reported with an HTTP status, as the workers' errors are.
fn from_status(status: u16, text: String) -> StageError {
    match status {
        400 => StageError::BadOption(text),
        413 => StageError::TooLarge(text),
        415 => StageError::UnsupportedFormat(text),
        422 => StageError::Unprocessable(text),
        _ => StageError::Internal(text),
    }
}

fn format_of(format: Format) -> ImageFormat {
    match format {
        Format::Jpeg => ImageFormat::Jpeg,
        Format::Png => ImageFormat::Png,
        Format::Webp => ImageFormat::Webp,
        Format::Gif => ImageFormat::Gif,
        Format::Avif => ImageFormat::Avif,
        Format::Pam => ImageFormat::Pam,
    }
}

/// `studio_edge_color::pipeline::correct`, with each stream's ops parsed and
/// its LUT and profile loaded once.
pub struct NativeColor {
    assets_dir: Option<AssetDir>,
    limits: Limits,
    prepared: Mutex<HashMap<String, Arc<(ColorOps, Assets)>>>,
}

impl NativeColor {
    /// `assets_dir` holds `luts/<name>.cube` and `profiles/<name>.json`.
    pub fn new(assets_dir: Option<AssetDir>) -> Self {
        Self {
            assets_dir,
            limits: Limits::default(),
            prepared: Mutex::new(HashMap::new()),
        }
    }

    fn prepare(&self, ops: &str) -> Result<Arc<(ColorOps, Assets)>, StageError> {
        if let Some(prepared) = self.prepared.lock().expect("colour cache lock").get(ops) {
            return Ok(prepared.clone());
        }
        let error =
            |e: studio_edge_color::error::ColorError| from_status(e.status(), e.to_string());
        let parsed = ColorOps::parse(ops).map_err(error)?;
        let sources = Sources {
            store: None,
            dir: self.assets_dir.as_ref(),
        };
        let assets = Assets::resolve(&parsed, Uploads::default(), sources).map_err(error)?;
        let prepared = Arc::new((parsed, assets));
        self.prepared
            .lock()
            .expect("colour cache lock")
            .insert(ops.to_owned(), prepared.clone());
        Ok(prepared)
    }
}

impl ColorStage for NativeColor {
    fn check(&self, ops: &str) -> Result<(), StageError> {
        self.prepare(ops).map(|_| ())
    }

    fn correct(&self, frame: &[u8], ops: &str) -> Result<EncodedImage, StageError> {
        let prepared = self.prepare(ops)?;
        let (ops, assets) = prepared.as_ref();
        let corrected = studio_edge_color::pipeline::correct(frame, ops, assets, &self.limits)
            .map_err(|e| from_status(e.status(), e.to_string()))?;
        Ok(EncodedImage {
            format: format_of(corrected.format),
            bytes: corrected.bytes,
        })
    }
}

/// `studio_edge_thumbnail::render_many`.
#[derive(Default)]
pub struct NativeThumbnails {
    limits: Limits,
}

fn thumbnail_spec(variant: &VariantSpec) -> Result<ThumbnailSpec, StageError> {
    let mut spec = studio_edge_thumbnail::parse_options(&variant.options)
        .map_err(|e| from_status(e.status(), e.to_string()))?;
    if let Some(crop) = variant.crop {
        spec.crop =
            studio_edge_thumbnail::options::Region::new(crop.x, crop.y, crop.width, crop.height);
    }
    Ok(spec)
}

impl ThumbnailStage for NativeThumbnails {
    fn check(&self, variant: &VariantSpec) -> Result<OutputBox, StageError> {
        let (width, height) = thumbnail_spec(variant)?.device_box();
        Ok(OutputBox { width, height })
    }

    fn render(
        &self,
        source: &[u8],
        variants: &[VariantSpec],
    ) -> Vec<Result<EncodedImage, StageError>> {
        let specs: Result<Vec<ThumbnailSpec>, StageError> =
            variants.iter().map(thumbnail_spec).collect();
        let specs = match specs {
            Ok(specs) => specs,
            Err(error) => return variants.iter().map(|_| Err(error.clone())).collect(),
        };
        studio_edge_thumbnail::render_many(source, &specs, &self.limits)
            .into_iter()
            .map(|rendered| {
                rendered
                    .map(|r| EncodedImage {
                        format: format_of(r.format),
                        bytes: r.bytes,
                    })
                    .map_err(|e| from_status(e.status(), e.to_string()))
            })
            .collect()
    }
}

/// `studio_edge_moderation::moderate` with a fixed configuration.
pub struct NativeModeration {
    config: ModerationConfig,
    limits: Limits,
}

impl NativeModeration {
    pub fn new(config: ModerationConfig) -> Self {
        Self {
            config,
            limits: Limits::default(),
        }
    }
}

impl ModerationStage for NativeModeration {
    fn moderate(
        &self,
        source: &[u8],
        previous_hash: Option<&str>,
        blocklist: &[String],
    ) -> Result<ModerationSummary, StageError> {
        let previous = previous_hash
            .map(str::parse::<Hash256>)
            .transpose()
            .map_err(|e| StageError::BadOption(e.to_string()))?;
        let hashes = blocklist
            .iter()
            .map(|hash| hash.parse::<Hash256>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StageError::BadOption(e.to_string()))?;
        let report = studio_edge_moderation::moderate(
            source,
            &self.limits,
            &self.config,
            previous,
            &Blocklist::from_hashes(hashes),
        )
        .map_err(|e| match e {
            studio_edge_moderation::ModerationError::Image(image) => {
                from_status(image.status(), image.to_string())
            }
            other => StageError::BadOption(other.to_string()),
        })?;
        Ok(ModerationSummary {
            action: match report.action {
                Action::Allow => ModerationAction::Allow,
                Action::Review => ModerationAction::Review,
                Action::Hold => ModerationAction::Hold,
            },
            hints: report
                .hints
                .iter()
                .map(|hint| HintSummary {
                    code: hint.code.name().to_owned(),
                    severity: match hint.severity {
                        Severity::Info => "info",
                        Severity::Warning => "warning",
                        Severity::Critical => "critical",
                    }
                    .to_owned(),
                    score: hint.score as f32,
                    detail: hint.detail.clone(),
                })
                .collect(),
            pdq_hash: report.metrics.pdq.hash.clone(),
        })
    }
}
