//! Published renditions and held-frame records on disk.
//!
//! ```text
//! <data-dir>/streams/<stream>/<seq>/frame.json          the published frame's record
//! <data-dir>/streams/<stream>/<seq>/<variant>.<ext>     its renditions
//! <data-dir>/held/<stream>/<seq>.json                   a withheld frame (operator only)
//! ```
//!
//! A frame directory is written under a temporary name and renamed into
//! place, so a `<seq>` directory is always complete; held frames never
//! touch the public tree. The records carry the fragment's SHA-256, so a
//! restarted host still recognises replays.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::stages::{EncodedImage, ImageFormat, ModerationSummary};
use crate::streams::hex;

const FRAME_RECORD: &str = "frame.json";

/// One stored rendition of a published frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenditionRecord {
    pub variant: String,
    pub format: ImageFormat,
    pub content_type: String,
    pub url: String,
    pub bytes: u64,
    /// Strong validator: the rendition's SHA-256, quoted.
    pub etag: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

/// A variant the thumbnail stage could not make for this frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedRendition {
    pub variant: String,
    pub error: String,
}

/// Milliseconds spent on the way to publication.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Latencies {
    /// From `X-Capture-Time` (device clock) to publication; absent without
    /// the header or when the device clock is ahead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture_to_publish: Option<f64>,
    pub ingest_to_publish: f64,
    pub queue: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shrink: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnails: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderation: Option<f64>,
    pub publish: f64,
}

/// A published frame: the record on disk and the payload of its `frame` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishedFrame {
    pub stream: String,
    pub seq: u64,
    /// Hex SHA-256 of the fragment as received.
    pub fragment_sha256: String,
    /// `X-Capture-Time`, epoch milliseconds on the device clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture_time: Option<i64>,
    /// Epoch milliseconds on the host clock.
    pub published_at: i64,
    /// True when a newer sequence number was already published, so this
    /// frame did not become `latest`.
    pub late: bool,
    /// Working size / frame size when the frame was shrunk before the
    /// stages (see the pipeline's shrink step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_scale: Option<f64>,
    /// The stages that ran, in order.
    pub stages: Vec<String>,
    pub renditions: Vec<RenditionRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<FailedRendition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderation: Option<ModerationSummary>,
    pub latency_ms: Latencies,
}

impl PublishedFrame {
    pub fn rendition(&self, variant: &str) -> Option<&RenditionRecord> {
        self.renditions.iter().find(|r| r.variant == variant)
    }
}

/// A frame withheld because moderation suggested `hold`: the payload of the
/// operator's `hold` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldFrame {
    pub stream: String,
    pub seq: u64,
    pub fragment_sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture_time: Option<i64>,
    pub held_at: i64,
    pub moderation: ModerationSummary,
}

/// Renditions and records under the data directory.
pub struct FrameStore {
    public: PathBuf,
    held: PathBuf,
}

/// What a stream has on disk when the host starts.
#[derive(Default)]
pub struct StoredStream {
    pub published: Vec<PublishedFrame>,
    pub held: Vec<HeldFrame>,
}

impl FrameStore {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            public: data_dir.join("streams"),
            held: data_dir.join("held"),
        }
    }

    fn frame_dir(&self, stream: &str, seq: u64) -> PathBuf {
        self.public.join(stream).join(seq.to_string())
    }

    pub fn rendition_path(&self, stream: &str, seq: u64, rendition: &RenditionRecord) -> PathBuf {
        self.frame_dir(stream, seq).join(format!(
            "{}.{}",
            rendition.variant,
            rendition.format.extension()
        ))
    }

    /// Writes every rendition and the record, then renames the directory
    /// into place. `frame.renditions` is filled in from `renditions`.
    pub fn publish(
        &self,
        frame: &mut PublishedFrame,
        renditions: &[(String, EncodedImage)],
    ) -> io::Result<()> {
        let stream_dir = self.public.join(&frame.stream);
        std::fs::create_dir_all(&stream_dir)?;
        let temp = stream_dir.join(format!(".tmp-{}-{}", frame.seq, std::process::id()));
        if temp.exists() {
            std::fs::remove_dir_all(&temp)?;
        }
        std::fs::create_dir(&temp)?;
        let written = (|| {
            frame.renditions = renditions
                .iter()
                .map(|(variant, image)| {
                    let file = temp.join(format!("{variant}.{}", image.format.extension()));
                    std::fs::write(&file, &image.bytes)?;
                    let (width, height) = dimensions(image);
                    Ok(RenditionRecord {
                        variant: variant.clone(),
                        format: image.format,
                        content_type: image.format.content_type().to_owned(),
                        url: format!("/streams/{}/frames/{}/{variant}", frame.stream, frame.seq),
                        bytes: image.bytes.len() as u64,
                        etag: format!("\"{}\"", hex(&Sha256::digest(&image.bytes))),
                        width,
                        height,
                    })
                })
                .collect::<io::Result<_>>()?;
            let record = serde_json::to_vec_pretty(frame).expect("plain data serialises");
            std::fs::write(temp.join(FRAME_RECORD), record)?;
            let target = self.frame_dir(&frame.stream, frame.seq);
            if target.exists() {
                // Left by a frame that retention had not yet removed when
                // the host stopped; the new record supersedes it.
                std::fs::remove_dir_all(&target)?;
            }
            std::fs::rename(&temp, &target)
        })();
        if written.is_err() {
            let _ = std::fs::remove_dir_all(&temp);
        }
        written
    }

    /// Records a withheld frame in the operator area.
    pub fn hold(&self, frame: &HeldFrame) -> io::Result<()> {
        let dir = self.held.join(&frame.stream);
        std::fs::create_dir_all(&dir)?;
        let temp = dir.join(format!(".tmp-{}.json", frame.seq));
        std::fs::write(
            &temp,
            serde_json::to_vec_pretty(frame).expect("plain data serialises"),
        )?;
        std::fs::rename(&temp, dir.join(format!("{}.json", frame.seq)))
    }

    pub fn remove_published(&self, stream: &str, seq: u64) -> io::Result<()> {
        std::fs::remove_dir_all(self.frame_dir(stream, seq))
    }

    pub fn remove_held(&self, stream: &str, seq: u64) -> io::Result<()> {
        std::fs::remove_file(self.held.join(stream).join(format!("{seq}.json")))
    }

    /// Reads one rendition's bytes.
    pub fn read(&self, stream: &str, seq: u64, rendition: &RenditionRecord) -> io::Result<Vec<u8>> {
        std::fs::read(self.rendition_path(stream, seq, rendition))
    }

    /// Loads what a stream has on disk, removing temporary leftovers of an
    /// interrupted publish.
    pub fn load(&self, stream: &str) -> StoredStream {
        let mut stored = StoredStream::default();
        if let Ok(entries) = std::fs::read_dir(self.public.join(stream)) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.starts_with(".tmp-") {
                    let _ = std::fs::remove_dir_all(entry.path());
                    continue;
                }
                if name.parse::<u64>().is_err() {
                    continue;
                }
                match read_json::<PublishedFrame>(&entry.path().join(FRAME_RECORD)) {
                    Some(frame) => stored.published.push(frame),
                    None => tracing::warn!("ignoring unreadable frame {}", entry.path().display()),
                }
            }
        }
        if let Ok(entries) = std::fs::read_dir(self.held.join(stream)) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(".tmp-"))
                {
                    let _ = std::fs::remove_file(&path);
                    continue;
                }
                if let Some(frame) = read_json::<HeldFrame>(&path) {
                    stored.held.push(frame);
                }
            }
        }
        stored.published.sort_by_key(|f| f.seq);
        stored.held.sort_by_key(|f| f.seq);
        stored
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Width and height from the image header, where it can be read.
fn dimensions(image: &EncodedImage) -> (Option<u32>, Option<u32>) {
    studio_edge_imaging::probe(&image.bytes, &studio_edge_imaging::Limits::default())
        .map_or((None, None), |probe| {
            (Some(probe.width), Some(probe.height))
        })
}
