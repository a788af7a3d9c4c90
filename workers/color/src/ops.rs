//! The request options: parsed once from a query string into a validated
//! [`ColorOps`], applied in a fixed order.
//!
//! Grammar (`&`-separated `key=value`, each key at most once, values
//! percent-decoded, unknown keys refused):
//!
//! | key | values | step |
//! |---|---|---|
//! | `profile` | a profile name | 2. camera profile |
//! | `wb` | `auto` (grey-pixel search), `grayworld`, `whitepatch[:Q]` (Q 0.5..=1, default 0.99), `sog[:P]` (P 1..=16, default 6), `gains:R,G,B` (each 0.1..=10), `temp:K[,T]` or `temp:K,tint:T` (K 1667..=25000 kelvin, T -100..=100) | 3. white balance |
//! | `ev` | a number of stops -5..=5 (`+0.5`, `-1`), `auto`, `skin` | 4. exposure |
//! | `lut` | a LUT name | 5. 3D LUT |
//! | `interp` | `tetrahedral` (default), `trilinear` | 5. 3D LUT |
//! | `format` | `jpeg`, `png`, `webp` (default: the input's, PNG for others) | 6. encode |
//! | `q` | 1..=100, JPEG quality (default 90) | 6. encode |
//!
//! Step 1, colour management (ICC-tagged input to sRGB), always runs.

use studio_edge_imaging::Format;

use crate::error::ColorError;
use crate::exposure::Exposure;
use crate::lut::Interpolation;
use crate::profile::valid_name;
use crate::white_balance::WhiteBalance;

/// A validated set of operations.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ColorOps {
    pub profile: Option<String>,
    pub white_balance: Option<WhiteBalance>,
    pub exposure: Option<Exposure>,
    pub lut: Option<String>,
    pub interpolation: Interpolation,
    pub format: Option<Format>,
    pub quality: u8,
}

pub const DEFAULT_QUALITY: u8 = 90;

/// `key=value` pairs of a query string, percent-decoded (`+` is a space).
pub fn query_pairs(query: &str) -> Result<Vec<(String, String)>, ColorError> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        let key = percent_decode(key)?;
        if pairs.iter().any(|(k, _)| *k == key) {
            return Err(ColorError::bad_option(format!(
                "option {key:?} is given twice"
            )));
        }
        pairs.push((key, percent_decode(value)?));
    }
    Ok(pairs)
}

fn percent_decode(text: &str) -> Result<String, ColorError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        ColorError::bad_option(format!("bad percent-encoding in {text:?}"))
                    })?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ColorError::bad_option(format!("{text:?} is not UTF-8")))
}

/// Parses a number in `range`, naming `what` in the error.
pub fn number(
    text: &str,
    what: &str,
    range: std::ops::RangeInclusive<f32>,
) -> Result<f32, ColorError> {
    let value: f32 = text
        .trim()
        .parse()
        .map_err(|_| ColorError::bad_option(format!("{what}: {text:?} is not a number")))?;
    if !range.contains(&value) {
        return Err(ColorError::bad_option(format!(
            "{what}: {value} is outside {}..={}",
            range.start(),
            range.end()
        )));
    }
    Ok(value)
}

pub fn asset_name(text: &str, what: &str) -> Result<String, ColorError> {
    if valid_name(text) {
        Ok(text.to_owned())
    } else {
        Err(ColorError::bad_option(format!(
            "{what}: {text:?} is not a name (1 to 64 of a-z, 0-9, '-' and '_')"
        )))
    }
}

fn parse_white_balance(value: &str) -> Result<WhiteBalance, ColorError> {
    let (method, argument) = value.split_once(':').unwrap_or((value, ""));
    let argument = argument.trim();
    match method.trim() {
        "auto" if argument.is_empty() => Ok(WhiteBalance::Auto),
        "grayworld" | "greyworld" if argument.is_empty() => Ok(WhiteBalance::GrayWorld),
        "whitepatch" => Ok(WhiteBalance::WhitePatch {
            percentile: if argument.is_empty() {
                0.99
            } else {
                number(argument, "wb=whitepatch", 0.5..=1.0)?
            },
        }),
        "sog" => Ok(WhiteBalance::ShadesOfGray {
            p: if argument.is_empty() {
                6.0
            } else {
                number(argument, "wb=sog", 1.0..=16.0)?
            },
        }),
        "gains" => {
            let gains: Vec<f32> = argument
                .split(',')
                .map(|g| number(g, "wb=gains", 0.1..=10.0))
                .collect::<Result<_, _>>()?;
            let gains = <[f32; 3]>::try_from(gains)
                .map_err(|_| ColorError::bad_option("wb=gains needs three gains: gains:R,G,B"))?;
            Ok(WhiteBalance::Gains(gains))
        }
        "temp" => {
            let (kelvin, tint) = argument.split_once(',').unwrap_or((argument, "0"));
            let tint = tint.trim();
            let tint = tint.strip_prefix("tint:").unwrap_or(tint);
            Ok(WhiteBalance::Temperature {
                kelvin: number(kelvin, "wb=temp kelvin", 1667.0..=25000.0)?,
                tint: number(tint, "wb=temp tint", -100.0..=100.0)?,
            })
        }
        _ => Err(ColorError::bad_option(format!(
            "wb: {value:?} is not auto, grayworld, whitepatch[:Q], sog[:P], gains:R,G,B or temp:K[,tint]"
        ))),
    }
}

fn parse_exposure(value: &str) -> Result<Exposure, ColorError> {
    match value.trim() {
        "auto" => Ok(Exposure::Auto),
        "skin" => Ok(Exposure::Skin),
        ev => Ok(Exposure::Manual {
            ev: number(ev, "ev (a number of stops, auto or skin)", -5.0..=5.0)?,
        }),
    }
}

pub fn parse_format(value: &str) -> Result<Format, ColorError> {
    match value {
        "jpeg" | "jpg" => Ok(Format::Jpeg),
        "png" => Ok(Format::Png),
        "webp" => Ok(Format::Webp),
        "pam" => Ok(Format::Pam),
        other => Err(ColorError::bad_option(format!(
            "format: {other:?} is not jpeg, png, webp or pam"
        ))),
    }
}

impl ColorOps {
    /// Parses a query string (without the `?`).
    pub fn parse(query: &str) -> Result<Self, ColorError> {
        Self::from_pairs(&query_pairs(query)?, &[])
    }

    /// Builds the ops from `pairs`, ignoring the keys in `other_keys` (a
    /// route's own options).
    pub fn from_pairs(pairs: &[(String, String)], other_keys: &[&str]) -> Result<Self, ColorError> {
        let mut ops = Self {
            quality: DEFAULT_QUALITY,
            ..Self::default()
        };
        for (key, value) in pairs {
            match key.as_str() {
                "profile" => ops.profile = Some(asset_name(value, "profile")?),
                "wb" => ops.white_balance = Some(parse_white_balance(value)?),
                "ev" => ops.exposure = Some(parse_exposure(value)?),
                "lut" => ops.lut = Some(asset_name(value, "lut")?),
                "interp" => {
                    ops.interpolation = match value.as_str() {
                        "tetrahedral" => Interpolation::Tetrahedral,
                        "trilinear" => Interpolation::Trilinear,
                        other => {
                            return Err(ColorError::bad_option(format!(
                                "interp: {other:?} is not tetrahedral or trilinear"
                            )));
                        }
                    }
                }
                "format" => ops.format = Some(parse_format(value)?),
                "q" => ops.quality = number(value, "q", 1.0..=100.0)?.round() as u8,
                other if other_keys.contains(&other) => {}
                other => return Err(ColorError::bad_option(format!("unknown option {other:?}"))),
            }
        }
        Ok(ops)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_operation() {
        let ops = ColorOps::parse("wb=temp:5200,tint:+5&ev=+0.5&lut=warm-17&interp=trilinear&profile=studio_a&format=jpeg&q=80")
            .unwrap();
        assert_eq!(
            ops.white_balance,
            Some(WhiteBalance::Temperature {
                kelvin: 5200.0,
                tint: 5.0
            })
        );
        assert_eq!(ops.exposure, Some(Exposure::Manual { ev: 0.5 }));
        assert_eq!(ops.lut.as_deref(), Some("warm-17"));
        assert_eq!(ops.interpolation, Interpolation::Trilinear);
        assert_eq!(ops.profile.as_deref(), Some("studio_a"));
        assert_eq!((ops.format, ops.quality), (Some(Format::Jpeg), 80));
        for (query, wb) in [
            ("wb=grayworld", WhiteBalance::GrayWorld),
            ("wb=auto", WhiteBalance::Auto),
            (
                "wb=whitepatch",
                WhiteBalance::WhitePatch { percentile: 0.99 },
            ),
            (
                "wb=whitepatch:0.95",
                WhiteBalance::WhitePatch { percentile: 0.95 },
            ),
            ("wb=sog:4", WhiteBalance::ShadesOfGray { p: 4.0 }),
            ("wb=gains:1.1,1.0,0.9", WhiteBalance::Gains([1.1, 1.0, 0.9])),
            (
                "wb=temp%3A3200%2C-10",
                WhiteBalance::Temperature {
                    kelvin: 3200.0,
                    tint: -10.0,
                },
            ),
        ] {
            assert_eq!(
                ColorOps::parse(query).unwrap().white_balance,
                Some(wb),
                "{query}"
            );
        }
        assert_eq!(
            ColorOps::parse("ev=skin").unwrap().exposure,
            Some(Exposure::Skin)
        );
        assert_eq!(
            ColorOps::parse("ev=-1").unwrap().exposure,
            Some(Exposure::Manual { ev: -1.0 })
        );
        assert_eq!(
            ColorOps::parse("").unwrap(),
            ColorOps {
                quality: 90,
                ..ColorOps::default()
            }
        );
    }

    #[test]
    fn refuses_bad_options_naming_them() {
        for (query, needle) in [
            ("wb=purple", "wb"),
            ("wb=gains:1,2", "three gains"),
            ("wb=gains:1,2,50", "outside"),
            ("wb=temp:900", "kelvin"),
            ("ev=9", "ev"),
            ("ev=bright", "ev"),
            ("lut=../../etc/passwd", "lut"),
            ("interp=cubic", "interp"),
            ("format=bmp", "format"),
            ("q=0", "q"),
            ("sharpen=1", "unknown option"),
            ("ev=1&ev=2", "twice"),
            ("wb=%zz", "percent"),
        ] {
            let error = ColorOps::parse(query).unwrap_err();
            assert_eq!(error.status(), 400, "{query}");
            assert!(error.to_string().contains(needle), "{query}: {error}");
        }
    }
}
