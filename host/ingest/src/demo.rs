//! A capture simulator: pushes frames to an ingest endpoint at a steady
//! rate, as a phone or companion camera would, for demos and load tests.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What a demo run saw.
#[derive(Debug, Clone, Default)]
pub struct DemoReport {
    /// Responses by HTTP status.
    pub statuses: BTreeMap<u16, usize>,
    /// Requests that got no response (connection errors).
    pub failed: usize,
    /// Response times of published fragments, milliseconds, sorted.
    pub published_ms: Vec<f64>,
    /// The host's ingest-to-publish latency of each published fragment (from
    /// the response's frame record), milliseconds, sorted.
    pub ingest_to_publish_ms: Vec<f64>,
    /// The first sequence number used; the run used `first_seq..first_seq + count`.
    pub first_seq: u64,
}

impl DemoReport {
    /// How many fragments were published (201).
    pub fn published(&self) -> usize {
        self.statuses.get(&201).copied().unwrap_or(0)
    }

    /// Adds another run's results (for several streams pushed at once).
    pub fn merge(&mut self, other: DemoReport) {
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        self.failed += other.failed;
        self.published_ms.extend(other.published_ms);
        self.ingest_to_publish_ms.extend(other.ingest_to_publish_ms);
        self.published_ms.sort_by(f64::total_cmp);
        self.ingest_to_publish_ms.sort_by(f64::total_cmp);
    }
}

/// The `q` quantile (nearest rank) of sorted values.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("no frames to send")]
    NoFrames,
    #[error("fps must be above 0")]
    BadRate,
    #[error("building the HTTP client: {0}")]
    Client(String),
}

/// Sends `count` frames (cycling through `frames`) to
/// `{base_url}/ingest/v1/streams/{stream}/fragments/{seq}` at `fps`, each
/// with `X-Capture-Time`, without waiting for one response before the next
/// capture, and returns once every response is in. Sequence numbers start
/// at the current Unix time in milliseconds, so repeated runs do not
/// collide.
pub async fn push_frames(
    base_url: &str,
    stream: &str,
    key: &str,
    frames: Vec<Vec<u8>>,
    fps: f64,
    count: usize,
) -> Result<DemoReport, DemoError> {
    if frames.is_empty() {
        return Err(DemoError::NoFrames);
    }
    if !(fps > 0.0 && fps.is_finite()) {
        return Err(DemoError::BadRate);
    }
    let client = client()?;
    let first_seq = now_millis() as u64;
    let frames: Vec<bytes::Bytes> = frames.into_iter().map(bytes::Bytes::from).collect();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / fps));
    let mut pending = Vec::with_capacity(count);
    for i in 0..count {
        ticker.tick().await;
        let request = fragment_request(
            &client,
            base_url,
            stream,
            key,
            first_seq + i as u64,
            frames[i % frames.len()].clone(),
        );
        pending.push(tokio::spawn(send(request)));
    }
    let mut report = DemoReport {
        first_seq,
        ..DemoReport::default()
    };
    for task in pending {
        match task.await {
            Ok(result) => report.record(result),
            Err(_) => report.failed += 1,
        }
    }
    report.sort();
    Ok(report)
}

/// Sends `count` frames one after the other, each as soon as the previous
/// one's response arrived: the rate the pipeline sustains for one stream.
pub async fn push_back_to_back(
    base_url: &str,
    stream: &str,
    key: &str,
    frames: Vec<Vec<u8>>,
    count: usize,
) -> Result<DemoReport, DemoError> {
    if frames.is_empty() {
        return Err(DemoError::NoFrames);
    }
    let client = client()?;
    let first_seq = now_millis() as u64;
    let frames: Vec<bytes::Bytes> = frames.into_iter().map(bytes::Bytes::from).collect();
    let mut report = DemoReport {
        first_seq,
        ..DemoReport::default()
    };
    for i in 0..count {
        let request = fragment_request(
            &client,
            base_url,
            stream,
            key,
            first_seq + i as u64,
            frames[i % frames.len()].clone(),
        );
        report.record(send(request).await);
    }
    report.sort();
    Ok(report)
}

fn client() -> Result<reqwest::Client, DemoError> {
    reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .map_err(|e| DemoError::Client(e.to_string()))
}

fn fragment_request(
    client: &reqwest::Client,
    base_url: &str,
    stream: &str,
    key: &str,
    seq: u64,
    frame: bytes::Bytes,
) -> reqwest::RequestBuilder {
    client
        .put(format!(
            "{}/ingest/v1/streams/{stream}/fragments/{seq}",
            base_url.trim_end_matches('/')
        ))
        .bearer_auth(key)
        .header("x-capture-time", now_millis().to_string())
        .body(frame)
}

/// One response: its status, how long it took, and for a published
/// fragment the host's ingest-to-publish latency.
type Sent = Result<(u16, Duration, Option<f64>), reqwest::Error>;

async fn send(request: reqwest::RequestBuilder) -> Sent {
    let started = Instant::now();
    let response = request.send().await?;
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let latency = body["frame"]["latency_ms"]["ingest_to_publish"].as_f64();
    Ok((status, started.elapsed(), latency))
}

impl DemoReport {
    fn record(&mut self, sent: Sent) {
        match sent {
            Ok((status, elapsed, latency)) => {
                *self.statuses.entry(status).or_default() += 1;
                if status == 201 {
                    self.published_ms.push(elapsed.as_secs_f64() * 1000.0);
                    self.ingest_to_publish_ms.extend(latency);
                }
            }
            Err(_) => self.failed += 1,
        }
    }

    fn sort(&mut self) {
        self.published_ms.sort_by(f64::total_cmp);
        self.ingest_to_publish_ms.sort_by(f64::total_cmp);
    }
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
