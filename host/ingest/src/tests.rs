//! In-process tests of the whole ingest path over real HTTP: the router on
//! 127.0.0.1:0, the pipeline with the worker crates run natively, frames
//! made from the shared fixture photos.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;
use studio_edge_imaging::{Format, Limits, decode, encode};
use studio_edge_moderation::ModerationConfig;

use crate::native::NativeModeration;
use crate::stages::{FrameStages, ModerationStage, ModerationSummary, StageError};
use crate::streams::{STREAMS_FILE, StreamsFile, create_stream};
use crate::{DropUpdate, Ingest, IngestConfig, router};

const WAIT: Duration = Duration::from_secs(60);

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
}

/// A fixture photo re-encoded as a JPEG frame.
fn jpeg_frame(photo: &str) -> Vec<u8> {
    let bytes = std::fs::read(fixtures().join("photos").join(photo)).unwrap();
    let image = decode(&bytes, &Limits::default()).unwrap().image;
    encode(&image, Format::Jpeg, 85).unwrap()
}

/// An all-black frame: moderation's black-frame hint suggests `hold`.
fn black_frame() -> Vec<u8> {
    let image = studio_edge_imaging::image::RgbaImage::from_pixel(
        320,
        180,
        studio_edge_imaging::image::Rgba([0, 0, 0, 255]),
    );
    encode(&image, Format::Jpeg, 85).unwrap()
}

fn native_stages() -> FrameStages {
    crate::native::stages(None)
}

struct TestServer {
    base: String,
    ingest: Arc<Ingest>,
    dir: tempfile::TempDir,
    keys: Vec<String>,
    /// An operator token covering `cam1` only.
    operator: String,
    client: reqwest::Client,
}

impl TestServer {
    /// Streams `cam1` and `cam2` with `configure` applied to `streams.json`.
    async fn start(stages: FrameStages, configure: impl FnOnce(&mut StreamsFile)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let keys = ["cam1", "cam2"]
            .iter()
            .map(|name| create_stream(dir.path(), name, None).unwrap())
            .collect();
        let path = dir.path().join(STREAMS_FILE);
        let mut file = StreamsFile::load(&path).unwrap();
        configure(&mut file);
        file.save(&path).unwrap();
        Self::serve(dir, keys, stages, |_| {}).await
    }

    async fn serve(
        dir: tempfile::TempDir,
        keys: Vec<String>,
        stages: FrameStages,
        tune: impl FnOnce(&mut IngestConfig),
    ) -> Self {
        let mut config = IngestConfig::new(dir.path());
        config.workers = 2;
        config.quality_sample_rate = 1.0;
        tune(&mut config);
        let operator = crate::operators::create_operator(
            dir.path(),
            &format!("ops-{}", keys.len()),
            Some(vec!["cam1".to_owned()]),
        )
        .or_else(|_| {
            // A restarted server over the same directory: a second operator.
            crate::operators::create_operator(dir.path(), "ops-again", Some(vec!["cam1".into()]))
        })
        .unwrap();
        let ingest = Arc::new(Ingest::open(config, stages).unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = router(ingest.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            base,
            ingest,
            dir,
            keys,
            operator,
            client: reqwest::Client::new(),
        }
    }

    fn put(
        &self,
        stream: &str,
        seq: u64,
        key: Option<&str>,
        body: Vec<u8>,
    ) -> reqwest::RequestBuilder {
        let request = self
            .client
            .put(format!(
                "{}/ingest/v1/streams/{stream}/fragments/{seq}",
                self.base
            ))
            .body(body);
        match key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    async fn push(&self, seq: u64, body: Vec<u8>) -> (StatusCode, Value) {
        let response = self
            .put("cam1", seq, Some(&self.keys[0]), body)
            .header("x-capture-time", "1700000000000")
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    async fn metrics(&self) -> String {
        self.get("/metrics").await.text().await.unwrap()
    }
}

/// Reads `event:`/`data:` pairs from a server-sent events response.
struct SseReader {
    body: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: String,
}

impl SseReader {
    async fn open(client: &reqwest::Client, url: String, key: Option<&str>) -> Self {
        let mut request = client.get(url);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self {
            body: Box::pin(response.bytes_stream()),
            buffer: String::new(),
        }
    }

    /// The next event (name, parsed data), skipping keep-alive comments.
    async fn next(&mut self) -> (String, Value) {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut name = "message".to_owned();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue;
                }
                return (name, serde_json::from_str(&data).unwrap());
            }
            let chunk = tokio::time::timeout(WAIT, self.body.next())
                .await
                .expect("an event within the timeout")
                .expect("the event stream stays open")
                .unwrap();
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The next event with this name.
    async fn next_named(&mut self, wanted: &str) -> Value {
        loop {
            let (name, data) = self.next().await;
            if name == wanted {
                return data;
            }
        }
    }
}

fn counter(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingested_frame_reaches_viewers_with_working_renditions() {
    let server = TestServer::start(native_stages(), |_| {}).await;
    let mut events = SseReader::open(
        &server.client,
        format!("{}/streams/cam1/events", server.base),
        None,
    )
    .await;
    let (status, body) = server.push(7, jpeg_frame("chelsea.png")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "published");
    assert_eq!(body["replay"], false);

    let event = events.next_named("frame").await;
    assert_eq!(event["seq"], 7);
    assert_eq!(event["capture_time"], 1_700_000_000_000i64);
    assert!(event["latency_ms"]["ingest_to_publish"].as_f64().unwrap() > 0.0);
    assert!(
        event.get("moderation").is_none(),
        "hints are for the operator: {event}"
    );
    let renditions = event["renditions"].as_array().unwrap();
    assert!(!renditions.is_empty());
    for rendition in renditions {
        let url = rendition["url"].as_str().unwrap();
        let response = server.get(url).await;
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        assert_eq!(
            response.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(
            response.headers()["content-type"],
            rendition["content_type"].as_str().unwrap()
        );
        let etag = response.headers()["etag"].to_str().unwrap().to_owned();
        let bytes = response.bytes().await.unwrap();
        assert_eq!(bytes.len() as u64, rendition["bytes"].as_u64().unwrap());
        decode(&bytes, &Limits::default()).expect("a rendition is a decodable image");

        let variant = rendition["variant"].as_str().unwrap();
        let latest = server.get(&format!("/streams/cam1/latest/{variant}")).await;
        assert_eq!(latest.status(), StatusCode::OK);
        assert_eq!(latest.headers()["cache-control"], "no-cache");
        assert_eq!(latest.headers()["etag"].to_str().unwrap(), etag);
        let revalidated = server
            .client
            .get(format!("{}/streams/cam1/latest/{variant}", server.base))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    }
    let metrics = server.metrics().await;
    assert_eq!(
        counter(
            &metrics,
            "studio_edge_frames_published_total{stream=\"cam1\"}"
        ),
        1
    );
    assert!(metrics.contains("studio_edge_ingest_to_publish_seconds_count{stream=\"cam1\"} 1"));
    assert!(metrics.contains("studio_edge_capture_to_publish_seconds_count{stream=\"cam1\"} 1"));
    assert!(metrics.contains("studio_edge_pipeline_stage_seconds_count{stage=\"moderation\"} 1"));

    // Every frame is sampled here (rate 1.0); the measurement runs on its
    // own thread, so wait for it.
    let mut measured = String::new();
    for _ in 0..600 {
        measured = server.metrics().await;
        if measured.contains("studio_edge_thumbnail_ssim_count{variant=\"w640-jpeg\"} 1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for variant in ["w160-jpeg", "w320-webp", "w640-jpeg"] {
        assert!(
            measured.contains(&format!(
                "studio_edge_thumbnail_psnr_db_count{{variant=\"{variant}\"}} 1"
            )),
            "{measured}"
        );
    }
    let ssim_sum: f64 = measured
        .lines()
        .find_map(|l| l.strip_prefix("studio_edge_thumbnail_ssim_sum{variant=\"w640-jpeg\"} "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        ssim_sum > 0.9 && ssim_sum <= 1.0,
        "a q80 JPEG of a Lanczos3 downscale: {ssim_sum}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_checked_per_stream() {
    let server = TestServer::start(native_stages(), |_| {}).await;
    let frame = jpeg_frame("coffee.png");
    // Refused requests carry a few bytes: the server answers before reading
    // a body and closes the connection, and a client still writing a large
    // one would see a broken pipe instead of the answer.
    let refused = b"frame".to_vec();
    let no_key = server
        .put("cam1", 1, None, refused.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(no_key.status(), StatusCode::UNAUTHORIZED);
    assert!(
        no_key.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert_eq!(no_key.headers()["content-type"], "application/problem+json");
    let problem: Value = no_key.json().await.unwrap();
    assert_eq!(problem["type"], "urn:studio-edge:problem:unauthorized");
    assert_eq!(problem["status"], 401);

    let wrong = server
        .put("cam1", 1, Some("sek_not-a-key"), refused.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let basic = server
        .client
        .put(format!(
            "{}/ingest/v1/streams/cam1/fragments/1",
            server.base
        ))
        .header("authorization", format!("Basic {}", server.keys[0]))
        .body(refused.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    let other = server
        .put("cam1", 1, Some(&server.keys[1]), refused.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::FORBIDDEN);
    let unknown_stream = server
        .put("cam9", 1, Some(&server.keys[0]), refused.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_stream.status(), StatusCode::FORBIDDEN);
    let operator = server.get("/streams/cam1/operator/events").await;
    assert_eq!(operator.status(), StatusCode::UNAUTHORIZED);
    // An ingest key is for cameras, not for the console.
    let camera = server
        .client
        .get(format!("{}/streams/cam1/operator/events", server.base))
        .bearer_auth(&server.keys[0])
        .send()
        .await
        .unwrap();
    assert_eq!(camera.status(), StatusCode::UNAUTHORIZED);
    let other_stream = server
        .client
        .get(format!("{}/streams/cam2/operator/events", server.base))
        .bearer_auth(&server.operator)
        .send()
        .await
        .unwrap();
    assert_eq!(other_stream.status(), StatusCode::FORBIDDEN);

    // None of the refused requests published anything; the right key does.
    assert_eq!(
        server
            .get("/streams/cam1/frames/1/w640-jpeg")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let metrics = server.metrics().await;
    assert_eq!(
        counter(
            &metrics,
            "studio_edge_ingest_fragments_rejected_total{reason=\"unauthorized\"}"
        ),
        3
    );
    assert_eq!(
        counter(
            &metrics,
            "studio_edge_ingest_fragments_rejected_total{reason=\"forbidden\"}"
        ),
        2
    );
    let (status, _) = server.push(1, frame).await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_are_idempotent_conflicts_refused_and_late_frames_kept_out_of_latest() {
    let server = TestServer::start(native_stages(), |_| {}).await;
    let first = jpeg_frame("coffee.png");
    let second = jpeg_frame("chelsea.png");
    let (status, published) = server.push(5, first.clone()).await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, replay) = server.push(5, first.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(replay["replay"], true);
    assert_eq!(
        replay["frame"], published["frame"],
        "a replay answers with the original"
    );

    let (status, conflict) = server.push(5, second.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(conflict["type"], "urn:studio-edge:problem:conflict");

    // Concurrent identical sends of a new sequence number: one frame.
    let (a, b) = tokio::join!(
        server.push(9, second.clone()),
        server.push(9, second.clone())
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CREATED]);
    assert_eq!(a.1["frame"], b.1["frame"]);

    // A late fragment is published but does not become latest.
    let (status, late) = server.push(3, jpeg_frame("astronaut.png")).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(late["frame"]["late"], true);
    let latest = server.get("/streams/cam1/latest/w640-jpeg").await;
    assert_eq!(
        latest.headers()["content-location"],
        "/streams/cam1/frames/9/w640-jpeg"
    );
    assert_eq!(
        server
            .get("/streams/cam1/frames/3/w640-jpeg")
            .await
            .status(),
        StatusCode::OK
    );

    // A viewer who connects now gets the current frame first.
    let mut late_viewer = SseReader::open(
        &server.client,
        format!("{}/streams/cam1/events", server.base),
        None,
    )
    .await;
    let (name, current) = late_viewer.next().await;
    assert_eq!(
        (name.as_str(), current["seq"].as_u64()),
        ("latest", Some(9))
    );

    let metrics = server.metrics().await;
    assert_eq!(
        counter(
            &metrics,
            "studio_edge_frames_published_total{stream=\"cam1\"}"
        ),
        3
    );
    assert_eq!(
        counter(
            &metrics,
            "studio_edge_ingest_fragments_replayed_total{stream=\"cam1\"}"
        ),
        2
    );
    assert_eq!(
        counter(&metrics, "studio_edge_frames_late_total{stream=\"cam1\"}"),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_are_recognised_after_a_restart() {
    let server = TestServer::start(native_stages(), |_| {}).await;
    let frame = jpeg_frame("coffee.png");
    assert_eq!(server.push(1, frame.clone()).await.0, StatusCode::CREATED);
    assert_eq!(server.push(2, black_frame()).await.0, StatusCode::OK);
    let TestServer { dir, keys, .. } = server;
    let restarted = TestServer::serve(dir, keys, native_stages(), |_| {}).await;
    let (status, body) = restarted.push(1, frame).await;
    assert_eq!(
        (status, body["replay"].clone()),
        (StatusCode::OK, Value::Bool(true))
    );
    assert_eq!(
        restarted.push(1, jpeg_frame("chelsea.png")).await.0,
        StatusCode::CONFLICT
    );
    let (status, held) = restarted.push(2, black_frame()).await;
    assert_eq!(
        (status, held["status"].clone()),
        (StatusCode::OK, Value::from("held"))
    );
    assert_eq!(
        restarted
            .get("/streams/cam1/latest/w640-jpeg")
            .await
            .headers()["content-location"],
        "/streams/cam1/frames/1/w640-jpeg"
    );
}

/// The real moderation stage behind a gate that holds every call until it
/// is opened, so that a test can fill a queue deterministically.
struct Gated {
    inner: NativeModeration,
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gated {
    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

/// Opens the gate when dropped, so that a failing test ends instead of
/// leaving a pipeline thread waiting at the gate.
struct OpenOnDrop(Arc<Gated>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.open();
    }
}

impl ModerationStage for Gated {
    fn moderate(
        &self,
        source: &[u8],
        previous_hash: Option<&str>,
        blocklist: &[String],
    ) -> Result<ModerationSummary, StageError> {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.opened.wait(open).unwrap();
        }
        drop(open);
        self.inner.moderate(source, previous_hash, blocklist)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_gets_429_and_the_queue_stays_bounded() {
    const DEPTH: usize = 3;
    let gate = Arc::new(Gated {
        inner: NativeModeration::new(ModerationConfig::default()),
        open: Mutex::new(false),
        opened: Condvar::new(),
    });
    let _open_on_exit = OpenOnDrop(gate.clone());
    let stages = FrameStages {
        moderation: Some(gate.clone()),
        ..FrameStages::default()
    };
    let server = TestServer::start(stages, |file| {
        file.streams.get_mut("cam1").unwrap().queue_depth = DEPTH;
    })
    .await;
    let frame = jpeg_frame("coffee.png");
    let mut accepted = 0;
    let mut refused = 0;
    for seq in 0..40u64 {
        let response = server
            .put("cam1", seq, Some(&server.keys[0]), frame.clone())
            .header("prefer", "respond-async")
            .send()
            .await
            .unwrap();
        match response.status() {
            StatusCode::ACCEPTED => accepted += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                refused += 1;
                assert_eq!(response.headers()["retry-after"], "1");
                let problem: Value = response.json().await.unwrap();
                assert_eq!(problem["type"], "urn:studio-edge:problem:queue-full");
            }
            other => panic!("unexpected {other}"),
        }
        let metrics = server.metrics().await;
        assert!(
            counter(&metrics, "studio_edge_ingest_queue_depth{stream=\"cam1\"}") <= DEPTH as u64
        );
    }
    // At most the queue and the one frame held in the pipeline.
    assert!(accepted <= DEPTH + 1, "{accepted} accepted");
    assert!(accepted >= DEPTH, "{accepted} accepted");
    assert_eq!(accepted + refused, 40);

    // Another stream is not affected by cam1's full queue.
    let other = server
        .put("cam2", 0, Some(&server.keys[1]), frame.clone())
        .header("prefer", "respond-async")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::ACCEPTED);

    let mut events = SseReader::open(
        &server.client,
        format!("{}/streams/cam1/events", server.base),
        None,
    )
    .await;
    gate.open();
    for _ in 0..accepted {
        events.next_named("frame").await;
    }
    // Once drained, the stream takes fragments again.
    assert_eq!(server.push(100, frame).await.0, StatusCode::CREATED);
    let metrics = server.metrics().await;
    assert_eq!(
        counter(
            &metrics,
            "studio_edge_ingest_fragments_rejected_total{reason=\"queue-full\"}"
        ),
        refused as u64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_camera_and_a_crowd_meet_the_stream_limits() {
    let dir = tempfile::tempdir().unwrap();
    let keys = ["cam1", "cam2"]
        .iter()
        .map(|name| create_stream(dir.path(), name, None).unwrap())
        .collect();
    let server = TestServer::serve(dir, keys, native_stages(), |config| {
        config.limits = crate::StreamLimits {
            max_viewers: 2,
            fragment_rate: 1,
            fragment_burst: 3,
        };
    })
    .await;
    let frame = jpeg_frame("coffee.png");
    // A stranger's attempts spend nothing of the stream's rate.
    for seq in 0..10 {
        let response = server
            .put("cam1", seq, Some("wrong"), Vec::new())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let send = |seq: u64| {
        server
            .put("cam1", seq, Some(&server.keys[0]), frame.clone())
            .header("prefer", "respond-async")
            .send()
    };
    for seq in 0..3 {
        assert_eq!(send(seq).await.unwrap().status(), StatusCode::ACCEPTED);
    }
    let refused = send(3).await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers()["retry-after"], "1");
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["type"], "urn:studio-edge:problem:fragment-rate");
    // Another stream has a rate of its own.
    let other = server
        .put("cam2", 0, Some(&server.keys[1]), frame.clone())
        .header("prefer", "respond-async")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::ACCEPTED);

    let url = format!("{}/streams/cam1/events", server.base);
    let first = SseReader::open(&server.client, url.clone(), None).await;
    let _second = SseReader::open(&server.client, url.clone(), None).await;
    let full = server.client.get(&url).send().await.unwrap();
    assert_eq!(full.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(full.headers()["retry-after"], "5");
    let problem: Value = full.json().await.unwrap();
    assert_eq!(problem["type"], "urn:studio-edge:problem:stream-full");
    let _elsewhere = SseReader::open(
        &server.client,
        format!("{}/streams/cam2/events", server.base),
        None,
    )
    .await;
    // A viewer who leaves frees a place (noticed at once or at the next
    // keep-alive, 15 s).
    drop(first);
    let mut admitted = None;
    for _ in 0..40 {
        let response = server.client.get(&url).send().await.unwrap();
        if response.status() == StatusCode::OK {
            admitted = Some(response);
            break;
        }
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(admitted.is_some(), "the freed place was never given out");
    let metrics = server.metrics().await;
    assert!(
        counter(
            &metrics,
            "studio_edge_viewers_refused_total{stream=\"cam1\"}"
        ) >= 1
    );
    assert_eq!(
        counter(
            &metrics,
            "studio_edge_ingest_fragments_rejected_total{reason=\"fragment-rate\"}"
        ),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_frame_is_never_served_and_the_operator_is_told() {
    let server = TestServer::start(native_stages(), |_| {}).await;
    let mut operator = SseReader::open(
        &server.client,
        format!("{}/streams/cam1/operator/events", server.base),
        Some(&server.operator),
    )
    .await;
    let mut viewers = SseReader::open(
        &server.client,
        format!("{}/streams/cam1/events", server.base),
        None,
    )
    .await;
    assert_eq!(
        server.push(1, jpeg_frame("coffee.png")).await.0,
        StatusCode::CREATED
    );
    let (status, held) = server.push(2, black_frame()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(held["status"], "held");
    assert!(held.get("frame").is_none());

    let hold = operator.next_named("hold").await;
    assert_eq!(hold["seq"], 2);
    assert_eq!(hold["moderation"]["action"], "hold");
    assert!(
        hold["moderation"]["hints"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["code"] == "black-frame")
    );

    assert_eq!(
        server.push(3, jpeg_frame("chelsea.png")).await.0,
        StatusCode::CREATED
    );
    let frames = [
        viewers.next_named("frame").await,
        viewers.next_named("frame").await,
    ];
    let seqs: Vec<u64> = frames.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, vec![1, 3], "viewers never hear of the held frame");
    assert!(frames.iter().all(|f| f.get("moderation").is_none()));
    assert_eq!(
        server
            .get("/streams/cam1/frames/2/w640-jpeg")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert!(!server.dir.path().join("streams/cam1/2").exists());
    assert!(server.dir.path().join("held/cam1/2/held.json").exists());
    let metrics = server.metrics().await;
    assert_eq!(
        counter(&metrics, "studio_edge_frames_held_total{stream=\"cam1\"}"),
        1
    );

    // The operator sees frames with their hints.
    let seen = operator.next_named("frame").await;
    assert!(seen["moderation"]["action"].is_string(), "{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_publishes_a_held_frame_anyway_or_discards_it() {
    let server = TestServer::start(native_stages(), |_| {}).await;
    let operator = |method: reqwest::Method, path: &str| {
        server
            .client
            .request(method, format!("{}{path}", server.base))
            .bearer_auth(&server.operator)
    };
    server.push(1, jpeg_frame("coffee.png")).await;
    assert_eq!(server.push(2, black_frame()).await.1["status"], "held");
    assert_eq!(server.push(3, black_frame()).await.1["status"], "held");

    // Without a token nothing is listed, shown or decided.
    assert_eq!(
        server.get("/studio/v1/streams/cam1/held").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let publish_path = "/studio/v1/streams/cam1/held/3/publish";
    let anonymous = server
        .client
        .post(format!("{}{publish_path}", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(server.dir.path().join("held/cam1/3/held.json").exists());

    let listed: Value = operator(reqwest::Method::GET, "/studio/v1/streams/cam1/held")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let held = listed["held"].as_array().unwrap();
    assert_eq!(held.len(), 2);
    assert!(
        held[0]["moderation"]["hints"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["code"] == "black-frame")
    );
    let preview = operator(
        reqwest::Method::GET,
        "/studio/v1/streams/cam1/held/3/w640-jpeg",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(preview.status(), StatusCode::OK);
    assert_eq!(preview.headers()["content-type"], "image/jpeg");

    let mut viewers = SseReader::open(
        &server.client,
        format!("{}/streams/cam1/events", server.base),
        None,
    )
    .await;
    assert_eq!(viewers.next_named("latest").await["seq"], 1);
    let published = operator(reqwest::Method::POST, publish_path)
        .send()
        .await
        .unwrap();
    assert_eq!(published.status(), StatusCode::OK);
    let body: Value = published.json().await.unwrap();
    assert_eq!(body["decision"]["action"], "publish");
    assert!(
        body["decision"]["operator"]
            .as_str()
            .unwrap()
            .starts_with("ops-")
    );
    assert_eq!(viewers.next_named("frame").await["seq"], 3);
    assert_eq!(
        server
            .get("/streams/cam1/frames/3/w640-jpeg")
            .await
            .status(),
        StatusCode::OK
    );
    assert!(!server.dir.path().join("streams/cam1/3/held.json").exists());
    // Published once: a second decision finds nothing held.
    let again = operator(reqwest::Method::POST, publish_path)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);

    let discarded = operator(
        reqwest::Method::POST,
        "/studio/v1/streams/cam1/held/2/discard",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(discarded.status(), StatusCode::OK);
    assert!(!server.dir.path().join("held/cam1/2").exists());
    assert_eq!(
        server
            .get("/streams/cam1/frames/2/w640-jpeg")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let listed: Value = operator(reqwest::Method::GET, "/studio/v1/streams/cam1/held")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["held"].as_array().unwrap().len(), 0);
    let actions: Vec<&str> = listed["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["publish", "discard"],
        "both decisions are recorded"
    );
    let metrics = server.metrics().await;
    assert_eq!(
        counter(
            &metrics,
            "studio_edge_held_decisions_total{stream=\"cam1\",action=\"discard\"}"
        ),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_fragments_get_422_and_nothing_is_published() {
    let server = TestServer::start(native_stages(), |_| {}).await;
    let good = jpeg_frame("coffee.png");
    let truncated = good[..good.len() / 2].to_vec();
    let mut scrambled = good.clone();
    // Keep the markers at both ends; destroy the headers and data between.
    for byte in &mut scrambled[2..good.len() - 2] {
        *byte = byte.wrapping_mul(31).wrapping_add(7);
    }
    for (seq, body) in [
        (1, b"definitely not an image".to_vec()),
        (2, truncated),
        (3, scrambled),
    ] {
        let (status, problem) = server.push(seq, body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "seq {seq}: {problem}"
        );
        assert_eq!(problem["type"], "urn:studio-edge:problem:unprocessable");
        assert_eq!(
            server
                .get(&format!("/streams/cam1/frames/{seq}/w640-jpeg"))
                .await
                .status(),
            StatusCode::NOT_FOUND
        );
    }
    assert_eq!(
        server.get("/streams/cam1/latest/w640-jpeg").await.status(),
        StatusCode::NOT_FOUND
    );
    let gif = server.push(4, b"GIF89a\x01\0\x01\0".to_vec()).await;
    assert_eq!(gif.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let metrics = server.metrics().await;
    assert_eq!(
        counter(
            &metrics,
            "studio_edge_frames_published_total{stream=\"cam1\"}"
        ),
        0
    );
    assert_eq!(
        counter(
            &metrics,
            "studio_edge_ingest_fragments_rejected_total{reason=\"unprocessable\"}"
        ),
        3
    );
    // A rejected sequence number stays free for the real frame.
    assert_eq!(server.push(3, good).await.0, StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_malformed_requests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = create_stream(dir.path(), "cam1", None).unwrap();
    let server = TestServer::serve(dir, vec![key], native_stages(), |config| {
        config.body_limit = 10_000;
    })
    .await;
    let frame = jpeg_frame("coffee.png");
    assert!(frame.len() > 10_000);
    let (status, problem) = server.push(1, frame).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(problem["type"], "urn:studio-edge:problem:too-large");
    let bad_seq = server
        .put("cam1", 0, Some(&server.keys[0]), b"x".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(bad_seq.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let response = server
        .client
        .put(format!(
            "{}/ingest/v1/streams/cam1/fragments/-4",
            server.base
        ))
        .bearer_auth(&server.keys[0])
        .body(b"x".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = server
        .put("cam1", 5, Some(&server.keys[0]), b"x".to_vec())
        .header("x-capture-time", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // Path segments that do not decode (found by the ingest_fragment fuzz
    // target: axum answered them in plain text) are problems like the rest.
    for (method, path) in [
        (reqwest::Method::PUT, "/ingest/v1/streams/cam1/fragments/%%"),
        (
            reqwest::Method::POST,
            "/studio/v1/streams/cam1/held/x/publish",
        ),
        (reqwest::Method::GET, "/streams/cam%ff/latest/w640-jpeg"),
    ] {
        let response = server
            .client
            .request(method, format!("{}{path}", server.base))
            .bearer_auth(&server.keys[0])
            .body(b"x".to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(
            problem["type"], "urn:studio-edge:problem:bad-request",
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_keeps_the_newest_frames() {
    let server = TestServer::start(native_stages(), |file| {
        file.streams.get_mut("cam1").unwrap().retention = 2;
    })
    .await;
    let photos = ["coffee.png", "chelsea.png", "astronaut.png", "rocket.jpg"];
    for (seq, photo) in photos.iter().enumerate() {
        assert_eq!(
            server.push(seq as u64, jpeg_frame(photo)).await.0,
            StatusCode::CREATED
        );
    }
    for seq in 0..4 {
        let status = server
            .get(&format!("/streams/cam1/frames/{seq}/w640-jpeg"))
            .await
            .status();
        let kept = seq >= 2;
        assert_eq!(status.is_success(), kept, "seq {seq}: {status}");
        assert_eq!(
            server
                .dir
                .path()
                .join(format!("streams/cam1/{seq}"))
                .exists(),
            kept
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drops_engagement_and_the_viewer_page() {
    let server = TestServer::start(native_stages(), |_| {}).await;
    let (drops, _) = tokio::sync::broadcast::channel::<Arc<DropUpdate>>(16);
    server.ingest.forward_drop_events(drops.subscribe());
    let mut events = SseReader::open(
        &server.client,
        format!("{}/streams/cam2/events", server.base),
        None,
    )
    .await;
    let update = |stream, available| {
        Arc::new(crate::events::tests::drop_state(
            "sneaker-drop",
            Some(stream),
            available,
        ))
    };
    drops.send(update("cam2", 10)).unwrap();
    drops.send(update("cam2", 10)).unwrap();
    drops
        .send(Arc::new(crate::events::tests::drop_state(
            "other",
            Some("cam1"),
            3,
        )))
        .unwrap();
    drops.send(update("cam2", 9)).unwrap();
    let first = events.next_named("drop").await;
    assert_eq!(
        (first["available"].as_i64(), first["title"].as_str()),
        (Some(10), Some("Sneaker"))
    );
    assert_eq!(first["quote"]["total"], 2500);
    assert!(first["server_time"].is_string() && first["ends_at"].is_string());
    // cam1's drop never reaches cam2's viewers.
    assert_eq!(events.next_named("drop").await["id"], "sneaker-drop");

    for (kind, overlay) in [
        ("impression", "sneaker-drop"),
        ("impression", "sneaker-drop"),
        ("click", "sneaker-drop"),
        ("click", "made-up-by-a-viewer"),
    ] {
        let response = server
            .client
            .post(format!("{}/streams/cam2/engagement", server.base))
            .json(&serde_json::json!({"kind": kind, "overlay": overlay}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    let bad = server
        .client
        .post(format!("{}/streams/cam2/engagement", server.base))
        .json(&serde_json::json!({"kind": "purchase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    server
        .ingest
        .add_metrics_source(|| "studio_edge_orders_oversell_incidents_total 0\n".to_owned());
    let metrics = server.metrics().await;
    assert_eq!(
        counter(
            &metrics,
            "studio_edge_engagement_total{stream=\"cam2\",kind=\"impression\"}"
        ),
        2
    );
    assert_eq!(
        counter(
            &metrics,
            "studio_edge_engagement_total{stream=\"cam2\",kind=\"click\"}"
        ),
        2
    );
    assert_eq!(
        counter(
            &metrics,
            "studio_edge_drop_engagement_total{stream=\"cam2\",drop=\"sneaker-drop\",kind=\"click\"}"
        ),
        1
    );
    assert!(!metrics.contains("made-up-by-a-viewer"));
    assert!(metrics.contains("studio_edge_orders_oversell_incidents_total 0\n"));

    let page = server.get("/watch/cam2").await;
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let html = page.text().await.unwrap();
    assert!(html.contains("/assets/viewer.js"));
    let script = server.get("/assets/common.js").await;
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert!(script.text().await.unwrap().contains("idempotency-key"));
    assert_eq!(server.get("/studio/cam2").await.status(), StatusCode::OK);
    assert_eq!(
        server.get("/assets/nope.js").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        server.get("/watch/nope").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_places_a_drop_on_the_picture() {
    use crate::events::tests::drop_state;
    use studio_edge_orders::Timestamp;
    let server = TestServer::start(native_stages(), |_| {}).await;
    let (drops, _) = tokio::sync::broadcast::channel::<Arc<DropUpdate>>(16);
    server.ingest.forward_drop_events(drops.subscribe());
    let mut viewer = SseReader::open(
        &server.client,
        format!("{}/streams/cam1/events", server.base),
        None,
    )
    .await;
    let mut ended = drop_state("ended", Some("cam1"), 5);
    ended.ends_at = Timestamp::now().plus_millis(-1);
    for drop in [
        drop_state("lip", Some("cam1"), 5),
        drop_state("cam2-drop", Some("cam2"), 5),
        ended,
    ] {
        drops.send(Arc::new(drop)).unwrap();
    }
    assert_eq!(viewer.next_named("drop").await["id"], "lip");
    assert_eq!(viewer.next_named("drop").await["id"], "ended");

    let call = |method: reqwest::Method, stream: &str, token: Option<&str>, body: Option<&str>| {
        let mut request = server.client.request(
            method,
            format!("{}/studio/v1/streams/{stream}/placement", server.base),
        );
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        request.send()
    };
    let token = Some(server.operator.as_str());
    let place = r#"{"drop_id":"lip","position":"top-left"}"#;
    // Refused without changing anything: no token, another stream, bad
    // bodies, a drop of another stream or none, an ended drop.
    for (stream, token, body, status) in [
        ("cam1", None, place, 401),
        ("cam1", Some("seo_forged"), place, 401),
        ("cam2", token, r#"{"drop_id":"cam2-drop"}"#, 403),
        (
            "cam1",
            token,
            r#"{"drop_id":"lip","position":"middle"}"#,
            400,
        ),
        ("cam1", token, "not json", 400),
        ("cam1", token, r#"{"drop_id":"cam2-drop"}"#, 404),
        ("cam1", token, r#"{"drop_id":"nope"}"#, 404),
        ("cam1", token, r#"{"drop_id":"ended"}"#, 409),
    ] {
        let response = call(reqwest::Method::PUT, stream, token, Some(body))
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{stream} {body}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
    let now = call(reqwest::Method::GET, "cam1", token, None)
        .await
        .unwrap();
    assert_eq!(now.json::<Value>().await.unwrap()["placement"], Value::Null);

    let placed = call(reqwest::Method::PUT, "cam1", token, Some(place))
        .await
        .unwrap();
    assert_eq!(placed.status(), StatusCode::OK);
    let event = viewer.next_named("placement").await;
    assert_eq!(
        (
            event["stream"].as_str(),
            &event["placement"]["drop_id"],
            &event["placement"]["position"]
        ),
        (Some("cam1"), &Value::from("lip"), &Value::from("top-left"))
    );
    // A viewer who connects now is told at once.
    let mut late = SseReader::open(
        &server.client,
        format!("{}/streams/cam1/events", server.base),
        None,
    )
    .await;
    assert_eq!(
        late.next_named("placement").await["placement"]["drop_id"],
        "lip"
    );
    let cleared = call(reqwest::Method::DELETE, "cam1", token, None)
        .await
        .unwrap();
    assert_eq!(cleared.status(), StatusCode::OK);
    assert_eq!(
        viewer.next_named("placement").await["placement"],
        Value::Null
    );
    assert_eq!(late.next_named("placement").await["placement"], Value::Null);
    let now = call(reqwest::Method::GET, "cam1", token, None)
        .await
        .unwrap();
    assert_eq!(now.json::<Value>().await.unwrap()["placement"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colour_and_product_crops_run_in_pipeline_order() {
    let server = TestServer::start(native_stages(), |file| {
        let cam1 = file.streams.get_mut("cam1").unwrap();
        cam1.color = Some("wb=gains:1.3,1,0.7&ev=+0.3".to_owned());
        cam1.variants.push(
            "detail-ear:w=64&format=png:crop=40,20,128,96"
                .parse()
                .unwrap(),
        );
        // A variant the thumbnail worker refuses makes the stream refuse
        // fragments rather than publish half of what it promises.
        file.streams.get_mut("cam2").unwrap().variants[0].options = "w=0".to_owned();
    })
    .await;
    let (status, body) = server.push(1, jpeg_frame("chelsea.png")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let frame = &body["frame"];
    assert_eq!(
        frame["stages"],
        serde_json::json!(["color", "thumbnails", "moderation"])
    );
    assert!(frame["latency_ms"]["color"].as_f64().is_some());
    let detail = frame["renditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["variant"] == "detail-ear")
        .unwrap();
    assert_eq!(
        (detail["width"].as_u64(), detail["height"].as_u64()),
        (Some(64), Some(48))
    );
    assert_eq!(detail["content_type"], "image/png");
    let widths: Vec<u64> = ["w160-jpeg", "w320-webp", "w640-jpeg"]
        .iter()
        .map(|v| {
            frame["renditions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["variant"] == *v)
                .unwrap()["width"]
                .as_u64()
                .unwrap()
        })
        .collect();
    // chelsea.png is 451 px wide and renditions are never enlarged.
    assert_eq!(widths, vec![160, 320, 451]);

    let refused = server
        .put("cam2", 1, Some(&server.keys[1]), jpeg_frame("coffee.png"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(
        problem["type"],
        "urn:studio-edge:problem:stream-misconfigured"
    );
}
