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
    /// The first sequence number used; the run used `first_seq..first_seq + count`.
    pub first_seq: u64,
}

impl DemoReport {
    /// The `q` quantile of published response times.
    pub fn published_quantile(&self, q: f64) -> Option<f64> {
        if self.published_ms.is_empty() {
            return None;
        }
        let rank = ((q * self.published_ms.len() as f64).ceil() as usize).max(1);
        Some(self.published_ms[rank.min(self.published_ms.len()) - 1])
    }
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
    let client = reqwest::Client::builder()
        .build()
        .map_err(|e| DemoError::Client(e.to_string()))?;
    let first_seq = now_millis() as u64;
    let frames: Vec<bytes::Bytes> = frames.into_iter().map(bytes::Bytes::from).collect();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / fps));
    let mut pending = Vec::with_capacity(count);
    for i in 0..count {
        ticker.tick().await;
        let url = format!(
            "{}/ingest/v1/streams/{stream}/fragments/{}",
            base_url.trim_end_matches('/'),
            first_seq + i as u64
        );
        let request = client
            .put(url)
            .bearer_auth(key)
            .header("x-capture-time", now_millis().to_string())
            .body(frames[i % frames.len()].clone());
        pending.push(tokio::spawn(async move {
            let started = Instant::now();
            let response = request.send().await;
            (response.map(|r| r.status().as_u16()), started.elapsed())
        }));
    }
    let mut report = DemoReport {
        first_seq,
        ..DemoReport::default()
    };
    for task in pending {
        match task.await {
            Ok((Ok(status), elapsed)) => {
                *report.statuses.entry(status).or_default() += 1;
                if status == 201 {
                    report.published_ms.push(elapsed.as_secs_f64() * 1000.0);
                }
            }
            _ => report.failed += 1,
        }
    }
    report.published_ms.sort_by(f64::total_cmp);
    Ok(report)
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
