//! The per-fragment pipeline, one ordered list of steps:
//!
//! 0. **shrink**: decode the frame, once, and bring it down to the working
//!    size the stream's renditions need (see [`shrink`](crate::shrink));
//!    the stages after it get uncompressed pixels (PAM), not a re-encoded
//!    file. A frame that does not decode is rejected here. Skipped without a thumbnail
//!    stage, when the frame is published as it is.
//! 1. **colour**: correct the frame with the stream's colour ops (camera
//!    profile, LUT or wb/ev ops), when the colour stage is configured and
//!    the stream has ops; otherwise the frame goes on as received.
//! 2. **thumbnails**: render every variant of the stream from the corrected
//!    frame, decoding it once. Without a thumbnail stage the corrected frame
//!    itself is the one rendition, `source`.
//! 3. **moderation**: hints for the corrected frame, with the previous
//!    frame's PDQ hash (freeze detection) and the stream's blocklist. It
//!    runs on its own thread while the thumbnails are made (neither reads
//!    the other's result).
//! 4. **publish** or **hold**: a frame whose suggested action is `hold` (or
//!    whose moderation failed for a reason other than the frame itself: the
//!    pipeline fails closed) is recorded for the operator and never
//!    published; any other is written atomically and announced to viewers.
//!
//! A frame a stage cannot decode is rejected and nothing of it is kept.
//! Before any of this, at ingest, the body must be a complete JPEG, PNG or
//! WebP file (see [`check_complete`]), so a truncated upload is refused even
//! by a decoder that would render what it got.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::ingest::{FrameOutcome, IngestError, Job, Shared, StreamRuntime, sha_hex};
use crate::quality::QualitySample;
use crate::shrink;
use crate::stages::{
    EncodedImage, HintSummary, ImageFormat, ModerationAction, ModerationSummary, StageError,
};
use crate::store::{FailedRendition, HeldFrame, Latencies, PublishedFrame};

/// The body of a pipeline thread: take the next job, run it, repeat until
/// the service shuts down.
pub(crate) fn run_worker(shared: &Shared) {
    while let Some((stream, job)) = shared.next_job() {
        let seq = job.seq;
        let sha256 = job.sha256;
        let outcome = process(shared, &stream, job);
        shared.complete(&stream, seq, sha256, outcome);
        shared.release(&stream);
    }
}

fn millis(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

fn epoch_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Runs one fragment through the stages and publishes or holds it.
fn process(shared: &Shared, stream: &Arc<StreamRuntime>, job: Job) -> FrameOutcome {
    let metrics = &shared.metrics;
    let stages = &shared.stages;
    let config = &job.settings.config;
    let mut ran = Vec::new();
    let mut latency = Latencies {
        queue: millis(job.received_at),
        ..Latencies::default()
    };
    metrics.stage("queue").observe(latency.queue / 1000.0);

    let mut working_scale = None;
    let mut variants = Cow::Borrowed(&config.variants);
    let frame = match &job.settings.needs {
        Some(needs) => {
            let started = Instant::now();
            let shrunk = shrink::shrink(&job.body, needs);
            latency.shrink = Some(millis(started));
            metrics.stage("shrink").observe(millis(started) / 1000.0);
            match shrunk {
                Ok(working) => {
                    working_scale = Some(working.scale);
                    variants = Cow::Owned(shrink::scale_variants(&config.variants, working.scale));
                    Bytes::from(working.bytes)
                }
                Err(e) => return FrameOutcome::Rejected(e),
            }
        }
        None => job.body.clone(),
    };

    let source = match (&stages.color, &config.color) {
        (Some(color), Some(ops)) => {
            let started = Instant::now();
            let corrected = color.correct(&frame, ops);
            latency.color = Some(millis(started));
            metrics.stage("color").observe(millis(started) / 1000.0);
            match corrected {
                Ok(image) => {
                    ran.push("color".to_owned());
                    SourceFrame {
                        format: image.format,
                        bytes: Bytes::from(image.bytes),
                    }
                }
                Err(e) => return FrameOutcome::Rejected(IngestError::from_stage(&e)),
            }
        }
        _ => SourceFrame {
            format: ImageFormat::sniff(&frame).unwrap_or(ImageFormat::Jpeg),
            bytes: frame,
        },
    };

    // Thumbnails and moderation both read the corrected frame and nothing
    // of each other: moderation runs on a second thread meanwhile, so a
    // frame takes the longer of the two rather than their sum when a core
    // is free.
    let previous = stream.previous_hash();
    let (thumbnailed, moderation) = std::thread::scope(|scope| {
        let moderating = stages.moderation.as_ref().map(|moderation| {
            scope.spawn(|| {
                let started = Instant::now();
                let verdict = moderation.moderate(
                    &source.bytes,
                    previous.as_deref(),
                    &job.settings.blocklist,
                );
                (verdict, millis(started))
            })
        });
        let thumbnailed = stages.thumbnails.as_ref().map(|thumbnails| {
            let started = Instant::now();
            let results = thumbnails.render(&source.bytes, &variants);
            (results, millis(started))
        });
        let moderated = moderating.map(|handle| {
            handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        });
        (thumbnailed, moderated)
    });

    let mut renditions = Vec::new();
    let mut failed = Vec::new();
    let mut first_error = None;
    match thumbnailed {
        Some((results, ms)) => {
            latency.thumbnails = Some(ms);
            metrics.stage("thumbnails").observe(ms / 1000.0);
            ran.push("thumbnails".to_owned());
            for (variant, result) in variants.iter().zip(results) {
                match result {
                    Ok(image) => renditions.push((variant.name.clone(), image)),
                    Err(e) => {
                        metrics.rendition_failed(&variant.name);
                        failed.push(FailedRendition {
                            variant: variant.name.clone(),
                            error: e.to_string(),
                        });
                        first_error.get_or_insert(e);
                    }
                }
            }
            if renditions.is_empty() {
                let error = first_error
                    .unwrap_or_else(|| StageError::BadOption("the stream has no variants".into()));
                return FrameOutcome::Rejected(IngestError::from_stage(&error));
            }
        }
        None => renditions.push((
            "source".to_owned(),
            EncodedImage {
                format: source.format,
                bytes: source.bytes.to_vec(),
            },
        )),
    }

    let moderation = moderation.map(|(verdict, ms)| {
        latency.moderation = Some(ms);
        metrics.stage("moderation").observe(ms / 1000.0);
        ran.push("moderation".to_owned());
        verdict
    });
    let moderation = match moderation {
        Some(Err(e)) if e.is_bad_input() => {
            return FrameOutcome::Rejected(IngestError::from_stage(&e));
        }
        other => other.map(|verdict| {
            verdict.unwrap_or_else(|e| ModerationSummary {
                action: ModerationAction::Hold,
                hints: vec![HintSummary {
                    code: "moderation-failed".to_owned(),
                    severity: "critical".to_owned(),
                    score: 1.0,
                    detail: format!("moderation could not judge the frame, so it is held: {e}"),
                }],
                pdq_hash: String::new(),
            })
        }),
    };

    let publish_started = Instant::now();
    let late = shared.is_late(stream, job.seq);
    let held_by = moderation
        .as_ref()
        .filter(|m| m.action == ModerationAction::Hold)
        .cloned();
    let mut frame = PublishedFrame {
        stream: stream.name.clone(),
        seq: job.seq,
        fragment_sha256: sha_hex(&job.sha256),
        capture_time: job.capture_time,
        published_at: 0,
        late,
        working_scale,
        stages: ran,
        renditions: Vec::new(),
        failed,
        moderation,
        latency_ms: latency,
    };
    if let Some(summary) = held_by {
        // Kept with its renditions, so an operator can look at it and
        // publish it anyway.
        frame.latency_ms.ingest_to_publish = millis(job.received_at);
        let mut held = HeldFrame {
            stream: stream.name.clone(),
            seq: job.seq,
            fragment_sha256: sha_hex(&job.sha256),
            capture_time: job.capture_time,
            held_at: epoch_millis(),
            moderation: summary,
            frame: Some(frame),
        };
        if let Err(e) = shared.store.hold(&mut held, &renditions) {
            return FrameOutcome::Rejected(IngestError::StageFailed(format!(
                "recording the held frame: {e}"
            )));
        }
        metrics.held(&stream.name);
        return FrameOutcome::Held(Arc::new(held));
    }

    // The record on disk carries the latencies, so they are measured up to
    // the moment before it is written; the rename that follows is the only
    // step not counted.
    frame.published_at = epoch_millis();
    frame.latency_ms.publish = millis(publish_started);
    frame.latency_ms.ingest_to_publish = millis(job.received_at);
    frame.latency_ms.capture_to_publish = job.capture_time.and_then(|captured| {
        let ms = frame.published_at - captured;
        if ms < 0 {
            metrics.clock_skew(&stream.name);
            None
        } else {
            Some(ms as f64)
        }
    });
    if let Err(e) = shared.store.publish(&mut frame, &renditions) {
        return FrameOutcome::Rejected(IngestError::StageFailed(format!(
            "storing the renditions: {e}"
        )));
    }
    metrics
        .stage("publish")
        .observe(millis(publish_started) / 1000.0);
    let ingest_to_publish = job.received_at.elapsed().as_secs_f64();
    metrics
        .ingest_to_publish(&stream.name)
        .observe(ingest_to_publish);
    if let Some(ms) = frame.latency_ms.capture_to_publish {
        metrics.capture_to_publish(&stream.name).observe(
            ms / 1000.0 + (ingest_to_publish - frame.latency_ms.ingest_to_publish / 1000.0),
        );
    }
    metrics.published(&stream.name, late);
    shared.quality.offer(
        metrics,
        QualitySample {
            source: source.bytes,
            renditions: renditions
                .into_iter()
                .map(|(name, image)| {
                    let crop = variants
                        .iter()
                        .find(|v| v.name == name)
                        .and_then(|v| v.crop);
                    (name, image, crop)
                })
                .collect(),
        },
    );
    FrameOutcome::Published(Arc::new(frame))
}

struct SourceFrame {
    format: ImageFormat,
    bytes: Bytes,
}

/// Checks that a fragment is a whole JPEG, PNG or WebP file: decoders are
/// lenient with truncated data (they fill in the missing rows), and a
/// camera's cut-off upload must not be published as a half-grey frame.
pub(crate) fn check_complete(body: &[u8]) -> Result<(), IngestError> {
    let truncated =
        |format: &str| IngestError::Unprocessable(format!("the {format} fragment is truncated"));
    match ImageFormat::sniff(body) {
        Some(ImageFormat::Jpeg) => {
            // The end-of-image marker cannot occur inside entropy-coded
            // data (0xFF is stuffed there), so a whole file has one near its
            // end; some encoders add a few bytes of padding after it.
            let tail = &body[body.len().saturating_sub(4096)..];
            if tail.windows(2).any(|w| w == [0xFF, 0xD9]) {
                Ok(())
            } else {
                Err(truncated("JPEG"))
            }
        }
        Some(ImageFormat::Png) => {
            let tail = &body[body.len().saturating_sub(12)..];
            if tail.len() == 12 && &tail[4..8] == b"IEND" {
                Ok(())
            } else {
                Err(truncated("PNG"))
            }
        }
        Some(ImageFormat::Webp) => {
            let declared = u32::from_le_bytes([body[4], body[5], body[6], body[7]]) as usize;
            if declared + 8 <= body.len() {
                Ok(())
            } else {
                Err(truncated("WebP"))
            }
        }
        Some(other) => Err(IngestError::UnsupportedFormat(format!(
            "{} fragments are not accepted; send JPEG, PNG or WebP",
            other.content_type()
        ))),
        None => Err(IngestError::Unprocessable(
            "the body is not a JPEG, PNG or WebP image".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_fragments_are_refused() {
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0];
        jpeg.extend(std::iter::repeat_n(0x11, 10_000));
        assert!(matches!(
            check_complete(&jpeg),
            Err(IngestError::Unprocessable(_))
        ));
        jpeg.extend([0xFF, 0xD9]);
        assert!(check_complete(&jpeg).is_ok());
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend([0, 0, 0, 0]);
        assert!(check_complete(&png).is_err());
        png.extend(b"\0\0\0\0IEND\xAE\x42\x60\x82");
        assert!(check_complete(&png).is_ok());
        let mut webp = b"RIFF\x10\0\0\0WEBPVP8 ".to_vec();
        assert!(check_complete(&webp).is_err());
        webp.extend([0; 8]);
        assert!(check_complete(&webp).is_ok());
        assert!(matches!(
            check_complete(b"GIF89a......"),
            Err(IngestError::UnsupportedFormat(_))
        ));
        assert!(matches!(
            check_complete(b"hello"),
            Err(IngestError::Unprocessable(_))
        ));
    }
}
