//! `studio-edge demo-capture`: a capture simulator that pushes frames to a
//! running host's ingest route at a steady rate, as a phone would, and
//! prints what happened.

use std::path::PathBuf;

use anyhow::Context;
use studio_edge_ingest::demo::{push_frames, quantile};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The host's base URL.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    url: String,
    /// The stream to push to.
    #[arg(long)]
    stream: String,
    /// The stream's ingest key (from `studio-edge streams create`).
    #[arg(long, env = "STUDIO_EDGE_INGEST_KEY")]
    key: String,
    /// Frames per second.
    #[arg(long, default_value_t = 5.0)]
    fps: f64,
    /// How many frames to send.
    #[arg(long, default_value_t = 50)]
    frames: usize,
    /// A directory of JPEG, PNG or WebP files to send in turn.
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&args.dir)
        .with_context(|| format!("reading {}", args.dir.display()))?
        .filter_map(|entry| Some(entry.ok()?.path()))
        .filter(|path| {
            path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                matches!(
                    e.to_ascii_lowercase().as_str(),
                    "jpg" | "jpeg" | "png" | "webp"
                )
            })
        })
        .collect();
    paths.sort();
    let frames = paths
        .iter()
        .map(|path| std::fs::read(path).with_context(|| format!("reading {}", path.display())))
        .collect::<anyhow::Result<Vec<_>>>()?;
    anyhow::ensure!(
        !frames.is_empty(),
        "no JPEG, PNG or WebP files in {}",
        args.dir.display()
    );
    let report = push_frames(
        &args.url,
        &args.stream,
        &args.key,
        frames,
        args.fps,
        args.frames,
    )
    .await?;
    let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1} ms"));
    println!(
        "sent {} frames (seq {}..{}): statuses {:?}, {} without response",
        args.frames,
        report.first_seq,
        report.first_seq + args.frames as u64,
        report.statuses,
        report.failed
    );
    println!(
        "ingest-to-publish p50 {}, p99 {}; response p50 {}, p99 {}",
        ms(quantile(&report.ingest_to_publish_ms, 0.5)),
        ms(quantile(&report.ingest_to_publish_ms, 0.99)),
        ms(quantile(&report.published_ms, 0.5)),
        ms(quantile(&report.published_ms, 0.99))
    );
    println!(
        "watch: {}/watch/{}",
        args.url.trim_end_matches('/'),
        args.stream
    );
    Ok(())
}
