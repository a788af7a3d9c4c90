//! Prometheus metrics of the ingest path, in the text exposition format.
//!
//! Small and hand-written: counters and histograms keyed by a few labels
//! whose values are stream names, variant names and fixed reasons, never
//! free text from a request.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Latency buckets in seconds: millisecond resolution where the 100 ms
/// target sits, coarser past it.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.06, 0.075, 0.1, 0.125, 0.15, 0.2,
    0.3, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// PSNR buckets in dB.
pub const PSNR_BUCKETS: &[f64] = &[
    20.0, 25.0, 28.0, 30.0, 32.0, 34.0, 36.0, 38.0, 40.0, 45.0, 50.0, 60.0,
];
/// SSIM buckets (1.0 is identical).
pub const SSIM_BUCKETS: &[f64] = &[
    0.5, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999,
];

type Labels = Vec<(&'static str, String)>;

/// A cumulative histogram with fixed upper bounds.
pub struct Histogram {
    bounds: &'static [f64],
    data: Mutex<HistogramData>,
}

#[derive(Clone)]
struct HistogramData {
    buckets: Vec<u64>,
    count: u64,
    sum: f64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            data: Mutex::new(HistogramData {
                buckets: vec![0; bounds.len()],
                count: 0,
                sum: 0.0,
            }),
        }
    }

    pub fn observe(&self, value: f64) {
        let mut data = self.data.lock().expect("histogram lock");
        if let Some(i) = self.bounds.iter().position(|&bound| value <= bound) {
            data.buckets[i] += 1;
        }
        data.count += 1;
        data.sum += value;
    }

    /// How many observations were made.
    pub fn count(&self) -> u64 {
        self.data.lock().expect("histogram lock").count
    }

    /// The mean observation; `None` before any.
    pub fn mean(&self) -> Option<f64> {
        let data = self.data.lock().expect("histogram lock");
        (data.count > 0).then(|| data.sum / data.count as f64)
    }

    /// The `q` quantile estimated from the buckets (upper bound of the
    /// bucket it falls in), as Prometheus' `histogram_quantile` would
    /// bound it; `None` before any observation.
    pub fn quantile_upper_bound(&self, q: f64) -> Option<f64> {
        let data = self.data.lock().expect("histogram lock").clone();
        if data.count == 0 {
            return None;
        }
        let rank = (q * data.count as f64).ceil() as u64;
        let mut seen = 0;
        for (bound, n) in self.bounds.iter().zip(&data.buckets) {
            seen += n;
            if seen >= rank {
                return Some(*bound);
            }
        }
        Some(f64::INFINITY)
    }
}

/// A histogram as the console shows it, in milliseconds: count, mean, and
/// the bucket bounds the median and 99th percentile fall under.
fn summary(histogram: &Histogram) -> serde_json::Value {
    let ms = |seconds: Option<f64>| seconds.filter(|s| s.is_finite()).map(|s| s * 1000.0);
    serde_json::json!({
        "count": histogram.count(),
        "mean_ms": ms(histogram.mean()),
        "p50_le_ms": ms(histogram.quantile_upper_bound(0.5)),
        "p99_le_ms": ms(histogram.quantile_upper_bound(0.99)),
    })
}

/// Metrics of one kind, one series per label set.
struct Family<T> {
    name: &'static str,
    help: &'static str,
    series: Mutex<BTreeMap<Labels, Arc<T>>>,
}

impl<T> Family<T> {
    fn new(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            help,
            series: Mutex::new(BTreeMap::new()),
        }
    }

    fn get_or(&self, labels: Labels, make: impl FnOnce() -> T) -> Arc<T> {
        self.series
            .lock()
            .expect("metrics lock")
            .entry(labels)
            .or_insert_with(|| Arc::new(make()))
            .clone()
    }

    fn snapshot(&self) -> Vec<(Labels, Arc<T>)> {
        self.series
            .lock()
            .expect("metrics lock")
            .iter()
            .map(|(labels, value)| (labels.clone(), value.clone()))
            .collect()
    }
}

impl Family<AtomicU64> {
    fn inc(&self, labels: Labels) {
        self.get_or(labels, || AtomicU64::new(0))
            .fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} counter", self.name);
        for (labels, value) in self.snapshot() {
            let _ = writeln!(
                out,
                "{}{} {}",
                self.name,
                label_text(&labels, None),
                value.load(Ordering::Relaxed)
            );
        }
    }
}

impl Family<Histogram> {
    fn series(&self, labels: Labels, bounds: &'static [f64]) -> Arc<Histogram> {
        self.get_or(labels, || Histogram::new(bounds))
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} histogram", self.name);
        for (labels, histogram) in self.snapshot() {
            let data = histogram.data.lock().expect("histogram lock").clone();
            let mut cumulative = 0;
            for (bound, n) in histogram.bounds.iter().zip(&data.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "{}_bucket{} {cumulative}",
                    self.name,
                    label_text(&labels, Some(&bound.to_string()))
                );
            }
            let _ = writeln!(
                out,
                "{}_bucket{} {}",
                self.name,
                label_text(&labels, Some("+Inf")),
                data.count
            );
            let _ = writeln!(
                out,
                "{}_sum{} {}",
                self.name,
                label_text(&labels, None),
                data.sum
            );
            let _ = writeln!(
                out,
                "{}_count{} {}",
                self.name,
                label_text(&labels, None),
                data.count
            );
        }
    }
}

fn label_text(labels: &Labels, le: Option<&str>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(name, value)| format!("{name}=\"{}\"", escape(value)))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Why a fragment was refused; the `reason` label of the rejected counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    Unauthorized,
    Forbidden,
    BadRequest,
    TooLarge,
    QueueFull,
    Conflict,
    UnsupportedFormat,
    Unprocessable,
    StageFailed,
    FragmentRate,
}

impl RejectReason {
    pub fn label(self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::BadRequest => "bad-request",
            Self::TooLarge => "too-large",
            Self::QueueFull => "queue-full",
            Self::Conflict => "conflict",
            Self::UnsupportedFormat => "unsupported-format",
            Self::Unprocessable => "unprocessable",
            Self::StageFailed => "stage-failed",
            Self::FragmentRate => "fragment-rate",
        }
    }
}

/// Every metric the ingest path keeps.
pub struct Metrics {
    accepted: Family<AtomicU64>,
    rejected: Family<AtomicU64>,
    replayed: Family<AtomicU64>,
    published: Family<AtomicU64>,
    held: Family<AtomicU64>,
    late: Family<AtomicU64>,
    rendition_failures: Family<AtomicU64>,
    clock_skew: Family<AtomicU64>,
    engagement: Family<AtomicU64>,
    drop_engagement: Family<AtomicU64>,
    decisions: Family<AtomicU64>,
    viewers_refused: Family<AtomicU64>,
    quality_skipped: Family<AtomicU64>,
    capture_to_publish: Family<Histogram>,
    ingest_to_publish: Family<Histogram>,
    stage: Family<Histogram>,
    psnr: Family<Histogram>,
    ssim: Family<Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            accepted: Family::new(
                "studio_edge_ingest_fragments_accepted_total",
                "Fragments accepted into a stream's queue.",
            ),
            rejected: Family::new(
                "studio_edge_ingest_fragments_rejected_total",
                "Fragments refused, by reason.",
            ),
            replayed: Family::new(
                "studio_edge_ingest_fragments_replayed_total",
                "Identical re-sends of a sequence number, answered idempotently.",
            ),
            published: Family::new(
                "studio_edge_frames_published_total",
                "Frames published to viewers.",
            ),
            held: Family::new(
                "studio_edge_frames_held_total",
                "Frames withheld from viewers because moderation suggested hold.",
            ),
            late: Family::new(
                "studio_edge_frames_late_total",
                "Frames published after a newer sequence number (not made latest).",
            ),
            rendition_failures: Family::new(
                "studio_edge_rendition_failures_total",
                "Renditions the thumbnail stage failed to make, by variant.",
            ),
            clock_skew: Family::new(
                "studio_edge_capture_clock_skew_total",
                "Frames whose X-Capture-Time was in the future of the host clock.",
            ),
            engagement: Family::new(
                "studio_edge_engagement_total",
                "Overlay impressions and clicks reported by viewers.",
            ),
            drop_engagement: Family::new(
                "studio_edge_drop_engagement_total",
                "Product-card impressions and clicks reported by viewers, by drop (drops of the stream only).",
            ),
            decisions: Family::new(
                "studio_edge_held_decisions_total",
                "Held frames an operator published anyway or discarded.",
            ),
            viewers_refused: Family::new(
                "studio_edge_viewers_refused_total",
                "Viewer event streams refused because the stream had its cap of viewers.",
            ),
            quality_skipped: Family::new(
                "studio_edge_thumbnail_quality_skipped_total",
                "Sampled quality measurements skipped because the measurer was busy or could not decode.",
            ),
            capture_to_publish: Family::new(
                "studio_edge_capture_to_publish_seconds",
                "From the device's X-Capture-Time to publication.",
            ),
            ingest_to_publish: Family::new(
                "studio_edge_ingest_to_publish_seconds",
                "From the fragment's body being received to publication.",
            ),
            stage: Family::new(
                "studio_edge_pipeline_stage_seconds",
                "Time in each pipeline stage (queue, color, thumbnails, moderation, publish).",
            ),
            psnr: Family::new(
                "studio_edge_thumbnail_psnr_db",
                "PSNR of sampled thumbnails against the corrected source downscaled with Lanczos3.",
            ),
            ssim: Family::new(
                "studio_edge_thumbnail_ssim",
                "SSIM (luma) of sampled thumbnails against the corrected source downscaled with Lanczos3.",
            ),
        }
    }
}

fn stream_label(stream: &str) -> Labels {
    vec![("stream", stream.to_owned())]
}

impl Metrics {
    pub fn accepted(&self, stream: &str) {
        self.accepted.inc(stream_label(stream));
    }

    pub fn rejected(&self, reason: RejectReason) {
        self.rejected
            .inc(vec![("reason", reason.label().to_owned())]);
    }

    pub fn replayed(&self, stream: &str) {
        self.replayed.inc(stream_label(stream));
    }

    pub fn published(&self, stream: &str, late: bool) {
        self.published.inc(stream_label(stream));
        if late {
            self.late.inc(stream_label(stream));
        }
    }

    pub fn held(&self, stream: &str) {
        self.held.inc(stream_label(stream));
    }

    pub fn rendition_failed(&self, variant: &str) {
        self.rendition_failures
            .inc(vec![("variant", variant.to_owned())]);
    }

    pub fn clock_skew(&self, stream: &str) {
        self.clock_skew.inc(stream_label(stream));
    }

    pub fn engagement(&self, stream: &str, kind: &str) {
        self.engagement.inc(vec![
            ("stream", stream.to_owned()),
            ("kind", kind.to_owned()),
        ]);
    }

    /// Counts an impression or click of a drop's card on its stream.
    pub fn drop_engagement(&self, stream: &str, drop_id: &str, kind: &str) {
        self.drop_engagement.inc(vec![
            ("stream", stream.to_owned()),
            ("drop", drop_id.to_owned()),
            ("kind", kind.to_owned()),
        ]);
    }

    pub fn decision(&self, stream: &str, action: &str) {
        self.decisions.inc(vec![
            ("stream", stream.to_owned()),
            ("action", action.to_owned()),
        ]);
    }

    pub fn viewer_refused(&self, stream: &str) {
        self.viewers_refused.inc(stream_label(stream));
    }

    /// Impressions and clicks of each drop card of `stream`.
    pub fn engagement_by_drop(&self, stream: &str) -> BTreeMap<String, BTreeMap<String, u64>> {
        let mut by_drop: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for (labels, count) in self.drop_engagement.snapshot() {
            let label = |name: &str| {
                labels
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            if label("stream") == stream {
                by_drop
                    .entry(label("drop"))
                    .or_default()
                    .insert(label("kind"), count.load(Ordering::Relaxed));
            }
        }
        by_drop
    }

    /// A stream's latencies and the pipeline's stage times, for the
    /// operator console.
    pub fn stream_stats(&self, stream: &str) -> serde_json::Value {
        let stages: serde_json::Map<String, serde_json::Value> = self
            .stage
            .snapshot()
            .into_iter()
            .filter_map(|(labels, histogram)| {
                let (_, stage) = labels.first()?;
                Some((stage.clone(), summary(&histogram)))
            })
            .collect();
        serde_json::json!({
            "stream": stream,
            "capture_to_publish": summary(&self.capture_to_publish(stream)),
            "ingest_to_publish": summary(&self.ingest_to_publish(stream)),
            "stages": stages,
        })
    }

    pub fn quality_skipped(&self) {
        self.quality_skipped.inc(Vec::new());
    }

    pub fn capture_to_publish(&self, stream: &str) -> Arc<Histogram> {
        self.capture_to_publish
            .series(stream_label(stream), LATENCY_BUCKETS)
    }

    pub fn ingest_to_publish(&self, stream: &str) -> Arc<Histogram> {
        self.ingest_to_publish
            .series(stream_label(stream), LATENCY_BUCKETS)
    }

    pub fn stage(&self, stage: &'static str) -> Arc<Histogram> {
        self.stage
            .series(vec![("stage", stage.to_owned())], LATENCY_BUCKETS)
    }

    pub fn quality(&self, variant: &str, psnr: f64, ssim: f64) {
        let labels = vec![("variant", variant.to_owned())];
        self.psnr.series(labels.clone(), PSNR_BUCKETS).observe(psnr);
        self.ssim.series(labels, SSIM_BUCKETS).observe(ssim);
    }

    /// The exposition text; `queue_depths` are the current per-stream queue
    /// lengths.
    pub fn render(&self, queue_depths: &[(String, usize)]) -> String {
        let mut out = String::new();
        for family in [
            &self.accepted,
            &self.rejected,
            &self.replayed,
            &self.published,
            &self.held,
            &self.late,
            &self.rendition_failures,
            &self.clock_skew,
            &self.engagement,
            &self.drop_engagement,
            &self.decisions,
            &self.viewers_refused,
            &self.quality_skipped,
        ] {
            family.render(&mut out);
        }
        for family in [
            &self.capture_to_publish,
            &self.ingest_to_publish,
            &self.stage,
            &self.psnr,
            &self.ssim,
        ] {
            family.render(&mut out);
        }
        out.push_str(
            "# HELP studio_edge_ingest_queue_depth Fragments waiting for the pipeline.\n\
             # TYPE studio_edge_ingest_queue_depth gauge\n",
        );
        for (stream, depth) in queue_depths {
            let _ = writeln!(
                out,
                "studio_edge_ingest_queue_depth{} {depth}",
                label_text(&stream_label(stream), None)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_render_cumulative_buckets() {
        let metrics = Metrics::default();
        let h = metrics.ingest_to_publish("cam1");
        h.observe(0.004);
        h.observe(0.004);
        h.observe(0.09);
        h.observe(20.0);
        let text = metrics.render(&[("cam1".to_owned(), 3)]);
        assert!(text.contains(
            "studio_edge_ingest_to_publish_seconds_bucket{stream=\"cam1\",le=\"0.005\"} 2\n"
        ));
        assert!(text.contains(
            "studio_edge_ingest_to_publish_seconds_bucket{stream=\"cam1\",le=\"0.1\"} 3\n"
        ));
        assert!(text.contains(
            "studio_edge_ingest_to_publish_seconds_bucket{stream=\"cam1\",le=\"+Inf\"} 4\n"
        ));
        assert!(text.contains("studio_edge_ingest_to_publish_seconds_count{stream=\"cam1\"} 4\n"));
        assert!(text.contains("studio_edge_ingest_queue_depth{stream=\"cam1\"} 3\n"));
        assert_eq!(h.quantile_upper_bound(0.5), Some(0.005));
        assert_eq!(h.quantile_upper_bound(0.75), Some(0.1));
        assert_eq!(h.quantile_upper_bound(1.0), Some(f64::INFINITY));
    }

    #[test]
    fn counters_count_by_label() {
        let metrics = Metrics::default();
        metrics.rejected(RejectReason::QueueFull);
        metrics.rejected(RejectReason::QueueFull);
        metrics.rejected(RejectReason::Unauthorized);
        let text = metrics.render(&[]);
        assert!(
            text.contains("studio_edge_ingest_fragments_rejected_total{reason=\"queue-full\"} 2\n")
        );
        assert!(
            text.contains(
                "studio_edge_ingest_fragments_rejected_total{reason=\"unauthorized\"} 1\n"
            )
        );
    }
}
