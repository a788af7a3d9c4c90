//! The ingest service: streams, their bounded queues, replay detection and
//! the worker pool that runs the pipeline.
//!
//! Each stream has a queue of at most `queue_depth` fragments; a slot is
//! reserved before the body is read, so a flood is refused with 429 before
//! it costs memory. A stream with work is put on a ready queue that the
//! workers (one per core) take from; a stream is on that queue at most once
//! and is handled by one worker at a time, so its fragments go through the
//! pipeline in the order they arrived while different streams use every
//! core.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::{broadcast, oneshot};

use crate::events::{DropBoard, DropUpdate, StreamEvent, channel};
use crate::limits::{StreamGate, StreamLimits};
use crate::metrics::{Metrics, RejectReason};
use crate::operators::OperatorRegistry;
use crate::pipeline;
use crate::placement::{Placement, PlacementUpdate};
use crate::quality::QualitySampler;
use crate::shrink::VariantNeed;
use crate::stages::{FrameStages, StageError};
use crate::store::{Decision, DecisionAction, FrameStore, HeldFrame, PublishedFrame};
use crate::streams::{
    KeyCheck, StreamConfig, StreamRegistry, StreamsError, check_key, hex, load_blocklist,
};

/// Default largest fragment body: 16 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 16 << 20;
/// Default fraction of published frames whose thumbnails are measured.
pub const DEFAULT_QUALITY_SAMPLE_RATE: f64 = 0.1;

/// How the ingest service runs.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Holds `streams.json`, the published renditions and held records.
    pub data_dir: PathBuf,
    /// Largest fragment body accepted; 413 past it.
    pub body_limit: usize,
    /// Pipeline worker threads; defaults to the number of cores.
    pub workers: usize,
    /// Fraction (0 to 1) of published frames whose thumbnails get PSNR and
    /// SSIM measured.
    pub quality_sample_rate: f64,
    /// Fragment rate and viewer cap of each stream.
    pub limits: StreamLimits,
}

impl IngestConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            body_limit: DEFAULT_BODY_LIMIT,
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            quality_sample_rate: DEFAULT_QUALITY_SAMPLE_RATE,
            limits: StreamLimits::default(),
        }
    }
}

/// Why a fragment or a request was refused; each maps to one HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    #[error("a bearer key is required")]
    MissingKey,
    #[error("the key is not valid")]
    UnknownKey,
    #[error("the key belongs to another stream")]
    OtherStreamKey,
    #[error("no stream named {0:?}")]
    UnknownStream(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("the body exceeds the limit of {0} bytes")]
    TooLarge(usize),
    #[error("the stream's queue is full ({depth} fragments waiting)")]
    QueueFull { depth: usize },
    #[error("sequence number {0} was already received with different bytes")]
    Conflict(u64),
    #[error("{0}")]
    UnsupportedFormat(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("stream {stream:?} is misconfigured: {reason}")]
    Misconfigured { stream: String, reason: String },
    #[error("the pipeline failed: {0}")]
    StageFailed(String),
    #[error("stream {stream:?} has no held frame {seq}")]
    NotHeld { stream: String, seq: u64 },
    #[error("the stream is past {rate} fragments per second; retry in {retry_after} s")]
    FragmentRate { rate: u32, retry_after: u64 },
}

impl IngestError {
    pub fn reason(&self) -> RejectReason {
        match self {
            Self::MissingKey | Self::UnknownKey => RejectReason::Unauthorized,
            Self::OtherStreamKey | Self::UnknownStream(_) => RejectReason::Forbidden,
            Self::BadRequest(_) => RejectReason::BadRequest,
            Self::TooLarge(_) => RejectReason::TooLarge,
            Self::QueueFull { .. } => RejectReason::QueueFull,
            Self::Conflict(_) => RejectReason::Conflict,
            Self::UnsupportedFormat(_) => RejectReason::UnsupportedFormat,
            Self::Unprocessable(_) => RejectReason::Unprocessable,
            Self::Misconfigured { .. } | Self::StageFailed(_) => RejectReason::StageFailed,
            Self::NotHeld { .. } => RejectReason::BadRequest,
            Self::FragmentRate { .. } => RejectReason::FragmentRate,
        }
    }

    /// The error for a fragment a stage refused.
    pub fn from_stage(error: &StageError) -> Self {
        match error {
            StageError::Unprocessable(why) => Self::Unprocessable(why.clone()),
            StageError::UnsupportedFormat(why) => Self::UnsupportedFormat(why.clone()),
            StageError::TooLarge(why) => Self::Unprocessable(format!("too large: {why}")),
            StageError::BadOption(why) | StageError::Internal(why) => {
                Self::StageFailed(why.clone())
            }
        }
    }
}

/// What became of a fragment.
#[derive(Debug, Clone)]
pub enum FrameOutcome {
    Published(Arc<PublishedFrame>),
    Held(Arc<HeldFrame>),
    /// Nothing was published; the sequence number stays free.
    Rejected(IngestError),
}

/// A stream's settings, checked against the stages.
pub(crate) struct StreamSettings {
    pub config: StreamConfig,
    pub blocklist: Vec<String>,
    /// What each rendition needs from the frame; `None` without a
    /// thumbnail stage (the frame is then published as it is).
    pub needs: Option<Vec<VariantNeed>>,
}

/// A fragment waiting for the pipeline.
pub(crate) struct Job {
    pub seq: u64,
    pub body: Bytes,
    pub sha256: [u8; 32],
    pub capture_time: Option<i64>,
    pub received_at: Instant,
    pub settings: Arc<StreamSettings>,
}

enum SeqState {
    /// Queued or in the pipeline; these wait for the outcome.
    Pending(Vec<oneshot::Sender<FrameOutcome>>),
    Done(FrameOutcome),
}

struct SeqEntry {
    sha256: [u8; 32],
    state: SeqState,
}

struct StreamState {
    queue: VecDeque<Job>,
    /// Slots taken by uploads whose body is still being read.
    reserved: usize,
    /// On the ready queue or being processed.
    scheduled: bool,
    seqs: BTreeMap<u64, SeqEntry>,
    latest: Option<Arc<PublishedFrame>>,
    previous_hash: Option<String>,
}

/// One stream's live state.
pub(crate) struct StreamRuntime {
    pub name: String,
    settings: Mutex<(StreamConfig, Result<Arc<StreamSettings>, String>)>,
    state: Mutex<StreamState>,
    viewers: broadcast::Sender<StreamEvent>,
    operators: broadcast::Sender<StreamEvent>,
    placement: Mutex<Option<Placement>>,
    pub gate: StreamGate,
}

impl StreamRuntime {
    /// The drop on the picture now, if any.
    pub fn placement(&self) -> PlacementUpdate {
        PlacementUpdate {
            stream: self.name.clone(),
            placement: self.placement.lock().expect("placement lock").clone(),
        }
    }

    /// Puts a drop on the picture (or clears it) and tells the viewers
    /// (the operators' feed carries the viewers' events too).
    pub fn set_placement(&self, placement: Option<Placement>) -> Arc<PlacementUpdate> {
        let mut current = self.placement.lock().expect("placement lock");
        *current = placement;
        let update = Arc::new(PlacementUpdate {
            stream: self.name.clone(),
            placement: current.clone(),
        });
        let _ = self.viewers.send(StreamEvent::Placement(update.clone()));
        update
    }

    pub fn subscribe_viewer(&self) -> broadcast::Receiver<StreamEvent> {
        self.viewers.subscribe()
    }

    pub fn subscribe_operator(&self) -> broadcast::Receiver<StreamEvent> {
        self.operators.subscribe()
    }

    pub fn latest(&self) -> Option<Arc<PublishedFrame>> {
        self.state.lock().expect("stream lock").latest.clone()
    }

    /// The published frame with this sequence number; never a held one.
    pub fn published(&self, seq: u64) -> Option<Arc<PublishedFrame>> {
        match &self
            .state
            .lock()
            .expect("stream lock")
            .seqs
            .get(&seq)?
            .state
        {
            SeqState::Done(FrameOutcome::Published(frame)) => Some(frame.clone()),
            _ => None,
        }
    }

    pub(crate) fn previous_hash(&self) -> Option<String> {
        self.state
            .lock()
            .expect("stream lock")
            .previous_hash
            .clone()
    }

    fn queue_len(&self) -> usize {
        self.state.lock().expect("stream lock").queue.len()
    }
}

/// A reserved queue slot; released on drop unless the fragment was queued.
pub(crate) struct QueueSlot {
    stream: Arc<StreamRuntime>,
    armed: bool,
}

impl Drop for QueueSlot {
    fn drop(&mut self) {
        if self.armed {
            self.stream.state.lock().expect("stream lock").reserved -= 1;
        }
    }
}

/// What submitting a fragment gave.
pub(crate) enum Submitted {
    /// A replay of a sequence number whose outcome is known.
    Known(FrameOutcome),
    /// Queued (or a replay of a queued one); the outcome arrives here.
    Waiting {
        outcome: oneshot::Receiver<FrameOutcome>,
        replay: bool,
    },
}

struct ReadyQueue {
    state: Mutex<(VecDeque<Arc<StreamRuntime>>, bool)>,
    wake: Condvar,
}

impl ReadyQueue {
    fn push(&self, stream: Arc<StreamRuntime>) {
        self.state.lock().expect("ready lock").0.push_back(stream);
        self.wake.notify_one();
    }

    /// The next stream with work, or `None` once shut down.
    fn pop(&self) -> Option<Arc<StreamRuntime>> {
        let mut state = self.state.lock().expect("ready lock");
        loop {
            if state.1 {
                return None;
            }
            if let Some(stream) = state.0.pop_front() {
                return Some(stream);
            }
            state = self.wake.wait(state).expect("ready lock");
        }
    }

    fn shut_down(&self) {
        self.state.lock().expect("ready lock").1 = true;
        self.wake.notify_all();
    }
}

/// Everything the HTTP layer and the workers share.
pub(crate) struct Shared {
    pub config: IngestConfig,
    pub stages: FrameStages,
    pub registry: StreamRegistry,
    pub operators: Arc<OperatorRegistry>,
    pub store: FrameStore,
    pub metrics: Arc<Metrics>,
    pub drops: DropBoard,
    pub quality: QualitySampler,
    streams: Mutex<HashMap<String, Arc<StreamRuntime>>>,
    ready: ReadyQueue,
    extra_metrics: Mutex<Vec<Box<dyn Fn() -> String + Send + Sync>>>,
}

/// The running ingest service. Build the HTTP routes with
/// [`crate::router`]; dropping it stops the workers.
pub struct Ingest {
    pub(crate) shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl Ingest {
    /// Opens the data directory and starts the workers. Streams are read
    /// from `<data_dir>/streams.json` now and whenever it changes.
    pub fn open(config: IngestConfig, stages: FrameStages) -> Result<Self, StreamsError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| StreamsError::Io {
            path: config.data_dir.clone(),
            source,
        })?;
        let metrics = Arc::new(Metrics::default());
        let shared = Arc::new(Shared {
            registry: StreamRegistry::open(&config.data_dir)?,
            operators: Arc::new(OperatorRegistry::open(&config.data_dir)?),
            store: FrameStore::new(&config.data_dir),
            quality: QualitySampler::start(config.quality_sample_rate, metrics.clone()),
            metrics,
            drops: DropBoard::default(),
            streams: Mutex::new(HashMap::new()),
            ready: ReadyQueue {
                state: Mutex::new((VecDeque::new(), false)),
                wake: Condvar::new(),
            },
            extra_metrics: Mutex::new(Vec::new()),
            config,
            stages,
        });
        let workers = (0..shared.config.workers.max(1))
            .map(|i| {
                let shared = shared.clone();
                std::thread::Builder::new()
                    .name(format!("ingest-pipeline-{i}"))
                    .spawn(move || pipeline::run_worker(&shared))
                    .expect("spawning a pipeline thread")
            })
            .collect();
        Ok(Self { shared, workers })
    }

    /// The operator tokens (`operators.json`), for the orders routes.
    pub fn operators(&self) -> Arc<OperatorRegistry> {
        self.shared.operators.clone()
    }

    /// Tells the board the current state of drops (the orders service's
    /// open drops when the host starts), so viewers who connect see them.
    pub fn seed_drops(&self, drops: impl IntoIterator<Item = DropUpdate>) {
        for drop in drops {
            self.shared.drops.update(drop);
        }
    }

    /// Forwards drop state changes (the orders service's `drop_events()`)
    /// to the viewers of each drop's stream as `drop` events. Must be
    /// called inside a tokio runtime.
    pub fn forward_drop_events(&self, mut events: broadcast::Receiver<Arc<DropUpdate>>) {
        let shared = self.shared.clone();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(event) => {
                        shared.drops.update(event.as_ref().clone());
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    /// Adds text (Prometheus exposition format) to `/metrics`, e.g. the
    /// orders service's reservation, order and oversell counters.
    pub fn add_metrics_source(&self, source: impl Fn() -> String + Send + Sync + 'static) {
        self.shared
            .extra_metrics
            .lock()
            .expect("metrics sources lock")
            .push(Box::new(source));
    }

    /// The metrics as `/metrics` serves them.
    pub fn metrics_text(&self) -> String {
        self.shared.metrics_text()
    }

    /// The histogram of one pipeline stage (`queue`, `color`, `thumbnails`,
    /// `moderation`, `publish`).
    pub fn stage_histogram(&self, stage: &'static str) -> Arc<crate::metrics::Histogram> {
        self.shared.metrics.stage(stage)
    }

    /// Sends a frame straight into the pipeline as `PUT` would (after
    /// authentication) and waits for the outcome; for benchmarks and tools.
    pub async fn submit(
        &self,
        stream: &str,
        seq: u64,
        body: Bytes,
        capture_time: Option<i64>,
    ) -> Result<FrameOutcome, IngestError> {
        let runtime = self.shared.stream(stream)?;
        let slot = self.shared.reserve(&runtime)?;
        match self
            .shared
            .submit(slot, seq, body, capture_time, Instant::now())?
        {
            Submitted::Known(outcome) => Ok(outcome),
            Submitted::Waiting { outcome, .. } => outcome
                .await
                .map_err(|_| IngestError::StageFailed("the pipeline stopped".to_owned())),
        }
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        self.shared.ready.shut_down();
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

impl Shared {
    /// The stream's live state, created on first use and kept in step with
    /// `streams.json`.
    pub fn stream(&self, name: &str) -> Result<Arc<StreamRuntime>, IngestError> {
        let file = self.registry.current();
        let config = file
            .streams
            .get(name)
            .ok_or_else(|| IngestError::UnknownStream(name.to_owned()))?;
        let mut streams = self.streams.lock().expect("streams lock");
        let runtime = streams
            .entry(name.to_owned())
            .or_insert_with(|| self.load_stream(name, config))
            .clone();
        drop(streams);
        let mut settings = runtime.settings.lock().expect("settings lock");
        if settings.0 != *config {
            *settings = (config.clone(), self.check_settings(config));
        }
        Ok(runtime.clone())
    }

    /// Checks a bearer key for a stream.
    pub fn authorize(
        &self,
        stream: &str,
        bearer: Option<&str>,
    ) -> Result<Arc<StreamRuntime>, IngestError> {
        let key = bearer.ok_or(IngestError::MissingKey)?;
        match check_key(&self.registry.current(), stream, key) {
            KeyCheck::Granted => self.stream(stream),
            KeyCheck::OtherStream => Err(IngestError::OtherStreamKey),
            KeyCheck::Unknown => Err(IngestError::UnknownKey),
        }
    }

    fn load_stream(&self, name: &str, config: &StreamConfig) -> Arc<StreamRuntime> {
        let stored = self.store.load(name);
        let mut seqs = BTreeMap::new();
        let mut latest: Option<Arc<PublishedFrame>> = None;
        for frame in stored.published {
            let frame = Arc::new(frame);
            if latest.as_ref().is_none_or(|l| frame.seq > l.seq) {
                latest = Some(frame.clone());
            }
            seqs.insert(
                frame.seq,
                SeqEntry {
                    sha256: parse_sha(&frame.fragment_sha256),
                    state: SeqState::Done(FrameOutcome::Published(frame)),
                },
            );
        }
        for held in stored.held {
            seqs.insert(
                held.seq,
                SeqEntry {
                    sha256: parse_sha(&held.fragment_sha256),
                    state: SeqState::Done(FrameOutcome::Held(Arc::new(held))),
                },
            );
        }
        Arc::new(StreamRuntime {
            name: name.to_owned(),
            settings: Mutex::new((config.clone(), self.check_settings(config))),
            state: Mutex::new(StreamState {
                queue: VecDeque::new(),
                reserved: 0,
                scheduled: false,
                seqs,
                latest,
                previous_hash: None,
            }),
            viewers: channel(),
            operators: channel(),
            placement: Mutex::new(None),
            gate: StreamGate::new(&self.config.limits),
        })
    }

    /// Checks a stream's variants and colour ops with the stages that will
    /// run them, and loads its blocklist.
    fn check_settings(&self, config: &StreamConfig) -> Result<Arc<StreamSettings>, String> {
        let needs = match &self.stages.thumbnails {
            Some(thumbnails) => Some(
                config
                    .variants
                    .iter()
                    .map(|variant| {
                        let output = thumbnails
                            .check(variant)
                            .map_err(|e| format!("variant {:?}: {e}", variant.name))?;
                        Ok(VariantNeed {
                            output,
                            crop: variant.crop,
                        })
                    })
                    .collect::<Result<Vec<_>, String>>()?,
            ),
            None => None,
        };
        if let (Some(color), Some(ops)) = (&self.stages.color, &config.color) {
            color.check(ops).map_err(|e| format!("colour ops: {e}"))?;
        }
        let blocklist = match &config.blocklist {
            Some(path) => load_blocklist(&self.config.data_dir.join(path))
                .map_err(|e| format!("blocklist: {e}"))?,
            None => Vec::new(),
        };
        Ok(Arc::new(StreamSettings {
            config: config.clone(),
            blocklist,
            needs,
        }))
    }

    /// Takes a queue slot, or refuses with 429 when the queue is full.
    pub fn reserve(&self, stream: &Arc<StreamRuntime>) -> Result<QueueSlot, IngestError> {
        let depth = stream.settings.lock().expect("settings lock").0.queue_depth;
        let mut state = stream.state.lock().expect("stream lock");
        if state.queue.len() + state.reserved >= depth {
            return Err(IngestError::QueueFull { depth });
        }
        state.reserved += 1;
        Ok(QueueSlot {
            stream: stream.clone(),
            armed: true,
        })
    }

    /// Queues a fragment, or answers a replay. `slot` is released unless
    /// the fragment is queued.
    pub fn submit(
        &self,
        mut slot: QueueSlot,
        seq: u64,
        body: Bytes,
        capture_time: Option<i64>,
        received_at: Instant,
    ) -> Result<Submitted, IngestError> {
        let runtime = slot.stream.clone();
        let sha256: [u8; 32] = Sha256::digest(&body).into();
        let mut state = runtime.state.lock().expect("stream lock");
        if let Some(entry) = state.seqs.get_mut(&seq) {
            if entry.sha256 != sha256 {
                return Err(IngestError::Conflict(seq));
            }
            self.metrics.replayed(&runtime.name);
            return Ok(match &mut entry.state {
                SeqState::Done(outcome) => Submitted::Known(outcome.clone()),
                SeqState::Pending(waiters) => {
                    let (tx, rx) = oneshot::channel();
                    waiters.push(tx);
                    Submitted::Waiting {
                        outcome: rx,
                        replay: true,
                    }
                }
            });
        }
        pipeline::check_complete(&body)?;
        let settings = runtime
            .settings
            .lock()
            .expect("settings lock")
            .1
            .clone()
            .map_err(|reason| IngestError::Misconfigured {
                stream: runtime.name.clone(),
                reason,
            })?;
        let (tx, rx) = oneshot::channel();
        state.seqs.insert(
            seq,
            SeqEntry {
                sha256,
                state: SeqState::Pending(vec![tx]),
            },
        );
        state.queue.push_back(Job {
            seq,
            body,
            sha256,
            capture_time,
            received_at,
            settings,
        });
        state.reserved -= 1;
        slot.armed = false;
        self.metrics.accepted(&runtime.name);
        if !state.scheduled {
            state.scheduled = true;
            drop(state);
            self.ready.push(runtime);
        }
        Ok(Submitted::Waiting {
            outcome: rx,
            replay: false,
        })
    }

    /// The next fragment of the next stream with work, for a worker.
    pub fn next_job(&self) -> Option<(Arc<StreamRuntime>, Job)> {
        loop {
            let stream = self.ready.pop()?;
            let job = stream.state.lock().expect("stream lock").queue.pop_front();
            match job {
                Some(job) => return Some((stream, job)),
                None => self.release(&stream),
            }
        }
    }

    /// Called by a worker after a job: back on the ready queue (at the
    /// end, so streams take turns) if the stream has more work.
    pub fn release(&self, stream: &Arc<StreamRuntime>) {
        let mut state = stream.state.lock().expect("stream lock");
        if state.queue.is_empty() {
            state.scheduled = false;
        } else {
            drop(state);
            self.ready.push(stream.clone());
        }
    }

    /// Whether a frame with this sequence number would be late (a newer one
    /// is already `latest`).
    pub fn is_late(&self, stream: &StreamRuntime, seq: u64) -> bool {
        stream
            .state
            .lock()
            .expect("stream lock")
            .latest
            .as_ref()
            .is_some_and(|latest| latest.seq > seq)
    }

    /// Records a fragment's outcome, applies retention, wakes the waiters
    /// and tells subscribers.
    pub fn complete(
        &self,
        stream: &StreamRuntime,
        seq: u64,
        sha256: [u8; 32],
        outcome: FrameOutcome,
    ) {
        let retention = stream.settings.lock().expect("settings lock").0.retention;
        let mut state = stream.state.lock().expect("stream lock");
        let waiters = match state.seqs.remove(&seq) {
            Some(SeqEntry {
                state: SeqState::Pending(waiters),
                ..
            }) => waiters,
            _ => Vec::new(),
        };
        let mut expired_published = Vec::new();
        let mut expired_held = Vec::new();
        match &outcome {
            FrameOutcome::Published(frame) => {
                if let Some(hash) = frame.moderation.as_ref().map(|m| m.pdq_hash.clone()) {
                    state.previous_hash = Some(hash);
                }
                if state.latest.as_ref().is_none_or(|l| frame.seq > l.seq) {
                    state.latest = Some(frame.clone());
                }
                state.seqs.insert(
                    seq,
                    SeqEntry {
                        sha256,
                        state: SeqState::Done(outcome.clone()),
                    },
                );
                expired_published = expired(&state.seqs, retention, |o| {
                    matches!(o, FrameOutcome::Published(_))
                });
            }
            FrameOutcome::Held(held) => {
                if !held.moderation.pdq_hash.is_empty() {
                    state.previous_hash = Some(held.moderation.pdq_hash.clone());
                }
                state.seqs.insert(
                    seq,
                    SeqEntry {
                        sha256,
                        state: SeqState::Done(outcome.clone()),
                    },
                );
                expired_held = expired(&state.seqs, retention, |o| {
                    matches!(o, FrameOutcome::Held(_))
                });
            }
            FrameOutcome::Rejected(error) => self.metrics.rejected(error.reason()),
        }
        for seq in expired_published.iter().chain(&expired_held) {
            state.seqs.remove(seq);
        }
        drop(state);
        for seq in expired_published {
            if let Err(e) = self.store.remove_published(&stream.name, seq) {
                tracing::warn!("retention: removing {}/{seq}: {e}", stream.name);
            }
        }
        for seq in expired_held {
            if let Err(e) = self.store.remove_held(&stream.name, seq) {
                tracing::warn!("retention: removing held {}/{seq}: {e}", stream.name);
            }
        }
        match &outcome {
            FrameOutcome::Published(frame) => {
                let _ = stream.viewers.send(StreamEvent::Frame(frame.clone()));
            }
            FrameOutcome::Held(held) => {
                let _ = stream.operators.send(StreamEvent::Hold(held.clone()));
            }
            FrameOutcome::Rejected(_) => {}
        }
        for waiter in waiters {
            let _ = waiter.send(outcome.clone());
        }
    }

    /// An operator's decision about a held frame: publish it anyway (its
    /// renditions move into the public tree and viewers are told, as for
    /// any published frame) or discard it (its files are removed). Both
    /// are recorded in the stream's decision log and told to operators.
    pub fn decide(
        &self,
        stream: &StreamRuntime,
        seq: u64,
        action: DecisionAction,
        operator: &str,
    ) -> Result<(Decision, Option<Arc<PublishedFrame>>), IngestError> {
        let not_held = || IngestError::NotHeld {
            stream: stream.name.clone(),
            seq,
        };
        let io_error = |e: std::io::Error| {
            if e.kind() == std::io::ErrorKind::NotFound {
                not_held()
            } else {
                IngestError::StageFailed(format!("held frame {seq}: {e}"))
            }
        };
        let mut state = stream.state.lock().expect("stream lock");
        let held = match state.seqs.get(&seq).map(|entry| &entry.state) {
            Some(SeqState::Done(FrameOutcome::Held(held))) => held.clone(),
            _ => return Err(not_held()),
        };
        let decision = Decision {
            stream: stream.name.clone(),
            seq,
            action,
            operator: operator.to_owned(),
            at: now_millis(),
            hints: held
                .moderation
                .hints
                .iter()
                .map(|h| h.code.clone())
                .collect(),
        };
        let published = match action {
            DecisionAction::Discard => {
                self.store
                    .remove_held(&stream.name, seq)
                    .map_err(io_error)?;
                None
            }
            DecisionAction::Publish => {
                let mut frame = held.frame.clone().ok_or_else(|| {
                    IngestError::Unprocessable(format!(
                        "held frame {seq} has no renditions to publish"
                    ))
                })?;
                frame.late = state.latest.as_ref().is_some_and(|l| l.seq > seq);
                frame.published_at = now_millis();
                self.store.promote(&frame).map_err(io_error)?;
                let frame = Arc::new(frame);
                if let Some(entry) = state.seqs.get_mut(&seq) {
                    entry.state = SeqState::Done(FrameOutcome::Published(frame.clone()));
                }
                if !frame.late {
                    state.latest = Some(frame.clone());
                }
                Some(frame)
            }
        };
        drop(state);
        if let Err(e) = self.store.record_decision(&decision) {
            tracing::error!("recording the decision about {}/{seq}: {e}", stream.name);
        }
        self.metrics.decision(
            &stream.name,
            match action {
                DecisionAction::Publish => "publish",
                DecisionAction::Discard => "discard",
            },
        );
        if let Some(frame) = &published {
            self.metrics.published(&stream.name, frame.late);
            let _ = stream.viewers.send(StreamEvent::Frame(frame.clone()));
        }
        let _ = stream
            .operators
            .send(StreamEvent::Decision(Arc::new(decision.clone())));
        Ok((decision, published))
    }

    pub fn metrics_text(&self) -> String {
        let depths: Vec<(String, usize)> = {
            let streams = self.streams.lock().expect("streams lock");
            let mut depths: Vec<_> = streams
                .values()
                .map(|s| (s.name.clone(), s.queue_len()))
                .collect();
            depths.sort();
            depths
        };
        let mut text = self.metrics.render(&depths);
        for source in self
            .extra_metrics
            .lock()
            .expect("metrics sources lock")
            .iter()
        {
            text.push_str(&source());
        }
        text
    }
}

/// Sequence numbers of the oldest outcomes of one kind past `keep`.
fn expired(
    seqs: &BTreeMap<u64, SeqEntry>,
    keep: usize,
    kind: impl Fn(&FrameOutcome) -> bool,
) -> Vec<u64> {
    let matching: Vec<u64> = seqs
        .iter()
        .filter(|(_, entry)| matches!(&entry.state, SeqState::Done(o) if kind(o)))
        .map(|(seq, _)| *seq)
        .collect();
    let excess = matching.len().saturating_sub(keep);
    matching[..excess].to_vec()
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn parse_sha(text: &str) -> [u8; 32] {
    let mut sha = [0u8; 32];
    for (i, byte) in sha.iter_mut().enumerate() {
        *byte = text
            .get(2 * i..2 * i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0);
    }
    sha
}

/// Hex of a fragment digest, as records store it.
pub(crate) fn sha_hex(sha: &[u8; 32]) -> String {
    hex(sha)
}
