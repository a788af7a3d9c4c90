//! The thresholds that turn measurements into hints, and the policy that
//! turns hints into an action, parsed once into a validated
//! [`ModerationConfig`].
//!
//! | query parameter | field | default | meaning |
//! |---|---|---|---|
//! | `match_distance` | [`ModerationConfig::match_distance`] | 31 | a blocklist entry matches at Hamming distance <= this (0-255) |
//! | `min_quality` | [`ModerationConfig::min_quality`] | 50 | PDQ hashes of lower quality are not matched (0-100) |
//! | `blur` | [`ModerationConfig::blur_variance`] | 100 | `blur` when the Laplacian variance is below this |
//! | `dark` | [`ModerationConfig::dark_mean`] | 40 | `underexposed` when mean luma is below this (0-255) |
//! | `bright` | [`ModerationConfig::bright_mean`] | 215 | `overexposed` when mean luma is above this (0-255) |
//! | `clipped` | [`ModerationConfig::clipped_fraction`] | 0.25 | also under/overexposed when this fraction of pixels is clipped |
//! | `black_pixel` | [`ModerationConfig::black_pixel`] | 0.10 | blackdetect `pix_th`: a pixel is black at luma <= this x 255 |
//! | `black_picture` | [`ModerationConfig::black_picture`] | 0.98 | blackdetect `pic_th`: `black-frame` at this fraction of black pixels |
//! | `frozen` | [`ModerationConfig::frozen_distance`] | 4 | `frozen-frame` when the hash is within this distance of `previous` |
//! | `skin` | [`ModerationConfig::skin_coverage`] | 0.40 | `skin-tone` at this fraction of skin-toned pixels |
//! | `qr_allow` | [`ModerationConfig::qr_allowed_hosts`] | the `qr_allowed_hosts` variable | comma-separated hosts QR URLs may point to (subdomains included) |
//! | `hold` | [`ActionPolicy::hold`] | `blocklist-match,qr-unknown-host,black-frame` | hint codes that suggest `hold` |
//! | `review` | [`ActionPolicy::review`] | `frozen-frame,blur,underexposed,overexposed,skin-tone` | hint codes that suggest `review` |

use serde::Serialize;

use crate::report::HintCode;

/// Why an option was rejected; the text names the option.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Which hint codes suggest which action. A code in neither list is
/// informational (`info` severity).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionPolicy {
    pub hold: Vec<HintCode>,
    pub review: Vec<HintCode>,
}

impl Default for ActionPolicy {
    fn default() -> Self {
        Self {
            hold: vec![
                HintCode::BlocklistMatch,
                HintCode::QrUnknownHost,
                HintCode::BlackFrame,
            ],
            review: vec![
                HintCode::FrozenFrame,
                HintCode::Blur,
                HintCode::Underexposed,
                HintCode::Overexposed,
                HintCode::SkinTone,
            ],
        }
    }
}

/// Validated thresholds and policy. See the module docs for the defaults.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModerationConfig {
    pub match_distance: u32,
    pub min_quality: u32,
    pub blur_variance: f64,
    pub dark_mean: f64,
    pub bright_mean: f64,
    pub clipped_fraction: f64,
    pub black_pixel: f64,
    pub black_picture: f64,
    pub frozen_distance: u32,
    pub skin_coverage: f64,
    /// Lower-case hosts, without a leading `*.`.
    pub qr_allowed_hosts: Vec<String>,
    pub policy: ActionPolicy,
}

impl Default for ModerationConfig {
    fn default() -> Self {
        Self {
            match_distance: 31,
            min_quality: 50,
            blur_variance: 100.0,
            dark_mean: 40.0,
            bright_mean: 215.0,
            clipped_fraction: 0.25,
            black_pixel: 0.10,
            black_picture: 0.98,
            frozen_distance: 4,
            skin_coverage: 0.40,
            qr_allowed_hosts: Vec::new(),
            policy: ActionPolicy::default(),
        }
    }
}

impl ModerationConfig {
    /// The defaults with the QR allowlist from a comma-separated list (the
    /// `qr_allowed_hosts` variable).
    pub fn with_allowed_hosts(mut self, hosts: &str) -> Self {
        self.qr_allowed_hosts = parse_hosts(hosts);
        self
    }

    /// Applies `key=value&...` query options on top of `self`. Unknown keys
    /// are rejected so that a typo does not silently fall back to a default.
    /// `previous` is not a threshold and is skipped here.
    pub fn apply_query(mut self, query: &str) -> Result<Self, ConfigError> {
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(raw)
                .ok_or_else(|| ConfigError(format!("{key}: not valid percent-encoded UTF-8")))?;
            self.set(key, &value)?;
        }
        self.validate()?;
        Ok(self)
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        match key {
            "match_distance" => self.match_distance = number(key, value, 0.0, 255.0)? as u32,
            "min_quality" => self.min_quality = number(key, value, 0.0, 100.0)? as u32,
            "blur" => self.blur_variance = number(key, value, 0.0, 1e9)?,
            "dark" => self.dark_mean = number(key, value, 0.0, 255.0)?,
            "bright" => self.bright_mean = number(key, value, 0.0, 255.0)?,
            "clipped" => self.clipped_fraction = number(key, value, 0.0, 1.0)?,
            "black_pixel" => self.black_pixel = number(key, value, 0.0, 1.0)?,
            "black_picture" => self.black_picture = number(key, value, 0.0, 1.0)?,
            "frozen" => self.frozen_distance = number(key, value, 0.0, 255.0)? as u32,
            "skin" => self.skin_coverage = number(key, value, 0.0, 1.0)?,
            "qr_allow" => self.qr_allowed_hosts = parse_hosts(value),
            "hold" => self.policy.hold = codes(key, value)?,
            "review" => self.policy.review = codes(key, value)?,
            "previous" => {}
            other => return Err(ConfigError(format!("unknown option {other:?}"))),
        }
        Ok(())
    }

    /// Checks every field's range and that the exposure band is not
    /// empty (a config built by a typed caller has not been through
    /// [`ModerationConfig::apply_query`]).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let check = |key: &str, value: f64, min: f64, max: f64| {
            if (min..=max).contains(&value) {
                Ok(())
            } else {
                Err(ConfigError(format!(
                    "{key}: {value} is outside {min} to {max}"
                )))
            }
        };
        check("match_distance", f64::from(self.match_distance), 0.0, 255.0)?;
        check("min_quality", f64::from(self.min_quality), 0.0, 100.0)?;
        check("blur", self.blur_variance, 0.0, 1e9)?;
        check("dark", self.dark_mean, 0.0, 255.0)?;
        check("bright", self.bright_mean, 0.0, 255.0)?;
        check("clipped", self.clipped_fraction, 0.0, 1.0)?;
        check("black_pixel", self.black_pixel, 0.0, 1.0)?;
        check("black_picture", self.black_picture, 0.0, 1.0)?;
        check("frozen", f64::from(self.frozen_distance), 0.0, 255.0)?;
        check("skin", self.skin_coverage, 0.0, 1.0)?;
        if self.dark_mean >= self.bright_mean {
            return Err(ConfigError(format!(
                "dark ({}) must be below bright ({})",
                self.dark_mean, self.bright_mean
            )));
        }
        Ok(())
    }
}

/// Splits a comma-separated host list, lower-cased, `*.` prefixes removed.
pub fn parse_hosts(list: &str) -> Vec<String> {
    list.split(',')
        .map(|h| h.trim().trim_start_matches("*.").trim_end_matches('.'))
        .filter(|h| !h.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

fn number(key: &str, value: &str, min: f64, max: f64) -> Result<f64, ConfigError> {
    let parsed: f64 = value
        .parse()
        .map_err(|_| ConfigError(format!("{key}: {value:?} is not a number")))?;
    if !(min..=max).contains(&parsed) {
        return Err(ConfigError(format!(
            "{key}: {value} is outside {min} to {max}"
        )));
    }
    Ok(parsed)
}

fn codes(key: &str, value: &str) -> Result<Vec<HintCode>, ConfigError> {
    hint_codes(key, value.split(',').filter(|c| !c.is_empty()))
}

/// Parses hint-code names; `key` names the option in the error.
pub fn hint_codes<'a>(
    key: &str,
    names: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<HintCode>, ConfigError> {
    names
        .into_iter()
        .map(|c| {
            HintCode::from_name(c.trim())
                .ok_or_else(|| ConfigError(format!("{key}: unknown hint code {c:?}")))
        })
        .collect()
}

/// Decodes `%XX` escapes and `+` (as a space).
pub fn percent_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_overrides_defaults() {
        let config = ModerationConfig::default()
            .apply_query("blur=120&qr_allow=Shop.Example.com,*.cdn.test&hold=blocklist-match")
            .unwrap();
        assert_eq!(config.blur_variance, 120.0);
        assert_eq!(config.qr_allowed_hosts, ["shop.example.com", "cdn.test"]);
        assert_eq!(config.policy.hold, [HintCode::BlocklistMatch]);
        assert_eq!(config.match_distance, 31);
    }

    #[test]
    fn bad_options_are_named() {
        let err = ModerationConfig::default()
            .apply_query("skin=2")
            .unwrap_err();
        assert!(err.0.contains("skin"), "{err}");
        let err = ModerationConfig::default()
            .apply_query("bogus=1")
            .unwrap_err();
        assert!(err.0.contains("bogus"), "{err}");
        let err = ModerationConfig::default()
            .apply_query("review=nope")
            .unwrap_err();
        assert!(err.0.contains("nope"), "{err}");
        assert!(
            ModerationConfig::default()
                .apply_query("dark=200&bright=100")
                .is_err()
        );
    }
}
