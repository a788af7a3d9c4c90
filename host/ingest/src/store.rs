//! Published renditions and held-frame records on disk.
//!
//! ```text
//! <data-dir>/streams/<stream>/<seq>/frame.json          the published frame's record
//! <data-dir>/streams/<stream>/<seq>/<variant>.<ext>     its renditions
//! <data-dir>/held/<stream>/<seq>/held.json             a withheld frame (operator only)
//! <data-dir>/held/<stream>/<seq>/<variant>.<ext>        its renditions, for the operator
//! <data-dir>/held/<stream>/decisions.jsonl              what operators decided about held frames
//! ```
//!
//! A frame directory is written under a temporary name and renamed into
//! place, so a `<seq>` directory is always complete; held frames never
//! touch the public tree until an operator publishes one, which renames
//! its directory into it. The records carry the fragment's SHA-256, so a
//! restarted host still recognises replays.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::stages::{EncodedImage, ImageFormat, ModerationSummary};
use crate::streams::hex;

const FRAME_RECORD: &str = "frame.json";
const HELD_RECORD: &str = "held.json";
const DECISIONS: &str = "decisions.jsonl";

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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    /// The frame as it would be published, its renditions stored beside the
    /// record; absent when the thumbnail stage made none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame: Option<PublishedFrame>,
}

/// What an operator decided about a held frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecisionAction {
    Publish,
    Discard,
}

/// One line of `decisions.jsonl`, and the operator's `decision` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub stream: String,
    pub seq: u64,
    pub action: DecisionAction,
    /// The operator's name (from the token), never the token.
    pub operator: String,
    /// Epoch milliseconds.
    pub at: i64,
    /// The hint codes that held the frame.
    pub hints: Vec<String>,
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

    fn held_dir(&self, stream: &str, seq: u64) -> PathBuf {
        self.held.join(stream).join(seq.to_string())
    }

    /// Writes every rendition and the record, then renames the directory
    /// into place. `frame.renditions` is filled in from `renditions`.
    pub fn publish(
        &self,
        frame: &mut PublishedFrame,
        renditions: &[(String, EncodedImage)],
    ) -> io::Result<()> {
        let target = self.frame_dir(&frame.stream, frame.seq);
        write_frame_dir(&target, frame, renditions, |frame| {
            (FRAME_RECORD, serde_json::to_vec_pretty(frame))
        })
    }

    /// Records a withheld frame, with the renditions it would have been
    /// published with, in the operator area.
    pub fn hold(
        &self,
        held: &mut HeldFrame,
        renditions: &[(String, EncodedImage)],
    ) -> io::Result<()> {
        let target = self.held_dir(&held.stream, held.seq);
        let mut frame = held.frame.take().unwrap_or_else(|| PublishedFrame {
            stream: held.stream.clone(),
            seq: held.seq,
            ..PublishedFrame::default()
        });
        let written = write_frame_dir(&target, &mut frame, renditions, |frame| {
            let mut record = held.clone();
            record.frame = Some(frame.clone());
            (HELD_RECORD, serde_json::to_vec_pretty(&record))
        });
        held.frame = Some(frame);
        written
    }

    /// Reads one rendition of a held frame.
    pub fn read_held(
        &self,
        stream: &str,
        seq: u64,
        rendition: &RenditionRecord,
    ) -> io::Result<Vec<u8>> {
        std::fs::read(self.held_dir(stream, seq).join(rendition_file(rendition)))
    }

    /// Moves a held frame into the public tree as `frame` (its record as
    /// published): the record is written into the held directory, which is
    /// then renamed into place, so the published directory is complete.
    pub fn promote(&self, frame: &PublishedFrame) -> io::Result<()> {
        let held = self.held_dir(&frame.stream, frame.seq);
        let record = serde_json::to_vec_pretty(frame).expect("plain data serialises");
        std::fs::write(held.join(FRAME_RECORD), record)?;
        let target = self.frame_dir(&frame.stream, frame.seq);
        std::fs::create_dir_all(self.public.join(&frame.stream))?;
        if target.exists() {
            std::fs::remove_dir_all(&target)?;
        }
        std::fs::rename(&held, &target)?;
        // The operator's record stays out of the public tree.
        std::fs::remove_file(target.join(HELD_RECORD))
    }

    /// Appends a decision to the stream's log.
    pub fn record_decision(&self, decision: &Decision) -> io::Result<()> {
        use std::io::Write;
        let dir = self.held.join(&decision.stream);
        std::fs::create_dir_all(&dir)?;
        let mut line = serde_json::to_vec(decision).expect("plain data serialises");
        line.push(b'\n');
        let mut log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(dir.join(DECISIONS))?;
        log.write_all(&line)?;
        log.sync_data()
    }

    /// The last `n` decisions about a stream's held frames, newest last.
    pub fn decisions(&self, stream: &str, n: usize) -> Vec<Decision> {
        let text =
            std::fs::read_to_string(self.held.join(stream).join(DECISIONS)).unwrap_or_default();
        let all: Vec<Decision> = text
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect();
        all[all.len().saturating_sub(n)..].to_vec()
    }

    pub fn remove_published(&self, stream: &str, seq: u64) -> io::Result<()> {
        std::fs::remove_dir_all(self.frame_dir(stream, seq))
    }

    pub fn remove_held(&self, stream: &str, seq: u64) -> io::Result<()> {
        std::fs::remove_dir_all(self.held_dir(stream, seq))
    }

    /// Reads one rendition's bytes.
    pub fn read(&self, stream: &str, seq: u64, rendition: &RenditionRecord) -> io::Result<Vec<u8>> {
        std::fs::read(self.frame_dir(stream, seq).join(rendition_file(rendition)))
    }

    /// Loads what a stream has on disk, removing temporary leftovers of an
    /// interrupted publish.
    pub fn load(&self, stream: &str) -> StoredStream {
        let mut stored = StoredStream::default();
        for dir in frame_dirs(&self.public.join(stream)) {
            match read_json::<PublishedFrame>(&dir.join(FRAME_RECORD)) {
                Some(frame) => stored.published.push(frame),
                None => tracing::warn!("ignoring unreadable frame {}", dir.display()),
            }
        }
        stored.held = self.held(stream);
        stored.published.sort_by_key(|f| f.seq);
        stored
    }

    /// A stream's held frames on disk, oldest first, removing temporary
    /// leftovers of an interrupted hold.
    pub fn held(&self, stream: &str) -> Vec<HeldFrame> {
        let mut held: Vec<HeldFrame> = frame_dirs(&self.held.join(stream))
            .filter_map(|dir| read_json(&dir.join(HELD_RECORD)))
            .collect();
        held.sort_by_key(|f| f.seq);
        held
    }
}

/// The `<seq>` directories under `dir`; temporary leftovers of an
/// interrupted write are removed on the way.
fn frame_dirs(dir: &Path) -> impl Iterator<Item = PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(".tmp-") {
                let _ = std::fs::remove_dir_all(entry.path());
                return None;
            }
            name.parse::<u64>().is_ok().then(|| entry.path())
        })
}

fn rendition_file(rendition: &RenditionRecord) -> String {
    format!("{}.{}", rendition.variant, rendition.format.extension())
}

/// Writes `renditions` and the record `record(frame)` names into a
/// temporary directory beside `target`, then renames it to `target`.
/// `frame.renditions` is filled in first, with their public URLs.
fn write_frame_dir(
    target: &Path,
    frame: &mut PublishedFrame,
    renditions: &[(String, EncodedImage)],
    record: impl FnOnce(&PublishedFrame) -> (&'static str, serde_json::Result<Vec<u8>>),
) -> io::Result<()> {
    let parent = target.parent().expect("a frame directory has a parent");
    std::fs::create_dir_all(parent)?;
    let temp = parent.join(format!(".tmp-{}-{}", frame.seq, std::process::id()));
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
        let (name, bytes) = record(frame);
        std::fs::write(temp.join(name), bytes.expect("plain data serialises"))?;
        if target.exists() {
            // Left by a frame that retention had not yet removed when the
            // host stopped; the new record supersedes it.
            std::fs::remove_dir_all(target)?;
        }
        std::fs::rename(&temp, target)
    })();
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&temp);
    }
    written
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
