//! The moderation report: raw metrics, hints derived from them against the
//! configured thresholds, and the suggested action. Its JSON form is the
//! worker's HTTP response and the CLI's output.

use serde::Serialize;

use crate::blocklist::MatchOutcome;
use crate::config::ModerationConfig;
use crate::pdq::Dihedral;
use crate::signals::{Exposure, Sharpness};

/// What a hint is about. Serialised in kebab-case (`blocklist-match`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HintCode {
    /// The frame's PDQ hash is within `match_distance` of a listed hash.
    BlocklistMatch,
    /// A QR code points to a URL whose host is not on the allowlist.
    QrUnknownHost,
    /// A QR code that is not a URL, or points to an allowed host.
    QrCode,
    /// blackdetect: at least `black_picture` of the pixels are black.
    BlackFrame,
    /// The hash is within `frozen_distance` of the previous frame's.
    FrozenFrame,
    /// The Laplacian variance is below `blur`.
    Blur,
    /// Mean luma below `dark`, or `clipped` of the pixels crushed to black.
    Underexposed,
    /// Mean luma above `bright`, or `clipped` of the pixels blown out.
    Overexposed,
    /// At least `skin` of the sampled pixels are skin-toned.
    SkinTone,
    /// The PDQ quality is below `min_quality`: blocklist matching and the
    /// frozen check were skipped.
    LowQualityHash,
}

impl HintCode {
    pub const ALL: [HintCode; 10] = [
        HintCode::BlocklistMatch,
        HintCode::QrUnknownHost,
        HintCode::QrCode,
        HintCode::BlackFrame,
        HintCode::FrozenFrame,
        HintCode::Blur,
        HintCode::Underexposed,
        HintCode::Overexposed,
        HintCode::SkinTone,
        HintCode::LowQualityHash,
    ];

    pub fn name(self) -> &'static str {
        match self {
            HintCode::BlocklistMatch => "blocklist-match",
            HintCode::QrUnknownHost => "qr-unknown-host",
            HintCode::QrCode => "qr-code",
            HintCode::BlackFrame => "black-frame",
            HintCode::FrozenFrame => "frozen-frame",
            HintCode::Blur => "blur",
            HintCode::Underexposed => "underexposed",
            HintCode::Overexposed => "overexposed",
            HintCode::SkinTone => "skin-tone",
            HintCode::LowQualityHash => "low-quality-hash",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// How much a hint matters, from the configured [`crate::ActionPolicy`]:
/// `critical` for codes that suggest `hold`, `warning` for `review`,
/// `info` otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

/// The suggested action: the most severe hint decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Allow,
    Review,
    Hold,
}

/// One reason a human might want to look at the frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hint {
    pub code: HintCode,
    pub severity: Severity,
    /// How strongly the measurement supports the hint, 0 to 1 (see each
    /// code's rule in [`assess`]).
    pub score: f64,
    /// A sentence for the moderator with the measured value and threshold.
    pub detail: String,
}

/// The frame's PDQ hash, its quality and its dihedral variants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PdqReport {
    pub hash: String,
    pub quality: u32,
    /// The eight variants in the reference's order: `original`,
    /// `rotate90`, `rotate180`, `rotate270`, `flip-x`, `flip-y`,
    /// `flip-plus1`, `flip-minus1`.
    pub dihedral: Vec<VariantHash>,
}

/// The hash the frame would have after one dihedral transform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VariantHash {
    pub variant: Dihedral,
    pub hash: String,
}

/// The frozen-frame comparison, when the caller passed a previous hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FrozenReport {
    pub previous: String,
    pub distance: u32,
}

/// A decoded QR code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QrReport {
    pub payload: String,
    /// The URL host, when the payload is a URL.
    pub host: Option<String>,
    /// Whether the host is on the allowlist (`None` for non-URLs).
    pub allowed: Option<bool>,
}

/// Every raw measurement of one frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    pub width: u32,
    pub height: u32,
    pub pdq: PdqReport,
    pub sharpness: Sharpness,
    pub exposure: Exposure,
    pub skin_coverage: f64,
    pub frozen: Option<FrozenReport>,
    pub qr: Vec<QrReport>,
    pub blocklist: MatchOutcome,
}

/// The full result for one frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub metrics: Metrics,
    pub hints: Vec<Hint>,
    pub action: Action,
}

impl Report {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a report is plain data")
    }
}

/// Derives hints and the action from `metrics`.
///
/// Scores: `blocklist-match` 1 - distance / (match_distance + 1) of the
/// closest match; `qr-unknown-host` and `qr-code` 1; `black-frame` the
/// black-pixel fraction; `frozen-frame` 1 - distance / (frozen + 1); `blur`
/// 1 - variance / blur; `underexposed` / `overexposed` the larger of how far
/// the mean is past its threshold (relative to the threshold's distance
/// from 0 or 255) and the clipped fraction; `skin-tone` the coverage;
/// `low-quality-hash` 1 - quality / min_quality.
pub fn assess(metrics: Metrics, config: &ModerationConfig) -> Report {
    let mut hints = Vec::new();
    let mut hint = |code: HintCode, score: f64, detail: String| {
        let severity = if config.policy.hold.contains(&code) {
            Severity::Critical
        } else if config.policy.review.contains(&code) {
            Severity::Warning
        } else {
            Severity::Info
        };
        hints.push(Hint {
            code,
            severity,
            score: score.clamp(0.0, 1.0),
            detail,
        });
    };

    let quality = metrics.pdq.quality;
    if quality < config.min_quality {
        hint(
            HintCode::LowQualityHash,
            1.0 - f64::from(quality) / f64::from(config.min_quality.max(1)),
            format!(
                "PDQ quality {quality} is below {}: blocklist matching and the frozen check were skipped",
                config.min_quality
            ),
        );
    }
    if let Some(closest) = metrics.blocklist.matches.first() {
        let label = closest
            .label
            .as_deref()
            .map(|l| format!(" ({l})"))
            .unwrap_or_default();
        hint(
            HintCode::BlocklistMatch,
            1.0 - f64::from(closest.distance) / f64::from(config.match_distance + 1),
            format!(
                "{} blocklist entr{} within {} bits; closest #{}{label} at {} bits ({} variant)",
                metrics.blocklist.match_count,
                if metrics.blocklist.match_count == 1 {
                    "y"
                } else {
                    "ies"
                },
                config.match_distance,
                closest.index,
                closest.distance,
                closest.variant.name(),
            ),
        );
    }
    for qr in &metrics.qr {
        match (&qr.host, qr.allowed) {
            (Some(host), Some(false)) => hint(
                HintCode::QrUnknownHost,
                1.0,
                format!(
                    "QR code links to {host}, which is not on the allowlist: {:?}",
                    qr.payload
                ),
            ),
            _ => hint(HintCode::QrCode, 1.0, format!("QR code: {:?}", qr.payload)),
        }
    }
    let exposure = &metrics.exposure;
    let black = exposure.black_pixel_fraction >= config.black_picture;
    if black {
        hint(
            HintCode::BlackFrame,
            exposure.black_pixel_fraction,
            format!(
                "{:.1}% of pixels are black (luma <= {}), threshold {:.1}%",
                exposure.black_pixel_fraction * 100.0,
                (config.black_pixel * 255.0).floor(),
                config.black_picture * 100.0
            ),
        );
    }
    if let Some(frozen) = &metrics.frozen
        && quality >= config.min_quality
        && frozen.distance <= config.frozen_distance
    {
        hint(
            HintCode::FrozenFrame,
            1.0 - f64::from(frozen.distance) / f64::from(config.frozen_distance + 1),
            format!(
                "the hash is {} bits from the previous frame's (frozen at <= {})",
                frozen.distance, config.frozen_distance
            ),
        );
    }
    // A black frame is also flat and dark: one hint says it all.
    if !black {
        let variance = metrics.sharpness.laplacian_variance;
        if variance < config.blur_variance {
            hint(
                HintCode::Blur,
                1.0 - variance / config.blur_variance,
                format!(
                    "Laplacian variance {variance:.1} is below {} at {}x{}",
                    config.blur_variance,
                    metrics.sharpness.working_size.0,
                    metrics.sharpness.working_size.1
                ),
            );
        }
        let mean = exposure.mean_luma;
        if mean < config.dark_mean || exposure.shadow_clip_fraction >= config.clipped_fraction {
            let by_mean = (config.dark_mean - mean) / config.dark_mean.max(1.0);
            hint(
                HintCode::Underexposed,
                by_mean.max(exposure.shadow_clip_fraction),
                format!(
                    "mean luma {mean:.1} (dark below {}), {:.1}% of pixels crushed to black",
                    config.dark_mean,
                    exposure.shadow_clip_fraction * 100.0
                ),
            );
        }
        if mean > config.bright_mean || exposure.highlight_clip_fraction >= config.clipped_fraction
        {
            let by_mean = (mean - config.bright_mean) / (255.0 - config.bright_mean).max(1.0);
            hint(
                HintCode::Overexposed,
                by_mean.max(exposure.highlight_clip_fraction),
                format!(
                    "mean luma {mean:.1} (bright above {}), {:.1}% of pixels blown out",
                    config.bright_mean,
                    exposure.highlight_clip_fraction * 100.0
                ),
            );
        }
        if metrics.skin_coverage >= config.skin_coverage {
            hint(
                HintCode::SkinTone,
                metrics.skin_coverage,
                format!(
                    "{:.1}% of the frame is skin-toned (threshold {:.1}%)",
                    metrics.skin_coverage * 100.0,
                    config.skin_coverage * 100.0
                ),
            );
        }
    }
    let action = hints
        .iter()
        .map(|h| match h.severity {
            Severity::Critical => Action::Hold,
            Severity::Warning => Action::Review,
            Severity::Info => Action::Allow,
        })
        .max()
        .unwrap_or(Action::Allow);
    Report {
        metrics,
        hints,
        action,
    }
}
