//! Stages that call the worker crates natively, for tests, benchmarks and
//! tools. The host runs the same crates as wasm components instead.

use studio_edge_imaging::Limits;
use studio_edge_moderation::{Action, Blocklist, Hash256, ModerationConfig, Severity};

use crate::stages::{
    HintSummary, ModerationAction, ModerationStage, ModerationSummary, StageError,
};

/// `studio_edge_moderation::moderate` with a fixed configuration.
pub struct NativeModeration {
    config: ModerationConfig,
    limits: Limits,
}

impl NativeModeration {
    pub fn new(config: ModerationConfig) -> Self {
        Self {
            config,
            limits: Limits::default(),
        }
    }
}

impl ModerationStage for NativeModeration {
    fn moderate(
        &self,
        source: &[u8],
        previous_hash: Option<&str>,
        blocklist: &[String],
    ) -> Result<ModerationSummary, StageError> {
        let previous = previous_hash
            .map(str::parse::<Hash256>)
            .transpose()
            .map_err(|e| StageError::BadOption(e.to_string()))?;
        let hashes = blocklist
            .iter()
            .map(|hash| hash.parse::<Hash256>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StageError::BadOption(e.to_string()))?;
        let report = studio_edge_moderation::moderate(
            source,
            &self.limits,
            &self.config,
            previous,
            &Blocklist::from_hashes(hashes),
        )
        .map_err(|e| match e {
            studio_edge_moderation::ModerationError::Image(image) => imaging_error(image),
            other => StageError::BadOption(other.to_string()),
        })?;
        Ok(ModerationSummary {
            action: match report.action {
                Action::Allow => ModerationAction::Allow,
                Action::Review => ModerationAction::Review,
                Action::Hold => ModerationAction::Hold,
            },
            hints: report
                .hints
                .iter()
                .map(|hint| HintSummary {
                    code: hint.code.name().to_owned(),
                    severity: match hint.severity {
                        Severity::Info => "info",
                        Severity::Warning => "warning",
                        Severity::Critical => "critical",
                    }
                    .to_owned(),
                    score: hint.score as f32,
                    detail: hint.detail.clone(),
                })
                .collect(),
            pdq_hash: report.metrics.pdq.hash.clone(),
        })
    }
}

fn imaging_error(error: studio_edge_imaging::ImagingError) -> StageError {
    use studio_edge_imaging::ImagingError;
    let text = error.to_string();
    match error {
        ImagingError::TooLarge { .. } => StageError::TooLarge(text),
        ImagingError::Unsupported(_) => StageError::UnsupportedFormat(text),
        ImagingError::Corrupt(_) => StageError::Unprocessable(text),
        ImagingError::Encode(_) => StageError::Internal(text),
    }
}
