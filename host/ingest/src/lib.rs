//! Capture ingress for studio-edge.
//!
//! Phones and companion cameras `PUT` frames to
//! `/ingest/v1/streams/{stream}/fragments/{seq}`; each frame goes through
//! the pipeline (colour, thumbnail variants, moderation hints, see
//! [`pipeline`](mod@pipeline)), and is published as renditions under the
//! data directory and announced to viewers over server-sent events, or is
//! withheld and reported to the operator when moderation suggests `hold`.
//!
//! The crate does not know how the stages are run: the host implements
//! [`ColorStage`], [`ThumbnailStage`] and [`ModerationStage`] with typed
//! calls into the worker components; tests and benches implement them with
//! the worker crates natively. A stage left out of [`FrameStages`] is
//! skipped.
//!
//! ```no_run
//! use std::sync::Arc;
//! use studio_edge_ingest::{FrameStages, Ingest, IngestConfig, router, streams};
//!
//! # async fn run(stages: FrameStages) -> anyhow::Result<()> {
//! let data_dir = std::path::Path::new("data");
//! let key = streams::create_stream(data_dir, "cam1", None)?;
//! println!("ingest key for cam1 (shown once): {key}");
//! let ingest = Arc::new(Ingest::open(IngestConfig::new(data_dir), stages)?);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, router(ingest)).await?;
//! # Ok(()) }
//! ```

#[cfg(feature = "native")]
pub mod bench;
pub mod demo;
mod events;
mod http;
mod ingest;
pub mod limits;
pub mod metrics;
#[cfg(feature = "native")]
pub mod native;
pub mod operators;
mod pages;
mod pipeline;
pub mod placement;
mod quality;
mod shrink;
pub mod stages;
mod store;
pub mod streams;

pub use events::{Audience, DropUpdate, StreamEvent};
pub use http::router;
pub use ingest::{
    DEFAULT_BODY_LIMIT, DEFAULT_QUALITY_SAMPLE_RATE, FrameOutcome, Ingest, IngestConfig,
    IngestError,
};
pub use limits::StreamLimits;
pub use stages::{
    ColorStage, EncodedImage, FrameStages, HintSummary, ImageFormat, ModerationAction,
    ModerationStage, ModerationSummary, OutputBox, Region, StageError, ThumbnailStage, VariantSpec,
};
pub use store::{
    Decision, DecisionAction, FailedRendition, HeldFrame, Latencies, PublishedFrame,
    RenditionRecord,
};
pub use streams::{StreamConfig, StreamsError};

#[cfg(test)]
mod tests;
