//! The capture pipeline's stages as typed calls into the worker components
//! (the same `.wasm` files the HTTP routes serve), and the ingest service
//! mounted next to the manifest's routes.
//!
//! A stage is in the pipeline when the manifest has its component (`color`,
//! `thumbnail`, `moderation`); a manifest without one leaves that stage out,
//! and every frame event says which stages ran. Each call gets a fresh
//! instance under the runtime's deadline and memory cap, like an HTTP
//! request. The pipeline runs on its own threads, so the calls block on the
//! tokio runtime's handle there.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use sha2::{Digest, Sha256};
use studio_edge_ingest::{
    ColorStage, EncodedImage, FrameStages, HintSummary, ImageFormat, Ingest, IngestConfig,
    ModerationAction, ModerationStage, ModerationSummary, OutputBox, StageError, ThumbnailStage,
    VariantSpec,
};
use tokio::runtime::Handle;

use crate::manifest::App;
use crate::runtime::{GuestError, Runtime, RuntimeError};
use crate::typed::{color, moderation, thumbnail};

/// The manifest's component ids the pipeline uses.
pub const COLOR_COMPONENT: &str = "color";
pub const THUMBNAIL_COMPONENT: &str = "thumbnail";
pub const MODERATION_COMPONENT: &str = "moderation";

/// Loads the pipeline's components from `app`; must be called outside the
/// tokio reactor (compiling is CPU-bound), with `handle` the runtime the
/// calls will block on.
pub fn load_stages(
    runtime: &Runtime,
    app: &App,
    handle: Handle,
) -> Result<FrameStages, RuntimeError> {
    let component = |id: &str| app.components.get(id);
    let color = component(COLOR_COMPONENT)
        .map(|c| color::ColorComponent::load(runtime, &c.source, c.guest_config()))
        .transpose()?;
    let thumbnails = component(THUMBNAIL_COMPONENT)
        .map(|c| thumbnail::ThumbnailComponent::load(runtime, &c.source, c.guest_config()))
        .transpose()?;
    let moderation = component(MODERATION_COMPONENT)
        .map(|c| moderation::ModerationComponent::load(runtime, &c.source, c.guest_config()))
        .transpose()?;
    Ok(FrameStages {
        color: color.map(|component| {
            Arc::new(WasmColor {
                component,
                handle: handle.clone(),
                parsed: Mutex::new(HashMap::new()),
            }) as Arc<dyn ColorStage>
        }),
        thumbnails: thumbnails.map(|component| {
            Arc::new(WasmThumbnails {
                component,
                handle: handle.clone(),
                parsed: Mutex::new(HashMap::new()),
            }) as Arc<dyn ThumbnailStage>
        }),
        moderation: moderation.map(|component| {
            Arc::new(WasmModeration {
                component,
                handle,
                config: Mutex::new(None),
                blocklists: Mutex::new(HashMap::new()),
            }) as Arc<dyn ModerationStage>
        }),
    })
}

/// Opens the ingest service on `data_dir` with the manifest's pipeline
/// components, shows viewers the orders service's open drops and forwards
/// their changes, and adds its counters to `/metrics`.
pub async fn open_ingest(
    runtime: &Runtime,
    app: &App,
    config: IngestConfig,
    orders: &studio_edge_orders::Orders,
) -> anyhow::Result<Arc<Ingest>> {
    let stages = {
        let (runtime, app, handle) = (runtime.clone(), app.clone(), Handle::current());
        tokio::task::spawn_blocking(move || load_stages(&runtime, &app, handle))
            .await
            .context("loading the pipeline components")??
    };
    tracing::info!(stages = ?stages.names(), "capture pipeline ready");
    let data_dir = config.data_dir.clone();
    let ingest = Ingest::open(config, stages)
        .with_context(|| format!("opening the ingest data in {}", data_dir.display()))?;
    // Subscribed before the open drops are read, so no change between the
    // two is missed.
    ingest.forward_drop_events(orders.drop_events());
    let service = orders.service();
    ingest.seed_drops(
        service
            .open_stream_drops()
            .await
            .context("reading the open drops")?,
    );
    ingest.add_metrics_source(move || service.metrics().text());
    Ok(Arc::new(ingest))
}

/// A sandbox failure (timeout, memory cap, trap) is the stage's failure,
/// not the frame's.
fn sandbox(error: GuestError) -> StageError {
    StageError::Internal(error.to_string())
}

macro_rules! worker_error {
    ($module:ident) => {
        |error: $module::WorkerError| match error {
            $module::WorkerError::BadOption(why) => StageError::BadOption(why),
            $module::WorkerError::TooLarge(why) => StageError::TooLarge(why),
            $module::WorkerError::UnsupportedFormat(why) => StageError::UnsupportedFormat(why),
            $module::WorkerError::Unprocessable(why) => StageError::Unprocessable(why),
            $module::WorkerError::Internal(why) => StageError::Internal(why),
        }
    };
}

fn image_format(format: thumbnail::ImageFormat) -> ImageFormat {
    match format {
        thumbnail::ImageFormat::Jpeg => ImageFormat::Jpeg,
        thumbnail::ImageFormat::Png => ImageFormat::Png,
        thumbnail::ImageFormat::Webp => ImageFormat::Webp,
        thumbnail::ImageFormat::Gif => ImageFormat::Gif,
        thumbnail::ImageFormat::Avif => ImageFormat::Avif,
        thumbnail::ImageFormat::Pam => ImageFormat::Pam,
    }
}

fn color_format(format: color::ImageFormat) -> ImageFormat {
    match format {
        color::ImageFormat::Jpeg => ImageFormat::Jpeg,
        color::ImageFormat::Png => ImageFormat::Png,
        color::ImageFormat::Webp => ImageFormat::Webp,
        color::ImageFormat::Gif => ImageFormat::Gif,
        color::ImageFormat::Avif => ImageFormat::Avif,
        color::ImageFormat::Pam => ImageFormat::Pam,
    }
}

/// `studio:edge/color` `correct`, each stream's ops parsed once.
struct WasmColor {
    component: color::ColorComponent,
    handle: Handle,
    parsed: Mutex<HashMap<String, color::ColorOps>>,
}

impl WasmColor {
    fn ops(&self, text: &str) -> Result<color::ColorOps, StageError> {
        if let Some(ops) = self.parsed.lock().expect("colour ops lock").get(text) {
            return Ok(ops.clone());
        }
        let ops = block_on(&self.handle, self.component.parse_options(text))
            .map_err(sandbox)?
            .map_err(worker_error!(color))?;
        self.parsed
            .lock()
            .expect("colour ops lock")
            .insert(text.to_owned(), ops.clone());
        Ok(ops)
    }
}

impl ColorStage for WasmColor {
    fn check(&self, ops: &str) -> Result<(), StageError> {
        self.ops(ops).map(|_| ())
    }

    fn correct(&self, frame: &[u8], ops: &str) -> Result<EncodedImage, StageError> {
        let ops = self.ops(ops)?;
        // Named LUTs and profiles are resolved by the component from its own
        // asset directory (COLOR_ASSETS_DIR in spin.toml), as over HTTP.
        let assets = color::Assets {
            lut_cube: None,
            profile_json: None,
        };
        let corrected = block_on(&self.handle, self.component.correct(frame, &ops, &assets))
            .map_err(sandbox)?
            .map_err(worker_error!(color))?;
        Ok(EncodedImage {
            format: color_format(corrected.image.format),
            bytes: corrected.image.bytes,
        })
    }
}

/// `studio:edge/thumbnail` `transform-many`, each variant parsed once.
struct WasmThumbnails {
    component: thumbnail::ThumbnailComponent,
    handle: Handle,
    parsed: Mutex<HashMap<String, thumbnail::ThumbnailSpec>>,
}

impl WasmThumbnails {
    fn spec(&self, variant: &VariantSpec) -> Result<thumbnail::ThumbnailSpec, StageError> {
        let cached = self
            .parsed
            .lock()
            .expect("thumbnail specs lock")
            .get(&variant.options)
            .cloned();
        let mut spec = match cached {
            Some(spec) => spec,
            None => {
                let spec = block_on(&self.handle, self.component.parse_options(&variant.options))
                    .map_err(sandbox)?
                    .map_err(worker_error!(thumbnail))?;
                self.parsed
                    .lock()
                    .expect("thumbnail specs lock")
                    .insert(variant.options.clone(), spec.clone());
                spec
            }
        };
        if let Some(crop) = variant.crop {
            spec.crop = Some(thumbnail::Region {
                x: crop.x,
                y: crop.y,
                width: crop.width,
                height: crop.height,
            });
        }
        Ok(spec)
    }
}

impl ThumbnailStage for WasmThumbnails {
    fn check(&self, variant: &VariantSpec) -> Result<OutputBox, StageError> {
        let spec = self.spec(variant)?;
        let device = |css: u32| ((css as f32 * spec.dpr).round() as u32).max(1);
        Ok(OutputBox {
            width: spec.width.map(device),
            height: spec.height.map(device),
        })
    }

    fn render(
        &self,
        source: &[u8],
        variants: &[VariantSpec],
    ) -> Vec<Result<EncodedImage, StageError>> {
        let specs: Result<Vec<_>, StageError> = variants.iter().map(|v| self.spec(v)).collect();
        let results = specs.and_then(|specs| {
            block_on(&self.handle, self.component.transform_many(source, &specs)).map_err(sandbox)
        });
        match results {
            Ok(results) => results
                .into_iter()
                .map(|result| {
                    result
                        .map(|image| EncodedImage {
                            format: image_format(image.format),
                            bytes: image.bytes,
                        })
                        .map_err(worker_error!(thumbnail))
                })
                .collect(),
            Err(error) => variants.iter().map(|_| Err(error.clone())).collect(),
        }
    }
}

/// `studio:edge/moderation` `moderate` with the component's default config;
/// each blocklist is packed once.
struct WasmModeration {
    component: moderation::ModerationComponent,
    handle: Handle,
    config: Mutex<Option<moderation::Config>>,
    blocklists: Mutex<HashMap<[u8; 32], Arc<Vec<u8>>>>,
}

impl WasmModeration {
    fn config(&self) -> Result<moderation::Config, StageError> {
        if let Some(config) = self.config.lock().expect("moderation config lock").as_ref() {
            return Ok(config.clone());
        }
        let config = block_on(&self.handle, self.component.default_config()).map_err(sandbox)?;
        *self.config.lock().expect("moderation config lock") = Some(config.clone());
        Ok(config)
    }

    fn packed(&self, hashes: &[String], min_quality: u32) -> Result<Arc<Vec<u8>>, StageError> {
        let text = hashes.join("\n");
        let key: [u8; 32] = Sha256::digest(text.as_bytes()).into();
        if let Some(packed) = self.blocklists.lock().expect("blocklists lock").get(&key) {
            return Ok(packed.clone());
        }
        let packed = block_on(
            &self.handle,
            self.component.parse_blocklist(&text, min_quality),
        )
        .map_err(sandbox)?
        .map_err(worker_error!(moderation))?;
        let packed = Arc::new(packed.hashes);
        self.blocklists
            .lock()
            .expect("blocklists lock")
            .insert(key, packed.clone());
        Ok(packed)
    }
}

impl ModerationStage for WasmModeration {
    fn moderate(
        &self,
        source: &[u8],
        previous_hash: Option<&str>,
        blocklist: &[String],
    ) -> Result<ModerationSummary, StageError> {
        let config = self.config()?;
        let packed = self.packed(blocklist, config.min_quality)?;
        let report = block_on(
            &self.handle,
            self.component
                .moderate(source, &config, previous_hash, &packed),
        )
        .map_err(sandbox)?
        .map_err(worker_error!(moderation))?;
        Ok(ModerationSummary {
            action: match report.action {
                moderation::Action::Allow => ModerationAction::Allow,
                moderation::Action::Review => ModerationAction::Review,
                moderation::Action::Hold => ModerationAction::Hold,
            },
            hints: report
                .hints
                .into_iter()
                .map(|hint| HintSummary {
                    code: hint.code,
                    severity: match hint.severity {
                        moderation::Severity::Info => "info",
                        moderation::Severity::Warning => "warning",
                        moderation::Severity::Critical => "critical",
                    }
                    .to_owned(),
                    score: hint.score as f32,
                    detail: hint.detail,
                })
                .collect(),
            pdq_hash: report.pdq.hash,
        })
    }
}

/// Runs a component call from a pipeline stage. Stages are called from the
/// pipeline's threads and, for configuration checks, from request handlers
/// on the runtime; `block_in_place` lets the latter block safely.
fn block_on<F: std::future::Future>(handle: &Handle, call: F) -> F::Output {
    tokio::task::block_in_place(|| handle.block_on(call))
}
