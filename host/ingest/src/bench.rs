//! The pipeline load benchmark (`benches/pipeline.rs`): 1920x1080 JPEG
//! fragments over real HTTP into the router, through colour correction,
//! three thumbnail renditions and moderation, with the stages the caller
//! gives: the worker components in wasmtime (the host's bench, as `up` runs
//! them) or the worker crates natively (`examples/pipeline_load.rs`).
//!
//! Two phases:
//! - **sustained**: every stream sends back to back (the next fragment as
//!   soon as the previous one is published), so the pipeline is never idle
//!   and nothing queues without bound; fragments published per second;
//! - **paced**: every stream sends at a fixed rate (default 4 streams x
//!   5 fps), without waiting for responses, as cameras do; p50/p99 of the
//!   host's ingest-to-publish latency from each published frame's record.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use studio_edge_imaging::{Filter, Format, Limits, SourceRect, decode, encode, resize};

use crate::demo::{self, DemoReport, quantile};
use crate::streams::{STREAMS_FILE, StreamsFile, create_stream};
use crate::{FrameStages, Ingest, IngestConfig, router};

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub streams: usize,
    /// Frames per second per stream in the paced phase.
    pub fps: f64,
    /// Length of the paced phase.
    pub paced: Duration,
    /// Fragments per stream in the sustained phase.
    pub sustained_frames: usize,
    /// Pipeline threads.
    pub workers: usize,
    /// Colour ops for every stream (`lut=warm` is the repository's
    /// `workers/color/assets/luts/warm.cube`).
    pub color: String,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            streams: 4,
            fps: 5.0,
            paced: Duration::from_secs(20),
            sustained_frames: 25,
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            color: "wb=auto&lut=warm".to_owned(),
        }
    }
}

/// What was measured.
#[derive(Debug, Clone)]
pub struct LoadReport {
    pub options: LoadOptions,
    pub frame_bytes: usize,
    pub renditions: usize,
    pub sustained: DemoReport,
    pub sustained_elapsed: Duration,
    pub paced: DemoReport,
    /// Mean seconds per fragment in each stage, over both phases.
    pub stage_means: Vec<(&'static str, f64)>,
}

impl LoadReport {
    pub fn sustained_fps(&self) -> f64 {
        self.sustained.published() as f64 / self.sustained_elapsed.as_secs_f64()
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.options;
        let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1} ms"));
        writeln!(
            f,
            "1920x1080 JPEG fragments ({} KiB), colour `{}`, {} renditions, moderation; {} pipeline threads",
            self.frame_bytes / 1024,
            o.color,
            self.renditions,
            o.workers
        )?;
        writeln!(
            f,
            "sustained: {:.1} fragments/s ({} streams back to back, {} published in {:.1} s, statuses {:?})",
            self.sustained_fps(),
            o.streams,
            self.sustained.published(),
            self.sustained_elapsed.as_secs_f64(),
            self.sustained.statuses
        )?;
        let latencies = &self.paced.ingest_to_publish_ms;
        writeln!(
            f,
            "paced {} streams x {} fps for {} s: ingest-to-publish p50 {}, p99 {}, max {}; response p50 {}, p99 {}; statuses {:?}, failed {}",
            o.streams,
            o.fps,
            o.paced.as_secs(),
            ms(quantile(latencies, 0.5)),
            ms(quantile(latencies, 0.99)),
            ms(latencies.last().copied()),
            ms(quantile(&self.paced.published_ms, 0.5)),
            ms(quantile(&self.paced.published_ms, 0.99)),
            self.paced.statuses,
            self.paced.failed
        )?;
        let stages: Vec<String> = self
            .stage_means
            .iter()
            .map(|(stage, mean)| format!("{stage} {:.1} ms", mean * 1000.0))
            .collect();
        writeln!(f, "mean per fragment: {}", stages.join(", "))
    }
}

/// 1920x1080 JPEG frames (quality 85) made from the fixture photos.
pub fn hd_frames(fixtures: &Path) -> Vec<Vec<u8>> {
    [
        "coffee.png",
        "chelsea.png",
        "astronaut.png",
        "motorcycle_left.png",
    ]
    .iter()
    .map(|name| {
        let bytes = std::fs::read(fixtures.join("photos").join(name))
            .unwrap_or_else(|e| panic!("reading fixture {name}: {e}"));
        let image = decode(&bytes, &Limits::default())
            .expect("fixture decodes")
            .image;
        let (w, h) = (f64::from(image.width()), f64::from(image.height()));
        // Cover 16:9: crop the centre band, then scale to 1080p.
        let band = SourceRect {
            left: 0.0,
            top: (h - w * 9.0 / 16.0).max(0.0) / 2.0,
            width: w,
            height: (w * 9.0 / 16.0).min(h),
        };
        let hd = resize(&image, band, 1920, 1080, Filter::Lanczos3);
        encode(&hd, Format::Jpeg, 85).expect("encoding a frame")
    })
    .collect()
}

/// Runs both phases against a fresh data directory with `stages`.
pub async fn run(
    fixtures: &Path,
    options: LoadOptions,
    stages: FrameStages,
) -> Result<LoadReport, String> {
    let data_dir = std::env::temp_dir().join(format!("studio-edge-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let result = run_in(&data_dir, fixtures, options, stages).await;
    let _ = std::fs::remove_dir_all(&data_dir);
    result
}

async fn run_in(
    data_dir: &Path,
    fixtures: &Path,
    options: LoadOptions,
    stages: FrameStages,
) -> Result<LoadReport, String> {
    let frames = hd_frames(fixtures);
    let mut keys = Vec::new();
    for i in 0..options.streams {
        keys.push(create_stream(data_dir, &format!("cam{i}"), None).map_err(|e| e.to_string())?);
    }
    let path = data_dir.join(STREAMS_FILE);
    let mut file = StreamsFile::load(&path).map_err(|e| e.to_string())?;
    for config in file.streams.values_mut() {
        config.color = Some(options.color.clone());
        // Deep enough that the paced phase measures latency, not refusals.
        config.queue_depth = 16;
    }
    let renditions = file.streams.values().next().map_or(0, |c| c.variants.len());
    file.save(&path).map_err(|e| e.to_string())?;

    let mut config = IngestConfig::new(data_dir);
    config.workers = options.workers;
    // The benchmark measures the pipeline's capacity, past any stream's rate.
    config.limits = crate::StreamLimits::unlimited();
    let ingest = Arc::new(Ingest::open(config, stages).map_err(|e| e.to_string())?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let base = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let server = tokio::spawn(axum::serve(listener, router(ingest.clone())).into_future());

    let started = Instant::now();
    let sustained =
        gather(
            keys.iter().enumerate().map(|(i, key)| {
                let (base, key, frames) = (base.clone(), key.clone(), frames.clone());
                let count = options.sustained_frames;
                async move {
                    demo::push_back_to_back(&base, &format!("cam{i}"), &key, frames, count).await
                }
            }),
        )
        .await?;
    let sustained_elapsed = started.elapsed();

    let count = (options.fps * options.paced.as_secs_f64()).round() as usize;
    let paced = gather(keys.iter().enumerate().map(|(i, key)| {
        let (base, key, frames) = (base.clone(), key.clone(), frames.clone());
        let fps = options.fps;
        async move {
            // Streams start a fraction of a frame apart, as independent
            // cameras would.
            tokio::time::sleep(Duration::from_secs_f64(i as f64 / fps / 4.0)).await;
            demo::push_frames(&base, &format!("cam{i}"), &key, frames, fps, count).await
        }
    }))
    .await?;
    server.abort();
    let stage_means = [
        "queue",
        "shrink",
        "color",
        "thumbnails",
        "moderation",
        "publish",
    ]
    .into_iter()
    .filter_map(|stage| Some((stage, ingest.stage_histogram(stage).mean()?)))
    .collect();
    Ok(LoadReport {
        stage_means,
        frame_bytes: frames.iter().map(Vec::len).sum::<usize>() / frames.len(),
        renditions,
        sustained,
        sustained_elapsed,
        paced,
        options,
    })
}

async fn gather(
    runs: impl Iterator<
        Item = impl std::future::Future<Output = Result<DemoReport, demo::DemoError>> + Send + 'static,
    >,
) -> Result<DemoReport, String> {
    let tasks: Vec<_> = runs.map(tokio::spawn).collect();
    let mut total = DemoReport::default();
    for task in tasks {
        total.merge(
            task.await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?,
        );
    }
    Ok(total)
}
