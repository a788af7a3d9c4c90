//! The component layer: `wasi:http/incoming-handler` over [`crate::http`]
//! and the typed `studio:edge/moderation` export over the plain functions.

use studio_edge_guest::variables::{self, Unreadable};
use studio_edge_guest::wasi_http::{self, IncomingRequest, ResponseOutparam};
use studio_edge_imaging::{ImagingError, Limits};

use crate::config::{ActionPolicy, ModerationConfig, hint_codes};
use crate::http::{Deployment, MAX_BODY, VARIABLES};
use crate::{Blocklist, Hash256, ModerationError, PdqHashes};

studio_edge_guest::generate_worker!(
    "moderation-worker",
    "fermyon:spin/variables@2.0.0": studio_edge_guest::wasi_http::fermyon::spin::variables,
);

use exports::studio::edge::moderation::{self as api, Action, Config, Error, Severity};

struct Worker;

impl exports::wasi::http::incoming_handler::Guest for Worker {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        wasi_http::serve(
            request,
            out,
            MAX_BODY,
            |req| match Deployment::from_variables(&variables::read_spin(VARIABLES)) {
                Ok(deployment) => crate::http::handle(req, &deployment),
                Err(e) => e.to_problem().into_response(),
            },
        );
    }
}

impl api::Guest for Worker {
    /// Without a readable allowlist every QR host is unknown, which flags
    /// more frames, never fewer.
    fn default_config() -> Config {
        to_wit_config(&deployment_config().unwrap_or_default())
    }

    fn parse_options(query: String) -> Result<Config, Error> {
        deployment_config()
            .map_err(|e| Error::Internal(e.to_string()))?
            .apply_query(&query)
            .map(|c| to_wit_config(&c))
            .map_err(|e| Error::BadOption(e.0))
    }

    fn moderate(
        image: Vec<u8>,
        config: Config,
        previous: Option<String>,
        blocklist: Vec<u8>,
    ) -> Result<api::Report, Error> {
        let config = from_wit_config(config)?;
        let previous = previous
            .map(|hex| hex.parse::<Hash256>())
            .transpose()
            .map_err(|e| Error::BadOption(format!("previous: {e}")))?;
        let blocklist =
            Blocklist::from_packed(&blocklist).map_err(|e| Error::BadOption(e.to_string()))?;
        let report = crate::moderate(&image, &Limits::default(), &config, previous, &blocklist)
            .map_err(to_wit_error)?;
        Ok(api::Report {
            action: match report.action {
                crate::Action::Allow => Action::Allow,
                crate::Action::Review => Action::Review,
                crate::Action::Hold => Action::Hold,
            },
            hints: report
                .hints
                .iter()
                .map(|h| api::Hint {
                    code: h.code.name().to_owned(),
                    severity: match h.severity {
                        crate::Severity::Info => Severity::Info,
                        crate::Severity::Warning => Severity::Warning,
                        crate::Severity::Critical => Severity::Critical,
                    },
                    score: h.score,
                    detail: h.detail.clone(),
                })
                .collect(),
            pdq: api::Pdq {
                hash: report.metrics.pdq.hash.clone(),
                quality: report.metrics.pdq.quality,
                dihedral: report
                    .metrics
                    .pdq
                    .dihedral
                    .iter()
                    .map(|v| v.hash.clone())
                    .collect(),
            },
            matches: report
                .metrics
                .blocklist
                .matches
                .iter()
                .map(to_wit_match)
                .collect(),
            json: report.to_json(),
        })
    }

    fn parse_blocklist(text: String, min_quality: u32) -> Result<api::PackedBlocklist, Error> {
        let list =
            Blocklist::parse(&text, min_quality).map_err(|e| Error::BadOption(e.to_string()))?;
        Ok(api::PackedBlocklist {
            hashes: list.to_packed(),
            labels: (0..list.len())
                .map(|i| list.label(i).map(str::to_owned))
                .collect(),
            dropped_low_quality: list.dropped_low_quality() as u32,
        })
    }

    fn find_matches(
        dihedral: Vec<String>,
        blocklist: Vec<u8>,
        max_distance: u32,
    ) -> Result<Vec<api::BlocklistMatch>, Error> {
        let hashes: Vec<Hash256> = dihedral
            .iter()
            .map(|hex| hex.parse())
            .collect::<Result<_, _>>()
            .map_err(|e| Error::BadOption(format!("dihedral: {e}")))?;
        let variants: [Hash256; 8] = hashes
            .try_into()
            .map_err(|_| Error::BadOption("dihedral: give the eight variant hashes".to_owned()))?;
        let blocklist =
            Blocklist::from_packed(&blocklist).map_err(|e| Error::BadOption(e.to_string()))?;
        let frame = PdqHashes {
            variants,
            quality: 100,
        };
        let (_, matches) = blocklist.find(&frame, max_distance);
        Ok(matches.iter().map(to_wit_match).collect())
    }

    fn hash(image: Vec<u8>) -> Result<api::Pdq, Error> {
        let hashes: PdqHashes =
            crate::hash_image(&image, &Limits::default()).map_err(to_wit_error)?;
        Ok(api::Pdq {
            hash: hashes.hash().to_string(),
            quality: hashes.quality,
            dihedral: hashes.variants.iter().map(Hash256::to_string).collect(),
        })
    }
}

fn to_wit_match(found: &crate::BlocklistMatch) -> api::BlocklistMatch {
    api::BlocklistMatch {
        index: found.index as u32,
        distance: found.distance,
        variant: found.variant.name().to_owned(),
    }
}

/// The defaults with the deployment's QR allowlist.
fn deployment_config() -> Result<ModerationConfig, Unreadable> {
    let variables = variables::read_spin(&["qr_allowed_hosts"]);
    let hosts = variables.get("qr_allowed_hosts")?.unwrap_or_default();
    Ok(ModerationConfig::default().with_allowed_hosts(hosts))
}

fn to_wit_config(config: &ModerationConfig) -> Config {
    let names = |codes: &[crate::HintCode]| codes.iter().map(|c| c.name().to_owned()).collect();
    Config {
        match_distance: config.match_distance,
        min_quality: config.min_quality,
        blur_variance: config.blur_variance,
        dark_mean: config.dark_mean,
        bright_mean: config.bright_mean,
        clipped_fraction: config.clipped_fraction,
        black_pixel: config.black_pixel,
        black_picture: config.black_picture,
        frozen_distance: config.frozen_distance,
        skin_coverage: config.skin_coverage,
        qr_allowed_hosts: config.qr_allowed_hosts.clone(),
        hold_codes: names(&config.policy.hold),
        review_codes: names(&config.policy.review),
    }
}

fn from_wit_config(config: Config) -> Result<ModerationConfig, Error> {
    let bad = |e: crate::ConfigError| Error::BadOption(e.0);
    let converted = ModerationConfig {
        match_distance: config.match_distance,
        min_quality: config.min_quality,
        blur_variance: config.blur_variance,
        dark_mean: config.dark_mean,
        bright_mean: config.bright_mean,
        clipped_fraction: config.clipped_fraction,
        black_pixel: config.black_pixel,
        black_picture: config.black_picture,
        frozen_distance: config.frozen_distance,
        skin_coverage: config.skin_coverage,
        qr_allowed_hosts: crate::config::parse_hosts(&config.qr_allowed_hosts.join(",")),
        policy: ActionPolicy {
            hold: hint_codes("hold-codes", config.hold_codes.iter().map(String::as_str))
                .map_err(bad)?,
            review: hint_codes(
                "review-codes",
                config.review_codes.iter().map(String::as_str),
            )
            .map_err(bad)?,
        },
    };
    converted.validate().map_err(bad)?;
    Ok(converted)
}

fn to_wit_error(error: ModerationError) -> Error {
    match error {
        ModerationError::Image(e) => {
            let text = e.to_string();
            match e {
                ImagingError::TooLarge { .. } => Error::TooLarge(text),
                ImagingError::Unsupported(_) => Error::UnsupportedFormat(text),
                ImagingError::Corrupt(_) => Error::Unprocessable(text),
                ImagingError::Encode(_) => Error::Internal(text),
            }
        }
        ModerationError::BadOption(e) => Error::BadOption(e.0),
        ModerationError::Blocklist(e) => Error::BadOption(e.to_string()),
    }
}

export!(Worker);
