//! Moderation hints for live frames: cheap, explainable signals computed at
//! the edge for every frame so that a human moderator only looks at the
//! frames that need it. Hints, not verdicts.
//!
//! For each frame the worker measures (see [`moderate_rgba`], one ordered
//! list of steps):
//! - **PDQ** ([`pdq`]): Meta's 256-bit perceptual hash, its quality and its
//!   eight dihedral variants, bit-exact with the ThreatExchange reference;
//! - **blocklist** ([`blocklist`]): Hamming distance from any variant to a
//!   list of banned hashes;
//! - **frame signals** ([`signals`]): blur (Laplacian variance), exposure,
//!   black frame (ffmpeg blackdetect), frozen frame (distance to the
//!   previous frame's hash), skin-tone coverage (a CIELAB box), QR codes
//!   (payloads, URL hosts against an allowlist);
//!
//! and turns the measurements into [`Hint`]s and a suggested [`Action`]
//! with the thresholds of a [`ModerationConfig`] (defaults and query
//! options are documented in [`config`]).
//!
//! ```
//! use studio_edge_moderation::{moderate_rgba, Action, Blocklist, HintCode, ModerationConfig};
//!
//! // A black 64x48 frame.
//! let rgba = vec![0u8; 64 * 48 * 4].chunks(4).flat_map(|_| [0, 0, 0, 255]).collect::<Vec<u8>>();
//! let report = moderate_rgba(&rgba, 64, 48, &ModerationConfig::default(), None, &Blocklist::default());
//! assert!(report.hints.iter().any(|h| h.code == HintCode::BlackFrame));
//! assert_eq!(report.action, Action::Hold);
//! println!("{}", report.to_json());
//! ```
//!
//! The HTTP face is [`http::handle`]; on `wasm32` the component exports it
//! as `wasi:http/incoming-handler` and the typed `studio:edge/moderation`
//! interface (`wit/moderation.wit`).

pub mod blocklist;
pub mod config;
pub mod finder;
pub mod http;
pub mod pdq;
pub mod report;
pub mod signals;

#[cfg(target_arch = "wasm32")]
mod component;

pub use blocklist::{Blocklist, BlocklistError, BlocklistMatch, MatchOutcome};
pub use config::{ActionPolicy, ConfigError, ModerationConfig};
pub use pdq::{Dihedral, Hash256, PdqHashes};
pub use report::{Action, Hint, HintCode, Metrics, Report, Severity, assess};

/// Re-exported so that callers decode, encode and name limits with the same
/// crate as the worker.
pub use studio_edge_imaging as imaging;

use studio_edge_imaging::image::{ImageFormat, RgbaImage};
use studio_edge_imaging::{Format, ImagingError, Limits};

use crate::report::{FrozenReport, PdqReport, QrReport, VariantHash};

/// Why a frame could not be moderated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModerationError {
    /// The image could not be read (413, 415 or 422 by the variant).
    #[error(transparent)]
    Image(#[from] ImagingError),
    /// An option is invalid (400).
    #[error("bad option: {0}")]
    BadOption(#[from] ConfigError),
    /// The blocklist is malformed (400).
    #[error(transparent)]
    Blocklist(#[from] BlocklistError),
}

/// A decoded frame: 8-bit RGBA pixels, row-major.
struct Frame<'a> {
    rgba: &'a [u8],
    width: usize,
    height: usize,
}

/// Images up to this many pixels are decoded exactly as the reference PDQ
/// tools decode them (the hashes match `pdq.tsv` bit for bit); larger ones
/// are shrunk on load to [`SHRUNK_LONG_SIDE`].
pub const EXACT_DECODE_PIXELS: u64 = 16_000_000;
/// The long side, at least, of a larger image as moderated.
pub const SHRUNK_LONG_SIDE: u32 = 1024;

/// Decodes an image to the pixels PDQ is defined on: the file's decoded
/// samples as the reference tools read them, with no colour-management
/// conversion and no EXIF rotation (none of the frame signals depends on
/// orientation). `limits` are checked from the header first.
pub fn decode_pixels(image: &[u8], limits: &Limits) -> Result<RgbaImage, ImagingError> {
    let probe = studio_edge_imaging::probe(image, limits)?;
    let pixels = u64::from(probe.width) * u64::from(probe.height);
    if pixels > EXACT_DECODE_PIXELS && probe.format != Format::Pam {
        // Shrunk on load (JPEG scaled IDCT, PNG box rows) to at least
        // SHRUNK_LONG_SIDE: every signal is defined on far fewer pixels, and
        // a full decode this size would not fit the worker's memory cap.
        let (long, short) = (probe.width.max(probe.height), probe.width.min(probe.height));
        // A uniform shrink that keeps the short side at this scale keeps
        // the long side at SHRUNK_LONG_SIDE, however the file is stored.
        let short =
            (f64::from(short) * f64::from(SHRUNK_LONG_SIDE) / f64::from(long)).ceil() as u32;
        let decoded = studio_edge_imaging::decode_stored_at_least(image, limits, (short, short))?;
        return Ok(decoded.image);
    }
    let format = match probe.format {
        Format::Jpeg => ImageFormat::Jpeg,
        Format::Png => ImageFormat::Png,
        Format::Webp => ImageFormat::WebP,
        Format::Gif => ImageFormat::Gif,
        Format::Avif => {
            return Err(ImagingError::Unsupported(
                "AVIF sources cannot be decoded".to_owned(),
            ));
        }
        // Uncompressed pixels (a host passing frames on): nothing to match.
        Format::Pam => return Ok(studio_edge_imaging::decode(image, limits)?.image),
    };
    studio_edge_imaging::image::load_from_memory_with_format(image, format)
        .map(|decoded| decoded.into_rgba8())
        .map_err(|e| ImagingError::Corrupt(e.to_string()))
}

/// Decodes `image` (JPEG, PNG, WebP, GIF or PAM within `limits`) and moderates
/// it; see [`moderate_rgba`].
pub fn moderate(
    image: &[u8],
    limits: &Limits,
    config: &ModerationConfig,
    previous: Option<Hash256>,
    blocklist: &Blocklist,
) -> Result<Report, ModerationError> {
    let pixels = decode_pixels(image, limits)?;
    let (width, height) = pixels.dimensions();
    Ok(moderate_rgba(
        pixels.as_raw(),
        width,
        height,
        config,
        previous,
        blocklist,
    ))
}

/// Moderates `width` x `height` RGBA pixels. `previous` is the previous
/// frame's PDQ hash, for the frozen-frame check.
///
/// # Panics
/// When `rgba` does not hold `width * height` pixels.
pub fn moderate_rgba(
    rgba: &[u8],
    width: u32,
    height: u32,
    config: &ModerationConfig,
    previous: Option<Hash256>,
    blocklist: &Blocklist,
) -> Report {
    let frame = Frame {
        rgba,
        width: width as usize,
        height: height as usize,
    };
    assert_eq!(
        rgba.len(),
        frame.width * frame.height * 4,
        "RGBA buffer size"
    );
    let metrics = measure(&frame, config, previous, blocklist);
    assess(metrics, config)
}

/// The measuring steps, in order. PDQ comes last among the pixel steps
/// because it blurs the luma plane in place.
fn measure(
    frame: &Frame<'_>,
    config: &ModerationConfig,
    previous: Option<Hash256>,
    blocklist: &Blocklist,
) -> Metrics {
    let (width, height) = (frame.width, frame.height);
    let mut luma = pdq::luma_from_rgba(frame.rgba);
    let exposure = signals::exposure(&luma, config.black_pixel);
    let working = signals::WorkingPlane::new(&luma, width, height);
    let sharpness = working.sharpness();
    let skin_coverage = signals::skin_coverage(frame.rgba, width, height);
    let qr = qr_reports(&working, &config.qr_allowed_hosts);
    let hashes = pdq::hash_luma(&mut luma, width, height);
    let hash_usable = hashes.quality >= config.min_quality;
    let frozen = previous.map(|previous| FrozenReport {
        previous: previous.to_string(),
        distance: previous.distance(&hashes.hash()),
    });
    let (match_count, matches) = if hash_usable {
        blocklist.find(&hashes, config.match_distance)
    } else {
        (0, Vec::new())
    };
    Metrics {
        width: width as u32,
        height: height as u32,
        pdq: pdq_report(&hashes),
        sharpness,
        exposure,
        skin_coverage,
        frozen,
        qr,
        blocklist: MatchOutcome {
            entries: blocklist.len(),
            checked: hash_usable,
            match_count,
            matches,
        },
    }
}

fn qr_reports(working: &signals::WorkingPlane, allowed: &[String]) -> Vec<QrReport> {
    working
        .qr_payloads()
        .into_iter()
        .map(|payload| {
            let host = signals::url_host(&payload);
            let allowed = host.as_deref().map(|h| signals::host_allowed(h, allowed));
            QrReport {
                payload,
                host,
                allowed,
            }
        })
        .collect()
}

fn pdq_report(hashes: &PdqHashes) -> PdqReport {
    PdqReport {
        hash: hashes.hash().to_string(),
        quality: hashes.quality,
        dihedral: Dihedral::ALL
            .into_iter()
            .map(|variant| VariantHash {
                variant,
                hash: hashes.variant(variant).to_string(),
            })
            .collect(),
    }
}

/// Decodes `image` and computes only its PDQ hashes (for building
/// blocklists).
pub fn hash_image(image: &[u8], limits: &Limits) -> Result<PdqHashes, ModerationError> {
    let pixels = decode_pixels(image, limits)?;
    let (width, height) = pixels.dimensions();
    Ok(pdq::hash_rgba(
        pixels.as_raw(),
        width as usize,
        height as usize,
    ))
}

/// The PDQ part of a report, for callers that only hash.
pub fn pdq_json(hashes: &PdqHashes) -> serde_json::Value {
    serde_json::to_value(pdq_report(hashes)).expect("plain data")
}
